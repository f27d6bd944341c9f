"""What is reproducible where: the README's claims (Tables and reproduction, "Reproducibility"), measured.

Every part runs the suite's own command line in subprocesses, each with its own working folder and its own
HOME (so the synthetic stand-in is generated again in each, as on a fresh machine):

* ``same-machine``: the quick start (``mamp-bench run --method mamp --protocol linear``) twice; compared:
  the data fingerprint, the configuration hash, the checkpoint's sha256, the predictions' sha256, every
  metric and every epoch's loss and top-1; and with the committed record of the same job, when there is one.
* ``ddp``: the smoke pretraining (MAMP, ``synthetic-ntu60``, the smoke preset) on one process and on two
  (``torchrun``, gloo), after ``--epochs`` epochs: the largest loss difference over the epochs, the largest
  weight difference (and without the attention key bias, whose gradient is exactly zero: its updates are
  rounding noise that Adam rescales to full steps), then the linear protocol on each checkpoint.
* ``rounding``: the quick start's pretraining and linear protocol with another summation order, as a stand-in
  for another processor's rounding (this machine has one kind of processor): micro-batches of 4 clips instead
  of the smoke preset's whole batch of 16, and 1 thread instead of 2; the same quantities as ``ddp``.

``python -m benchmarks.reproducibility [--parts same-machine ddp rounding] [--epochs 3] [--committed results]``;
raw output of the README's figures: ``benchmarks/results/reproducibility-amd-epyc-2core.txt``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import machine

QUICK_START = ["run", "--method", "mamp", "--protocol", "linear"]


def mamp_bench(args: list[str], cwd: Path, env: dict[str, str] | None = None, processes: int = 1) -> None:
    """``mamp-bench ARGS`` in ``cwd`` with HOME there (a fresh cache), on ``processes`` processes (torchrun)."""
    environ = {k: v for k, v in os.environ.items() if k not in ("MAMP_BENCH_CACHE", "XDG_CACHE_HOME")}
    environ.update(HOME=str(cwd / "home"), **(env or {}))
    launcher = [sys.executable, "-m"]
    if processes > 1:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        launcher += ["torch.distributed.run", f"--nproc_per_node={processes}", f"--master_port={port}", "-m"]
    cwd.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([*launcher, "mamp_bench", *args, "--quiet"], cwd=cwd, env=environ, capture_output=True,
                          text=True)  # fmt: skip
    if done.returncode:
        raise SystemExit(f"mamp-bench {' '.join(args)} failed in {cwd}:\n{done.stderr[-3000:]}")


def record_of(folder: Path) -> dict:
    (path,) = [p for p in (folder / "results" / "records").rglob("*.json")]
    return json.loads(path.read_text())


def pretrain_log(folder: Path) -> list[dict]:
    (log,) = (folder / "runs" / "pretrain").glob("*/log.jsonl")
    return [json.loads(line) for line in log.read_text().splitlines()]


def predictions(folder: Path, record: dict):
    from mamp_bench.results.evidence import load_predictions

    (path,) = (folder / "results" / "records").rglob(record["predictions"]["file"])
    return load_predictions(path)


def weights(checkpoint: Path) -> dict:
    from mamp_bench.checkpoints import load_checkpoint

    return load_checkpoint(checkpoint)["model"]


def weight_differences(a: Path, b: Path) -> tuple[float, float, str]:
    """(largest |difference| of any weight, the same without the attention key bias, the tensor of the latter)."""
    import torch

    x, y = weights(a), weights(b)
    largest, without_key, where = 0.0, 0.0, ""
    for name in x:
        diff = (x[name].float() - y[name].float()).abs()
        largest = max(largest, float(diff.max()))
        if name.endswith("attn.qkv.bias"):
            third = diff.shape[0] // 3
            diff = torch.cat([diff[:third], diff[2 * third :]])  # q and v: the key bias's gradient is exactly 0
        if float(diff.max()) > without_key:
            without_key, where = float(diff.max()), name
    return largest, without_key, where


def compare_runs(name: str, a: Path, b: Path) -> dict:
    """Two quick-start-shaped folders (a pretraining and a linear record each), compared; printed and returned."""
    ra, rb = record_of(a), record_of(b)
    la, lb = pretrain_log(a), pretrain_log(b)
    loss_abs = max(abs(x["loss"] - y["loss"]) for x, y in zip(la, lb, strict=True))
    loss_rel = max(abs(x["loss"] - y["loss"]) / abs(x["loss"]) for x, y in zip(la, lb, strict=True))
    pa, pb = predictions(a, ra), predictions(b, rb)
    changed = int((pa.top1_by_epoch[-1] != pb.top1_by_epoch[-1]).sum())
    epochs_top1 = [abs(pa.accuracy(x) - pb.accuracy(y)) for x, y in zip(pa.top1_by_epoch, pb.top1_by_epoch,
                                                                         strict=True)]  # fmt: skip
    largest, without_key, where = weight_differences(Path(ra["encoder"]["checkpoint"]) if Path(
        ra["encoder"]["checkpoint"]).is_absolute() else a / ra["encoder"]["checkpoint"],
        Path(rb["encoder"]["checkpoint"]) if Path(rb["encoder"]["checkpoint"]).is_absolute()
        else b / rb["encoder"]["checkpoint"])  # fmt: skip
    ma, mb = ra["metrics"], rb["metrics"]
    out = {
        "fingerprint": ra["data"]["evaluated"].get("fingerprint") == rb["data"]["evaluated"].get("fingerprint"),
        "config_hash": ra["config_hash"] == rb["config_hash"],
        "checkpoint_sha256": ra["encoder"]["checkpoint_sha256"] == rb["encoder"]["checkpoint_sha256"],
        "predictions_sha256": ra["predictions"]["sha256"] == rb["predictions"]["sha256"],
        "loss_abs": loss_abs, "loss_rel": loss_rel, "weights": largest, "weights_without_key_bias": without_key,
        "top1_final": (ma["top1_final"], mb["top1_final"]), "top1_best": (ma["top1_best"], mb["top1_best"]),
        "best_epoch": (ma["best_epoch"], mb["best_epoch"]), "clips_changed": changed,
        "clips": len(pa.labels), "epoch_top1_max": max(epochs_top1),
        "epochs_top1_differ": sum(d > 0 for d in epochs_top1), "epochs": len(epochs_top1),
    }  # fmt: skip
    print(f"\n### {name}")
    print(f"same data fingerprint: {out['fingerprint']}; same configuration hash: {out['config_hash']}")
    digests = f"{ra['encoder']['checkpoint_sha256'][:8]} / {rb['encoder']['checkpoint_sha256'][:8]}"
    print(f"same checkpoint sha256: {out['checkpoint_sha256']} ({digests}); same predictions sha256: "
          f"{out['predictions_sha256']}")  # fmt: skip
    print(f"pretraining loss over {len(la)} epochs: largest difference {loss_abs:.3g} (relative {loss_rel:.3g}); "
          f"final {la[-1]['loss']:.6f} / {lb[-1]['loss']:.6f}")  # fmt: skip
    print(f"weights: largest difference {largest:.3g}; without the key bias {without_key:.3g} ({where})")
    print(f"linear top-1 final {ma['top1_final']:.2f} / {mb['top1_final']:.2f}, best {ma['top1_best']:.2f} / "
          f"{mb['top1_best']:.2f} (epoch {ma['best_epoch']} / {mb['best_epoch']}); final predictions of "
          f"{changed} of {len(pa.labels)} test clips differ; {out['epochs_top1_differ']} of {len(epochs_top1)} "
          f"epochs' top-1 differ, by at most {out['epoch_top1_max']:.2f} points")  # fmt: skip
    return out


def same_machine(work: Path, committed: Path | None) -> None:
    """The quick start twice (two folders, two HOMEs), compared; and with the committed record of that job."""
    for name in ("first", "second"):
        mamp_bench(QUICK_START, work / name)
    compare_runs("same machine, same software: the quick start twice, two HOMEs", work / "first", work / "second")
    if committed is None:
        return
    mine = record_of(work / "first")
    folder = committed / "records" / "linear" / mine["dataset"] / mine["method"]
    path = folder / f"{mine['config_hash']}-s{mine['seed']}.json"
    if not path.is_file():
        print(f"\nno committed record {path}: the committed store holds another configuration of this job")
        return
    theirs = json.loads(path.read_text())
    print(f"\n### the committed record {path} ({theirs.get('environment', {}).get('cpu', 'its machine')}, "
          f"written {theirs.get('created')})")  # fmt: skip
    for key, get in (("checkpoint sha256", lambda r: r["encoder"]["checkpoint_sha256"]),
                     ("predictions sha256", lambda r: r["predictions"]["sha256"]),
                     ("top1_final", lambda r: r["metrics"]["top1_final"]),
                     ("top1_best", lambda r: r["metrics"]["top1_best"]),
                     ("data fingerprint", lambda r: r["data"]["evaluated"].get("fingerprint"))):  # fmt: skip
        print(f"{key}: {'same' if get(mine) == get(theirs) else 'differs'} ({str(get(mine))[:12]} / "
              f"{str(get(theirs))[:12]})")  # fmt: skip


def evaluate(folder: Path, checkpoint: Path) -> None:
    """The smoke linear protocol on a checkpoint, into the folder's results store."""
    mamp_bench(["run", "--protocol", "linear", "--checkpoint", str(checkpoint)], folder)


def pretrain_and_probe(folder: Path, epochs: int, processes: int = 1, sets: tuple[str, ...] = (),
                       env: dict[str, str] | None = None) -> None:  # fmt: skip
    """The smoke pretraining for ``epochs`` epochs on ``processes`` processes, then the linear protocol on it."""
    args = ["pretrain", "--set", f"epochs={epochs}"] + [item for s in sets for item in ("--set", s)]
    mamp_bench(args, folder, env, processes)
    (checkpoint,) = (folder / "runs" / "pretrain").glob(f"*/checkpoint-{epochs - 1}.pth")
    evaluate(folder, checkpoint.resolve())


def ddp(work: Path, epochs: int) -> None:
    pretrain_and_probe(work / "one", epochs)
    pretrain_and_probe(work / "two", epochs, processes=2)
    compare_runs(f"one process against two (torchrun, gloo), smoke pretraining of {epochs} epochs, then linear",
                 work / "one", work / "two")  # fmt: skip


def rounding(work: Path, epochs: int, base: Path) -> None:
    """Against ``base`` (the ``ddp`` part's one-process run, made here when absent)."""
    if not (base / "results" / "records").is_dir():
        pretrain_and_probe(base, epochs)
    pretrain_and_probe(work / "micro4", epochs, sets=("micro_batch=4",))
    compare_runs(f"rounding stand-in: the whole batch of 16 against micro-batches of 4 ({epochs} epochs, then "
                 "linear)", base, work / "micro4")  # fmt: skip
    pretrain_and_probe(work / "threads1", epochs, env={"OMP_NUM_THREADS": "1"})
    compare_runs(f"rounding stand-in: 2 threads against 1 ({epochs} epochs, then linear)", base, work / "threads1")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", nargs="+", default=["same-machine", "ddp", "rounding"],
                        choices=["same-machine", "ddp", "rounding"])  # fmt: skip
    parser.add_argument("--epochs", type=int, default=35, help="pretraining epochs of ddp and rounding (smoke: 35)")
    parser.add_argument("--committed", type=Path, default=Path("results"), help="the committed results store")
    parser.add_argument("--work-dir", type=Path, help="keep the runs here (default: a temporary folder)")
    args = parser.parse_args(argv)
    print(f"# reproducibility, {datetime.date.today()}: {machine()}; load average "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}")  # fmt: skip
    with tempfile.TemporaryDirectory() as scratch:
        work = args.work_dir or Path(scratch)
        if "same-machine" in args.parts:
            same_machine(work / "same-machine", args.committed.resolve() if args.committed.is_dir() else None)
        if "ddp" in args.parts:
            ddp(work / f"ddp-{args.epochs}", args.epochs)
        if "rounding" in args.parts:
            rounding(work / f"rounding-{args.epochs}", args.epochs, work / f"ddp-{args.epochs}" / "one")


if __name__ == "__main__":
    main()

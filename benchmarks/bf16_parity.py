"""Does bf16 autocast train the same model? fp32 and bf16 pretraining from the same seed, compared.

Two runs of the suite's own pipeline (``mamp_bench.pipeline.run``: pretraining, then the linear
protocol), identical but for ``pretrain.amp``: MAMP with the NTU-60 preset on the synthetic default
(``synthetic-ntu60``) at the smoke scale (width-64 model, 40-frame window, 35 epochs of batch 16),
so that both run on a CPU in minutes. Same seed, so the same initial weights, batches, augmentation
and masks. Reported: the per-epoch training loss of both and their relative difference
|bf16 - fp32| / fp32 (per epoch, and the largest), the linear-probe top-1 (final and best) of both,
and the dense matmul rate of the device in fp32 and bf16 (4096^3, medians of 5) with whether the
device computes bf16 natively. ``--seeds 0 1`` repeats the pair with another seed, which shows how
far two fp32 runs differ on their own. Usage: ``python -m benchmarks.bf16_parity [--epochs 35]
[--seeds 0 1] [--device cpu] [--work-dir DIR]``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import tempfile
from pathlib import Path

from benchmarks.common import machine, matmul_peak


def run_arm(amp: str, seed: int, args, root: Path) -> dict:
    """Pretrain and linear-probe with ``pretrain.amp=amp``: {"losses": per epoch, "record": the record}."""
    from mamp_bench.pipeline import run
    from mamp_bench.plan import Options, Request

    overrides = {"pretrain.amp": amp}
    if args.epochs:
        overrides["pretrain.epochs"] = str(args.epochs)
    request = Request("mamp", "linear", dataset="synthetic-ntu60", scale="smoke", seed=seed, overrides=overrides)
    options = Options(runs_dir=str(root / "runs"), results_dir=str(root / "results"), device=args.device, quiet=True)
    record = run(request, options)
    log = Path(record["encoder"]["pretrain_run"]) / "log.jsonl"
    epochs = [json.loads(line) for line in log.read_text().splitlines()]
    return {"losses": [e["loss"] for e in epochs], "clips_per_s": [e["clips_per_s"] for e in epochs], "record": record}


def relative_differences(reference: list[float], other: list[float]) -> list[float]:
    return [abs(b - a) / abs(a) for a, b in zip(reference, other, strict=True)]


def print_losses(arms: dict[tuple[str, int], dict], seeds: list[int]) -> None:
    """Per epoch and seed: both losses and their relative difference; then the largest."""
    diffs = {seed: relative_differences(arms["none", seed]["losses"], arms["bf16", seed]["losses"]) for seed in seeds}
    print(f"{'epoch':>5}" + "".join(f" {'fp32 s' + str(s):>9} {'bf16 s' + str(s):>9} {'rel. diff':>9}" for s in seeds))
    for epoch in range(len(diffs[seeds[0]])):
        cells = [(arms["none", s]["losses"][epoch], arms["bf16", s]["losses"][epoch], diffs[s][epoch]) for s in seeds]
        print(f"{epoch:>5}" + "".join(f" {a:>9.5f} {b:>9.5f} {d:>9.3%}" for a, b, d in cells))
    for seed, values in diffs.items():
        worst = max(range(len(values)), key=values.__getitem__)
        print(f"seed {seed}: max relative loss difference {values[worst]:.3%} (epoch {worst}), final epoch "
              f"{values[-1]:.3%}, mean {sum(values) / len(values):.3%}")  # fmt: skip


def print_accuracy(arms: dict[tuple[str, int], dict], seeds: list[int]) -> None:
    for seed in seeds:
        for amp, name in (("none", "fp32"), ("bf16", "bf16")):
            m, rates = arms[amp, seed]["record"]["metrics"], sorted(arms[amp, seed]["clips_per_s"])
            print(f"seed {seed}, {name}-pretrained encoder: linear top-1 final {m['top1_final']:.2f}, best "
                  f"{m['top1_best']:.2f} (epoch {m['best_epoch']}); pretraining median {rates[len(rates) // 2]:.0f} "
                  f"clips/s")  # fmt: skip
    for amp, name in (("none", "fp32"), ("bf16", "bf16")):
        finals = [arms[amp, s]["record"]["metrics"]["top1_final"] for s in seeds]
        print(f"{name}: linear top-1 final, mean over seeds {sum(finals) / len(finals):.2f} "
              f"[{min(finals):.2f}-{max(finals):.2f}]")  # fmt: skip


def print_peaks(peaks: dict[str, dict], support: str, device: str) -> None:
    print(f"bf16 on {device}: {support}")
    for dtype, peak in peaks.items():
        print(f"dense matmul {dtype}: {peak['gflops']:.0f} GFLOP/s [{peak['low']:.0f}-{peak['high']:.0f}] "
              f"(n={peak['n']}, median of 5)")  # fmt: skip
    ratio = peaks["bfloat16"]["gflops"] / peaks["float32"]["gflops"]
    print(f"bf16 / fp32 matmul rate: {ratio:.2f}x" + ("" if ratio > 1 else " (bf16 is slower here: keep fp32)"))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=0, help="pretraining epochs (default: the smoke scale's 35)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="a pair of runs per seed")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--work-dir", help="runs and records go here, and are reused (default: a temporary folder)")
    args = parser.parse_args(argv)
    from mamp_bench.engine.distributed import resolve_device
    from mamp_bench.engine.hardware import bf16_support

    print(f"machine: {machine()}")
    print(f"date: {datetime.date.today().isoformat()}; MAMP NTU-60 preset at the smoke scale on synthetic-ntu60, "
          f"linear protocol (smoke), seeds {args.seeds}, device {args.device}")  # fmt: skip
    _, support = bf16_support(resolve_device(args.device))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.work_dir or tmp)
        arms = {(amp, seed): run_arm(amp, seed, args, root) for seed in args.seeds for amp in ("none", "bf16")}
    peaks = {dtype: matmul_peak(args.device, dtype, sizes=(4096,)) for dtype in ("float32", "bfloat16")}
    print_losses(arms, args.seeds)
    print_accuracy(arms, args.seeds)
    print_peaks(peaks, support, args.device)
    return {"arms": arms, "peaks": peaks}


if __name__ == "__main__":
    main()

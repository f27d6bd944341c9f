"""Protocol throughput on the paper's model: linear-probe training, fine-tuning, evaluation.

For each, the suite's path (SDPA attention; on CPU the encoder run in chunks of 2 clips, the head
on the whole batch; frozen encoder under no_grad / inference_mode) against the plain path
(explicit softmax attention on the whole batch, as the reference), and the suite with
``skip_empty_persons`` (absent persons encoded once). Inputs have NTU-60's mix: 80% of the clips
without a second person. Also the cost of one linear
epoch on NTU-60 xsub (40,091 train + 16,487 test clips) projected from the rates: the reference
re-encodes the test set every epoch, the suite encodes it once.
Usage: ``python -m benchmarks.protocols [--device cpu] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

TASKS = {"linear-train": 32, "finetune-train": 24, "evaluate": 64}


PATHS = ("plain", "suite", "suite+skip")


def measure(
    task: str, path: str, repeats: int, device: str, batch: int | None = None, encoder_overrides: dict | None = None
) -> dict:
    """clips/s of ``task`` on ``path``; ``batch`` (default ``TASKS[task]``) and ``encoder_overrides``
    (``EncoderConfig`` fields; default the paper encoder) let other benchmarks size it."""
    import torch

    from mamp_bench.engine.features import default_micro_batch
    from mamp_bench.evaluation.heads import Classifier, FinetuneHead, LinearHead
    from mamp_bench.models.transformer import EncoderConfig, SkeletonEncoder

    torch.manual_seed(0)
    dev = torch.device(device)
    plain, skip = path == "plain", path == "suite+skip"
    chunk = 0 if plain else default_micro_batch(dev)
    config = EncoderConfig(**{"attention": "explicit" if plain else "sdpa", **(encoder_overrides or {})})
    encoder, dim = SkeletonEncoder(config).to(dev), config.dim
    batch = batch or TASKS[task]
    x = torch.randn(batch, 3, config.frames, 25, 2, generator=torch.Generator().manual_seed(1))
    x[: int(batch * 0.8), ..., 1] = 0
    x = x.to(dev)
    y = torch.randint(0, 60, (batch,)).to(dev)
    if task == "linear-train":
        head = LinearHead(dim, 60).to(dev)
        model = Classifier(encoder.eval(), head, chunk, skip, frozen=True)
        optimizer = torch.optim.SGD(head.parameters(), lr=0.1, momentum=0.9)
    elif task == "finetune-train":
        model = Classifier(encoder, FinetuneHead(dim, 60, config.joints), chunk, skip).to(dev).train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4, fused=dev.type == "cuda")
    else:
        model = Classifier(encoder, LinearHead(dim, 60), chunk, skip).to(dev).eval()

    def step() -> None:
        if task == "evaluate":
            with torch.inference_mode():
                model(x)
        else:
            loss = torch.nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()

    step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    peak = (
        torch.cuda.max_memory_allocated() / 2**20
        if dev.type == "cuda"
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    )
    return {"task": task, "path": path, "batch": batch, "clips_per_s": batch / median,
            "low": batch / max(times), "high": batch / min(times), "peak_mib": peak}  # fmt: skip


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("TASK", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.child[0], args.child[1], args.repeats, args.device)))
        return []
    from benchmarks.common import machine

    print(f"machine: {machine()}")
    print(f"protocol throughput, paper model (encoder 6.34 M), device {args.device}, {args.repeats} repeats")
    print(f"{'task':>15} {'batch':>5} {'path':>10} {'clips/s median [min-max]':>26} {'peak MiB':>9} {'x plain':>7}")
    rates, rows = {}, []
    for task in TASKS:
        for path in PATHS:
            cmd = [sys.executable, "-m", "benchmarks.protocols", "--device", args.device]
            cmd += ["--repeats", str(args.repeats), "--child", task, path]
            row = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.splitlines()[-1])
            rates[task, path] = row["clips_per_s"]
            row["x_plain"] = row["clips_per_s"] / rates[task, "plain"]
            rows.append(row)
            rate = f"{row['clips_per_s']:.2f} [{row['low']:.2f}-{row['high']:.2f}]"
            print(f"{task:>15} {row['batch']:>5} {path:>10} {rate:>26} {row['peak_mib']:>9.0f} {row['x_plain']:>7.2f}")
    for path in PATHS:
        epoch = 40091 / rates["linear-train", path] + (16487 / rates["evaluate", path] if path == "plain" else 0)
        label = "test re-encoded every epoch, as the reference" if path == "plain" else "test features encoded once"
        print(f"linear epoch on NTU-60 xsub, {path} ({label}): {epoch / 3600:.2f} h")
    return rows


if __name__ == "__main__":
    main()

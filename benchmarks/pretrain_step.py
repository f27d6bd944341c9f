"""Pretraining step throughput: forward, backward and AdamW of the paper's NTU-60 MAMP model.

Compares the suite's step (attention through SDPA; on CPU the batch split into micro-batches of 4
clips with the gradients combined exactly, as the engine does by default) with a plain
re-implementation of the same model that computes attention explicitly (q k^T, softmax, @ v) on
the whole batch, as the reference code does. All start from the same weights and see the same
input and mask, so their first losses must agree.
Each configuration runs in its own process, so its peak memory (RSS on CPU, max allocated on GPU)
is its own. Usage: ``python -m benchmarks.pretrain_step [--batches 8 32] [--steps 5] [--device cpu]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

VARIANTS = {  # name -> (attention, micro-batch: -1 = the engine's default for the device, 0 = whole batch)
    "plain explicit": ("explicit", 0),
    "SDPA": ("sdpa", 0),
    "suite (SDPA+micro)": ("sdpa", -1),
}


def measure(variant: str, batch: int, steps: int, device: str, amp: str = "none") -> dict:
    import torch

    import mamp_bench
    from mamp_bench.engine.step import default_micro_batch, pretrain_step

    impl, micro = VARIANTS[variant]

    torch.manual_seed(0)
    dev = torch.device(device)
    method = mamp_bench.build_method("mamp", encoder__attention=impl).to(dev)
    optimizer = torch.optim.AdamW(method.parameters(), lr=1e-3, betas=(0.9, 0.95), fused=dev.type == "cuda")
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(batch, 3, 120, 25, 2, generator=generator)
    x[: int(batch * 0.8), ..., 1] = 0  # most clips have one person, as in NTU-60
    x, seeds = x.to(dev), torch.arange(batch)
    micro = default_micro_batch(dev) if micro < 0 else micro
    autocast = torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp == "bf16")
    times, first_loss = [], None
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    for step in range(steps + 1):
        if dev.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        loss = pretrain_step(method, method, optimizer, x, seeds, micro, autocast)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        if step == 0:
            first_loss = loss
        else:
            times.append(time.perf_counter() - start)
    peak = (
        torch.cuda.max_memory_allocated() / 2**20
        if dev.type == "cuda"
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    )
    median = statistics.median(times)
    return {
        "variant": variant,
        "micro_batch": micro,
        "batch": batch,
        "median_s": median,
        "min_s": min(times),
        "max_s": max(times),
        "clips_per_s": batch / median,
        "peak_mib": peak,
        "first_loss": first_loss,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--amp", default="none", choices=("none", "bf16"))
    parser.add_argument("--child", nargs=3, metavar=("VARIANT", "BATCH", "STEPS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        variant, batch, steps = args.child
        print(json.dumps(measure(variant, int(batch), int(steps), args.device, args.amp)))
        return
    from benchmarks.common import machine

    print(f"machine: {machine()}")
    print(
        f"pretraining step of MAMP NTU-60 (8.79 M parameters), {args.device}, amp {args.amp}, {args.steps} timed steps"
    )
    header = ("batch", "variant", "clips/s", "step s (median [min-max])", "peak MiB", "first loss")
    print(f"{header[0]:>5} {header[1]:>20} {header[2]:>8} {header[3]:>28} {header[4]:>9} {header[5]:>11}")
    for batch in args.batches:
        rows = {}
        for variant in VARIANTS:
            cmd = [sys.executable, "-m", "benchmarks.pretrain_step", "--device", args.device, "--amp", args.amp,
                   "--child", variant, str(batch), str(args.steps)]  # fmt: skip
            result = subprocess.run(cmd, capture_output=True, text=True, check=True)
            row = rows[variant] = json.loads(result.stdout.strip().splitlines()[-1])
            timing = f"{row['median_s']:>10.3f} [{row['min_s']:.3f}-{row['max_s']:.3f}]"
            print(
                f"{batch:>5} {variant:>20} {row['clips_per_s']:>8.2f} {timing:>28} "
                f"{row['peak_mib']:>9.0f} {row['first_loss']:>11.6f}"
            )
        plain = rows["plain explicit"]
        for variant in list(VARIANTS)[1:]:
            speedup = rows[variant]["clips_per_s"] / plain["clips_per_s"]
            diff = abs(rows[variant]["first_loss"] - plain["first_loss"])
            print(f"{batch:>5} {'x plain, ' + variant:>36}: {speedup:.2f}x, first-loss difference {diff:.1e}")


if __name__ == "__main__":
    main()

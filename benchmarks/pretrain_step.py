"""Pretraining step throughput and utilisation of the paper's MAMP models (NTU-60 and NTU-120 presets).

One step is forward, backward and AdamW on a batch of clips with NTU-60's mix of persons (80% of
the clips have no second person, zero-filled as the datasets store them). Variants, all from the
same weights on the same input and masks (so their first losses agree; the skip variant's differs
by design, see ``MaskedPredictionConfig.skip_empty_persons``):

- ``plain``: attention computed explicitly (q k^T, softmax, @ v) on the whole batch, as the
  reference code does;
- ``suite``: the engine's default: SDPA attention and, on a CPU, the batch in micro-batches of 2
  clips with the gradients combined exactly;
- ``suite+skip``: the suite with ``skip_empty_persons=true`` (absent persons not computed).

Utilisation = the step's matrix-multiply FLOPs (``mamp_bench.engine.flops``, counted from the
shapes, forward and backward, of the sequences actually computed) per second, divided by the
dense matmul peak measured in the same run. Each configuration runs in its own process, so its
peak memory (RSS on CPU, max allocated on GPU) is its own.
Usage: ``python -m benchmarks.pretrain_step [--presets ntu60 ntu120] [--batches 8 32 128] [--steps 3]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

PRESETS = {"ntu60": {"decoder_depth": 3, "tau": 0.8}, "ntu120": {"decoder_depth": 5, "tau": 0.75}}
VARIANTS = {  # name -> (attention, micro-batch: -1 = the engine's default for the device, skip absent persons)
    "plain": ("explicit", 0, False),
    "suite": ("sdpa", -1, False),
    "suite+skip": ("sdpa", -1, True),
}
SINGLE_PERSON = 0.8  # share of clips without a second person (NTU-60's mix)


def benchmark_input(batch: int):
    import torch

    x = torch.randn(batch, 3, 120, 25, 2, generator=torch.Generator().manual_seed(1))
    x[: int(batch * SINGLE_PERSON), ..., 1] = 0
    return x, torch.arange(batch)


def measure(preset: str, variant: str, batch: int, steps: int, device: str, amp: str, compile_: bool) -> dict:
    import torch

    import mamp_bench
    from mamp_bench.engine.features import default_micro_batch
    from mamp_bench.engine.flops import masked_pretrain_flops
    from mamp_bench.engine.step import pretrain_step

    attention, micro, skip = VARIANTS[variant]
    torch.manual_seed(0)
    dev = torch.device(device)
    method = mamp_bench.build_method("mamp", encoder__attention=attention, skip_empty_persons=skip, **PRESETS[preset])
    method = method.to(dev)
    model = torch.compile(method) if compile_ else method
    optimizer = torch.optim.AdamW(method.parameters(), lr=1e-3, betas=(0.9, 0.95), fused=dev.type == "cuda")
    x, seeds = benchmark_input(batch)
    sequences = int(x.flatten(1, 3).ne(0).any(dim=1).sum()) if skip else 2 * batch
    x = x.to(dev)
    micro = default_micro_batch(dev) if micro < 0 else micro
    autocast = torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp == "bf16")
    times, first_loss = [], None
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    for step in range(steps + 1):  # the first step warms up (allocator, compilation) and is not timed
        if dev.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        loss = pretrain_step(model, method, optimizer, x, seeds, micro, autocast)
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
    flops = masked_pretrain_flops(method.config, sequences)["total"]
    return {
        "preset": preset,
        "variant": variant + ("+compile" if compile_ else ""),
        "batch": batch,
        "micro_batch": micro,
        "median_s": median,
        "min_s": min(times),
        "max_s": max(times),
        "clips_per_s": batch / median,
        "gflop_per_step": flops / 1e9,
        "gflops": flops / median / 1e9,
        "peak_mib": peak,
        "first_loss": first_loss,
    }


def run_child(preset: str, variant: str, batch: int, args) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.pretrain_step", "--device", args.device, "--amp", args.amp,
           "--steps", str(args.steps), "--child", preset, variant, str(batch)]  # fmt: skip
    if args.compile and variant != "plain":
        cmd.append("--compile")
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{preset} {variant} batch {batch} failed: {result.stderr.strip().splitlines()[-1:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--presets", nargs="+", default=list(PRESETS), choices=list(PRESETS))
    parser.add_argument("--batches", type=int, nargs="+", default=[8, 32, 128])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--steps", type=int, default=3, help="timed steps (after one untimed)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--amp", default="none", choices=("none", "bf16"))
    parser.add_argument("--compile", action="store_true", help="torch.compile the suite's variants")
    parser.add_argument(
        "--plain-max-batch", type=int, default=32, help="largest batch for the plain path (its memory grows fast)"
    )
    parser.add_argument("--peak", type=float, help="matmul peak in GFLOP/s (default: measured now)")
    parser.add_argument("--child", nargs=3, metavar=("PRESET", "VARIANT", "BATCH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        preset, variant, batch = args.child
        print(json.dumps(measure(preset, variant, int(batch), args.steps, args.device, args.amp, args.compile)))
        return []
    from benchmarks.common import machine, matmul_peak

    dtype = "bfloat16" if args.amp == "bf16" else "float32"
    peak = args.peak or matmul_peak(args.device, dtype)["gflops"]
    print(f"machine: {machine()}")
    print(f"dense matmul peak ({args.device}, {dtype}): {peak:.0f} GFLOP/s")
    print(
        f"pretraining step, MAMP paper model, {args.device}, amp {args.amp}, {args.steps} timed steps a row, "
        f"{SINGLE_PERSON:.0%} single-person clips"
    )
    header = f"{'preset':>6} {'batch':>5} {'variant':>11} {'clips/s':>8} {'step s median [min-max]':>24} "
    print(
        header + f"{'GFLOP/step':>10} {'GFLOP/s':>8} {'of peak':>7} {'peak MiB':>9} {'x plain':>7} {'first loss':>10}"
    )
    rows = []
    for preset in args.presets:
        for batch in args.batches:
            plain = None
            for variant in args.variants:
                if variant == "plain" and batch > args.plain_max_batch:
                    print(f"{preset:>6} {batch:>5} {variant:>11}   (not run: above --plain-max-batch)")
                    continue
                row = run_child(preset, variant, batch, args)
                row["utilisation"] = row["gflops"] / peak
                plain = row if variant == "plain" else plain
                row["x_plain"] = row["clips_per_s"] / plain["clips_per_s"] if plain else None
                rows.append(row)
                timing = f"{row['median_s']:.2f} [{row['min_s']:.2f}-{row['max_s']:.2f}]"
                ratio = f"{row['x_plain']:.2f}" if row["x_plain"] else "-"
                print(
                    f"{preset:>6} {batch:>5} {row['variant']:>11} {row['clips_per_s']:>8.2f} {timing:>24} "
                    f"{row['gflop_per_step']:>10.0f} {row['gflops']:>8.0f} {row['utilisation']:>7.0%} "
                    f"{row['peak_mib']:>9.0f} {ratio:>7} {row['first_loss']:>10.6f}"
                )
    return rows


if __name__ == "__main__":
    main()

"""Pretraining step throughput and utilisation of the paper's MAMP models (NTU-60 and NTU-120 presets), and of the
GCN family's ST-GCN methods (``skeletonclr``, ``aimclr`` at the paper's size, ``gcn-smoke`` at the smoke scale's).

One step is forward, backward and AdamW on a batch of clips with NTU-60's mix of persons (80% of
the clips have no second person, zero-filled as the datasets store them). Variants, all from the
same weights on the same input and masks (so their first losses agree; the skip variant's differs
by design, see ``MaskedPredictionConfig.skip_empty_persons``):

- ``plain``: attention computed explicitly (q k^T, softmax, @ v) on the whole batch, as the
  reference code does;
- ``suite``: the engine's default: SDPA attention and, on a CPU, the batch in micro-batches of 2
  clips with the gradients combined exactly;
- ``suite+skip``: the suite with ``skip_empty_persons=true`` (absent persons not computed).

The ST-GCN presets have one variant, ``suite`` (their step has no attention and no micro-batches): the method's
forward (its views included), backward and its pretraining's SGD (momentum 0.9, weight decay 1e-4) on 50-frame
clips, the queue at its preset's size.

Utilisation = the step's matrix-multiply FLOPs (``mamp_bench.engine.flops``, counted from the
shapes, forward and backward, of the sequences actually computed) per second, divided by the
dense matmul peak measured in the same run. Each configuration runs in its own process, so its
peak memory (RSS on CPU, max allocated on GPU) is its own. Each row also carries the process's CPU
time (user and system), minor page faults and context switches per timed step (``getrusage``), which
``benchmarks.cpu_profile`` compares across machines and settings.
Usage: ``python -m benchmarks.pretrain_step [--presets ntu60 ntu120] [--batches 8 32 128] [--steps 3]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

from mamp_bench.engine.threads import configure_openmp

configure_openmp()  # before torch (imported lazily), as the command line does: engine/threads.py

import mamp_bench  # noqa: E402  (imports no torch itself)

PRESETS = {
    "ntu60": {"decoder_depth": 3, "tau": 0.8},
    "ntu120": {"decoder_depth": 5, "tau": 0.75},
    # the smoke scale's model (scales.py): width 64, depth 2, 40 frames; its small ops show threading overheads
    "smoke": {
        "encoder__dim": 64,
        "encoder__depth": 2,
        "encoder__heads": 4,
        "encoder__frames": 40,
        "decoder_dim": 64,
        "decoder_depth": 1,
    },
}
#: ST-GCN presets: the method and its overrides (the smoke scale's size: scales.py)
GCN_PRESETS = {
    "skeletonclr": ("skeletonclr", {}),
    "aimclr": ("aimclr", {}),
    "gcn-smoke": ("aimclr", {"encoder__hidden_channels": 8, "encoder__hidden_dim": 64, "queue_size": 512}),
}
GCN_FRAMES = 50
VARIANTS = {  # name -> (attention, micro-batch: -1 = the engine's default for the device, skip absent persons)
    "plain": ("explicit", 0, False),
    "suite": ("sdpa", -1, False),
    "suite+skip": ("sdpa", -1, True),
}
SINGLE_PERSON = 0.8  # share of clips without a second person (NTU-60's mix)


def benchmark_input(batch: int, frames: int = 120):
    import torch

    x = torch.randn(batch, 3, frames, 25, 2, generator=torch.Generator().manual_seed(1))
    x[: int(batch * SINGLE_PERSON), ..., 1] = 0
    return x, torch.arange(batch)


def rusage_now() -> tuple[float, float, int, int, int]:
    """(user s, system s, minor page faults, voluntary, involuntary context switches) of this process."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime, usage.ru_minflt, usage.ru_nvcsw, usage.ru_nivcsw


def timed_steps(step, steps: int, cuda: bool) -> tuple[list[float], float, list[float]]:
    """Run ``step()`` once untimed (allocator, compilation), then ``steps`` times: (seconds of each,
    the first loss, per-step ``rusage_now`` deltas over the timed steps)."""
    import torch

    first_loss = step()
    if cuda:
        torch.cuda.synchronize()
    times, usage_before = [], rusage_now()
    for _ in range(steps):
        start = time.perf_counter()
        step()
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    usage = [(after - before) / steps for after, before in zip(rusage_now(), usage_before, strict=True)]
    return times, first_loss, usage


def measure(
    preset: str, variant: str, batch: int, steps: int, device: str, amp: str, compile_: bool, micro_override: int = -2
) -> dict:
    """One configuration's step time; ``micro_override`` >= -1 replaces the variant's micro-batch."""
    import torch

    from mamp_bench.engine.features import default_micro_batch
    from mamp_bench.engine.flops import masked_pretrain_flops
    from mamp_bench.engine.step import pretrain_step

    if preset in GCN_PRESETS:
        return measure_gcn(preset, variant, batch, steps, device, amp)
    attention, micro, skip = VARIANTS[variant]
    micro = micro if micro_override < -1 else micro_override
    torch.manual_seed(0)
    dev = torch.device(device)
    method = mamp_bench.build_method("mamp", encoder__attention=attention, skip_empty_persons=skip, **PRESETS[preset])
    method = method.to(dev)
    model = torch.compile(method) if compile_ else method
    optimizer = torch.optim.AdamW(method.parameters(), lr=1e-3, betas=(0.9, 0.95), fused=dev.type == "cuda")
    x, seeds = benchmark_input(batch, method.config.encoder.frames)
    sequences = int(x.flatten(1, 3).ne(0).any(dim=1).sum()) if skip else 2 * batch
    x = x.to(dev)
    micro = default_micro_batch(dev) if micro < 0 else micro
    autocast = torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp == "bf16")
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times, first_loss, usage = timed_steps(
        lambda: pretrain_step(model, method, optimizer, x, seeds, micro, autocast), steps, dev.type == "cuda"
    )
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
        "user_s": usage[0],  # per timed step, all threads
        "sys_s": usage[1],
        "minor_faults": usage[2],
        "voluntary_switches": usage[3],
        "involuntary_switches": usage[4],
        "threads": torch.get_num_threads(),
    }


def measure_gcn(preset: str, variant: str, batch: int, steps: int, device: str, amp: str) -> dict:
    """One ST-GCN method's step (``GCN_PRESETS``): forward with its views, backward, SGD, ``after_step``."""
    import torch

    from mamp_bench.engine.flops import stgcn_flops
    from mamp_bench.engine.step import pretrain_step
    from mamp_bench.registry import METHODS

    if variant != "suite":
        raise SystemExit(f"{preset}: the ST-GCN methods have one variant, suite")
    name, overrides = GCN_PRESETS[preset]
    torch.manual_seed(0)
    dev = torch.device(device)
    method = mamp_bench.build_method(name, **overrides).to(dev)
    pretraining = METHODS.get(name).pretraining["paper"]
    optimizer = torch.optim.SGD(method.parameters(), lr=pretraining["lr"], momentum=pretraining["momentum"],
                                weight_decay=pretraining["weight_decay"])  # fmt: skip
    x, seeds = benchmark_input(batch, GCN_FRAMES)
    x = x.to(dev)
    autocast = torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp == "bf16")

    def step() -> float:
        loss = pretrain_step(method, method, optimizer, x, seeds, 0, autocast)
        method.after_step(0.0)
        return loss

    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times, first_loss, usage = timed_steps(step, steps, dev.type == "cuda")
    peak = (torch.cuda.max_memory_allocated() / 2**20 if dev.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)  # fmt: skip
    median = statistics.median(times)
    flops = METHODS.get(name).forward_passes * 2 * batch * stgcn_flops(method.config.encoder)
    return {"preset": preset, "variant": variant, "batch": batch, "micro_batch": 0, "median_s": median,
            "min_s": min(times), "max_s": max(times), "clips_per_s": batch / median, "gflop_per_step": flops / 1e9,
            "gflops": flops / median / 1e9, "peak_mib": peak, "first_loss": first_loss, "user_s": usage[0],
            "sys_s": usage[1], "minor_faults": usage[2], "voluntary_switches": usage[3],
            "involuntary_switches": usage[4], "threads": torch.get_num_threads()}  # fmt: skip


def run_child(
    preset: str, variant: str, batch: int, args, env: dict[str, str | None] | None = None, micro: int = -2
) -> dict:
    """``measure`` in a fresh process (its own peak memory), with ``env`` added to the environment
    (a None value removes the variable)."""
    cmd = [sys.executable, "-m", "benchmarks.pretrain_step", "--device", args.device, "--amp", args.amp,
           "--steps", str(args.steps), "--micro-batch", str(micro), "--child", preset, variant, str(batch)]  # fmt: skip
    if args.compile and variant != "plain":
        cmd.append("--compile")
    environ = {key: value for key, value in {**os.environ, **(env or {})}.items() if value is not None}
    result = subprocess.run(cmd, capture_output=True, text=True, env=environ)
    if result.returncode != 0:
        raise RuntimeError(f"{preset} {variant} batch {batch} failed: {result.stderr.strip().splitlines()[-1:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--presets", nargs="+", default=["ntu60", "ntu120"], choices=[*PRESETS, *GCN_PRESETS])
    parser.add_argument("--batches", type=int, nargs="+", default=[8, 32, 128])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--steps", type=int, default=3, help="timed steps (after one untimed)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--amp", default="none", choices=("none", "bf16"))
    parser.add_argument("--compile", action="store_true", help="torch.compile the suite's variants")
    parser.add_argument(
        "--plain-max-batch", type=int, default=32, help="largest batch for the plain path (its memory grows fast)"
    )
    parser.add_argument("--micro-batch", type=int, default=-2, help=argparse.SUPPRESS)
    parser.add_argument("--peak", type=float, help="matmul peak in GFLOP/s (default: measured now)")
    parser.add_argument("--child", nargs=3, metavar=("PRESET", "VARIANT", "BATCH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        preset, variant, batch = args.child
        row = measure(preset, variant, int(batch), args.steps, args.device, args.amp, args.compile, args.micro_batch)
        print(json.dumps(row))
        return []
    from benchmarks.common import machine, matmul_peak

    dtype = "bfloat16" if args.amp == "bf16" else "float32"
    peak = args.peak or matmul_peak(args.device, dtype)["gflops"]
    print(f"machine: {machine()}")
    print(f"dense matmul peak ({args.device}, {dtype}): {peak:.0f} GFLOP/s")
    print(
        f"pretraining step, {', '.join(args.presets)}, {args.device}, amp {args.amp}, {args.steps} timed steps a row, "
        f"{SINGLE_PERSON:.0%} single-person clips"
    )
    header = f"{'preset':>11} {'batch':>5} {'variant':>11} {'clips/s':>8} {'step s median [min-max]':>24} "
    print(
        header + f"{'GFLOP/step':>10} {'GFLOP/s':>8} {'of peak':>7} {'peak MiB':>9} {'x plain':>7} {'first loss':>10}"
    )
    rows = []
    for preset in args.presets:
        for batch in args.batches:
            plain = None
            for variant in ["suite"] if preset in GCN_PRESETS else args.variants:  # the GCN step has one variant
                if variant == "plain" and batch > args.plain_max_batch:
                    print(f"{preset:>11} {batch:>5} {variant:>11}   (not run: above --plain-max-batch)")
                    continue
                row = run_child(preset, variant, batch, args)
                row["utilisation"] = row["gflops"] / peak
                plain = row if variant == "plain" else plain
                row["x_plain"] = row["clips_per_s"] / plain["clips_per_s"] if plain else None
                rows.append(row)
                timing = f"{row['median_s']:.2f} [{row['min_s']:.2f}-{row['max_s']:.2f}]"
                ratio = f"{row['x_plain']:.2f}" if row["x_plain"] else "-"
                print(
                    f"{preset:>11} {batch:>5} {row['variant']:>11} {row['clips_per_s']:>8.2f} {timing:>24} "
                    f"{row['gflop_per_step']:>10.0f} {row['gflops']:>8.0f} {row['utilisation']:>7.0%} "
                    f"{row['peak_mib']:>9.0f} {ratio:>7} {row['first_loss']:>10.6f}"
                )
    return rows


if __name__ == "__main__":
    main()

"""Every benchmark in turn, then a summary against the performance targets (``nox -s bench``).

``python -m benchmarks [--quick] [--device cpu|cuda]``: ``--quick`` measures the NTU-60 preset at
batches 8 and 32 only and a 5-epoch bf16 parity check (about 10 minutes on 2 CPU cores instead of
about 45). ``--device cuda`` runs the one-shot GPU benchmark (``benchmarks/gpu.py``, under 8
minutes) and the bf16 parity benchmark on the GPU.
"""

from __future__ import annotations

import argparse

from benchmarks import bf16_parity, data_loading, gpu, prepare_throughput, pretrain_step, protocols
from benchmarks.common import machine, matmul_peak


def on_gpu(device: str, quick: bool) -> None:
    """The one-shot GPU benchmark, then bf16 parity on the GPU (if one is there)."""
    import torch

    print("## one-shot GPU benchmark")
    gpu.main(["--device", device] + (["--quick"] if quick else []))
    print("\n## bf16 parity")
    if torch.cuda.is_available():
        bf16_parity.main(["--device", device] + (["--epochs", "5"] if quick else []))
    else:
        print("skipped: no CUDA device visible (python -m benchmarks.bf16_parity measures it on the CPU)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    if args.device.startswith("cuda"):
        on_gpu(args.device, args.quick)
        return
    import torch

    print(f"machine: {machine()}")
    if not torch.cuda.is_available():
        print("no GPU visible: CPU figures only")
    peak = matmul_peak(args.device, "float32")
    print(
        f"dense fp32 matmul peak: {peak['gflops']:.0f} GFLOP/s [{peak['low']:.0f}-{peak['high']:.0f}] (n={peak['n']})"
    )
    step_args = ["--device", args.device, "--peak", str(peak["gflops"])]
    if args.quick:
        step_args += ["--presets", "ntu60", "--batches", "8", "32"]
    print("\n## pretraining step")
    steps = pretrain_step.main(step_args)
    print("\n## protocols")
    protocols.main(["--device", args.device])
    print("\n## data loading")
    loading = data_loading.main(["--workers", "0"])
    print("\n## preparation")
    prepare_throughput.main(["--files", "600" if args.quick else "2000"])
    print("\n## bf16 parity (smoke scale)")
    bf16_parity.main(["--device", args.device] + (["--epochs", "5"] if args.quick else []))

    print("\n## targets (NTU-60 preset, batch 32, fp32)")
    row = {r["variant"]: r for r in steps if r["preset"] == "ntu60" and r["batch"] == 32}
    if "suite" in row and "plain" in row:
        suite = row["suite"]
        print(f"suite vs plain explicit softmax: {suite['x_plain']:.2f}x (target >= 3x)")
        print(f"utilisation: {suite['utilisation']:.0%} of the measured matmul peak (target >= 60%)")
        if "suite+skip" in row:
            skip = row["suite+skip"]
            print(f"skip_empty_persons: {skip['clips_per_s'] / suite['clips_per_s']:.2f}x the suite's clips/s")
        share = suite["clips_per_s"] / loading[0]["clips_per_s"]
        print(f"data loading in the training process: {share:.1%} of a step's time (workers=0)")


if __name__ == "__main__":
    main()

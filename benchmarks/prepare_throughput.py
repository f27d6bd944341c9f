"""Preparation throughput: files/s and MB/s of ``prepare ntu60`` on generated raw files.

Usage: ``python -m benchmarks.prepare_throughput [--files 2000] [--repeats 3]``. Projects the
time for the full NTU-60 (56,880 files, about 5.8 GB of text) from the measured MB/s.
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import tempfile
from pathlib import Path

from benchmarks.common import machine, repeat, spread
from mamp_bench.data.ntu.prepare import prepare_ntu
from mamp_bench.data.synthetic.ntu_tree import write_ntu_tree

NTU60_FILES = 56_880
NTU60_BYTES = 5.8e9


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="mamp-bench-prep-"))
    rows = []
    try:
        raw = workdir / "raw"
        per_class = max(1, args.files // 60)
        write_ntu_tree(raw, "ntu60", clips_per_class=per_class, seed=0, edge_cases=True, workers=os.cpu_count() or 1)
        files = list(raw.rglob("*.skeleton"))
        size = sum(p.stat().st_size for p in files)
        print(f"machine: {machine()}")
        print(f"{len(files)} synthetic NTU-60 files, {size / 1e6:.1f} MB of text")
        header = ("workers", "seconds (median [min-max])", "files/s", "MB/s", "full NTU-60 (projected)")
        print(f"{header[0]:>8} {header[1]:>30} {header[2]:>10} {header[3]:>8} {header[4]:>26}")
        for workers in sorted({1, os.cpu_count() or 1}):
            out = workdir / f"out{workers}"
            run = functools.partial(prepare_ntu, "ntu60", raw, out, workers=workers, quiet=True)
            median, low, high = repeat(run, args.repeats)
            mb_s = size / 1e6 / median
            projected = NTU60_BYTES / 1e6 / mb_s
            rows.append({"workers": workers, "files_per_s": len(files) / median, "mb_per_s": mb_s})
            print(
                f"{workers:>8} {spread(median, low, high):>30} {len(files) / median:>10.0f} {mb_s:>8.1f} "
                f"{projected / 60:>20.1f} min"
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return rows


if __name__ == "__main__":
    main()

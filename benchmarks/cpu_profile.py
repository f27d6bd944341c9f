"""Why the suite's CPU gain over the plain reference differs between machines.

The pretraining step (``benchmarks.pretrain_step``: forward, backward and AdamW on NTU-60's mix of
persons), plain and suite, each configuration in its own process (the ST-GCN presets ``skeletonclr``,
``aimclr``, ``gcn-smoke``: their one variant, suite, with SGD), under:

- the OpenMP wait policy of torch's libgomp: its own default (idle threads spin for a while at
  every barrier before they sleep), ``OMP_WAIT_POLICY=PASSIVE`` (they sleep at once: the suite's
  default since ``engine/threads.py``) or a short spin (``GOMP_SPINCOUNT=10000``);
- a controlled competing load: ``--load N`` busy-looping processes started by this script beside the
  measured one (a 2-core machine shared with other jobs is the common case for CPU runs);
- the micro-batch size (``--micro``; the engine's CPU default is in ``engine/features.py``).

Per configuration: clips/s (median and range over ``--rounds`` interleaved rounds, each the median
of ``--steps`` timed steps), CPU time per clip (user + system, all threads), the system share,
minor page faults and involuntary context switches per step, and the ratio to plain under the same
policy and load. Each measurement is also printed as it finishes, with the machine's 1-minute load
average (other jobs count too). CPU time per clip is the figure least disturbed by other work,
except for spinning threads, whose waiting is CPU time.
Usage: ``python -m benchmarks.cpu_profile [--preset ntu60] [--batch 8] [--load 0 1] [--rounds 2]``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field

from benchmarks import pretrain_step
from benchmarks.common import machine

POLICIES: dict[str, dict[str, str | None]] = {  # environment of the measured process (None: removed)
    # libgomp's own default (OMP_WAIT_POLICY unset: 300,000 spin turns), explicit so that the suite's
    # PASSIVE (engine/threads.py) does not apply
    "default": {"OMP_WAIT_POLICY": None, "GOMP_SPINCOUNT": "300000"},
    "passive": {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": None},
    "spin10k": {"OMP_WAIT_POLICY": None, "GOMP_SPINCOUNT": "10000"},  # spin about 0.1 ms, then sleep
}


@dataclass(frozen=True)
class Setting:
    variant: str  # "plain" or "suite" (benchmarks.pretrain_step.VARIANTS)
    policy: str  # a key of POLICIES
    micro: int = -2  # -2: the variant's own micro-batch

    @property
    def label(self) -> str:
        micro = "" if self.micro < -1 else f" micro={self.micro}"
        return f"{self.variant}{micro} [{self.policy}]"


@dataclass
class Samples:
    rows: list[dict] = field(default_factory=list)

    def median(self, key: str) -> float:
        return statistics.median(row[key] for row in self.rows)


@contextlib.contextmanager
def competing_load(processes: int) -> Iterator[None]:
    """``processes`` busy-looping Python processes for the duration of the block (ended by their pid)."""
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(processes)]
    try:
        yield
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()


def settings_for(args) -> list[Setting]:
    variants = ("suite",) if args.preset in pretrain_step.GCN_PRESETS else ("plain", "suite")
    settings = [Setting(variant, policy) for policy in args.policies for variant in variants]
    return settings + [Setting("suite", policy, micro) for policy in args.policies for micro in args.micro]


def measure_all(args) -> dict[tuple[int, Setting], Samples]:
    """Every (load, setting) pair ``args.rounds`` times, interleaved so slow drifts hit all alike."""
    results: dict[tuple[int, Setting], Samples] = {}
    child_args = argparse.Namespace(device="cpu", amp="none", steps=args.steps, compile=False)
    for round_ in range(args.rounds):
        for load in args.load:
            with competing_load(load):
                for setting in settings_for(args):
                    row = pretrain_step.run_child(args.preset, setting.variant, args.batch, child_args,
                                                  env=POLICIES[setting.policy], micro=setting.micro)  # fmt: skip
                    row["loadavg"] = os.getloadavg()[0]
                    results.setdefault((load, setting), Samples()).rows.append(row)
                    cpu = (row["user_s"] + row["sys_s"]) / args.batch
                    print(f"round {round_} load {load} {setting.label:<26} {row['clips_per_s']:.2f} clips/s, "
                          f"{cpu:.3f} CPU s/clip, sys {row['sys_s']:.2f} s/step, 1-min load average "
                          f"{row['loadavg']:.1f}", flush=True)  # fmt: skip
    return results


def print_table(results: dict[tuple[int, Setting], Samples], batch: int) -> None:
    print(f"{'load':>4} {'setting':<26} {'clips/s median [min-max]':>26} {'CPU s/clip':>10} {'sys':>5} "
          f"{'faults/step':>11} {'invol. sw/step':>14} {'x plain':>7}")  # fmt: skip
    for (load, setting), samples in results.items():
        rates = [row["clips_per_s"] for row in samples.rows]
        cpu = samples.median("user_s") + samples.median("sys_s")
        plain = results.get((load, Setting("plain", setting.policy)))
        ratio = statistics.median(rates) / statistics.median(r["clips_per_s"] for r in plain.rows) if plain else None
        shown = f"{ratio:>7.2f}" if ratio is not None else f"{'-':>7}"
        rate = f"{statistics.median(rates):.2f} [{min(rates):.2f}-{max(rates):.2f}]"
        print(f"{load:>4} {setting.label:<26} {rate:>26} {cpu / batch:>10.3f} {samples.median('sys_s') / cpu:>5.0%} "
              f"{samples.median('minor_faults'):>11.0f} {samples.median('involuntary_switches'):>14.0f} "
              f"{shown}")  # fmt: skip


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="ntu60", choices=[*pretrain_step.PRESETS, *pretrain_step.GCN_PRESETS])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=2, help="timed steps per process (after one untimed)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--load", type=int, nargs="+", default=[0, 1], help="competing busy processes")
    parser.add_argument("--policies", nargs="+", default=list(POLICIES), choices=list(POLICIES))
    parser.add_argument("--micro", type=int, nargs="*", default=[], help="extra suite micro-batch sizes (0: whole)")
    args = parser.parse_args(argv)
    print(f"machine: {machine()}")
    print(f"pretraining step, {args.preset} preset, batch {args.batch}, {args.steps} timed steps a process, "
          f"{args.rounds} interleaved rounds; load = busy processes started beside the measured one")  # fmt: skip
    results = measure_all(args)
    print_table(results, args.batch)
    return results


if __name__ == "__main__":
    main()

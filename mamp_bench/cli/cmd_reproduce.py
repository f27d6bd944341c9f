"""``mamp-bench reproduce``: run the paper's matrix (smoke scale on synthetic data by default) and
regenerate the tables; finished jobs are skipped, so an interrupted reproduction resumes."""

from __future__ import annotations

import argparse

from mamp_bench.reproduce.executors import EXECUTORS
from mamp_bench.scales import SCALES


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "reproduce",
        help="run the whole matrix (methods x protocols x datasets x seeds) and write the tables",
        description=(
            "Run the job matrix of the paper's tables and regenerate results/*.md. Smoke scale (default) runs on "
            "the synthetic stand-ins; --scale paper --data-root DIR runs the published recipe on real data. "
            "Pretrainings run first (each once), then the protocols; finished jobs are skipped. --dry-run prints "
            "the plan with an estimated cost. --executor torchrun runs each job on --gpus GPUs; slurm submits "
            "job arrays through submitit (local: submitit's local executor)."
        ),
    )
    parser.add_argument("--scale", default="smoke", choices=SCALES)
    parser.add_argument("--data-root", help="prepared real datasets (paper scale)")
    parser.add_argument("--runs-dir", help="runs folder (or MAMP_BENCH_RUNS; default ./runs)")
    parser.add_argument("--results-dir", help="results store and tables (or MAMP_BENCH_RESULTS; default ./results)")
    parser.add_argument("--executor", default="inprocess", choices=EXECUTORS)
    parser.add_argument("--gpus", type=int, default=1, help="GPUs (processes) per job for torchrun and slurm")
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--groups",
        help="comma-separated tables to fill (linear, knn, finetune, semi, transfer, ...) and 'ablation' for the "
        "methods' declared sweeps (default: every table, no ablation)",
    )
    parser.add_argument("--methods", help="comma-separated subset of the methods")
    parser.add_argument("--seeds", help="comma-separated seeds for every job (default: each protocol's own)")
    parser.add_argument(
        "--pretrain-per-seed",
        action="store_true",
        help="pretrain once per evaluation seed, for variance studies (default: the paper scale's seeds of an "
        "evaluation share one pretraining per method and dataset)",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the plan and its estimated cost, run nothing")
    parser.add_argument("--slurm-partition")
    parser.add_argument("--slurm-time", type=int, default=24 * 60, help="minutes per Slurm task")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    import torch

    from mamp_bench.console import echo
    from mamp_bench.errors import UserError
    from mamp_bench.pipeline import Options
    from mamp_bench.registry import METHODS
    from mamp_bench.reproduce.datasets import missing_datasets, print_missing
    from mamp_bench.reproduce.executors import ExecutorConfig, execute
    from mamp_bench.reproduce.matrix import build_matrix
    from mamp_bench.reproduce.plan import make_plan, print_plan
    from mamp_bench.results.export import write_tables
    from mamp_bench.results.frame import load_checked
    from mamp_bench.results.store import results_root
    from mamp_bench.results.verify import left_out_summary
    from mamp_bench.settings import runs_dir

    if args.scale == "paper" and not (args.data_root or os.environ.get("MAMP_BENCH_DATA")):
        raise UserError("--scale paper runs on real data: pass --data-root DIR (or set MAMP_BENCH_DATA)")
    try:
        seeds = tuple(int(s) for s in args.seeds.split(",")) if args.seeds else None
    except ValueError:
        raise UserError(f"--seeds expects comma-separated integers, got {args.seeds!r}") from None
    methods = args.methods.split(",") if args.methods else None
    for method in methods or ():
        METHODS.get(method)  # an unknown name is one line with the valid ones
    groups = args.groups.split(",") if args.groups else None
    jobs = build_matrix(args.scale, args.scale == "smoke", groups, methods, seeds, args.pretrain_per_seed)
    if not jobs:
        raise UserError("the selection leaves no job to run")
    options = Options(args.data_root, args.runs_dir, args.results_dir, args.device)
    use_cuda = args.device.startswith("cuda") or (args.device == "auto" and torch.cuda.is_available())
    device_kind = "cuda" if use_cuda else "cpu"
    plan = make_plan(jobs, args.scale, options, device_kind)
    print_plan(plan)
    print_missing(missing_datasets(plan.jobs, args.data_root), args.data_root)
    if args.dry_run:
        return 0
    executor = ExecutorConfig(
        args.executor, args.gpus, runs_dir(args.runs_dir) / "submitit", args.slurm_partition, args.slurm_time
    )
    failures = execute(plan, options, executor)
    results = load_checked(args.results_dir)
    if results.left_out:
        echo(f"mamp-bench: {left_out_summary(results.left_out)}")
    for path in write_tables(results.frame, Path(results_root(args.results_dir)), args.scale, results.left_out):
        print(f"wrote {path}")
    write_reproduction_figures(args)
    if failures:
        raise UserError(f"{len(failures)} job(s) failed: " + "; ".join(f"{j.describe()}: {e}" for j, e in failures[:5]))
    return 0


def write_reproduction_figures(args: argparse.Namespace) -> None:
    """The figures beside the tables (``<results>/figures``); nothing to draw is said, not an error."""
    from pathlib import Path

    from mamp_bench.console import echo
    from mamp_bench.results.plots import write_figures
    from mamp_bench.results.store import results_root
    from mamp_bench.settings import runs_dir

    figures = write_figures(runs_dir(args.runs_dir), args.results_dir, Path(results_root(args.results_dir)) / "figures",
                            args.data_root)  # fmt: skip
    for note in figures.notes:
        echo(f"mamp-bench: {note}")
    for path in figures.written:
        print(f"wrote {path}")
    if not figures.written:
        echo("mamp-bench: no figures: no pretraining logs and no records to plot")

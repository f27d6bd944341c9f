"""``mamp-bench reproduce``: run the paper's matrix (smoke scale on synthetic data by default) and
regenerate the tables; finished jobs are skipped, so an interrupted reproduction resumes."""

from __future__ import annotations

import argparse

from mamp_bench.reproduce.plan import DEFAULT_GPU, GPU_TYPES
from mamp_bench.reproduce.resources import EXECUTORS, Cluster
from mamp_bench.scales import SCALES


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "reproduce",
        help="run the whole matrix (methods x protocols x datasets x seeds) and write the tables",
        description=(
            "Run the job matrix of the paper's tables and regenerate results/*.md. Smoke scale (default) runs on "
            "the synthetic stand-ins; --scale paper --data-root DIR runs the published recipe on real data. "
            "Each pretraining runs once, and each protocol job when its own pretraining has finished; finished jobs "
            "are skipped. --dry-run prints the plan: every job's estimate on the target GPU and what it asks for. "
            "--executor torchrun runs jobs side by side on this machine's GPUs; slurm submits every job through "
            "submitit with its own time limit, GPUs and nodes, a dependency on its pretraining, and a requeue from "
            "its last epoch at the time limit (--detach, then --status to follow them)."
        ),
    )
    parser.add_argument("--scale", default="smoke", choices=SCALES)
    parser.add_argument("--data-root", help="prepared real datasets (paper scale)")
    parser.add_argument("--runs-dir", help="runs folder (or MAMP_BENCH_RUNS; default ./runs)")
    parser.add_argument("--results-dir", help="results store and tables (or MAMP_BENCH_RESULTS; default ./results)")
    parser.add_argument("--executor", default="inprocess", choices=EXECUTORS,
                        help="inprocess (default), torchrun (this machine's GPUs side by side), slurm (a Slurm job "
                        "per job through submitit), local (submitit's local executor)")  # fmt: skip
    parser.add_argument("--gpus", type=int, default=1,
                        help="GPUs for each pretraining long enough to spread (torchrun, slurm, local); every other "
                        "job runs on one")  # fmt: skip
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
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the plan: each job's estimate and what it asks for, its cost; run nothing",
    )
    parser.add_argument("--gpu-type", help="the GPU the plan is costed for, by its published rate "
                        f"({', '.join(GPU_TYPES)}; default {DEFAULT_GPU})")  # fmt: skip
    parser.add_argument("--gpu-benchmark", metavar="FILE",
                        help="cost the plan with the rates measured on the target GPU: the output of python -m "
                        "benchmarks.gpu --json FILE run there")  # fmt: skip
    parser.add_argument(
        "--detach",
        action="store_true",
        help="slurm: submit the jobs, print their ids and exit (follow them with --status)",
    )
    parser.add_argument("--status", action="store_true",
                        help="what is done, running, queued and failed (and why: the job's log), from the records and "
                        "the submitted jobs' states; submits nothing")  # fmt: skip
    slurm = parser.add_argument_group("slurm", "the cluster's options (also recorded with the submitted jobs)")
    slurm.add_argument("--slurm-partition")
    slurm.add_argument("--slurm-account")
    slurm.add_argument("--slurm-qos")
    slurm.add_argument("--slurm-constraint", help="node features, as sbatch --constraint (a100|h100)")
    slurm.add_argument("--slurm-mem", help="memory per node, as sbatch --mem (64G)")
    slurm.add_argument("--slurm-option", action="append", default=[], metavar="KEY[=VALUE]",
                       help="any other sbatch option, repeatable (--slurm-option exclusive --slurm-option "
                       "mail-type=FAIL)")  # fmt: skip
    slurm.add_argument(
        "--slurm-setup",
        action="append",
        default=[],
        metavar="COMMAND",
        help="a shell line run before each job, repeatable (module load cuda)",
    )
    slurm.add_argument("--slurm-gpus-per-node", type=int, default=Cluster.gpus_per_node)
    slurm.add_argument("--slurm-cpus-per-task", type=int, default=Cluster.cpus_per_task)
    slurm.add_argument("--slurm-time", type=int, default=Cluster.time_cap_min,
                       help="the longest time limit a job asks for, in minutes (the partition's limit; default "
                       "%(default)s): a longer job runs in pieces, requeued from its last epoch")  # fmt: skip
    slurm.add_argument(
        "--slurm-time-floor",
        type=int,
        default=Cluster.time_floor_min,
        help="the shortest time limit, in minutes (default %(default)s)",
    )
    slurm.add_argument("--slurm-max-requeues", type=int, default=Cluster.max_requeues,
                       help="time limits a job may reach beyond its planned pieces before it is failed (default "
                       "%(default)s; preemptions do not count)")  # fmt: skip
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import os

    import torch

    from mamp_bench.errors import UserError
    from mamp_bench.plan import Options
    from mamp_bench.registry import METHODS
    from mamp_bench.reproduce.datasets import missing_datasets, print_missing
    from mamp_bench.reproduce.describe import print_plan
    from mamp_bench.reproduce.executors import report, run_here, visible_gpus
    from mamp_bench.reproduce.matrix import build_matrix
    from mamp_bench.reproduce.plan import make_plan, target_device
    from mamp_bench.reproduce.resources import allocate_all

    has_data = bool(args.data_root or os.environ.get("MAMP_BENCH_DATA"))
    if args.scale == "paper" and not has_data and not (args.dry_run or args.status):
        raise UserError("--scale paper runs on real data: pass --data-root DIR (or set MAMP_BENCH_DATA)")
    if args.detach and args.executor != "slurm":
        raise UserError("--detach leaves the jobs to Slurm: it needs --executor slurm (the other executors run the "
                        "jobs from this process)")  # fmt: skip
    try:
        seeds = tuple(int(s) for s in args.seeds.split(",")) if args.seeds else None
    except ValueError:
        raise UserError(f"--seeds expects comma-separated integers, got {args.seeds!r}") from None
    methods = args.methods.split(",") if args.methods else None
    for method in methods or ():
        METHODS.get(method)  # an unknown name is one line with the valid ones
    groups = args.groups.split(",") if args.groups else None
    options = Options(args.data_root, args.runs_dir, args.results_dir, args.device)
    gpu_here = torch.cuda.is_available()
    gpu = args.device.startswith("cuda") or (
        args.device == "auto" and (gpu_here or args.scale == "paper" or args.executor in ("slurm", "torchrun"))
    )
    device = target_device(gpu, args.gpu_type, args.gpu_benchmark)
    cluster = cluster_options(args)

    def plan_now():
        jobs = build_matrix(args.scale, args.scale == "smoke", groups, methods, seeds, args.pretrain_per_seed)
        if not jobs:
            raise UserError("the selection leaves no job to run")
        return make_plan(jobs, args.scale, options, device)

    plan = plan_now()
    resources = allocate_all(plan.jobs, device, cluster)
    if args.status:
        return show_status(plan, cluster)
    slots = cluster.slots or max(visible_gpus(), 1)
    print_plan(plan, cluster, resources, slots)
    if device.gpu and args.executor == "inprocess" and not gpu_here and plan.todo():
        print(f"note: no GPU is visible here: the estimates are for {device.name}; this process would run the jobs "
              "on its CPU (run the plan where the GPUs are, or submit it: --executor slurm)")  # fmt: skip
    if has_data:
        print_missing(missing_datasets(plan.jobs, args.data_root), args.data_root)
    elif args.scale == "paper":
        print("datasets: no --data-root (or MAMP_BENCH_DATA) given, so none is prepared for this plan: prepare them "
              "(mamp-bench prepare, see Data) and pass --data-root DIR to run it")  # fmt: skip
    if args.dry_run:
        return 0
    if args.executor == "slurm":
        failures = run_on_slurm(args, plan, plan_now, options, cluster, resources)
        if failures is None:
            return 0
    else:
        import time

        started = time.time()
        outcomes = run_here(plan, options, cluster, resources)
        failures = [(o.job, o.error) for o in report(outcomes, time.time() - started)]
    write_reproduction_tables(args)
    write_reproduction_figures(args)
    write_reproduction_site(args)
    if failures:
        raise UserError(f"{len(failures)} job(s) did not finish: " +
                        "; ".join(f"{j.describe()}: {e}" for j, e in failures[:5]))  # fmt: skip
    return 0


def cluster_options(args: argparse.Namespace) -> Cluster:
    from mamp_bench.settings import runs_dir

    sbatch = {}
    for option in args.slurm_option:
        key, sep, value = option.lstrip("-").partition("=")
        sbatch[key] = value if sep else True
    cluster = Cluster(args.executor, args.gpus, args.slurm_gpus_per_node, args.slurm_cpus_per_task,
                      args.slurm_time_floor, args.slurm_time, max_requeues=args.slurm_max_requeues,
                      partition=args.slurm_partition, account=args.slurm_account, qos=args.slurm_qos,
                      constraint=args.slurm_constraint, mem=args.slurm_mem, sbatch=sbatch, setup=args.slurm_setup,
                      folder=runs_dir(args.runs_dir).absolute() / "submitit")  # fmt: skip
    cluster.validate()
    return cluster


def show_status(plan, cluster: Cluster) -> int:
    from mamp_bench.reproduce.slurm import LEDGER, print_statuses, statuses

    if (cluster.folder / LEDGER).is_file():
        print_statuses(statuses(plan, cluster))
    else:
        todo = plan.todo()
        print(f"status: {len(plan.jobs) - len(todo)} done, {len(todo)} to run (nothing was submitted to Slurm "
              f"from {cluster.folder})")  # fmt: skip
    return 0


def run_on_slurm(args, plan, plan_now, options, cluster: Cluster, resources) -> list | None:
    """Submit; with ``--detach`` print the job ids and return None, else follow the jobs to their end
    and return those that did not finish."""
    from mamp_bench.reproduce.slurm import print_statuses, submit, wait

    found = submit(plan, options, cluster, resources)
    print_statuses(found)
    if args.detach:
        print(f"submitted; follow with: mamp-bench reproduce --status (the same options); logs in {cluster.folder}")
        return None
    found = wait(plan_now, cluster)
    print_statuses(found)
    return [(s.job, s.detail or s.state) for s in found if s.state not in ("done",)]


def write_reproduction_tables(args: argparse.Namespace) -> None:
    from pathlib import Path

    from mamp_bench.console import echo
    from mamp_bench.results.export import write_tables
    from mamp_bench.results.frame import load_checked
    from mamp_bench.results.store import results_root
    from mamp_bench.results.verify import left_out_summary

    results = load_checked(args.results_dir)
    if results.left_out:
        echo(f"mamp-bench: {left_out_summary(results.left_out)}")
    for path in write_tables(results.frame, Path(results_root(args.results_dir)), args.scale, results.left_out):
        print(f"wrote {path}")


def write_reproduction_figures(args: argparse.Namespace) -> None:
    """The figures beside the tables (``<results>/figures``); nothing to draw is said, not an error."""
    from pathlib import Path

    from mamp_bench.console import echo
    from mamp_bench.results.figures import write_figures
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


def write_reproduction_site(args: argparse.Namespace) -> None:
    """The leaderboard site beside the tables and figures (``<results>/site``), from what they were made of."""
    from pathlib import Path

    from mamp_bench.results.site.build import build_site
    from mamp_bench.results.store import results_root

    summary = build_site(args.results_dir, Path(results_root(args.results_dir)) / "site")
    print(f"wrote {summary.out / 'index.html'} (the site: {summary.pages} pages)")

"""The reproduction matrix: planning, shared pretrainings, skipping finished jobs, executors."""

from __future__ import annotations

from mamp_bench.cli import main
from mamp_bench.reproduce.executors import ExecutorConfig, run_stage
from mamp_bench.reproduce.matrix import PAPER, SMOKE, Job, build_matrix, select
from mamp_bench.reproduce.plan import make_plan
from mamp_bench.results.store import ResultsStore


def test_smoke_matrix_covers_every_method_three_seeds():
    jobs = build_matrix(SMOKE, synthetic=True)
    main_jobs = [j for j in jobs if j.group == "main"]
    assert {j.method for j in main_jobs} == {
        "mamp",
        "mae",
        "mamp-random",
        "mae-motion-aware",
        "latent",
        "skeletonclr",
        "random-init",
    }
    assert {j.seed for j in main_jobs} == {0, 1, 2} and {j.protocol for j in main_jobs} == {"linear", "knn"}
    assert all(j.dataset.startswith("synthetic-") for j in jobs)
    assert {j.sets["fraction"] for j in jobs if j.protocol == "semi"} == {"0.01", "0.1"}
    paper = build_matrix(PAPER, synthetic=False)
    assert {j.dataset for j in paper if j.protocol == "linear"} == set(PAPER.datasets)
    assert {j.source for j in paper if j.protocol == "transfer"} == {"ntu60-xsub", "ntu120-xsub", "pku1-xsub"}
    assert len({j.seed for j in paper if j.protocol == "semi"}) == 5


def test_plan_shares_one_pretraining_per_method_and_seed(tmp_path):
    jobs = select(build_matrix(SMOKE, synthetic=True), ("mamp", "random-init"), ("main",))
    common = {"runs_dir": str(tmp_path / "runs"), "results_dir": str(tmp_path / "results")}
    plan = make_plan(jobs, "smoke", common, "cpu")
    assert len(plan.pretrain_jobs) == 3  # mamp x 3 seeds; random-init needs none
    assert all(j.method == "mamp" for j in plan.pretrain_jobs)
    assert all(j.cost_seconds > 0 for j in plan.jobs) and not any(j.done for j in plan.jobs)
    linear = [j for j in plan.protocol_jobs if j.method == "mamp" and j.protocol == "linear"]
    knn = [j for j in plan.protocol_jobs if j.method == "mamp" and j.protocol == "knn"]
    assert [a.depends for a in linear] == [b.depends for b in knn]


def test_dry_run_prints_the_plan(tmp_path, capsys):
    argv = ["reproduce", "--dry-run", "--groups", "main", "--methods", "mamp", "--seeds", "0",
            "--runs-dir", str(tmp_path / "runs"), "--results-dir", str(tmp_path / "results")]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "1 pretrain" in out and "to run" in out and "estimated" in out
    assert not (tmp_path / "results").exists()


def test_second_invocation_skips_finished_jobs(tmp_path, capsys):
    argv = ["reproduce", "--groups", "main", "--methods", "random-init", "--seeds", "0", "--device", "cpu",
            "--runs-dir", str(tmp_path / "runs"), "--results-dir", str(tmp_path / "results")]  # fmt: skip
    assert main(argv) == 0
    records = ResultsStore(tmp_path / "results").records()
    assert {(r["method"], r["protocol"]) for r in records} == {("random-init", "linear"), ("random-init", "knn")}
    tables = {p.name for p in (tmp_path / "results").iterdir()}
    assert {"linear.md", "knn.md", "finetune.md", "semi.md", "transfer.md", "ablation.md", "summary.csv"} <= tables
    assert "random-init" in (tmp_path / "results" / "linear.md").read_text()
    capsys.readouterr()
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "2 done, 0 to run" in out and "0 jobs run" in out


def test_submitit_local_executor_runs_a_stage(ntu60_prepared, tmp_path):
    tiny = {"method.encoder.dim": "32", "method.encoder.depth": "1", "method.encoder.heads": "2"}
    jobs = [Job("run", "random-init", "knn", "ntu60-xsub", seed, tiny) for seed in (0, 1)]
    common = ["--scale", "smoke", "--device", "cpu", "--quiet", "--data-root", str(ntu60_prepared[0]),
              "--runs-dir", str(tmp_path / "runs"), "--results-dir", str(tmp_path / "results")]  # fmt: skip
    results = run_stage(jobs, common, ExecutorConfig("local", folder=tmp_path / "submitit", slurm_time_min=10))
    assert [error for _, error in results] == [None, None]
    assert len(ResultsStore(tmp_path / "results").records()) == 2
    bad = [Job("run", "random-init", "knn", "ntu60-xsub", 0, {"k": "0"})]
    ((_, error),) = run_stage(bad, common, ExecutorConfig("local", folder=tmp_path / "submitit2", slurm_time_min=10))
    assert error


def test_pretrain_and_protocol_stages_run_in_process(ntu60_prepared, tmp_path):
    tiny = {"method.encoder.dim": "32", "method.encoder.depth": "1", "method.encoder.heads": "2",
            "method.decoder_dim": "32", "pretrain.epochs": "1", "pretrain.warmup_epochs": "0",
            "pretrain.batch_size": "8", "pretrain.max_clips": "16", "k": "5"}  # fmt: skip
    jobs = [Job("run", "mamp", "knn", "ntu60-xsub", 0, tiny)]
    common = {
        "data_root": str(ntu60_prepared[0]),
        "runs_dir": str(tmp_path / "runs"),
        "results_dir": str(tmp_path / "r"),
    }
    plan = make_plan(jobs, "smoke", common, "cpu")
    (pretrain,) = plan.pretrain_jobs
    assert pretrain.sets == {k: v for k, v in tiny.items() if k != "k" and not k.startswith("pretrain.")} | {
        k.removeprefix("pretrain."): v for k, v in tiny.items() if k.startswith("pretrain.")
    }
    argv = ["--scale", "smoke", "--device", "cpu", "--quiet", "--data-root", common["data_root"],
            "--runs-dir", common["runs_dir"], "--results-dir", common["results_dir"]]  # fmt: skip
    from mamp_bench.reproduce.runner import execute

    assert execute(plan, argv, ExecutorConfig("inprocess")) == []
    again = make_plan([Job("run", "mamp", "knn", "ntu60-xsub", 0, tiny)], "smoke", common, "cpu")
    assert all(j.done for j in again.jobs)

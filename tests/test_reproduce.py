"""The reproduction matrix: planning, shared pretrainings, skipping finished jobs, executors."""

from __future__ import annotations

from mamp_bench.cli import main
from mamp_bench.pipeline import Options, Request
from mamp_bench.registry import METHODS
from mamp_bench.reproduce.executors import run_here
from mamp_bench.reproduce.matrix import Job, build_matrix
from mamp_bench.reproduce.plan import CPU, make_plan
from mamp_bench.reproduce.resources import Cluster, allocate_all
from mamp_bench.results.store import ResultsStore

BENCHMARKS = {"ntu60-xsub", "ntu60-xview", "ntu120-xsub", "ntu120-xset", "pku1-xsub", "pku2-xsub"}


def test_smoke_matrix_covers_every_method_three_seeds():
    jobs = build_matrix("smoke", synthetic=True)
    frozen = [j.request for j in jobs if j.group in ("linear", "knn")]
    assert {r.method for r in frozen} == set(METHODS.names())  # every registered method, a plugin's too
    assert {r.seed for r in frozen} == {0, 1, 2} and {r.protocol for r in frozen} == {"linear", "knn"}
    assert all(j.request.dataset.startswith("synthetic-") for j in jobs)
    assert {j.request.overrides["fraction"] for j in jobs if j.request.protocol == "semi"} == {"0.01", "0.1"}
    assert {j.request.method for j in jobs if j.request.protocol == "scratch"} == {"random-init"}
    paper = [j.request for j in build_matrix("paper", synthetic=False)]
    assert {r.dataset for r in paper if r.protocol == "linear"} == BENCHMARKS
    assert {r.source for r in paper if r.protocol == "transfer"} == {"ntu60-xsub", "ntu120-xsub", "pku1-xsub"}
    assert len({r.seed for r in paper if r.protocol == "semi"}) == 5


def test_ablation_group_runs_the_declared_sweeps():
    jobs = build_matrix("smoke", synthetic=True, selected_groups=["ablation"])
    sweeps = {(j.request.protocol, tuple(j.request.overrides.items())) for j in jobs}
    expected = {
        (protocol, ((f"method.{key}", str(value)),))
        for method in METHODS.names()
        for key, values in METHODS.get(method).sweeps.items()
        for value in values
        for protocol in ("linear", "knn")
    }
    assert sweeps == expected and ("linear", (("method.mask_ratio", "0.8"),)) in sweeps


def test_plan_shares_one_pretraining_per_method_and_seed(tmp_path):
    jobs = build_matrix("smoke", True, ["linear", "knn"], ["mamp", "random-init"])
    plan = make_plan(jobs, "smoke", Options(runs_dir=str(tmp_path / "runs"), results_dir=str(tmp_path / "r")), CPU)
    assert len(plan.pretrain_jobs) == 3  # mamp x 3 seeds; random-init needs none
    assert all(j.request.method == "mamp" for j in plan.pretrain_jobs)
    assert all(j.cost_seconds > 0 for j in plan.jobs) and not any(j.done for j in plan.jobs)
    linear = [j for j in plan.protocol_jobs if j.request.method == "mamp" and j.request.protocol == "linear"]
    knn = [j for j in plan.protocol_jobs if j.request.method == "mamp" and j.request.protocol == "knn"]
    assert [a.depends for a in linear] == [b.depends for b in knn]


def test_dry_run_prints_the_plan(tmp_path, capsys):
    argv = ["reproduce", "--dry-run", "--groups", "linear,knn", "--methods", "mamp", "--seeds", "0",
            "--runs-dir", str(tmp_path / "runs"), "--results-dir", str(tmp_path / "results")]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "1 pretrain" in out and "to run" in out and "estimated" in out
    assert not (tmp_path / "results").exists()


def test_second_invocation_skips_finished_jobs(tmp_path, capsys):
    argv = ["reproduce", "--groups", "linear,knn", "--methods", "random-init", "--seeds", "0", "--device", "cpu",
            "--runs-dir", str(tmp_path / "runs"), "--results-dir", str(tmp_path / "results")]  # fmt: skip
    assert main(argv) == 0
    records = ResultsStore(tmp_path / "results").records()
    assert {(r["method"], r["protocol"]) for r in records} == {("random-init", "linear"), ("random-init", "knn")}
    tables = {p.name for p in (tmp_path / "results").iterdir()}
    assert {"linear.md", "knn.md", "finetune.md", "semi.md", "transfer.md", "ablation.md", "summary.csv"} <= tables
    assert "random-init" in (tmp_path / "results" / "linear.md").read_text()
    assert (tmp_path / "results" / "figures" / "accuracy_by_epoch.png").is_file()  # figures beside the tables
    capsys.readouterr()
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "2 done, 0 to run" in out and "0 jobs run" in out


def run_plan(jobs: list[Job], options: Options, cluster: Cluster):
    plan = make_plan(jobs, "smoke", options, CPU)
    return run_here(plan, options, cluster, allocate_all(plan.jobs, CPU, cluster))


def test_submitit_local_executor_runs_the_jobs_and_reports_a_failed_one(ntu60_prepared, tmp_path):
    tiny = {"method.encoder.dim": "32", "method.encoder.depth": "1", "method.encoder.heads": "2"}
    jobs = [
        Job("run", Request("random-init", "knn", "ntu60-xsub", seed=seed, overrides=tiny), "knn") for seed in (0, 1)
    ]
    jobs.append(Job("run", Request("random-init", "knn", "ntu120-xsub", overrides=tiny), "knn"))  # not prepared
    options = Options(str(ntu60_prepared[0]), str(tmp_path / "runs"), str(tmp_path / "results"), "cpu")
    outcomes = run_plan(jobs, options, Cluster("local", folder=tmp_path / "submitit", slots=2))
    assert [o.state for o in outcomes] == ["done", "done", "failed"] and "ntu120" in outcomes[2].error
    assert len(ResultsStore(tmp_path / "results").records()) == 2


def test_pretrain_and_protocol_stages_run_in_process(ntu60_prepared, tmp_path):
    tiny = {"method.encoder.dim": "32", "method.encoder.depth": "1", "method.encoder.heads": "2",
            "method.decoder_dim": "32", "pretrain.epochs": "1", "pretrain.warmup_epochs": "0",
            "pretrain.batch_size": "8", "pretrain.max_clips": "16", "k": "5"}  # fmt: skip
    jobs = [Job("run", Request("mamp", "knn", "ntu60-xsub", overrides=tiny), "knn")]
    options = Options(str(ntu60_prepared[0]), str(tmp_path / "runs"), str(tmp_path / "r"), "cpu")
    plan = make_plan(jobs, "smoke", options, CPU)
    (pretrain,) = plan.pretrain_jobs
    assert pretrain.request.overrides == {k: v for k, v in tiny.items() if k != "k"}
    assert pretrain.command()[:2] == ["pretrain", "--method"]
    cluster = Cluster("inprocess")
    outcomes = run_here(plan, options, cluster, allocate_all(plan.jobs, CPU, cluster))
    assert [o.state for o in outcomes] == ["done", "done"]
    again = make_plan([Job("run", Request("mamp", "knn", "ntu60-xsub", overrides=tiny), "knn")], "smoke", options, CPU)
    assert all(j.done for j in again.jobs)

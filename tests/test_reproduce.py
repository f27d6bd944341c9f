"""The reproduction matrix: planning, shared pretrainings, skipping finished jobs, executors."""

from __future__ import annotations

from datetime import datetime

import pytest

from mamp_bench.cli import main
from mamp_bench.data.specs import get_dataset
from mamp_bench.errors import UserError
from mamp_bench.plan import Options, Request
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
    assert "random-init" in (tmp_path / "results" / "site" / "index.html").read_text()  # and the site
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


def plan_rows(out: str) -> dict[str, list[str]]:
    """The printed plan's rows: job -> its cells from the estimate on."""
    return {line.split("│")[2].strip(): [c.strip() for c in line.split("│")[6:-1]] for line in out.splitlines()
            if line.count("│") > 6}  # fmt: skip


def test_the_paper_dry_run_for_slurm_says_what_each_job_asks_for(tmp_path, capsys, monkeypatch):
    """The issue's command (no --data-root: a dry run describes the plan without the data)."""
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.chdir(tmp_path)
    slurm = ["reproduce", "--scale", "paper", "--dry-run", "--executor", "slurm", "--gpus", "4", "--slurm-partition",
             "gpu"]  # fmt: skip
    assert main(slurm) == 0
    out = capsys.readouterr().out
    rows = plan_rows(out)
    # estimate, GPU-hours on one GPU, GPUs, nodes, time limit
    assert rows["pretrain mamp ntu60-xsub s0"] == ["5.1 h", "20.4", "4", "1", "7:50:00"]
    assert rows["knn mamp ntu60-xsub s0"] == ["3.2 min", "0.1", "1", "1", "0:15:00"]
    assert rows["finetune mamp ntu120-xsub s0"][-1] == "24:00:00 x2"  # past the cap: two pieces, by requeue
    assert "executor slurm" in out and "partition gpu" in out and "afterok" in out
    assert "184 jobs, 0 done, 184 to run; 697.1 GPU-hours on RTX 4090 (published, not measured here" in out
    # the GCN family: each stream pretrained on one GPU (as its reference), no PKU-MMD II (its chain has none)
    assert rows["pretrain aimclr ntu60-xsub-frame50 s0 (method.encoder.stream=motion)"][2:4] == ["1", "1"]
    assert not [job for job in rows if "clr" in job and "pku2" in job]
    assert "warning: 4 job(s) outlast the 24.0 h time limit" in out and "none is prepared" in out
    assert "on cpu" not in out.lower() and "CPU-h" not in out
    assert not (tmp_path / "runs").exists()

    assert main(slurm[:5] + ["inprocess"]) == 0
    inprocess = capsys.readouterr().out
    assert "executor inprocess" in inprocess and "time limit" not in inprocess
    assert plan_rows(inprocess)["pretrain mamp ntu60-xsub s0"] == ["20.4 h", "20.4"]  # one GPU, one job at a time
    assert "697.1 GPU-hours on RTX 4090" in inprocess and "no GPU is visible here" in inprocess


def test_detach_needs_slurm(tmp_path, capsys):
    assert main(["reproduce", "--detach", "--runs-dir", str(tmp_path / "runs")]) == 2
    assert "--detach leaves the jobs to Slurm" in capsys.readouterr().err


def test_time_limits_come_from_the_estimate_with_a_margin_a_floor_and_a_cap():
    from mamp_bench.reproduce.plan import GPU_TYPES
    from mamp_bench.reproduce.resources import allocate

    gpu, cluster = GPU_TYPES["rtx4090"], Cluster("slurm", gpus=16, gpus_per_node=8)
    pretrain = Job("pretrain", Request("mamp", None, "ntu60-xsub"), "pretrain", cost_seconds=50 * 3600, batch_size=128)
    res = allocate(pretrain, gpu, cluster)
    assert (res.gpus, res.nodes, res.tasks_per_node) == (16, 2, 8)  # two whole nodes
    assert res.time_min == 5 * -(-(50 * 60 / 16 * 1.5 + 10) // 5) and res.pieces == 1  # 3.125 h x 1.5 + 10 min
    odd = Job("pretrain", Request("mamp", None, "ntu60-xsub"), "pretrain", cost_seconds=50 * 3600, batch_size=96)
    assert allocate(odd, gpu, Cluster("slurm", gpus=5)).gpus == 4  # the largest count that splits the batch
    one = allocate(pretrain, gpu, Cluster("slurm", gpus=1, time_cap_min=600))
    assert (one.gpus, one.time_min, one.pieces) == (1, 600, 8)  # 75 h 10 min in 10 h pieces
    assert one.max_timeouts(Cluster("slurm", max_requeues=3)) == 7 + 3
    short = Job("run", Request("mamp", "knn", "ntu60-xsub"), "knn", cost_seconds=60)
    assert allocate(short, gpu, cluster) == allocate(short, gpu, Cluster("slurm", gpus=1))  # never spread
    assert allocate(short, gpu, cluster).time_min == 15  # the floor
    with pytest.raises(UserError, match="whole nodes"):
        Cluster("slurm", gpus=12, gpus_per_node=8).validate()


def test_jobs_run_side_by_side_on_free_gpus_after_their_pretraining():
    """The scheduler of the torchrun and local executors: one-GPU jobs fill the free GPUs, a job of
    several GPUs waits for as many, a protocol job for its pretraining."""
    import time

    from mamp_bench.reproduce.executors import Running, schedule

    def job(key, depends=()):
        return Job("run", Request("mamp", "knn", key), "knn", key=key, depends=list(depends))

    jobs = [job("pre"), job("a"), job("b"), job("big"), job("after", ["pre"])]
    need = {"pre": 1, "a": 1, "b": 1, "big": 2, "after": 1}
    started, busy, peak = {}, set(), []

    def start(j, devices):
        started[j.key] = (time.time(), tuple(devices))
        busy.update(devices)
        peak.append(len(busy))
        end = time.time() + 0.3

        def poll():
            if time.time() < end:
                return None
            busy.difference_update(devices)
            return "" if j.key != "b" else "exit status 1"

        return Running(poll)

    outcomes = schedule(jobs, 2, lambda j: need[j.key], start)
    assert [o.state for o in outcomes] == ["done", "done", "failed", "done", "done"]
    assert started["a"][0] - started["pre"][0] < 0.2  # side by side on the two GPUs
    assert sorted(started["pre"][1] + started["a"][1]) == [0, 1] and max(peak) == 2
    assert started["big"][1] == (0, 1) and started["big"][0] >= started["b"][0] + 0.3  # both GPUs, once free
    assert started["after"][0] >= started["pre"][0] + 0.3


def test_torchrun_runs_independent_jobs_at_once(ntu60_prepared, tmp_path):
    tiny = {"method.encoder.dim": "32", "method.encoder.depth": "1", "method.encoder.heads": "2"}
    jobs = [Job("run", Request("random-init", "knn", "ntu60-xsub", seed=s, overrides=tiny), "knn") for s in (0, 1)]
    options = Options(str(ntu60_prepared[0]), str(tmp_path / "runs"), str(tmp_path / "results"), "cpu")
    outcomes = run_plan(jobs, options, Cluster("torchrun", slots=2))
    assert [o.state for o in outcomes] == ["done", "done"]
    records = ResultsStore(tmp_path / "results").records()
    spans = [(datetime.fromisoformat(r["created"]).timestamp() - r["wall_seconds"],
              datetime.fromisoformat(r["created"]).timestamp()) for r in records]  # fmt: skip
    assert max(start for start, _ in spans) < min(end for _, end in spans) + 1  # the two runs overlapped


def test_a_measured_gpu_costs_the_plan(tmp_path):
    """``--gpu-benchmark FILE``: a pretraining's estimate is its clips over the clips/s measured for its
    preset, a k-NN job's its clips over the measured frozen-encoder clips/s."""
    import json

    from benchmarks import gpu
    from mamp_bench.engine.flops import masked_pretrain_flops
    from mamp_bench.reproduce.plan import measured_device

    sizes = gpu.Sizes.for_device("cuda", quick=False)
    job = gpu.pretrain_job("ntu60", "fp32", False, False, sizes)
    step = masked_pretrain_flops(job.method_config, 2 * sizes.batch)["total"] / 1e9
    row = {"preset": "ntu60", "precision": "fp32", "skip": False, "compile": False, "batch": sizes.batch,
           "clips_per_s": 1000.0, "gflop_per_step": step}  # fmt: skip
    result = {"machine": "a test", "device": {"device": "cuda", "name": "NVIDIA H200"}, "sizes": {"quick": False},
              "steps": [row], "rates": {"encode": 5000.0, "train": 800.0},
              "encoder_gflop_per_clip": gpu.encoder_gflop_per_clip(sizes)}  # fmt: skip
    path = tmp_path / "gpu.json"
    path.write_text(json.dumps(result))
    device = measured_device(path)
    assert device.name == "NVIDIA H200" and device.gpu and "measured" in device.source
    jobs = [Job("run", Request("mamp", "knn", "ntu60-xsub", scale="paper"), "knn")]
    plan = make_plan(jobs, "paper", Options(runs_dir=str(tmp_path / "runs"), results_dir=str(tmp_path / "r")), device)
    (pretrain,) = plan.pretrain_jobs
    assert pretrain.cost_seconds == pytest.approx(400 * 40091 / 1000.0)
    assert plan.protocol_jobs[0].cost_seconds == pytest.approx(sum(get_dataset("ntu60-xsub").clips) / 5000.0)
    result["sizes"]["quick"] = True
    path.write_text(json.dumps(result))
    with pytest.raises(UserError, match="--quick"):
        measured_device(path)

"""The plan on a Slurm cluster, with submitit's own test utilities standing in for the cluster: its
mocked ``sbatch``/``sacct`` (``MockedSubprocess``, what ``submitit.slurm.test_slurm.mocked_slurm`` uses)
take the submissions and say the jobs' states, and the test plays the compute node: it runs each
submitted task as a node would (``submission.process_job`` in the task's Slurm environment), sends the
time limit's warning signal in the middle of an epoch, and runs the requeued task again."""

from __future__ import annotations

import contextlib
import json
import re
import shlex
import signal
from pathlib import Path

import pytest

submitit = pytest.importorskip("submitit")

from submitit.core import job_environment, submission  # noqa: E402
from submitit.core.test_core import MockedSubprocess  # noqa: E402
from submitit.core.utils import DelayedSubmission, JobPaths, environment_variables  # noqa: E402
from submitit.slurm import slurm as submitit_slurm  # noqa: E402

from mamp_bench import faults  # noqa: E402
from mamp_bench.cli import main  # noqa: E402
from mamp_bench.plan import Options, Request  # noqa: E402
from mamp_bench.reproduce import slurm  # noqa: E402
from mamp_bench.reproduce.executors import run_here  # noqa: E402
from mamp_bench.reproduce.matrix import Job  # noqa: E402
from mamp_bench.reproduce.plan import GPU_TYPES, make_plan  # noqa: E402
from mamp_bench.reproduce.resources import Cluster, allocate_all  # noqa: E402
from mamp_bench.results.store import ResultsStore  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
GPU = GPU_TYPES["rtx4090"]
TINY = {"method.encoder.dim": "32", "method.encoder.depth": "1", "method.encoder.heads": "2",
        "method.decoder_dim": "32", "pretrain.epochs": "3", "pretrain.warmup_epochs": "0",
        "pretrain.batch_size": "8", "pretrain.max_clips": "16", "epochs": "3", "batch_size": "16"}  # fmt: skip


class Cluster_:
    """The mocked cluster: submitit's MockedSubprocess for sbatch and sacct (used only while submitting
    or asking for states, as a login node would), the requeues the jobs asked for, and the node's side."""

    def __init__(self, monkeypatch):
        self.mock = MockedSubprocess(known_cmds=["srun"])
        self.requeues: list[tuple[str, int]] = []
        self.monkeypatch = monkeypatch

        def requeue(env, countdown):  # scontrol requeue JOBID: the cluster puts the job back in the queue
            self.requeues.append((env.job_id, countdown))

        monkeypatch.setattr(submitit_slurm.SlurmJobEnvironment, "_requeue", requeue)

    @contextlib.contextmanager
    def login(self):
        with self.mock.context():
            yield
        submitit_slurm.SlurmJob.watcher.clear()

    def set_state(self, job_id: str, state: str) -> None:
        self.mock.set_job_state(job_id, state)

    def run_task(self, folder: Path, job_id: str, signal_at: str | None = None, timed_out: bool = False, **env) -> None:
        """Run one submitted task as its node would. ``signal_at``: the fault point (``<point>:<n>``) where
        Slurm's warning signal arrives (USR2: the time limit's, or a preemption's; ``timed_out`` says
        which, as submitit tells them apart by the time the job ran)."""
        faults.reset()
        kill = {"MAMP_BENCH_KILL_AT": signal_at, "MAMP_BENCH_KILL_SIGNAL": "USR2"} if signal_at else {}
        with contextlib.ExitStack() as stack:
            stack.enter_context(self.mock.job_context(job_id))
            stack.enter_context(environment_variables(**kill, **env))
            if timed_out:
                stack.enter_context(pytest.MonkeyPatch.context()).setattr(
                    job_environment.SignalHandler, "has_timed_out", lambda handler: True
                )
            submission.process_job(folder)


@pytest.fixture
def cluster(monkeypatch):
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGCONT, signal.SIGUSR2)}
    monkeypatch.setenv("SUBMITIT_FOLDER", "")  # process_job sets it: restored after the test
    for name in ("MAMP_BENCH_KILL_AT", "MAMP_BENCH_KILL_SIGNAL"):
        monkeypatch.delenv(name, raising=False)
    yield Cluster_(monkeypatch)
    for sig, handler in handlers.items():
        signal.signal(sig, handler)
    faults.reset()


def sbatch_lines(folder: Path, job_id: str) -> set[str]:
    """The #SBATCH lines submitit wrote for a job (its array's file for an array task)."""
    text = JobPaths(folder, job_id=job_id).submission_file.read_text()
    return {line.removeprefix("#SBATCH --") for line in text.splitlines() if line.startswith("#SBATCH")}


def compared(record: dict) -> tuple:
    """What must equal between an uninterrupted run and an interrupted one: the numbers and the per-clip
    predictions (their sha256)."""
    return record["metrics"], record["predictions"]["sha256"]


def same_weights(a: dict, b: dict) -> bool:
    """Whether two records evaluated checkpoints of the same weights (a resumed pretraining's checkpoint
    holds the same tensors as an uninterrupted one's, though not the same bytes: see the report)."""
    import torch

    first, second = (torch.load(r["encoder"]["checkpoint"], weights_only=False)["model"] for r in (a, b))
    return first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


def test_a_timed_out_job_is_requeued_and_resumes_to_the_record_of_an_uninterrupted_run(
    ntu60_prepared, tmp_path, cluster, one_torch_thread
):
    data = str(ntu60_prepared[0])
    jobs = lambda: [Job("run", Request("mamp", "linear", "ntu60-xsub", overrides=dict(TINY)), "linear")]  # noqa: E731

    reference = Options(data, str(tmp_path / "ref-runs"), str(tmp_path / "ref-results"), "cpu")
    plan = make_plan(jobs(), "smoke", reference, GPU)
    inprocess = Cluster("inprocess")
    assert [o.state for o in run_here(plan, reference, inprocess, allocate_all(plan.jobs, GPU, inprocess))] == [
        "done", "done"
    ]  # fmt: skip
    (uninterrupted,) = ResultsStore(tmp_path / "ref-results").records()

    options = Options(data, str(tmp_path / "runs"), str(tmp_path / "results"), "cpu")
    config = Cluster("slurm", partition="gpu", folder=tmp_path / "submitit")
    plan = make_plan(jobs(), "smoke", options, GPU)
    resources = allocate_all(plan.jobs, GPU, config)
    with cluster.login():
        slurm.submit(plan, options, config, resources)
    ledger = json.loads((tmp_path / "submitit" / "jobs.json").read_text())
    pretrain, linear = (ledger["jobs"][job.key]["job_id"] for job in plan.jobs)
    assert "dependency=afterok:" + pretrain in sbatch_lines(config.folder, linear)
    assert "signal=USR2@120" in sbatch_lines(config.folder, pretrain)

    # the pretraining reaches its time limit in its second epoch (two steps an epoch): requeued, not lost
    with pytest.raises(SystemExit):
        cluster.run_task(config.folder, pretrain, signal_at="pretrain-step:3", timed_out=True)
    limit = resources[plan.jobs[0].key].max_timeouts(config)
    assert cluster.requeues == [(pretrain, limit - 1)]  # a time limit counts against the requeue limit
    requeued = DelayedSubmission.load(JobPaths(config.folder, job_id=pretrain).submitted_pickle)
    assert requeued._timeout_countdown == limit - 1 and requeued.function.__class__.__name__ == "CheckpointableJob"
    (pretrain_run,) = (tmp_path / "runs" / "pretrain").iterdir()
    epochs = lambda: [json.loads(line)["epoch"] for line in (pretrain_run / "log.jsonl").open()]  # noqa: E731
    assert epochs() == [0]  # one epoch done and saved, two to go
    cluster.run_task(config.folder, pretrain, SLURM_RESTART_COUNT="1")  # Slurm starts it again
    assert epochs() == [0, 1, 2]  # it went on from its checkpoint, not over

    # the protocol job is preempted once its first epoch is saved, then resumes
    with pytest.raises(SystemExit):
        cluster.run_task(config.folder, linear, signal_at="checkpoint-last.pth@renamed:1")
    assert cluster.requeues[-1] == (linear, resources[plan.jobs[1].key].max_timeouts(config))  # not a timeout
    cluster.run_task(config.folder, linear, SLURM_RESTART_COUNT="1")

    (record,) = ResultsStore(tmp_path / "results").records()
    assert compared(record) == compared(uninterrupted) and same_weights(record, uninterrupted)
    assert record["environment"]["slurm"] == {"job_id": linear, "requeues": 1}
    assert "slurm" not in uninterrupted["environment"]
    # the submitting command, without --detach, follows the jobs until none is queued or running: the
    # records say both are done, whatever sacct still says
    with cluster.login():
        for job_id in (pretrain, linear):
            cluster.set_state(job_id, "RUNNING")
        found = slurm.wait(lambda: make_plan(jobs(), "smoke", options, GPU), config, poll_s=0)
    assert [(s.state, s.job_id) for s in found] == [("done", pretrain), ("done", linear)]


def test_a_failed_pretraining_skips_only_its_dependants(ntu60_prepared, tmp_path, one_torch_thread, capsys):
    options = Options(str(ntu60_prepared[0]), str(tmp_path / "runs"), str(tmp_path / "results"), "cpu")
    knn = {k: v for k, v in TINY.items() if k.startswith(("method.", "pretrain."))}
    jobs = [
        Job("run", Request("mamp", "knn", name, overrides={**knn, "k": "5"}), "knn")
        for name in ("ntu120-xsub", "ntu60-xsub")
    ]  # fmt: skip  (NTU-120 is not prepared)
    plan = make_plan(jobs, "smoke", options, GPU)
    inprocess = Cluster("inprocess")
    outcomes = run_here(plan, options, inprocess, allocate_all(plan.jobs, GPU, inprocess))
    states = {(o.job.kind, o.job.request.dataset): (o.state, o.error) for o in outcomes}
    failed, error = states["pretrain", "ntu120-xsub"]
    assert failed == "failed" and "NTU120_XSub.npz not found" in error
    assert states["run", "ntu120-xsub"] == ("skipped", f"its pretraining failed ({error})")
    assert states["pretrain", "ntu60-xsub"] == states["run", "ntu60-xsub"] == ("done", "")
    assert "knn mamp ntu120-xsub s0" in capsys.readouterr().out  # the skipped job is reported too
    assert [r["dataset"] for r in ResultsStore(tmp_path / "results").records()] == ["ntu60-xsub"]


def readme_slurm_commands() -> list[str]:
    section = (REPO / "README.md").read_text().split("### On a Slurm cluster")[1].split("\n#")[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S)[1]
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.startswith("mamp-bench")]


def test_the_readme_slurm_example_submits_jobs_that_ask_for_their_own_resources(tmp_path, cluster, capsys,
                                                                                  monkeypatch):  # fmt: skip
    """The README's commands as written (DATA: an empty folder), against the mocked cluster: the dry run, the
    submission (what each job asks for, its dependency), the status while the jobs run, a failed
    pretraining and what it skips, and the resubmission of what failed."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "250")
    (tmp_path / "data").mkdir()
    commands = [shlex.split(c.replace("DATA", str(tmp_path / "data")))[1:] for c in readme_slurm_commands()]
    dry, detach, status = commands[:3]
    assert "--dry-run" in dry and "--detach" in detach and "--status" in status

    assert main(dry) == 0
    out = capsys.readouterr().out
    rows = {line.split("│")[2].strip(): [c.strip() for c in line.split("│")[6:-1]] for line in out.splitlines()
            if line.count("│") > 8}  # fmt: skip
    assert rows["pretrain mamp ntu120-xsub s0"] == ["12.5 h", "50.1", "4", "1", "19:00:00"]  # estimate GPU-h GPUs ...
    assert rows["knn mamp ntu60-xsub s0"] == ["3.2 min", "0.1", "1", "1", "0:15:00"]
    assert "executor slurm" in out and "GPU-hours on RTX 4090" in out and "on cpu" not in out.lower()
    assert not (tmp_path / "runs").exists()  # a dry run submits nothing

    with cluster.login():
        assert main(detach) == 0
    out = capsys.readouterr().out
    ledger = json.loads((tmp_path / "runs" / "submitit" / "jobs.json").read_text())
    jobs = {entry["job"]: entry for entry in ledger["jobs"].values()}
    total = 184  # the paper plan: the transformer methods' 94 jobs and the GCN family's 90
    assert len(jobs) == total and f"status: {total} running" in out  # the mocked sacct says every job runs
    assert ledger["cluster"]["partition"] == "gpu" and ledger["cluster"]["account"] == "lab"
    pretrain, knn = jobs["pretrain mamp ntu120-xsub s0"], jobs["knn mamp ntu120-xsub s0"]
    lines = sbatch_lines(Path("runs/submitit"), pretrain["job_id"])
    assert {"gpus-per-node=4", "ntasks-per-node=4", "nodes=1", "time=1140", "partition=gpu", "account=lab",
            "cpus-per-task=8", "signal=USR2@120"} <= lines  # fmt: skip
    lines = sbatch_lines(Path("runs/submitit"), knn["job_id"])
    assert {"gpus-per-node=1", "ntasks-per-node=1", "time=20", f"dependency=afterok:{pretrain['job_id']}",
            "kill-on-invalid-dep=yes"} <= lines  # fmt: skip
    assert knn["depends"] == pretrain["job_id"]
    split = jobs["finetune mamp ntu120-xsub s0"]["resources"]
    assert split["pieces"] == 2 and split["time_min"] == 1440  # longer than the cap: two pieces, by requeue

    # the NTU-120 pretraining fails; Slurm cancels its dependants (--kill-on-invalid-dep), the rest goes on
    dependants = [e["job_id"] for e in ledger["jobs"].values() if e["depends"] == pretrain["job_id"]]
    with cluster.login():
        cluster.set_state(pretrain["job_id"], "FAILED")
        for job_id in dependants:
            cluster.set_state(job_id, "CANCELLED")
        Path(JobPaths(Path("runs/submitit"), job_id=pretrain["job_id"]).stderr).write_text(
            "Traceback ...\nmamp_bench.errors.UserError: ntu120-xsub is not prepared\n"
        )
        assert main(status) == 0
    out = capsys.readouterr().out
    assert f"status: {total - 1 - len(dependants)} running, 1 failed, {len(dependants)} skipped" in out
    failed = next(line for line in out.splitlines() if line.strip().startswith("failed"))
    assert "pretrain mamp ntu120-xsub s0: failed: ntu120-xsub is not prepared; log " in failed
    assert failed.endswith(f"{pretrain['job_id']}_0_log.err")
    assert sum("skipped" in line and "its pretraining failed" in line for line in out.splitlines()) == len(dependants)

    with cluster.login():  # the plan again: only the failed pretraining and its dependants are submitted again
        assert main(detach) == 0
    resubmitted = json.loads((tmp_path / "runs" / "submitit" / "jobs.json").read_text())["jobs"]
    changed = {e["job"] for key, e in resubmitted.items() if e["job_id"] != ledger["jobs"][key]["job_id"]}
    assert changed == {"pretrain mamp ntu120-xsub s0"} | {e["job"] for e in ledger["jobs"].values()
                                                          if e["depends"] == pretrain["job_id"]}  # fmt: skip
    new_pretrain = resubmitted[next(k for k, e in ledger["jobs"].items() if e is pretrain or e == pretrain)]
    assert all(resubmitted[k]["depends"] == new_pretrain["job_id"] for k, e in ledger["jobs"].items()
               if e["depends"] == pretrain["job_id"])  # fmt: skip

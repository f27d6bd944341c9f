"""Planning: the pretraining jobs the protocol jobs depend on, what is already done, what it costs."""

from __future__ import annotations

from dataclasses import dataclass

from mamp_bench.evaluation.runner import RunRequest, existing_record, plan_run, split_sets
from mamp_bench.reproduce.matrix import Job

#: clips per second by (scale, device kind) for pretraining, frozen encoding, and fine-tuning,
#: measured on this project's machines (smoke on a 2-core Xeon; paper on GPU from the ~20 h per
#: 400-epoch NTU-60 pretraining reported on an RTX 4090, on CPU from benchmarks/)
THROUGHPUT = {
    ("smoke", "cpu"): {"pretrain": 380.0, "encode": 400.0, "finetune": 90.0},
    ("smoke", "cuda"): {"pretrain": 3000.0, "encode": 8000.0, "finetune": 1500.0},
    ("paper", "cpu"): {"pretrain": 5.4, "encode": 7.0, "finetune": 2.3},
    ("paper", "cuda"): {"pretrain": 220.0, "encode": 700.0, "finetune": 150.0},
}
#: clips (train, test) of the real splits and (approximately) of the synthetic stand-ins
SIZES = {
    "ntu60-xsub": (40091, 16487), "ntu60-xview": (37646, 18932), "ntu120-xsub": (63026, 50919),
    "ntu120-xset": (54468, 59477), "pku1-xsub": (18840, 3220), "pku1-xview": (14000, 8000),
    "pku2-xsub": (5340, 1610), "pku2-xview": (4800, 2100),
}  # fmt: skip
SYNTHETIC_SIZES = {"ntu60": (620, 580), "ntu120": (610, 590), "pku1": (580, 280), "pku2": (520, 260)}


@dataclass
class Plan:
    pretrain_jobs: list[Job]
    protocol_jobs: list[Job]

    @property
    def jobs(self) -> list[Job]:
        return self.pretrain_jobs + self.protocol_jobs

    def todo(self) -> list[Job]:
        return [j for j in self.jobs if not j.done]


def _sizes(plan) -> tuple[int, int]:
    if plan.target.synthetic:
        return SYNTHETIC_SIZES[plan.target.family]
    return SIZES.get(plan.target.name, (40000, 16000))


def make_plan(jobs: list[Job], scale: str, common: dict, device_kind: str) -> Plan:
    """Resolve every protocol job, add the pretrainings they need once each, mark what is done."""
    from mamp_bench.engine.pretrain import pretrain_dir
    from mamp_bench.engine.runs import RunDir

    rates = THROUGHPUT[(scale, device_kind)]
    pretrains: dict[str, Job] = {}
    for job in jobs:
        request = RunRequest(
            method=job.method, protocol=job.protocol, dataset=job.dataset, source=job.source, scale=scale,
            seed=job.seed, sets=dict(job.sets), data_root=common.get("data_root"), runs_dir=common.get("runs_dir"),
            results_dir=common.get("results_dir"), quiet=True,
        )  # fmt: skip
        plan = plan_run(request)
        job.key = f"{job.protocol}:{plan.digest}:{job.seed}"
        job.done = existing_record(plan) is not None
        train, test = _sizes(plan)
        config = plan.config
        if job.protocol in ("linear", "knn"):
            epochs = 1 if job.protocol == "knn" or getattr(config, "cache_train_features", False) else config.epochs
            job.cost_seconds = (train * epochs + test) / rates["encode"]
        else:
            fraction = getattr(config, "fraction", 1.0)
            job.cost_seconds = config.epochs * (train * fraction / rates["finetune"] + test / rates["encode"])
        if plan.pretrain_config is not None:
            pconfig = plan.pretrain_config
            key = plan.encoder_info["pretrain_hash"]
            job.depends = [key]
            if key not in pretrains:
                protocol_sets, pretrain_sets, method_sets = split_sets(job.sets)
                sets = {**pretrain_sets, **{f"method.{k}": v for k, v in method_sets.items()}}
                pjob = Job("pretrain", job.method, None, pconfig.dataset, pconfig.seed, sets, group="pretrain", key=key)
                pjob.done = RunDir(pretrain_dir(pconfig, common.get("runs_dir"))).finished
                ptrain = (
                    min(train, pconfig.max_clips or train)
                    if not plan.source.synthetic
                    else SYNTHETIC_SIZES[plan.source.family][0]
                )
                pjob.cost_seconds = pconfig.epochs * ptrain / rates["pretrain"]
                pretrains[key] = pjob
    return Plan(list(pretrains.values()), jobs)

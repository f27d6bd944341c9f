"""The job matrix: methods x protocols x datasets x seeds, with the pretraining each depends on.

Every job is a ``mamp-bench`` command line, so an executor only decides *how* to launch it (in
this process, under torchrun, as a Slurm array task); a job knows whether it is already done (its
pretraining has finished, or its record is in the store), so an interrupted reproduction picks
up where it stopped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mamp_bench.data.specs import SYNTHETIC_NAME
from mamp_bench.errors import UserError

#: methods whose rows every table shows (the MAMP paper's and the baselines')
ALL_METHODS = ("mamp", "mae", "mamp-random", "mae-motion-aware", "latent", "skeletonclr", "random-init")


@dataclass
class Job:
    """One ``mamp-bench run`` (a protocol) or ``mamp-bench pretrain``; ``depends`` are job keys."""

    kind: str  # "pretrain" or "run"
    method: str
    protocol: str | None
    dataset: str
    seed: int
    sets: dict[str, str] = field(default_factory=dict)
    source: str | None = None
    group: str = "main"
    depends: list[str] = field(default_factory=list)
    key: str = ""
    cost_seconds: float = 0.0
    done: bool = False

    def argv(self, common: list[str]) -> list[str]:
        if self.kind == "pretrain":  # the results store is the protocols' business
            common = [
                a for i, a in enumerate(common) if a != "--results-dir" and (i == 0 or common[i - 1] != "--results-dir")
            ]
        args = [self.kind, "--method", self.method, "--dataset", self.dataset, "--seed", str(self.seed), *common]
        if self.protocol:
            args += ["--protocol", self.protocol, "--resume"]
        else:
            args += ["--resume"]
        if self.source:
            args += ["--source", self.source]
        for key, value in self.sets.items():
            args += ["--set", f"{key}={value}"]
        return args

    def describe(self) -> str:
        what = self.protocol or "pretrain"
        extra = ",".join(f"{k}={v}" for k, v in self.sets.items() if not k.startswith("workers"))
        source = f" from {self.source}" if self.source else ""
        return f"{what} {self.method} {self.dataset}{source} s{self.seed}" + (f" [{extra}]" if extra else "")


@dataclass(frozen=True)
class MatrixSpec:
    """Which parts of the paper's tables to run."""

    methods: tuple[str, ...] = ALL_METHODS
    seeds: tuple[int, ...] = (0, 1, 2)  # linear and k-NN
    finetune_seeds: tuple[int, ...] = (0,)
    semi_seeds: tuple[int, ...] = (0,)
    datasets: tuple[str, ...] = ("ntu60-xsub",)  # linear / k-NN / fine-tune columns
    transfer_sources: tuple[str, ...] = ("ntu60-xsub",)
    semi_datasets: tuple[str, ...] = ("ntu60-xsub",)
    semi_fractions: tuple[float, ...] = (0.01, 0.1)
    finetune_methods: tuple[str, ...] = ALL_METHODS
    #: "ablation" (the masking-ratio and tau sweep) is opt-in: --groups main,...,ablation
    groups: tuple[str, ...] = ("main", "finetune", "semi", "transfer")
    ablation: tuple[tuple[str, str], ...] = (
        ("method.mask_ratio", "0.8"),
        ("method.mask_ratio", "0.95"),
        ("method.tau", "0.5"),
        ("method.tau", "1.0"),
    )


#: the smoke matrix (synthetic data) and the paper's (real data)
SMOKE = MatrixSpec(finetune_methods=("mamp", "mae", "latent", "skeletonclr", "random-init"))
PAPER = MatrixSpec(
    methods=("mamp", "mae"),
    seeds=(0,),
    semi_seeds=(0, 1, 2, 3, 4),
    datasets=("ntu60-xsub", "ntu60-xview", "ntu120-xsub", "ntu120-xset", "pku1-xsub", "pku2-xsub"),
    transfer_sources=("ntu60-xsub", "ntu120-xsub", "pku1-xsub"),
    semi_datasets=("ntu60-xsub", "ntu60-xview"),
    finetune_methods=("mamp", "mae"),
    groups=("main", "finetune", "semi", "transfer"),
)


def build_matrix(spec: MatrixSpec, synthetic: bool) -> list[Job]:
    """The protocol jobs of the matrix (pretraining jobs are added by the planner)."""

    def data(name: str) -> str:
        return SYNTHETIC_NAME[name] if synthetic else name

    unknown = set(spec.groups) - {"main", "finetune", "semi", "transfer", "ablation"}
    if unknown:
        raise UserError(f"unknown matrix groups: {', '.join(sorted(unknown))}")
    jobs: list[Job] = []
    if "main" in spec.groups:
        for seed in spec.seeds:
            for dataset in spec.datasets:
                for method in spec.methods:
                    for protocol in ("linear", "knn"):
                        jobs.append(Job("run", method, protocol, data(dataset), seed))
    if "finetune" in spec.groups:
        for seed in spec.finetune_seeds:
            for dataset in spec.datasets:
                for method in spec.finetune_methods:
                    if method == "random-init":
                        jobs.append(Job("run", "mamp", "scratch", data(dataset), seed, group="finetune"))
                    else:
                        jobs.append(Job("run", method, "finetune", data(dataset), seed, group="finetune"))
    if "semi" in spec.groups:
        for seed in spec.semi_seeds:
            for dataset in spec.semi_datasets:
                for fraction in spec.semi_fractions:
                    for method in ("mamp", "mae"):
                        jobs.append(
                            Job("run", method, "semi", data(dataset), seed, {"fraction": str(fraction)}, group="semi")
                        )
    if "transfer" in spec.groups:
        for source in spec.transfer_sources:
            for method in ("mamp", "mae"):
                jobs.append(Job("run", method, "transfer", data("pku2-xsub"), 0, source=data(source), group="transfer"))
    if "ablation" in spec.groups:
        for dataset in spec.datasets[:1]:
            for key, value in spec.ablation:
                for protocol in ("linear", "knn"):
                    jobs.append(Job("run", "mamp", protocol, data(dataset), 0, {key: value}, group="ablation"))
    return jobs


def select(jobs: list[Job], methods: tuple[str, ...] | None, groups: tuple[str, ...] | None) -> list[Job]:
    out = jobs
    if methods:
        out = [j for j in out if j.method in methods]
    if groups:
        out = [j for j in out if j.group in groups]
    return out

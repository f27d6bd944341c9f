"""The job matrix: methods x protocols x datasets x seeds, read from the registries.

Each protocol declares its jobs per scale (``Protocol.matrix``: datasets, seeds, settings such as
label fractions, transfer sources) and its tier; each method declares how far the matrix takes it
per scale (``reproduce_tiers``), its further rows (``variants``: the GCN methods' motion and bone streams) and
its ablation sweeps. A protocol job pairs with every method whose tier reaches the protocol's and whose encoder
suits it (pretrained, untrained or either), on the datasets its encoder's data chain prepares (the GCN chain
has no PKU-MMD II); sweeps run on the protocols that declare ``runs_sweeps``. A third-party method or protocol
therefore appears here by registering, with no edit of this file.

Every job is a ``plan.Request``, so an executor only decides *how* to launch it (in this
process, under torchrun, as a Slurm array task); a job knows whether it is already done (its
pretraining has finished, or its record is in the store), so an interrupted reproduction picks up
where it stopped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from mamp_bench.data.specs import for_chain, get_dataset, stand_in
from mamp_bench.errors import UserError
from mamp_bench.plan import Request
from mamp_bench.registry import ENCODERS, METHODS, PROTOCOLS

ABLATION = "ablation"


@dataclass
class Job:
    """One protocol run (``kind="run"``) or pretraining (``kind="pretrain"``); ``depends`` are job keys."""

    kind: str
    request: Request
    group: str  # the table its protocol fills, "ablation", or "pretrain"
    key: str = ""
    depends: list[str] = field(default_factory=list)
    cost_seconds: float = 0.0  # on one device of the plan's kind
    batch_size: int | None = None  # a pretraining's global batch (it splits evenly over the job's GPUs)
    max_processes: int | None = None  # a pretraining's most processes (its method's ``max_processes``)
    fidelity: str = ""
    checkpoint_epoch: int | None = None  # the pretraining epoch evaluated (-1: the final one)
    done: bool = False

    def command(self) -> list[str]:
        """The ``mamp-bench`` arguments that run this job (without the where-and-how options)."""
        r = self.request
        args = [self.kind, "--method", r.method, "--dataset", str(r.dataset), "--seed", str(r.seed), "--scale", r.scale]
        if r.protocol:
            args += ["--protocol", r.protocol]
        if r.pretrain_seed is not None:
            args += ["--pretrain-seed", str(r.pretrain_seed)]
        if r.source:
            args += ["--source", r.source]
        for key, value in r.overrides.items():
            args += ["--set", f"{key}={value}"]
        return args

    def describe(self) -> str:
        r = self.request
        extra = ",".join(f"{k}={v}" for k, v in r.overrides.items() if not k.startswith("workers"))
        source = f" from {r.source}" if r.source else ""
        # parentheses, not brackets: the printed plan is rich text, where [key=value] would be read as markup
        return f"{r.protocol or 'pretrain'} {r.method} {r.dataset}{source} s{r.seed}" + (f" ({extra})" if extra else "")


def groups() -> list[str]:
    """What ``--groups`` can select: the tables (each protocol's jobs join its table's group) and
    the ablation sweeps."""
    return sorted({cls.table or name for name, cls in PROTOCOLS.items() if cls.matrix}) + [ABLATION]


def default_groups() -> list[str]:
    return [group for group in groups() if group != ABLATION]


def prepares(method: str, *datasets: str | None) -> bool:
    """Whether the data chain of the method's encoder prepares these datasets (the GCN chain: no PKU-MMD II)."""
    chain = ENCODERS.get(METHODS.get(method).encoder_name).chain
    try:
        for name in datasets:
            if name:
                for_chain(get_dataset(name), chain)
    except UserError:
        return False
    return True


def methods_for(protocol_cls, scale: str) -> list[str]:
    """The methods the matrix pairs with a protocol at a scale."""
    chosen = []
    for name, cls in METHODS.items():
        if cls.reproduce_tiers.get(scale, 0) < protocol_cls.tier:
            continue
        if (protocol_cls.encoder == "pretrained" and not cls.pretrainable) or (
            protocol_cls.encoder == "untrained" and cls.pretrainable
        ):
            continue
        chosen.append(name)
    return chosen


def build_matrix(
    scale: str,
    synthetic: bool,
    selected_groups: Iterable[str] | None = None,
    methods: Iterable[str] | None = None,
    seeds: tuple[int, ...] | None = None,
    pretrain_per_seed: bool = False,
) -> list[Job]:
    """The protocol jobs of the matrix (the planner adds the pretrainings they need).
    ``seeds`` replaces every entry's seeds; ``synthetic`` runs on the benchmarks' stand-ins;
    ``pretrain_per_seed``: every seed gets its own pretraining, even where an entry shares one."""
    wanted = set(selected_groups or default_groups())
    unknown = wanted - set(groups())
    if unknown:
        raise UserError(f"unknown matrix groups: {', '.join(sorted(unknown))}; valid: {', '.join(groups())}")

    def data(name: str | None) -> str | None:
        return stand_in(name) if synthetic and name else name

    jobs: list[Job] = []
    protocols = sorted(PROTOCOLS.items(), key=lambda item: (item[1].tier, item[0]))
    for name, cls in protocols:
        group = cls.table or name
        for entry in cls.matrix.get(scale, ()):
            for seed in seeds or entry.seeds:
                for dataset in entry.datasets:
                    for source in entry.sources:
                        for setting in entry.settings:
                            for method in methods_for(cls, scale):
                                if not prepares(method, data(dataset), data(source)):
                                    continue
                                shared = None if pretrain_per_seed else entry.pretrain_seed
                                for variant in ({}, *METHODS.get(method).variants.get(scale, ())):
                                    request = Request(method, name, data(dataset), data(source), scale=scale,
                                                      seed=seed, pretrain_seed=shared,
                                                      overrides={**dict(setting), **variant})  # fmt: skip
                                    jobs.append(Job("run", request, group))
    for name, cls in protocols:
        if not cls.runs_sweeps or not cls.matrix.get(scale):
            continue
        dataset = data(cls.matrix[scale][0].datasets[0])
        for method in methods_for(cls, scale):
            if not prepares(method, dataset):
                continue
            for key, values in METHODS.get(method).sweeps.items():
                for value in values:
                    request = Request(method, name, dataset, scale=scale, overrides={f"method.{key}": str(value)})
                    jobs.append(Job("run", request, ABLATION))
    jobs = [job for job in jobs if job.group in wanted]
    if methods is not None:
        jobs = [job for job in jobs if job.request.method in set(methods)]
    return jobs

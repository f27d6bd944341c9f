"""The protocol plugin interface.

A protocol declares its hyperparameters as a dataclass whose values live in a TOML recipe (one
table per scale, with per-dataset-family sub-tables, and a sub-table per family of encoders whose reference
recipe differs: ``[paper.gcn]`` for the GCN family's processors), and implements ``run``. It also declares
the facts the rest of the suite reads from the registry, so that adding a protocol is one file and
one recipe: which encoders it takes, its tier in the reproduction matrix and its jobs per scale,
the table its rows go into and that table's columns, the settings that tell its results apart
(a label fraction, a transfer source), and a cost estimate. The pipeline gives ``run`` a
``ProtocolContext`` (the dataset and its file, a factory for the encoder to evaluate, the device and
process context, the run folder and the seed, all decided by the run's plan) and builds the record
from the ``ProtocolResult`` that ``run`` returns.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from mamp_bench.config import apply_overrides, from_dict
from mamp_bench.data.dataset import SkeletonDataset
from mamp_bench.data.specs import DatasetSpec, get_dataset
from mamp_bench.data.transforms import Compose
from mamp_bench.engine.distributed import Runtime
from mamp_bench.engine.metric_logs import MetricLogs
from mamp_bench.engine.run_folder import RunFolder
from mamp_bench.errors import UserError
from mamp_bench.evaluation.columns import TableColumn
from mamp_bench.evaluation.metrics import Predictions
from mamp_bench.fileio import read_regular
from mamp_bench.models.encoder import BASE_RECIPE, RECIPES, Encoder

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


#: Fidelity modes every protocol has. ``reference`` runs what the paper's launch scripts ran: their checkpoint
#: epoch, their per-process batches and BatchNorm statistics (``reference.py``), their per-process subset
#: draws; ``clean`` is the suite's protocol (docs/fidelity.md).
FIDELITY = ("reference", "clean")


def check_fidelity(fidelity: str, checkpoint_epoch: int, reference_processes: int = 1) -> None:
    if fidelity not in FIDELITY:
        raise UserError(f"fidelity must be 'reference' or 'clean', got {fidelity!r}")
    if not checkpoint_epoch >= -1:
        raise UserError(f"checkpoint_epoch must be a pretraining epoch or -1 (the final one), got {checkpoint_epoch}")
    if not reference_processes >= 1:
        raise UserError(f"reference_processes must be >= 1, got {reference_processes}")


#: Size bound of a protocol's TOML recipe: a few dozen settings per scale and family, 1-2 KB; 1 MiB.
MAX_RECIPE_BYTES = 1 << 20


@dataclass(frozen=True)
class ProtocolContext:
    """What a protocol run is given, decided once by the run's plan."""

    dataset: DatasetSpec
    data_file: Path  # the prepared file of ``dataset``
    make_encoder: Callable[[], Encoder]  # a fresh copy of the encoder under evaluation
    runtime: Runtime
    run: RunFolder
    seed: int
    show: bool = True
    allow_unverified: bool = False  # resume from a checkpoint whose sha256 was never recorded

    def load_split(self, split: str, transform: Compose) -> SkeletonDataset:
        """The ``train`` or ``test`` clips of the evaluated dataset, through ``transform``."""
        return SkeletonDataset(self.data_file, split, transform, self.seed)


@dataclass
class ProtocolResult:
    """What a protocol run returns; the pipeline builds the record from it."""

    #: the per-clip predictions behind every accuracy of the record (stored beside it, checked by ``verify``)
    predictions: Predictions
    #: one dict per epoch (epoch, loss, lr, test top-1, ...): the run's log, one evaluation for k-NN
    epochs: list[dict[str, Any]]
    #: further numbers for the record's metrics (the training clips, a feature size)
    metrics: dict[str, Any] = field(default_factory=dict)
    #: what else the record holds (the labelled subset of a semi-supervised run)
    extras: dict[str, Any] = field(default_factory=dict)
    #: (N, classes) float32 class scores of the best evaluation, when the protocol keeps them (an encoder with
    #: input streams: the 3-stream ensemble sums them, ``results/ensemble.py``); stored beside the record
    scores: np.ndarray | None = None


def single_evaluation(ctx: ProtocolContext, predictions: Predictions, **metrics: Any) -> ProtocolResult:
    """The result of a protocol that does not train (k-NN): its one evaluation, also as TensorBoard
    scalars (the training loop writes them for every other run)."""
    accuracies = predictions.metrics()
    evaluation = {"epoch": 0, "top1": accuracies["top1_final"], "top5": accuracies["top5_final"]}
    logs = MetricLogs(ctx.run.path, ctx.runtime.is_main)
    logs.start(0, 0)
    logs.epoch(0, evaluation)
    logs.close()
    return ProtocolResult(predictions, [evaluation], metrics)


@dataclass(frozen=True)
class MatrixEntry:
    """Jobs of the reproduction matrix: every dataset x seed x protocol setting x transfer source."""

    datasets: tuple[str, ...]
    seeds: tuple[int, ...] = (0,)
    settings: tuple[tuple[tuple[str, str], ...], ...] = ((),)  # protocol --set variants, e.g. fractions
    sources: tuple[str | None, ...] = (None,)
    #: the seed of the pretraining every seed evaluates (one shared pretraining); None: each seed's own
    pretrain_seed: int | None = None


class Protocol:
    name: ClassVar[str]  # set by ``PROTOCOLS.register``
    description: ClassVar[str] = ""
    Config: ClassVar[type]
    recipe: ClassVar[Path]  # TOML file of the hyperparameters
    #: which encoders it evaluates: "pretrained" (the method's pretraining), "any" (an untrained
    #: method gives a floor) or "untrained" (trains from a fresh initialisation)
    encoder: ClassVar[str] = "pretrained"
    #: its tier in the reproduction matrix (a method's ``reproduce_tiers`` say how far it goes)
    tier: ClassVar[int] = 1
    #: scale -> the jobs ``reproduce`` runs
    matrix: ClassVar[dict[str, tuple[MatrixEntry, ...]]] = {}
    #: whether ``reproduce --groups ablation`` runs the methods' ablation sweeps with it
    runs_sweeps: ClassVar[bool] = False
    #: the table its rows go into (None: its own, laid out by ``columns``)
    table: ClassVar[str | None] = None
    columns: ClassVar[tuple[TableColumn, ...]] = ()
    #: the settings that tell its results apart beyond method, dataset and seed (a table column each)
    setting_keys: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def config(
        cls,
        family: str,
        scale: str,
        overrides: dict[str, Any] | None = None,
        source_family: str | None = None,
        recipe: str = BASE_RECIPE,
    ) -> Any:
        """Hyperparameters for a dataset family, scale and the encoder's recipe family (``RECIPES``): the recipe's
        ``[scale]`` table; for a recipe family other than MAMP's, its ``[scale.<recipe>]`` sub-table over it (a
        scale without one shares the table: the clean recipes are common); then the ``[<family>]``,
        ``[<protocol>]`` and ``[from-<family of the pretraining data>]`` sub-tables of the recipe family's table;
        then the user's overrides."""
        if recipe not in RECIPES:
            raise UserError(f"unknown recipe family {recipe!r} (an encoder's ``recipe``); known: {', '.join(RECIPES)}")
        try:
            recipes = tomllib.loads(read_regular(cls.recipe, MAX_RECIPE_BYTES, "recipe").decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise UserError(f"cannot read the recipe {cls.recipe}: {exc}") from None
        if scale not in recipes:
            raise UserError(f"the {cls.name} recipe has no {scale!r} scale ({cls.recipe})")
        table = recipes[scale]
        values = {k: v for k, v in table.items() if not isinstance(v, dict)}
        if recipe != BASE_RECIPE:
            table = table.get(recipe, {})
            values.update({k: v for k, v in table.items() if not isinstance(v, dict)})
        values.update(table.get(family, {}))
        values.update(table.get(cls.name, {}))
        values.update(table.get(f"from-{source_family or family}", {}))
        config = from_dict(cls.Config, values)
        config = apply_overrides(config, overrides or {})
        if hasattr(config, "validate"):
            config.validate()
        if "checkpoint_epoch" in (overrides or {}) and getattr(config, "fidelity", None) == "clean":
            raise UserError("checkpoint_epoch is a fidelity=reference setting: fidelity=clean evaluates the final "
                            "pretraining checkpoint")  # fmt: skip
        return config

    @classmethod
    def evaluated_epoch(cls, config: Any) -> int:
        """The pretraining epoch a run evaluates: the recipe's under fidelity=reference, else the final (-1)."""
        if getattr(config, "fidelity", "clean") == "reference":
            return int(getattr(config, "checkpoint_epoch", -1))
        return -1

    @classmethod
    def datasets(cls, dataset: str | None, source: str | None, default: str) -> tuple[DatasetSpec, DatasetSpec]:
        """(evaluated dataset, pretraining dataset) of a request; ``default`` when none is named."""
        if source:
            raise UserError(f"--source is for a transfer protocol, not {cls.name!r}")
        target = get_dataset(dataset or default)
        return target, target

    @classmethod
    def setting(cls, config: Any, target: DatasetSpec, source: DatasetSpec) -> dict[str, Any]:
        """The values of ``setting_keys`` of a run (read from its configuration by default)."""
        return {key: getattr(config, key) for key in cls.setting_keys}

    @classmethod
    def check_data(cls, config: Any, train_clips: int, processes: int) -> None:
        """Called before any work (a pretraining included) with the size of the evaluated training split and the
        number of processes: one line (``UserError``) for a setting the data cannot satisfy, such as a batch
        larger than the split."""

    @classmethod
    def estimate_seconds(cls, config: Any, train_clips: float, test_clips: int, rates: dict[str, float]) -> float:
        """Expected wall time from the planner's clips/s ``rates`` ("encode": a frozen forward pass,
        "train": forward and backward through the encoder)."""
        return (train_clips + test_clips) / rates["encode"]

    def run(self, ctx: ProtocolContext, config: Any) -> ProtocolResult:
        """Evaluate the encoder ``ctx.make_encoder()`` gives on ``ctx.dataset``."""
        raise NotImplementedError

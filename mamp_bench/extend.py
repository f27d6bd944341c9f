"""The public extension API: everything a method, encoder, protocol or dataset plugin imports.

A plugin imports from here and nowhere else in the suite; the names below are kept stable, while the
modules that define them may move. ``docs/architecture.md`` and ``docs/extending.md`` show a method, a
protocol and a dataset written against it (tests run them as written).

Registries (fill them with ``@METHODS.register("name")`` and declare the module under the entry point
groups ``mamp_bench.methods``, ``mamp_bench.encoders``, ``mamp_bench.protocols``, ``mamp_bench.datasets``):
``METHODS``, ``ENCODERS``, ``PROTOCOLS``, ``DATASETS``.

Methods: ``PretrainMethod`` (the base class: a ``Config`` dataclass, ``forward(x, seeds)`` -> a
``PretrainOutput`` whose loss comes first), the masked-method core ``MaskedMethod`` (encoder, masking,
decoder: a subclass gives the target and the loss) and ``MaskedPrediction`` (MAMP's and MAE's: the masked
tokens' own values), with the target helpers ``patchify``, ``motion``, ``normalize_per_token``; the
encoder ``SkeletonEncoder`` and its ``EncoderConfig``.

Encoders: ``Encoder`` (the base class: a ``Config`` dataclass, ``pooled(x)`` -> (N, dim) features, and the facts
the suite reads: ``label``, ``recipe``, ``chain``, ``windowed``), the built-ins ``SkeletonEncoder`` (MAMP's
transformer) and ``STGCN`` with its ``STGCNConfig``. A method names its encoder (``encoder_name``) and keeps
its configuration in the ``encoder`` field of its ``Config``.

Protocols: ``Protocol`` (its ``Config``, recipe, encoder kind, tier, matrix and table columns), the
``ProtocolContext`` a run is given and the ``ProtocolResult`` it returns (``single_evaluation`` for a
protocol that does not train), ``MatrixEntry``, ``TableColumn``, ``BENCHMARKS`` and ``benchmark_columns``,
``check_fidelity``; per-clip ``Predictions`` and their ``Tally``; frozen features of a dataset
(``encode_dataset``, ``pooled_features``); the transforms ``train_transform`` and ``test_transform``;
supervised training through the suite's loop (``SupervisedTask``, ``fit``, ``LoopSettings``,
``CosineSchedule``, ``training_checks``, ``check_batch_fits``).

Datasets: ``DatasetSpec`` (registered in ``DATASETS``: a name, a family, a split, a file), ``get_dataset``
and ``prepared`` (a dataset's prepared file, a synthetic stand-in generated first when it is not cached).

Settings and errors: ``require`` (range checks written as the conditions that must hold) and
``UserError`` (a user's mistake: one line, exit status 2).
"""

from mamp_bench.config import require
from mamp_bench.data.specs import DatasetSpec, get_dataset, prepared
from mamp_bench.data.transforms import test_transform, train_transform
from mamp_bench.engine.features import encode_dataset, pooled_features
from mamp_bench.engine.loop import LoopSettings
from mamp_bench.engine.optim import CosineSchedule
from mamp_bench.errors import UserError
from mamp_bench.evaluation.columns import BENCHMARKS, TableColumn, benchmark_columns
from mamp_bench.evaluation.metrics import Predictions, Tally
from mamp_bench.evaluation.protocol import (
    MatrixEntry,
    Protocol,
    ProtocolContext,
    ProtocolResult,
    check_fidelity,
    single_evaluation,
)
from mamp_bench.evaluation.supervised import SupervisedTask, check_batch_fits, fit, training_checks
from mamp_bench.methods.base import PretrainMethod, PretrainOutput
from mamp_bench.methods.mamp import MaskedPrediction
from mamp_bench.methods.masked import MaskedMethod
from mamp_bench.methods.targets import motion, normalize_per_token, patchify
from mamp_bench.models.encoder import Encoder
from mamp_bench.models.stgcn import STGCN, STGCNConfig
from mamp_bench.models.transformer import EncoderConfig, SkeletonEncoder
from mamp_bench.registry import DATASETS, ENCODERS, METHODS, PROTOCOLS

__all__ = [
    "BENCHMARKS",
    "DATASETS",
    "ENCODERS",
    "METHODS",
    "PROTOCOLS",
    "CosineSchedule",
    "DatasetSpec",
    "Encoder",
    "EncoderConfig",
    "LoopSettings",
    "MaskedMethod",
    "MaskedPrediction",
    "MatrixEntry",
    "Predictions",
    "PretrainMethod",
    "PretrainOutput",
    "Protocol",
    "ProtocolContext",
    "ProtocolResult",
    "STGCN",
    "STGCNConfig",
    "SkeletonEncoder",
    "SupervisedTask",
    "TableColumn",
    "Tally",
    "UserError",
    "benchmark_columns",
    "check_batch_fits",
    "check_fidelity",
    "encode_dataset",
    "fit",
    "get_dataset",
    "motion",
    "normalize_per_token",
    "patchify",
    "pooled_features",
    "prepared",
    "require",
    "single_evaluation",
    "test_transform",
    "train_transform",
    "training_checks",
]

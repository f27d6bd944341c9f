"""The protocol plugin interface.

A protocol declares its hyperparameters as a dataclass whose values live in a TOML recipe (one
table per scale, with per-dataset-family sub-tables), and implements ``run``. The runner gives it a
``ProtocolContext``: the dataset, a factory for the encoder to evaluate, the device and process
context, the run folder and the seed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from mamp_bench.config import apply_overrides, from_dict
from mamp_bench.data.specs import DatasetSpec
from mamp_bench.engine.distributed import Runtime
from mamp_bench.engine.runs import RunDir
from mamp_bench.errors import UserError
from mamp_bench.models.transformer import SkeletonEncoder

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass
class ProtocolContext:
    dataset: DatasetSpec
    data_root: str | None
    make_encoder: Callable[[], SkeletonEncoder]  # a fresh copy of the encoder under evaluation
    runtime: Runtime
    run: RunDir
    seed: int
    resume: bool = False
    show: bool = True
    extras: dict[str, Any] = field(default_factory=dict)  # written into the record (e.g. the subset)

    def dataset_path(self) -> Path:
        return self.dataset.path(self.data_root)


class Protocol:
    name: ClassVar[str]
    description: ClassVar[str] = ""
    Config: ClassVar[type]
    recipe: ClassVar[Path]  # TOML file of the hyperparameters
    #: False for protocols that train from scratch (the encoder is freshly initialised)
    uses_pretraining: ClassVar[bool] = True

    @classmethod
    def config(cls, family: str, scale: str, overrides: dict[str, Any] | None = None) -> Any:
        """Hyperparameters for a dataset family and scale: the recipe's ``[scale]`` table, then its
        ``[scale.<family>]`` and ``[scale.<protocol>]`` sub-tables, then the user's overrides."""
        try:
            recipe = tomllib.loads(cls.recipe.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise UserError(f"cannot read the recipe {cls.recipe}: {exc}") from None
        if scale not in recipe:
            raise UserError(f"the {cls.name} recipe has no {scale!r} scale ({cls.recipe})")
        table = recipe[scale]
        values = {k: v for k, v in table.items() if not isinstance(v, dict)}
        values.update(table.get(family, {}))
        values.update(table.get(cls.name, {}))
        config = from_dict(cls.Config, values)
        config = apply_overrides(config, overrides or {})
        if hasattr(config, "validate"):
            config.validate()
        return config

    def run(self, ctx: ProtocolContext, config: Any) -> dict[str, Any]:
        """Evaluate; return the metrics (top-1/top-5 final and best, per class, ...)."""
        raise NotImplementedError

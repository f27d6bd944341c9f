"""``semi``: the fine-tune recipe on a labelled fraction (1 % or 10 %) of the training set: one
class-stratified subset per seed (``fidelity=clean``), or the scripts' per-process draws (``reference``), or the
GCN family's per-class draws (``per_class_draws``, its reference recipe)."""

from __future__ import annotations

import numpy as np

from mamp_bench.errors import UserError
from mamp_bench.evaluation.columns import TableColumn
from mamp_bench.evaluation.protocol import MatrixEntry, ProtocolContext
from mamp_bench.evaluation.subset import labelled_subset, per_class_draws, reference_draws
from mamp_bench.fileio import write_json
from mamp_bench.protocols.finetune import Finetune, FinetuneConfig, TrainSubset
from mamp_bench.registry import PROTOCOLS


@PROTOCOLS.register("semi")
class SemiSupervised(Finetune):
    """The fine-tune recipe on a labelled fraction (1 % or 10 %) of the training set."""

    description = "fine-tune on a labelled fraction (1 % / 10 %): stratified per seed, or the scripts' draws"
    tier = 3
    setting_keys = ("fraction",)
    columns = tuple(
        TableColumn(
            f"NTU-60 {split} {percent}%", f"ntu60-{split}", (("fraction", percent / 100),), f"semi-{percent}pct"
        )  # fmt: skip
        for split in ("xsub", "xview")
        for percent in (1, 10)
    )
    _fractions = ((("fraction", "0.01"),), (("fraction", "0.1"),))
    matrix = {
        "smoke": (MatrixEntry(("ntu60-xsub",), settings=_fractions),),
        "paper": (MatrixEntry(("ntu60-xsub", "ntu60-xview"), (0, 1, 2, 3, 4), _fractions, pretrain_seed=0),),
    }

    @classmethod
    def labelled_clips(cls, config: FinetuneConfig, train_clips: int) -> int:
        return int(train_clips * config.fraction)  # the size of one labelled subset (one draw)

    def train_subset(self, ctx: ProtocolContext, labels: np.ndarray, config: FinetuneConfig) -> TrainSubset:
        """clean: one class-stratified subset per seed; reference: the scripts' draws, one per process
        (NumPy seeded with seed + rank, then np.random.shuffle), each process training on its own."""
        ranks, draws = None, None
        try:
            if config.per_class_draws:
                seed = ctx.seed if config.subset_seed < 0 else config.subset_seed
                subset = per_class_draws(labels, config.fraction, seed)
                if config.fidelity == "reference":
                    ranks = [np.arange(len(subset))] * config.reference_processes
            elif config.fidelity == "reference":
                seed = ctx.seed if config.subset_seed < 0 else config.subset_seed
                draws = reference_draws(len(labels), config.fraction, seed, config.reference_processes)
                subset, size = np.concatenate(draws), len(draws[0])
                ranks = [np.arange(rank * size, (rank + 1) * size) for rank in range(len(draws))]
            else:
                subset = labelled_subset(labels, config.fraction, ctx.seed)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        return TrainSubset(subset, ranks, {"subset": self._describe(ctx, labels, config, subset, draws)})

    @staticmethod
    def _describe(ctx: ProtocolContext, labels: np.ndarray, config: FinetuneConfig, subset, draws) -> dict:
        """What the record says of the subset; ``subset.json`` in the run folder lists its clips."""
        distinct = np.unique(subset)
        counts = np.bincount(labels[distinct], minlength=ctx.dataset.num_classes)
        if ctx.runtime.is_main:
            content = {"fraction": config.fraction, "seed": ctx.seed, "fidelity": config.fidelity}
            if draws is None:
                content["indices"] = subset.tolist()
            else:
                content.update(subset_seed=config.subset_seed, draws=[draw.tolist() for draw in draws])
            write_json(ctx.run.path / "subset.json", content)
        return {"fraction": config.fraction, "fidelity": config.fidelity, "size": len(subset),
                "distinct": len(distinct), "of": len(labels), "classes_present": int((counts > 0).sum()),
                "file": "subset.json"}  # fmt: skip

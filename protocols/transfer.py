"""``transfer``: pretrain on a source dataset (NTU-60 xsub by default; NTU-120 xsub, PKU-I), fine-tune on
PKU-MMD II xsub with the fine-tune recipe, as the paper's transfer table."""

from __future__ import annotations

from mamp_bench.data.specs import DatasetSpec, get_dataset, stand_in
from mamp_bench.evaluation.columns import TableColumn
from mamp_bench.evaluation.protocol import MatrixEntry
from mamp_bench.protocols.finetune import Finetune, FinetuneConfig
from mamp_bench.registry import PROTOCOLS


@PROTOCOLS.register("transfer")
class Transfer(Finetune):
    """Pretrain on a source dataset, fine-tune on PKU-MMD II xsub."""

    description = "pretrain on NTU-60/NTU-120/PKU-I, fine-tune on PKU-MMD II (paper's transfer)"
    tier = 3
    setting_keys = ("source",)
    target, default_source = "pku2-xsub", "ntu60-xsub"
    sources = (("NTU-60", "ntu60-xsub"), ("NTU-120", "ntu120-xsub"), ("PKU-I", "pku1-xsub"))
    columns = tuple(
        TableColumn(
            f"PKU-II from {label}", "pku2-xsub", (("source", source),), "transfer", f"from-{source.split('-')[0]}"
        )  # fmt: skip
        for label, source in sources
    )
    matrix = {
        "smoke": (MatrixEntry(("pku2-xsub",), sources=("ntu60-xsub",)),),
        "paper": (MatrixEntry(("pku2-xsub",), sources=tuple(source for _, source in sources), pretrain_seed=0),),
    }

    @classmethod
    def datasets(cls, dataset: str | None, source: str | None, default: str) -> tuple[DatasetSpec, DatasetSpec]:
        """The target is PKU-MMD II xsub (its stand-in on synthetic data); the source is chosen."""
        synthetic = get_dataset(default).synthetic
        source_spec = get_dataset(source or (stand_in(cls.default_source) if synthetic else cls.default_source))
        target = dataset or (stand_in(cls.target) if source_spec.synthetic else cls.target)
        return get_dataset(target), source_spec

    @classmethod
    def setting(cls, config: FinetuneConfig, target: DatasetSpec, source: DatasetSpec) -> dict:
        return {"source": source.name}

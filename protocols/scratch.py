"""``scratch``: the fine-tune recipe from a random initialisation with layer decay 1.0 (its recipe's
``[scale.scratch]`` table): what pretraining buys."""

from __future__ import annotations

from mamp_bench.evaluation.protocol import MatrixEntry
from mamp_bench.protocols.finetune import Finetune
from mamp_bench.registry import PROTOCOLS


@PROTOCOLS.register("scratch")
class Scratch(Finetune):
    """The fine-tune recipe from a random initialisation (layer decay 1.0)."""

    description = "fine-tune recipe from random initialisation: what pretraining buys"
    encoder = "untrained"
    table = "finetune"
    columns = ()
    matrix = {"smoke": (MatrixEntry(("ntu60-xsub",)),)}

"""The encoder interface: what the protocols, feature extraction, checkpoints and the zoo use of an encoder.

A method owns an encoder (``method.encoder``) and names it (``encoder_name``); the encoders are registered in
``ENCODERS`` (``@ENCODERS.register("name")`` beside the class, entered through the ``mamp_bench.encoders`` entry
point, the suite's own as a third party's). An encoder is an ``nn.Module`` built from its ``Config`` dataclass
(the method configuration's ``encoder`` field), and gives:

* ``pooled(x)``: clips (N, C, T, V, M) -> features (N, dim), what linear evaluation, k-NN, feature extraction and
  the fine-tuning heads on pooled features read;
* ``dim``: the size of those features;
* ``window``: the frames its clips are resampled to (the transformer's ``frames``), or None when it takes the
  prepared clips as they are (ST-GCN: the GCN chain's 50 frames);
* its facts, as class attributes: ``label`` (how tables name the backbone), ``recipe`` (whose protocol recipes it
  follows under ``fidelity=reference``: ``RECIPES``), ``chain`` (the data preparation its clips come from:
  ``CHAINS``), ``windowed`` (whether the pretraining's ``window`` sets its ``frames``), ``tokens`` (whether
  ``forward`` gives the token map that MAMP's fine-tuning head reads).

The transformer also gives its token map (``forward``: (N, M, TP, VP, D)), which MAMP's fine-tuning head reads;
for every other encoder that head reads the pooled features (``evaluation/heads.py``). Its ``config.depth``
(layer-wise lr decay) and its blocks' ``drop_path`` are the transformer's too: a recipe that sets them for
another encoder is refused in one line.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn as nn

#: the protocol recipes an encoder can follow under ``fidelity=reference``: a sub-table of each recipe file
#: (``[paper.gcn]``), the MAMP scripts' values being the tables themselves
RECIPES = {
    "transformer": "MAMP's launch scripts (maoyunyao/MAMP), for its transformer",
    "gcn": "the GCN family's processors (Levigty/AimCLR, LinguoLi/CrosSCLR)",
}
#: the recipe family whose values are the recipe files' tables themselves (the others are sub-tables of them)
BASE_RECIPE = "transformer"
#: the data preparations (``mamp-bench prepare --chain``): SGN's 300-frame files (MAMP's), the GCN family's 50-frame
#: clips
CHAINS = ("sgn", "gcn")


class Encoder(nn.Module):
    """The base of registered encoders (see the module's docstring). Subclasses set ``Config``, ``label``, the
    class facts they change, ``self.config`` and ``self.dim``, and write ``pooled``."""

    name: ClassVar[str]  # set by ``ENCODERS.register``
    Config: ClassVar[type]
    description: ClassVar[str] = ""
    label: ClassVar[str] = ""
    recipe: ClassVar[str] = BASE_RECIPE
    chain: ClassVar[str] = "sgn"
    windowed: ClassVar[bool] = False
    #: ``forward`` gives a token map (N, M, TP, VP, D), which MAMP's fine-tuning head reads (the transformer)
    tokens: ClassVar[bool] = False

    config: Any
    dim: int

    @property
    def window(self) -> int | None:
        """The frames its clips are resampled to (its configuration's ``frames``), or None: the prepared clips."""
        return int(self.config.frames) if self.windowed else None

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """Clips (N, C, T, V, M) -> features (N, dim)."""
        raise NotImplementedError

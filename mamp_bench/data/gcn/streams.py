"""The joint, motion and bone streams of the GCN family, computed from a batch of (augmented) clips.

As every processor of AimCLR and CrosSCLR derives them, on the batch after augmentation
(Levigty/AimCLR ``processor/pretrain_aimclr.py:44-76``, ``processor/linear_evaluation.py:113-133``):

* ``joint``: the clip itself;
* ``motion``: ``m[:, :, t] = x[:, :, t + 1] - x[:, :, t]``, the last frame zero;
* ``bone``: ``b[:, :, :, v] = x[:, :, :, v] - x[:, :, :, parent(v)]`` over the 25 (joint, parent) pairs of
  ``kinect.GCN_PARENT`` (SpineShoulder is its own parent, so its bone is zero).

Clips are (N, C, T, V, M) tensors; each stream returns a new tensor of the same shape.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from mamp_bench.data.kinect import GCN_PARENT


def joint(x: torch.Tensor) -> torch.Tensor:
    return x


def motion(x: torch.Tensor) -> torch.Tensor:
    out = torch.zeros_like(x)
    out[:, :, :-1] = x[:, :, 1:] - x[:, :, :-1]
    return out


def bone(x: torch.Tensor) -> torch.Tensor:
    parent = torch.tensor(GCN_PARENT, device=x.device)
    return x - x.index_select(3, parent)


STREAMS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {"joint": joint, "motion": motion, "bone": bone}
#: the reference's 3-stream ensemble weights (AimCLR ``ensemble_ntu_cs.py:21-29``)
ENSEMBLE_WEIGHTS = {"joint": 0.6, "motion": 0.4, "bone": 0.6}

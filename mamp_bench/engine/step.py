"""One optimizer step of a pretraining method, optionally split into micro-batches.

On a CPU, large activations fall out of the caches: the paper model's step on a batch of 32 runs
at 3.1 clips/s whole, and at 4.4, 5.4, 5.6 and 5.0 clips/s in chunks of 8, 4, 2 and 1 clips
(2 Xeon cores, fp32). For methods whose loss is
a weighted mean over independent items (``method.micro_batches``), the engine therefore runs the
batch in chunks, back-propagates each chunk's loss times its weight, and divides the summed
gradients by the total weight: the same gradient as the whole batch, up to float rounding.
"""

from __future__ import annotations

import contextlib

import torch

from mamp_bench.engine.loop import NonFiniteLoss
from mamp_bench.methods.base import PretrainMethod


def pretrain_step(
    model: torch.nn.Module,
    method: PretrainMethod,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    seeds: torch.Tensor,
    micro_batch: int = 0,
    autocast: contextlib.AbstractContextManager | None = None,
) -> float:
    """Forward, backward and optimizer step on one batch; returns its loss. ``model`` may be a
    DDP or compiled wrapper of ``method``."""
    autocast = autocast or contextlib.nullcontext()
    optimizer.zero_grad(set_to_none=True)
    n = x.shape[0]
    if not micro_batch or micro_batch >= n or not method.micro_batches:
        with autocast:
            loss = model(x, seeds).loss
        value = loss.item()
        if not torch.isfinite(loss.detach()):
            raise NonFiniteLoss(value)
        loss.backward()
        optimizer.step()
        return value
    starts = range(0, n, micro_batch)
    total, loss_sum = 0.0, 0.0
    for i, start in enumerate(starts):
        last = i == len(starts) - 1
        sync = model.no_sync() if hasattr(model, "no_sync") and not last else contextlib.nullcontext()
        with sync:
            with autocast:
                out = model(x[start : start + micro_batch], seeds[start : start + micro_batch])
            if not torch.isfinite(out.loss.detach()):
                raise NonFiniteLoss(out.loss.item())
            weight = out.weight if out.weight is not None else float(min(micro_batch, n - start))
            (out.loss * weight).backward()
        total += weight
        loss_sum += out.loss.item() * weight
    for param in method.parameters():
        if param.grad is not None:
            param.grad.div_(total)
    optimizer.step()
    return loss_sum / total

"""One optimizer step of a pretraining method, optionally split into micro-batches.

On a CPU, large activations fall out of the caches: the paper model's step on a batch of 32 runs
at 3.1 clips/s whole, and at 4.4, 5.4, 5.6 and 5.0 clips/s in chunks of 8, 4, 2 and 1 clips
(2 Xeon cores, fp32). For methods whose loss is
a weighted mean over independent items (``method.micro_batches``), the engine therefore runs the
batch in chunks, back-propagates each chunk's loss times its weight, and divides the summed
gradients by the total weight: the same gradient as the whole batch, up to float rounding.

Under DDP the weight is the whole batch's, summed over the processes: DDP averages the processes'
gradients with equal shares, which is the whole batch's mean only when every process's share of the
batch weighs the same. A loss over the present persons' masked tokens (``skip_empty_persons``) weighs
each process's share by its present persons, so each process scales its gradient by
``processes x its weight / the batch's weight`` first: the gradient (and the loss logged) of the
whole batch on one process, up to float rounding, on any number of processes.
"""

from __future__ import annotations

import contextlib

import torch

from mamp_bench.engine.distributed import Runtime
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
    runtime: Runtime | None = None,
) -> float:
    """Forward, backward and optimizer step on one batch (this process's share of it under DDP); returns the
    whole batch's loss. ``model`` may be a DDP or compiled wrapper of ``method``."""
    autocast = autocast or contextlib.nullcontext()
    distributed = runtime is not None and runtime.distributed
    optimizer.zero_grad(set_to_none=True)
    n = x.shape[0]
    if not micro_batch or micro_batch >= n or not method.micro_batches:
        with autocast:
            out = model(x, seeds)
        loss = out.loss
        value = loss.item()
        if not torch.isfinite(loss.detach()):
            raise NonFiniteLoss(value)
        if distributed and out.weight is not None:  # the processes' shares weighed by what their losses average
            weighed, total = batch_sums(runtime, value * out.weight, out.weight)
            (loss * (out.weight * runtime.world_size / total)).backward()
            value = weighed / total
        else:
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
    share = total
    if distributed:  # DDP averaged the processes' sums: divide by the batch's weight over the processes
        loss_sum, total = batch_sums(runtime, loss_sum, total)
        share = total / runtime.world_size
    for param in method.parameters():
        if param.grad is not None:
            param.grad.div_(share)
    optimizer.step()
    return loss_sum / total


def batch_sums(runtime: Runtime, *values: float) -> list[float]:
    """Each value summed over the processes (one all-reduce, in float64)."""
    return runtime.sum_tensor(torch.tensor(values, dtype=torch.float64, device=runtime.reduce_device)).tolist()

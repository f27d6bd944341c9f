"""The supervised loop of the linear and fine-tuning protocols: per-iteration schedule, a test
evaluation after every epoch, best and final accuracy, a checkpoint per epoch for ``--resume``."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.data import DataLoader

from mamp_bench.checkpoints import checkpoint_bytes, load_checkpoint, save_checkpoint
from mamp_bench.data.dataset import SkeletonDataset
from mamp_bench.engine import faults
from mamp_bench.engine.distributed import Runtime
from mamp_bench.engine.optim import CosineSchedule, set_lr
from mamp_bench.engine.pretrain import TrainingDiverged
from mamp_bench.engine.runs import RunDir, Throughput, echo, progress_bar
from mamp_bench.engine.sampler import ShardedSampler
from mamp_bench.evaluation.metrics import Tally


@dataclass
class History:
    """Test accuracy after every epoch; the reference reports the best, the final is here too."""

    epochs: list[dict[str, float]] = field(default_factory=list)
    best_tally: Tally | None = None
    final_tally: Tally | None = None

    def summary(self) -> dict[str, Any]:
        if not self.epochs:
            return {}
        best = max(self.epochs, key=lambda e: (e["top1"], -e["epoch"]))
        final = self.epochs[-1]
        return {
            "top1_final": final["top1"],
            "top5_final": final["top5"],
            "top1_best": best["top1"],
            "top5_at_best": best["top5"],
            "best_epoch": best["epoch"],
            "epochs_run": len(self.epochs),
        }


def test_loader(dataset: SkeletonDataset, batch_size: int, runtime: Runtime, workers: int) -> DataLoader:
    """Every test clip exactly once over all processes (strided shards, no padding)."""
    shard = list(range(runtime.rank, len(dataset), runtime.world_size))
    return DataLoader(
        torch.utils.data.Subset(dataset, shard),
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        pin_memory=runtime.device.type == "cuda",
    )


@torch.inference_mode()
def evaluate(model: torch.nn.Module, loader: DataLoader, classes: int, runtime: Runtime) -> Tally:
    model.eval()
    tally = Tally.empty(classes)
    for x, y, _ in loader:
        logits = model(x.to(runtime.device, non_blocking=True))
        loss = torch.nn.functional.cross_entropy(logits.float(), y.to(logits.device), reduction="sum")
        tally.add(logits, y, float(loss))
    return tally.reduce(runtime)


def fit(
    *,
    model: torch.nn.Module,
    train_model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    schedule: CosineSchedule,
    criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    train_set: SkeletonDataset,
    batch_size: int,
    epochs: int,
    evaluate_epoch: Callable[[], Tally],
    set_train_mode: Callable[[], None],
    runtime: Runtime,
    run: RunDir,
    seed: int,
    workers: int,
    resume: bool,
    show: bool,
    amp: bool = False,
) -> History:
    """Train for ``epochs`` and evaluate after each; ``train_model`` may be a DDP wrapper of ``model``."""
    sampler = ShardedSampler(len(train_set), batch_size, runtime.rank, runtime.world_size, seed)
    loader = DataLoader(
        train_set,
        batch_size=batch_size // runtime.world_size,
        sampler=sampler,
        num_workers=workers,
        pin_memory=runtime.device.type == "cuda",
        persistent_workers=workers > 0,
        drop_last=True,
    )
    history = History()
    last = run.path / "checkpoint-last.pth"
    start = 0
    if resume and last.exists():
        run.verify(last)
        state = load_checkpoint(last)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        history.epochs = list(state["history"])
        history.best_tally = Tally(state["best_confusion"], int(state["best_top5_hits"]))
        start = int(state["epoch"]) + 1
        if runtime.is_main:
            run.truncate_log(start - 1)
        echo(f"resuming {run.path} after epoch {start - 1}", show)
    steps = sampler.steps
    autocast = torch.autocast(runtime.device.type, dtype=torch.bfloat16) if amp else contextlib.nullcontext()
    with progress_bar(show) as bar:
        task = bar.add_task("train", total=max(1, (epochs - start) * steps), status="")
        for epoch in range(start, epochs):
            sampler.set_epoch(epoch)
            set_train_mode()
            meter, loss_sum = Throughput(), 0.0
            for step, (x, y, _) in enumerate(loader):
                lr = schedule(epoch + step / steps)
                set_lr(optimizer, lr)
                x, y = x.to(runtime.device, non_blocking=True), y.to(runtime.device, non_blocking=True)
                with autocast:
                    loss = criterion(train_model(x).float(), y)
                if not torch.isfinite(loss.detach()):
                    raise TrainingDiverged(f"loss became {loss.item()} at epoch {epoch} step {step}; stopped")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                loss_sum += loss.item()
                meter.add(x.shape[0] * runtime.world_size)
                bar.update(task, advance=1, description=f"epoch {epoch + 1}/{epochs}",
                           status=f"loss {loss.item():.4f} lr {lr:.2e} {meter.rate:.0f} clips/s")  # fmt: skip
                faults.point("protocol-step")
            tally = evaluate_epoch()
            record = {
                "epoch": epoch,
                "train_loss": runtime.mean(loss_sum / max(steps, 1)),
                "lr": lr,
                "top1": tally.top1,
                "top5": tally.top5,
                "test_loss": tally.loss,
                "clips_per_s": meter.rate,
                "seconds": meter.seconds,
            }
            history.epochs.append(record)
            if history.best_tally is None or tally.top1 > max(e["top1"] for e in history.epochs[:-1]):
                history.best_tally = tally
            history.final_tally = tally
            if runtime.is_main:
                data = checkpoint_bytes(
                    {
                        "kind": "protocol-state",
                        "model": model.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "epoch": epoch,
                        "history": history.epochs,
                        "best_confusion": history.best_tally.confusion,
                        "best_top5_hits": history.best_tally.top5_hits,
                        "torch_rng": torch.get_rng_state(),
                    }
                )
                run.log({**record, "checkpoint_sha256": hashlib.sha256(data).hexdigest()})
                save_checkpoint(last, data)
                if bar.disable:
                    echo(
                        f"epoch {epoch + 1}/{epochs}  loss {record['train_loss']:.4f}  "
                        f"test top-1 {tally.top1:.2f}  top-5 {tally.top5:.2f}",
                        show,
                    )
            runtime.barrier()
    if history.final_tally is None and history.epochs:  # resumed after the last epoch
        history.final_tally = evaluate_epoch()
    return history

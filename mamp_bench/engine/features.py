"""Frozen-encoder passes: features of a whole dataset, without autograd."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset

from mamp_bench.models.transformer import SkeletonEncoder


@torch.inference_mode()
def encode_dataset(
    encoder: SkeletonEncoder,
    dataset: Dataset,
    batch_size: int,
    device: torch.device,
    workers: int = 0,
    skip_empty: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, D) float32 features (mean over persons, time, joints) and (N,) labels, in dataset order.
    ``skip_empty``: encode absent persons once (``encode_in_chunks``)."""
    from mamp_bench.engine.step import default_micro_batch
    from mamp_bench.evaluation.heads import encode_in_chunks

    encoder.eval()
    chunk = default_micro_batch(device)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers)
    features, labels = [], []
    for x, y, _ in loader:
        out = encode_in_chunks(encoder, x.to(device, non_blocking=True), chunk, skip_empty)
        features.append(out.mean(dim=(1, 2, 3)).float().cpu())
        labels.append(y)
    return torch.cat(features), torch.cat(labels)

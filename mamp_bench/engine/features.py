"""Encoder passes: pooled features of any registered encoder (the transformer's in chunks, optionally encoding
absent persons once), and the features of a whole dataset without autograd."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset

from mamp_bench.errors import NonFiniteValue, UserError
from mamp_bench.models.encoder import Encoder
from mamp_bench.models.transformer import SkeletonEncoder, to_person_sequences


def default_micro_batch(device: torch.device) -> int:
    """0 (whole batch) on GPUs; 2 clips on CPUs, the fastest chunk measured for the paper's transformer
    (pretraining, fine-tuning and evaluation alike; other encoders run whole batches)."""
    return 0 if device.type == "cuda" else 2


def encode_in_chunks(
    encoder: SkeletonEncoder, x: torch.Tensor, chunk: int = 0, skip_empty: bool = False
) -> torch.Tensor:
    """Clips (N, C, T, V, M) -> ``encoder(x)`` (N, M, TP, VP, D), ``chunk`` clips at a time (0: at once).

    The encoder treats every person sequence independently, so chunking gives the same result; on a
    CPU the smaller activations stay in cache and it runs faster. Gradients flow as usual.

    ``skip_empty``: an absent person is an all-zero sequence, and every all-zero sequence has the
    same features (in eval mode; in train mode they differ only by their drop-path draws). The
    encoder then runs on the present persons plus one zero sequence, whose output stands for every
    absent person: the same features in eval mode, at about half the cost on NTU-60's mix. In train
    mode the absent persons of a batch share one drop-path draw (not in the reference).
    """
    if skip_empty:
        return _encode_present(encoder, x, chunk)
    if chunk <= 0 or chunk >= x.shape[0]:
        return encoder(x)
    return torch.cat([encoder(x[i : i + chunk]) for i in range(0, x.shape[0], chunk)])


def _encode_present(encoder: SkeletonEncoder, x: torch.Tensor, chunk: int) -> torch.Tensor:
    N, C, T, V, M = x.shape
    seq = to_person_sequences(x)  # (NM, T, V, C)
    present = seq.flatten(1).ne(0).any(dim=1)  # (NM,)
    kept = torch.cat([seq[present], seq.new_zeros(1, T, V, C)])  # (P + 1, T, V, C)
    step = len(kept) if chunk <= 0 else chunk * M  # the same number of sequences a chunk of clips has
    tokens = torch.cat(
        [encoder.blocks_and_norm(encoder.embed(kept[i : i + step])) for i in range(0, len(kept), step)]
    )  # (P + 1, L, D)
    source = torch.full((N * M,), len(kept) - 1, dtype=torch.long, device=x.device)
    source[present] = torch.arange(len(kept) - 1, device=x.device)
    TP, VP = encoder.config.grid
    return tokens[source].reshape(N, M, TP, VP, -1)


def pooled_features(encoder: Encoder, x: torch.Tensor, chunk: int = 0, skip_empty: bool = False) -> torch.Tensor:
    """Clips (N, C, T, V, M) -> (N, D): ``encoder.pooled(x)``; the transformer's (its final-LayerNorm output
    averaged over persons, time and joints) ``chunk`` clips at a time, absent persons encoded once with
    ``skip_empty`` (``encode_in_chunks``)."""
    if isinstance(encoder, SkeletonEncoder):
        return encode_in_chunks(encoder, x, chunk, skip_empty).mean(dim=(1, 2, 3))
    if skip_empty:
        raise UserError(f"skip_empty_persons is the transformer's; the {encoder.name} encoder encodes every person")
    return encoder.pooled(x)


@torch.inference_mode()
def encode_dataset(
    encoder: Encoder,
    dataset: Dataset,
    batch_size: int,
    device: torch.device,
    workers: int = 0,
    skip_empty: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, D) float32 pooled features and (N,) labels, in dataset order.
    ``skip_empty``: encode absent persons once (``encode_in_chunks``)."""
    encoder.eval()
    chunk = default_micro_batch(device)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers)
    features, labels = [], []
    for x, y, _ in loader:
        features.append(pooled_features(encoder, x.to(device, non_blocking=True), chunk, skip_empty).float().cpu())
        labels.append(y)
    features = torch.cat(features)
    if not torch.isfinite(features).all():
        bad = int((~torch.isfinite(features)).any(dim=1).nonzero()[0])
        raise NonFiniteValue(
            f"the encoder's features of clip {bad} (and maybe others) are NaN or infinite: its weights or the "
            "clips are out of range; stopped, no record written"
        )
    return features, torch.cat(labels)

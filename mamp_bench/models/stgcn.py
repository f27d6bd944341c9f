"""ST-GCN (Yan et al., AAAI 2018) as the contrastive GCN family configures it, readable top to bottom.

SkeletonCLR, CrosSCLR and AimCLR all use ``net.st_gcn.Model`` with ``hidden_channels 16`` ("1/4 x channels
of standard stgcn"), ``hidden_dim 256``, dropout 0.5, the NTU graph with the spatial partition and learnable
edge importance (Levigty/AimCLR ``net/st_gcn.py``, ``config/ntu60/pretext/*.yaml``). Input: clips
(N, C=3, T=50, V=25, M=2). Each person is an independent graph sequence (N*M, C, T, V):

    data_bn       BatchNorm1d over the V*C = 75 (joint, coordinate) channels of each person, per frame
    10 blocks     widths 16 16 16 16 32 32 32 64 64 256, temporal stride 2 at blocks 5 and 8: T 50 -> 25 -> 13
      block       graph conv (1x1 conv to 3*C_out, then sum over the 3 partitions of A * importance)
                  -> BN, ReLU, temporal conv (9 x 1), BN, dropout -> + residual -> ReLU
    pooling       mean over (T, V), then mean over the M person slots (an absent person counts)

The input stream is part of the encoder (``stream``: ``joint``, ``motion`` or ``bone``, ``data/gcn/streams.py``):
it is derived from the clips it is given, after any augmentation, as every processor of the family derives it
from its batch; a checkpoint's encoder thus reads the stream it was trained on in every protocol.

Backbone parameters: 821,380 (the reference's, counted by instantiating it: ``tests/test_gcn_parity.py``).
The pretext heads and the classifier are not part of the encoder: the methods own them.

Deliberate differences, none of which changes a number: the adjacency ``A`` is a non-persistent buffer (an
official checkpoint's ``encoder_q.A`` is checked against it and dropped, ``check_official_graph``); the
blocks are ``blocks`` rather than ``st_gcn_networks``; dropout is not in-place. Initialisation is PyTorch's
default, as the reference model's; the pretraining methods re-draw it as the reference processors do
(``weights_init``, here: the evaluation processors draw their classifier with it too).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn as nn

from mamp_bench.config import MAX_WIDTH, require
from mamp_bench.data.gcn.streams import STREAMS
from mamp_bench.data.kinect import NUM_JOINTS
from mamp_bench.errors import UserError
from mamp_bench.models.encoder import Encoder
from mamp_bench.models.graph import spatial_adjacency
from mamp_bench.registry import ENCODERS

#: The temporal strides of the 10 blocks and their widths as multiples of ``hidden_channels`` (the last
#: block's width is ``hidden_dim``).
BLOCK_STRIDES = (1, 1, 1, 1, 2, 1, 1, 2, 1, 1)
BLOCK_WIDTHS = (1, 1, 1, 1, 2, 2, 2, 4, 4, None)


@dataclass
class STGCNConfig:
    in_channels: int = 3
    hidden_channels: int = 16
    hidden_dim: int = 256  # width of the last block = the pooled feature
    dropout: float = 0.5  # in the temporal unit of blocks 2-10 (block 1 has none)
    temporal_kernel: int = 9
    edge_importance: bool = True
    stream: str = "joint"  # the input stream derived from the clips: joint, motion or bone

    def validate(self) -> None:
        require(self, [
            (1 <= self.in_channels <= 16, f"in_channels must be in [1, 16], got {self.in_channels}"),
            (1 <= self.hidden_channels <= MAX_WIDTH // 4,
             f"hidden_channels must be in [1, {MAX_WIDTH // 4}], got {self.hidden_channels}"),
            (1 <= self.hidden_dim <= MAX_WIDTH, f"hidden_dim must be in [1, {MAX_WIDTH}], got {self.hidden_dim}"),
            (0 <= self.dropout < 1, f"dropout must be in [0, 1), got {self.dropout}"),
            (self.temporal_kernel >= 1 and self.temporal_kernel % 2 == 1,
             f"temporal_kernel must be a positive odd number, got {self.temporal_kernel}"),
            (self.stream in STREAMS, f"stream must be one of {', '.join(STREAMS)}, got {self.stream!r}"),
        ], prefix="encoder.")  # fmt: skip


class GraphConv(nn.Module):
    """(n, C_in, T, V) -> (n, C_out, T, V): a 1x1 conv to K*C_out channels, then each partition's output
    spread over the graph, ``out[w] = sum_k sum_v x_k[v] A[k, v, w]``."""

    def __init__(self, in_channels: int, out_channels: int, partitions: int):
        super().__init__()
        self.partitions = partitions
        self.conv = nn.Conv2d(in_channels, out_channels * partitions, kernel_size=1)

    def forward(self, x: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)  # (n, K*C, T, V)
        n, kc, t, v = x.shape
        x = x.view(n, self.partitions, kc // self.partitions, t, v)  # (n, K, C, T, V)
        return torch.einsum("nkctv,kvw->nctw", x, adjacency).contiguous()  # (n, C, T, V)


class STGCNBlock(nn.Module):
    """Graph conv, then the temporal unit, plus a residual: (n, C_in, T, V) -> (n, C_out, T / stride, V)."""

    def __init__(self, in_channels: int, out_channels: int, partitions: int, kernel: int, stride: int,
                 dropout: float, residual: bool):  # fmt: skip
        super().__init__()
        self.gcn = GraphConv(in_channels, out_channels, partitions)
        self.tcn = nn.Sequential(  # indices as the reference's, so checkpoints map one to one
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, (kernel, 1), (stride, 1), ((kernel - 1) // 2, 0)),
            nn.BatchNorm2d(out_channels),
            nn.Dropout(dropout),
        )
        if not residual:
            self.residual = None
        elif in_channels == out_channels and stride == 1:
            self.residual = nn.Identity()
        else:
            self.residual = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=(stride, 1)),
                nn.BatchNorm2d(out_channels),
            )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        shortcut = 0 if self.residual is None else self.residual(x)
        return self.relu(self.tcn(self.gcn(x, adjacency)) + shortcut)


@ENCODERS.register("stgcn")
class STGCN(Encoder):
    """The ST-GCN backbone: clips (N, C, T, V, M) -> pooled features (N, hidden_dim)."""

    description = "ST-GCN as the GCN contrastive family configures it (hidden 16, 10 blocks; AAAI 2018)"
    Config = STGCNConfig
    label = "ST-GCN"
    recipe = "gcn"
    chain = "gcn"
    windowed = False  # the GCN chain's 50-frame clips, as prepared

    def __init__(self, config: STGCNConfig | None = None):
        super().__init__()
        self.config = config = config or STGCNConfig()
        config.validate()
        adjacency = torch.from_numpy(spatial_adjacency())  # (K=3, V, V)
        self.register_buffer("A", adjacency, persistent=False)
        partitions = adjacency.shape[0]
        self.data_bn = nn.BatchNorm1d(config.in_channels * NUM_JOINTS)
        widths = [config.hidden_channels * w if w else config.hidden_dim for w in BLOCK_WIDTHS]
        inputs = [config.in_channels, *widths[:-1]]
        self.blocks = nn.ModuleList(
            STGCNBlock(
                c_in,
                c_out,
                partitions,
                config.temporal_kernel,
                stride,
                dropout=config.dropout if i else 0.0,
                residual=i > 0,
            )  # fmt: skip
            for i, (c_in, c_out, stride) in enumerate(zip(inputs, widths, BLOCK_STRIDES, strict=True))
        )
        # one learnable (K, V, V) weight per block multiplying A, initialised to ones (none when switched off)
        self.edge_importance = nn.ParameterList(
            nn.Parameter(torch.ones_like(adjacency)) for _ in self.blocks if config.edge_importance
        )
        self.dim = config.hidden_dim

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Clips (N, C, T, V, M) -> the last block's map (N*M, hidden_dim, T', V), T' = ceil(T / 4), of the
        configured stream of the clips."""
        if x.ndim != 5:
            raise UserError(f"ST-GCN takes clips of shape (N, C, T, V, M), got a {x.ndim}-dimensional input")
        x = STREAMS[self.config.stream](x)
        N, C, T, V, M = x.shape
        x = x.permute(0, 4, 3, 1, 2).reshape(N * M, V * C, T)  # channel v*C + c, as the reference
        x = self.data_bn(x)
        x = x.view(N, M, V, C, T).permute(0, 1, 3, 4, 2).reshape(N * M, C, T, V)  # (N*M, C, T, V)
        importances = list(self.edge_importance) or [1.0] * len(self.blocks)
        for block, importance in zip(self.blocks, importances, strict=True):
            x = block(x, self.A * importance)
        return x

    @staticmethod
    def pool(features: torch.Tensor, persons: int) -> torch.Tensor:
        """(N*M, D, T', V) -> (N, D): mean over frames and joints, then over the M person slots."""
        pooled = features.mean(dim=(2, 3))  # (N*M, D)
        return pooled.view(-1, persons, pooled.shape[1]).mean(dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Clips (N, C, T, V, M) -> pooled features (N, hidden_dim)."""
        return self.pool(self.features(x), x.shape[-1])

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward(x)


@torch.no_grad()
def weights_init(module: nn.Module) -> None:
    """The GCN family's ``weights_init`` (every processor applies it to the model it builds): conv / linear
    weights N(0, 0.02), biases 0; BatchNorm weights N(1, 0.02), biases 0. Draws from torch's global generator in
    ``Module.apply`` order, as the reference."""
    module.apply(_weights_init)


def _weights_init(m: nn.Module) -> None:
    if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)):
        m.weight.normal_(0.0, 0.02)
        if m.bias is not None:
            m.bias.zero_()
    elif isinstance(m, nn.modules.batchnorm._BatchNorm):
        m.weight.normal_(1.0, 0.02)
        m.bias.zero_()


def backbone_parameters(model: STGCN) -> int:
    return sum(p.numel() for p in model.parameters())


def check_official_graph(state: Mapping[str, torch.Tensor]) -> None:
    """``UserError`` unless every adjacency ``A`` an official-layout state dict stores (``encoder_q.A``,
    ``encoder_k.A``) is this encoder's graph: a checkpoint of another graph or partition is refused."""
    for key, value in state.items():
        if key.removeprefix("module.").split(".")[-1] != "A":
            continue
        if tuple(value.shape) != (3, NUM_JOINTS, NUM_JOINTS) or not torch.allclose(
            value.float().cpu(), torch.from_numpy(spatial_adjacency()), atol=1e-6
        ):
            raise UserError(f"{key}: the checkpoint's graph is not the NTU spatial partition this encoder uses")


def config_from_state(state: Mapping[str, torch.Tensor]) -> STGCNConfig:
    """The configuration of an encoder state dict (this module's names), read from its shapes: the input
    channels from ``data_bn``, the widths from the first and the last block, the temporal kernel, whether it has
    edge importance. The dropout and the stream do not show: the reference's 0.5 and the joint stream."""
    try:
        channels = int(state["data_bn.weight"].shape[0]) // NUM_JOINTS
        first = state["blocks.0.tcn.2.weight"]  # (C_out, C_out, kernel, 1)
        last = state[f"blocks.{len(BLOCK_STRIDES) - 1}.tcn.2.weight"]
    except KeyError as exc:
        raise UserError(f"not an ST-GCN encoder state: no {exc.args[0]}") from None
    return STGCNConfig(in_channels=channels, hidden_channels=int(first.shape[0]), hidden_dim=int(last.shape[0]),
                       temporal_kernel=int(first.shape[2]),
                       edge_importance=any(k.startswith("edge_importance.") for k in state))  # fmt: skip

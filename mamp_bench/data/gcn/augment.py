"""The GCN family's augmentations as batched steps on the training device, with explicit random draws.

The reference draws each view in its feeder, one clip at a time on the CPU, from Python's ``random`` and NumPy's
global generator (Levigty/AimCLR ``feeder/tools.py``, ``feeder/ntu_feeder.py``). Here a view is two things:
``draw_*`` makes the random draws of a batch (a ``ViewDraws``) from per-clip seeds, and ``normal_view`` /
``extreme_view`` apply recorded draws to the batch (N, C, T, V, M) in one pass of small named steps. A test
replays the reference's draws through the same ``apply`` (``tests/test_gcn_parity.py``).

Normal view (SkeletonCLR's two, AimCLR's query and key), in the reference's order:

* ``temporal_shift``: pad T // 6 frames at each end with the first / last frames in reverse order (symmetric
  padding: the edge frame repeats), then take T frames from a start in 0 .. 2 * (T // 6) (``temperal_crop``);
* ``shear``: x' = S x per joint, S = I + off-diagonal entries U(-0.5, 0.5) (``shear``; draw order
  s1[0..2], s2[0..2] and S = [[1, s1_0, s2_0], [s1_1, 1, s2_1], [s1_2, s2_2, 1]]).

AimCLR's extreme view: the normal view, then ``aug_method='12345'``:

* ``mirror`` p 0.5: the joints' left-right permutation (``random_spatial_flip``);
* ``rotate``: about x, then y, then z; one random main axis gets U(0, 30) degrees, the others U(0, 1)
  (``random_rotate``);
* ``add_noise`` p 0.5: Gaussian, std 0.01 (``gaus_noise``);
* ``temporal_blur`` p 0.5: a 15-tap Gaussian over time with sigma U(0.1, 2), zero padding and an
  **unnormalised** kernel (the taps sum to up to ~5: the reference's ``GaussianBlurConv``, kept);
* ``zero_axis`` p 0.5: one random coordinate axis set to 0 (``axis_mask``).

The steps compute in the dtype of the clips they get; the methods pass float64 and cast the views to float32, as
the reference (float64 NumPy per clip, then the processor's ``.float()``): the pretext gradients are sensitive to
that rounding. Deliberate difference: uniform draws have 24-bit resolution (``seeding.seeded_uniform``) and the
noise is Box-Muller from them, so a seed gives other numbers than the reference's generators (the same
distributions).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from mamp_bench.data.kinect import MIRROR
from mamp_bench.seeding import seeded_uniform

SHEAR_AMPLITUDE = 0.5
PADDING_RATIO = 6
ROTATION_MAIN_DEGREES = 30.0
ROTATION_OTHER_DEGREES = 1.0
NOISE_STD = 0.01
BLUR_TAPS = 15
BLUR_SIGMA = (0.1, 2.0)
P = 0.5  # probability of each optional extreme step


@dataclass
class ViewDraws:
    """The random draws of one view of a batch of N clips. The extreme steps' fields are None for a normal view.

    Flags are bool (N,); ``rotation_degrees`` (N, 3) is the angle about x, y and z; ``zero_axis`` (N,) is the
    axis set to 0, -1 for none; ``noise`` (N, C, T, V, M) is the noise added where ``noise_on``."""

    shift: torch.Tensor  # (N,) int64 start of the T-frame window in the padded clip
    shear: torch.Tensor  # (N, 6) s1[0..2], s2[0..2]
    mirror: torch.Tensor | None = None
    rotation_degrees: torch.Tensor | None = None
    noise_on: torch.Tensor | None = None
    noise: torch.Tensor | None = None
    blur_on: torch.Tensor | None = None
    blur_sigma: torch.Tensor | None = None  # (N,)
    zero_axis: torch.Tensor | None = None


# ----- the steps ---------------------------------------------------------------------------------------------
def temporal_shift(x: torch.Tensor, start: torch.Tensor, ratio: int = PADDING_RATIO) -> torch.Tensor:
    """(N, C, T, V, M): symmetric padding of T // ratio frames each side, then the T frames from ``start`` (N,)."""
    N, C, T, V, M = x.shape
    pad = T // ratio
    if pad == 0:
        return x
    padded = torch.cat([x[:, :, :pad].flip(2), x, x[:, :, T - pad :].flip(2)], dim=2)  # (N, C, T + 2 pad, V, M)
    index = start.to(x.device)[:, None] + torch.arange(T, device=x.device)  # (N, T)
    return torch.gather(padded, 2, index[:, None, :, None, None].expand(N, C, T, V, M))


def shear_matrix(s: torch.Tensor) -> torch.Tensor:
    """(N, 6) draws -> (N, 3, 3) [[1, s1_0, s2_0], [s1_1, 1, s2_1], [s1_2, s2_2, 1]]."""
    one = torch.ones_like(s[:, 0])
    rows = [(one, s[:, 0], s[:, 3]), (s[:, 1], one, s[:, 4]), (s[:, 2], s[:, 5], one)]
    return torch.stack([torch.stack(row, dim=1) for row in rows], dim=1)


def linear_map(x: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """x' = matrix x per joint: (N, 3, T, V, M) and (N, 3, 3)."""
    return torch.einsum("nij,njtvm->nitvm", matrix.to(x.dtype), x)


def mirror(x: torch.Tensor, on: torch.Tensor) -> torch.Tensor:
    """Left-right joint permutation of the clips where ``on`` (N,) bool."""
    flipped = x.index_select(3, torch.tensor(MIRROR, device=x.device))
    return torch.where(on.to(x.device)[:, None, None, None, None], flipped, x)


def rotation_matrix(degrees: torch.Tensor) -> torch.Tensor:
    """(N, 3) angles about x, y, z (applied in that order) -> (N, 3, 3) = Rz Ry Rx in the reference's sense."""
    a = torch.deg2rad(degrees.double())
    c, s = a.cos(), a.sin()
    one, zero = torch.ones_like(c[:, 0]), torch.zeros_like(c[:, 0])

    def matrix(rows):
        return torch.stack([torch.stack(row, dim=1) for row in rows], dim=1)

    rx = matrix([(one, zero, zero), (zero, c[:, 0], s[:, 0]), (zero, -s[:, 0], c[:, 0])])
    ry = matrix([(c[:, 1], zero, -s[:, 1]), (zero, one, zero), (s[:, 1], zero, c[:, 1])])
    rz = matrix([(c[:, 2], s[:, 2], zero), (-s[:, 2], c[:, 2], zero), (zero, zero, one)])
    return rz @ ry @ rx


def add_noise(x: torch.Tensor, on: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    return x + noise.to(x) * on.to(x.device)[:, None, None, None, None]


def blur_kernel(sigma: torch.Tensor, taps: int = BLUR_TAPS) -> torch.Tensor:
    """(N,) -> (N, taps) exp(-k^2 / (2 sigma^2)), k = -taps//2 .. taps//2, not normalised (as the reference)."""
    k = torch.arange(taps, device=sigma.device, dtype=torch.float64) - taps // 2
    return torch.exp(-(k**2) / (2 * sigma.double()[:, None] ** 2))


def temporal_blur(x: torch.Tensor, on: torch.Tensor, sigma: torch.Tensor, taps: int = BLUR_TAPS) -> torch.Tensor:
    """Convolve each clip where ``on`` over time with its kernel, zero padding: (N, C, T, V, M) -> same."""
    T = x.shape[2]
    kernel = blur_kernel(sigma.to(x.device), taps).to(x.dtype)  # (N, taps)
    padded = torch.nn.functional.pad(x, (0, 0, 0, 0, taps // 2, taps // 2))  # pads dim 2 (time)
    blurred = sum(kernel[:, j, None, None, None, None] * padded[:, :, j : j + T] for j in range(taps))
    return torch.where(on.to(x.device)[:, None, None, None, None], blurred, x)


def zero_axis(x: torch.Tensor, axis: torch.Tensor) -> torch.Tensor:
    """Set coordinate ``axis`` (N,) of each clip to 0 (-1: keep the clip)."""
    keep = torch.arange(x.shape[1], device=x.device)[None, :] != axis.to(x.device)[:, None]  # (N, C)
    return x * keep[:, :, None, None, None].to(x.dtype)


# ----- the views ---------------------------------------------------------------------------------------------
def normal_view(x: torch.Tensor, draws: ViewDraws) -> torch.Tensor:
    """Temporal shift, then shear: (N, C, T, V, M) -> same."""
    x = temporal_shift(x, draws.shift)
    return linear_map(x, shear_matrix(draws.shear.to(x.device)))


def extreme_view(x: torch.Tensor, draws: ViewDraws) -> torch.Tensor:
    """AimCLR's extreme view: the normal view, mirror, rotation, noise, blur, zeroed axis."""
    x = mirror(normal_view(x, draws), draws.mirror)
    x = linear_map(x, rotation_matrix(draws.rotation_degrees.to(x.device)))
    x = add_noise(x, draws.noise_on, draws.noise)
    x = temporal_blur(x, draws.blur_on, draws.blur_sigma)
    return zero_axis(x, draws.zero_axis)


# ----- the draws ---------------------------------------------------------------------------------------------
NORMAL_NUMBERS = 7  # shift, 6 shear entries
EXTREME_NUMBERS = NORMAL_NUMBERS + 1 + 4 + 1 + 2 + 3  # mirror; axis, 3 angles; noise; blur sigma, on; zero p, axis


def view_seeds(seeds: torch.Tensor, view: int) -> torch.Tensor:
    """A seed per clip and view from the clip seeds (N,) int64."""
    return seeds.to(torch.int64) * 4 + view


def draw_normal(seeds: torch.Tensor, view: int, frames: int, device: torch.device | None = None) -> ViewDraws:
    """The draws of a normal view of clips with these seeds (N,)."""
    u = seeded_uniform(view_seeds(seeds, view).to(device or seeds.device), EXTREME_NUMBERS)  # (N, numbers)
    return _normal_part(u, frames)


def _normal_part(u: torch.Tensor, frames: int) -> ViewDraws:
    span = 2 * (frames // PADDING_RATIO) + 1
    shift = (u[:, 0] * span).long().clamp(max=span - 1)
    shear = (u[:, 1:7].double() * 2 - 1) * SHEAR_AMPLITUDE
    return ViewDraws(shift, shear)


def draw_extreme(seeds: torch.Tensor, view: int, clip_shape: tuple[int, ...], device=None) -> ViewDraws:
    """The draws of AimCLR's extreme view of clips (N, C, T, V, M) with these seeds (N,)."""
    N, C, T, V, M = clip_shape
    seeds = view_seeds(seeds, view).to(device or seeds.device)
    u = seeded_uniform(seeds, EXTREME_NUMBERS)
    draws = _normal_part(u, T)
    u = u[:, NORMAL_NUMBERS:].double()
    draws.mirror = u[:, 0] < P
    main = (u[:, 1] * 3).long().clamp(max=2)  # (N,) the main rotation axis
    spans = torch.where(torch.arange(3, device=u.device)[None] == main[:, None],
                        ROTATION_MAIN_DEGREES, ROTATION_OTHER_DEGREES)  # fmt: skip
    draws.rotation_degrees = u[:, 2:5] * spans
    draws.noise_on = u[:, 5] < P
    draws.noise = NOISE_STD * _gaussian(seeds, C * T * V * M).view(N, C, T, V, M)
    lo, hi = BLUR_SIGMA
    draws.blur_sigma = lo + (hi - lo) * u[:, 6]
    draws.blur_on = u[:, 7] < P
    axis = (u[:, 9] * 3).long().clamp(max=2)
    draws.zero_axis = torch.where(u[:, 8] < P, axis, torch.full_like(axis, -1))
    return draws


def _gaussian(seeds: torch.Tensor, count: int) -> torch.Tensor:
    """(N, count) standard normals from per-clip seeds (Box-Muller on counter-based uniforms)."""
    u = seeded_uniform(seeds * 2 + 1, 2 * count)
    u1 = u[:, :count].clamp_min(2.0**-25)  # log(0) guard: 24-bit uniforms can be 0
    return torch.sqrt(-2 * torch.log(u1)) * torch.cos(2 * math.pi * u[:, count:])

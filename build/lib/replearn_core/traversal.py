"""Latent traversals and projections: walking one code dimension at a time (report 3.3, figures 5-7).

A *traversal* starts from the code ``z0 = f(x)`` of a real image, replaces one coordinate
``z_i`` by evenly spaced values across a range and decodes every frame ``g(z)``. Laid out
as one row per dimension, the frames show what each dimension controls (report figures 5
and 6). :func:`class_change_fraction` turns the report's visual claim ("with sigmoid the
digit changes, with leaky ReLU the style changes") into a number: the fraction of frames
that the book's classifier reads as a different digit from the traversal's start.

:func:`pca_projection` gives the 3-d view of the codes used by the tri-surf plots
(report figure 7).

Decoders are plain callables ``decode(z) -> images`` (``z``: [N, d] float tensor; images:
[N, H*W] or [N, H, W] pixel values in [0, 1]), so every model of the book fits.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from .models.base import apply_batched

Decoder = Callable[[torch.Tensor], torch.Tensor]


@torch.no_grad()
def decode_batched(decode: Decoder, z: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
    """``decode`` applied to ``z`` [N, d] in batches; returns [N, ...] flattened to [N, -1]."""
    return apply_batched(lambda zb: decode(zb).reshape(len(zb), -1), z, batch_size)


def observed_ranges(codes: torch.Tensor, low: float = 0.01, high: float = 0.99) -> torch.Tensor:
    """Per-dimension range of ``codes`` [N, d] between the ``low`` and ``high`` quantiles: [d, 2].

    Quantiles rather than min/max, so that a handful of outlying codes do not stretch a
    traversal into regions no training image occupies.
    """
    if codes.ndim != 2 or len(codes) < 2:
        raise ValueError(f"codes: expected a [N, d] tensor with N >= 2, got shape {tuple(codes.shape)}")
    if not 0.0 <= low < high <= 1.0:
        raise ValueError(f"low, high: need 0 <= low < high <= 1, got {low}, {high}")
    c = codes.detach().double().cpu()
    q = torch.quantile(c, torch.tensor([low, high], dtype=torch.float64), dim=0)
    return q.T.float().contiguous()


def as_ranges(ranges, d: int) -> torch.Tensor:
    """One ``(lo, hi)`` for every latent dimension as a float64 [d, 2] table, from either one pair
    for all dimensions or a [d, 2] table; raises ``ValueError`` for other shapes, NaN or lo >= hi."""
    r = torch.as_tensor(ranges, dtype=torch.float64).detach().cpu()
    if r.shape == (2,):
        r = r.expand(d, 2)
    if r.shape != (d, 2):
        raise ValueError(f"ranges: expected (lo, hi) or a [{d}, 2] table, got shape {tuple(r.shape)}")
    if not bool(torch.isfinite(r).all()) or not bool((r[:, 0] < r[:, 1]).all()):
        raise ValueError("ranges: every range needs finite values with lo < hi")
    return r.contiguous()


def traversal_codes(z0: torch.Tensor, ranges, steps: int = 11) -> tuple[torch.Tensor, torch.Tensor]:
    """All traversal codes of one start code ``z0`` [d]: ([d, steps, d] codes, [d, steps] values).

    ``codes[i, k]`` is ``z0`` with coordinate ``i`` set to ``values[i, k]``, which runs from
    ``ranges[i][0]`` to ``ranges[i][1]`` in ``steps`` equal steps.
    """
    if not (isinstance(steps, int) and steps >= 2):
        raise ValueError(f"steps: must be an integer >= 2, got {steps!r}")
    z0 = torch.as_tensor(z0).reshape(-1)
    d = len(z0)
    r = as_ranges(ranges, d).to(z0.device, z0.dtype)
    t = torch.linspace(0, 1, steps, device=z0.device, dtype=z0.dtype)
    values = r[:, :1] + (r[:, 1:] - r[:, :1]) * t  # [d, steps]
    codes = z0.expand(d, steps, d).clone()
    idx = torch.arange(d, device=z0.device)
    codes[idx, :, idx] = values
    return codes, values


@torch.no_grad()
def latent_traversal_grid(decode: Decoder, z0: torch.Tensor, ranges, steps: int = 11) -> tuple[torch.Tensor, torch.Tensor]:
    """Decoded traversal of every dimension from ``z0``: images [d * steps, H*W] (row i = dimension i)
    and the traversed values [d, steps].

    Show them with ``rl.plots.show_images(images, nrow=steps, row_labels=...)``.
    """
    codes, values = traversal_codes(z0, ranges, steps)
    d = codes.shape[0]
    images = decode_batched(decode, codes.reshape(d * steps, d))
    return images.cpu(), values.cpu()


@dataclass
class TraversalStats:
    """What the classifier reads along traversals from ``n`` start codes, ``d`` dimensions, ``steps`` frames."""

    #: fraction of all frames read as a different digit from the start's reconstruction
    class_change_fraction: float
    #: the same fraction per latent dimension [d]
    per_dimension: np.ndarray
    #: mean absolute pixel difference between a frame and the start's reconstruction (pixels in [0, 1])
    pixel_change: float
    #: class of each start code's reconstruction [n]
    start_classes: np.ndarray
    #: class of each frame [n, d, steps]
    frame_classes: np.ndarray

    @property
    def changed(self) -> np.ndarray:
        """Boolean [n, d, steps]: the frame's class differs from the start's."""
        return self.frame_classes != self.start_classes[:, None, None]

    @property
    def switches_per_traversal(self) -> float:
        """Mean number of times the class changes between consecutive frames of one traversal."""
        return float((np.diff(self.frame_classes, axis=2) != 0).sum(axis=2).mean())


@torch.no_grad()
def class_change_fraction(decode: Decoder, classify: Callable[[torch.Tensor], torch.Tensor],
                          codes: torch.Tensor, ranges, steps: int = 11, chunk: int = 32) -> TraversalStats:
    """Traverse every dimension from every start code in ``codes`` [n, d] and classify each frame.

    ``classify(images [N, H*W]) -> class indices [N]`` (e.g. ``classifier.predict``). A frame
    counts as a class change when its class differs from the class of ``decode(z0)``, the
    start's own reconstruction, so reconstruction errors of the start are not counted.
    """
    if codes.ndim != 2 or len(codes) == 0:
        raise ValueError(f"codes: expected a non-empty [n, d] tensor, got shape {tuple(codes.shape)}")
    n, d = codes.shape
    as_ranges(ranges, d)
    start_images = decode_batched(decode, codes)
    start_classes = torch.as_tensor(classify(start_images)).cpu().numpy()
    frame_classes = np.empty((n, d, steps), dtype=np.int64)
    pixel_sum = 0.0
    for lo in range(0, n, chunk):
        block = codes[lo:lo + chunk]
        all_codes = torch.stack([traversal_codes(z, ranges, steps)[0] for z in block])  # [b, d, steps, d]
        frames = decode_batched(decode, all_codes.reshape(-1, d))
        frame_classes[lo:lo + len(block)] = torch.as_tensor(classify(frames)).cpu().numpy().reshape(len(block), d, steps)
        starts = start_images[lo:lo + len(block)].repeat_interleave(d * steps, dim=0)
        pixel_sum += float((frames - starts).abs().mean(1).sum())
    changed = frame_classes != start_classes[:, None, None]
    return TraversalStats(class_change_fraction=float(changed.mean()), per_dimension=changed.mean(axis=(0, 2)),
                          pixel_change=pixel_sum / (n * d * steps), start_classes=start_classes,
                          frame_classes=frame_classes)


def pca_projection(codes: torch.Tensor, k: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Project ``codes`` [N, d] on their first ``k`` principal components: ([N, k], explained variance ratio [k]).

    The codes are centred (not scaled); each component's sign is fixed so that its largest
    loading is positive, which makes the projection reproducible across runs and thread counts.
    """
    if codes.ndim != 2 or not (isinstance(k, int) and 1 <= k <= codes.shape[1]):
        raise ValueError(f"k: must be an integer in [1, {codes.shape[-1]}] for codes of shape {tuple(codes.shape)}, got {k!r}")
    c = codes.detach().double().cpu()
    c = c - c.mean(0)
    _, s, vt = torch.linalg.svd(c, full_matrices=False)
    comps = vt[:k]
    signs = torch.sign(comps.gather(1, comps.abs().argmax(1, keepdim=True)))
    comps = comps * signs
    var = s ** 2
    return (c @ comps.T).float(), (var[:k] / var.sum()).float()


def interpolate(z_a: torch.Tensor, z_b: torch.Tensor, t, mode: str = "slerp") -> torch.Tensor:
    """Points between two latent vectors [d] at fractions ``t`` (a number or [T] values in [0, 1]) -> [T, d].

    ``"linear"``: (1 - t) z_a + t z_b. ``"slerp"``: along the great circle (Shoemake's spherical
    interpolation, with the norm interpolated linearly), which stays on the shell of radius
    about sqrt(d) where a high-dimensional Gaussian puts almost all its mass; the linear
    midpoint of two independent draws has only about 1/sqrt(2) of that norm.
    """
    if mode not in ("linear", "slerp"):
        raise ValueError(f"mode must be 'linear' or 'slerp', got {mode!r}")
    t = torch.as_tensor(t, dtype=z_a.dtype, device=z_a.device).reshape(-1, 1)
    if mode == "linear":
        return (1 - t) * z_a + t * z_b
    na, nb = z_a.norm(), z_b.norm()
    ua, ub = z_a / na, z_b / nb
    omega = torch.arccos((ua * ub).sum().clamp(-1 + 1e-7, 1 - 1e-7))
    direction = (torch.sin((1 - t) * omega) * ua + torch.sin(t * omega) * ub) / torch.sin(omega)
    return direction * ((1 - t) * na + t * nb)


def quantile_grid(n: int = 20, lo: float = 0.05, hi: float = 0.95) -> tuple[np.ndarray, torch.Tensor]:
    """A grid of 2-d codes at Gaussian quantiles (Kingma and Welling's figure 4).

    Returns the ``n`` axis values ``norm.ppf(linspace(lo, hi, n))`` and the ``[n * n, 2]`` codes,
    row-major with z2 decreasing down the rows and z1 increasing along them (as on a plot).
    Equal steps in probability give equal prior mass to every cell of the grid.
    """
    from scipy.stats import norm

    if not (0 < lo < hi < 1):
        raise ValueError(f"lo, hi: quantile levels must satisfy 0 < lo < hi < 1, got {lo}, {hi}")
    values = norm.ppf(np.linspace(lo, hi, n))
    z1, z2 = np.meshgrid(values, values[::-1])
    codes = torch.tensor(np.stack([z1.ravel(), z2.ravel()], axis=1), dtype=torch.float32)
    return values, codes

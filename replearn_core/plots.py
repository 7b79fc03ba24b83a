"""One plotting helper per kind of figure in the book; every axis labelled, with units.

Chapters add helpers here rather than writing plotting code in notebooks.
"""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch


def _to_numpy(images) -> np.ndarray:
    if isinstance(images, torch.Tensor):
        images = images.detach().float().cpu().numpy()
    return np.asarray(images)


def image_grid(images, nrow: int, side: int | None = None, pad: int = 1) -> np.ndarray:
    """Tile images ([N, H, W], [N, 1, H, W] or [N, H*W] with ``side``) into one 2-D array, ``nrow`` per row."""
    arr = _to_numpy(images)
    if arr.ndim == 2:
        side = side or int(round(arr.shape[1] ** 0.5))
        arr = arr.reshape(len(arr), side, -1)
    if arr.ndim == 4:
        arr = arr[:, 0]
    n, h, w = arr.shape
    ncol = -(-n // nrow)
    grid = np.ones((ncol * (h + pad) - pad, nrow * (w + pad) - pad), dtype=np.float32)
    for i, img in enumerate(arr):
        r, c = divmod(i, nrow)
        grid[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = img
    return grid


def show_images(images, nrow: int, title: str | None = None, ax=None, row_labels: Sequence[str] | None = None,
                col_labels: Sequence[str] | None = None, side: int | None = None, figsize=None, cmap="gray",
                vmin: float | None = 0.0, vmax: float | None = 1.0):
    """Show a grid of images (pixel values in [0, 1] unless vmin/vmax say otherwise); return the axis."""
    grid = image_grid(images, nrow, side=side)
    if ax is None:
        _, ax = plt.subplots(figsize=figsize or (min(12, 0.9 * nrow + 1), min(12, grid.shape[0] / grid.shape[1] * 0.9 * nrow + 1)))
    ax.imshow(grid, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    arr = _to_numpy(images)
    h = arr.shape[-2] if arr.ndim >= 3 else (side or int(round(arr.shape[1] ** 0.5)))
    w = arr.shape[-1] if arr.ndim >= 3 else h
    ax.set_xticks([(w + 1) * i + w / 2 for i in range(len(col_labels))] if col_labels else [])
    if col_labels:
        ax.set_xticklabels(col_labels, fontsize=8)
    ax.set_yticks([(h + 1) * i + h / 2 for i in range(len(row_labels))] if row_labels else [])
    if row_labels:
        ax.set_yticklabels(row_labels, fontsize=8)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if title:
        ax.set_title(title)
    return ax


def plot_losses(curves: dict[str, Sequence[float]], xlabel: str = "iteration", ylabel: str = "loss",
                title: str | None = None, ax=None, smooth: int = 1, logy: bool = False):
    """Loss curves, one line per named series (optionally a moving average over ``smooth`` points)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    for name, values in curves.items():
        v = np.asarray(values, dtype=float)
        x = np.arange(1, len(v) + 1)
        if smooth > 1 and len(v) >= smooth:
            v = np.convolve(v, np.ones(smooth) / smooth, mode="valid")
            x = x[smooth - 1:]
        ax.plot(x, v, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    return ax


def plot_latent_scatter(codes, labels, title: str | None = None, ax=None, s: float = 2.0):
    """2-D latent codes coloured by digit label, with a legend of the ten classes."""
    codes, labels = _to_numpy(codes), _to_numpy(labels)
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 5))
    cmap = plt.get_cmap("tab10")
    for d in range(10):
        m = labels == d
        ax.scatter(codes[m, 0], codes[m, 1], s=s, color=cmap(d), label=str(d), alpha=0.7, linewidths=0)
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    if title:
        ax.set_title(title)
    ax.legend(markerscale=4, fontsize=7, ncol=2, title="digit", title_fontsize=7)
    return ax

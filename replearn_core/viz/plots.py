"""One plotting helper per kind of figure in the book; every axis labelled, with units.

Chapters add helpers here rather than writing plotting code in notebooks. Figures fit the
book's text column (at most :data:`MAX_WIDTH_IN` inches wide) and use the font sizes of the
current matplotlib style (the book sets 11-12 pt, never below its footnote size): no helper
passes a smaller ``fontsize``.
"""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

#: The widest figure that fits the book's text column (784 CSS px at 96 px per inch).
MAX_WIDTH_IN = 8.1


def _size(width: float, height: float) -> tuple[float, float]:
    """``(width, height)`` in inches, scaled down together to fit :data:`MAX_WIDTH_IN`."""
    if width > MAX_WIDTH_IN:
        height, width = height * MAX_WIDTH_IN / width, MAX_WIDTH_IN
    return width, height


def finish_axes(ax, xlabel: str | None = None, ylabel: str | None = None, title: str | None = None, *,
                logy: bool = False, grid: str | None = "both", legend: bool = True):
    """Label ``ax`` (units in the labels), optionally a log y-axis, a light grid and a legend."""
    if xlabel is not None:
        ax.set_xlabel(xlabel)
    if ylabel is not None:
        ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    if grid:
        ax.grid(alpha=0.3, axis=grid)
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend()
    return ax


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
        width = min(MAX_WIDTH_IN, 0.9 * nrow + 1.5)
        _, ax = plt.subplots(figsize=figsize or _size(width, grid.shape[0] / grid.shape[1] * (width - 1.5) + 0.8))
    ax.imshow(grid, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    arr = _to_numpy(images)
    h = arr.shape[-2] if arr.ndim >= 3 else (side or int(round(arr.shape[1] ** 0.5)))
    w = arr.shape[-1] if arr.ndim >= 3 else h
    ax.set_xticks([(w + 1) * i + w / 2 for i in range(len(col_labels))] if col_labels else [])
    if col_labels:
        ax.set_xticklabels(col_labels)
    ax.set_yticks([(h + 1) * i + h / 2 for i in range(len(row_labels))] if row_labels else [])
    if row_labels:
        ax.set_yticklabels(row_labels)
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
        _, ax = plt.subplots(figsize=(6.4, 3.8))
    for name, values in curves.items():
        v = np.asarray(values, dtype=float)
        x = np.arange(1, len(v) + 1)
        if smooth > 1 and len(v) >= smooth:
            v = np.convolve(v, np.ones(smooth) / smooth, mode="valid")
            x = x[smooth - 1:]
        ax.plot(x, v, label=name)
    return finish_axes(ax, xlabel, ylabel, title, logy=logy)


def plot_latent_scatter(codes, labels, title: str | None = None, ax=None, s: float = 2.0):
    """2-D latent codes coloured by digit label, with a legend of the ten classes."""
    codes, labels = _to_numpy(codes), _to_numpy(labels)
    if ax is None:
        _, ax = plt.subplots(figsize=(5.4, 5.0))
    cmap = plt.get_cmap("tab10")
    for d in range(10):
        m = labels == d
        ax.scatter(codes[m, 0], codes[m, 1], s=s, color=cmap(d), label=str(d), alpha=0.7, linewidths=0)
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    if title:
        ax.set_title(title)
    ax.legend(markerscale=4, ncol=2, title="digit", loc="best", handletextpad=0.1, columnspacing=0.6)
    return ax


def plot_mean_std(curves: dict, xlabel: str, ylabel: str, title: str | None = None, ax=None,
                  marker: str = "o", errorbars: bool = False):
    """Curves with a +-1 std band (or error bars): ``curves[name] = (x, mean, std)``."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 3.8))
    for name, (x, mean, std) in curves.items():
        x, mean, std = (np.asarray(v, dtype=float) for v in (x, mean, std))
        if errorbars:
            ax.errorbar(x, mean, yerr=std, marker=marker, capsize=3, label=name)
        else:
            line, = ax.plot(x, mean, marker=marker, label=name)
            ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.2, linewidth=0)
    return finish_axes(ax, xlabel, ylabel, title)


def plot_train_test_curves(curves, labels: Sequence[str] | None = None, ax=None, title: str | None = None,
                           ylim: tuple[float, float] | None = None,
                           ylabel: str = "reconstruction BCE (nats per image)"):
    """Training (dashed) and test (solid) loss against epochs, one colour per configuration.

    ``curves``: a DataFrame with columns ``label``, ``seed``, ``epoch``, ``train_bce`` and
    ``test_bce`` (e.g. from :func:`replearn_core.book.sweeps.generalisation_experiment`); each
    line is the mean over seeds with a +-1 std band. ``labels`` picks and orders the
    configurations (default: all, in their order of appearance). The space between a
    configuration's two lines is its generalisation gap.
    """
    from matplotlib.lines import Line2D

    missing = {"label", "seed", "epoch", "train_bce", "test_bce"} - set(curves.columns)
    if missing:
        raise ValueError(f"curves: missing column(s) {sorted(missing)}")
    labels = list(dict.fromkeys(curves["label"])) if labels is None else list(labels)
    unknown = [label for label in labels if label not in set(curves["label"])]
    if unknown:
        raise ValueError(f"labels: {unknown} not in the curves' labels {sorted(set(curves['label']))}")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    handles = []
    for i, label in enumerate(labels):
        stats = curves[curves["label"] == label].groupby("epoch")[["train_bce", "test_bce"]].agg(["mean", "std"])
        epochs = stats.index.to_numpy(dtype=float)
        color = f"C{i % 10}"
        for column, style in (("test_bce", "-"), ("train_bce", "--")):
            mean = stats[(column, "mean")].to_numpy(dtype=float)
            std = np.nan_to_num(stats[(column, "std")].to_numpy(dtype=float))
            ax.plot(epochs, mean, style, color=color, linewidth=1.6)
            ax.fill_between(epochs, mean - std, mean + std, color=color, alpha=0.2, linewidth=0)
        n = curves.loc[curves["label"] == label, "seed"].nunique()
        handles.append(Line2D([], [], color=color, linewidth=3, label=f"{label} ({n} seeds)"))
    handles += [Line2D([], [], color="0.3", linestyle="-", label="test"),
                Line2D([], [], color="0.3", linestyle="--", label="train")]
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    if ylim is not None:
        ax.set_ylim(*ylim)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    # below the axes: a rising test curve would run under a legend drawn inside them
    ax.legend(handles=handles, fontsize=8, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.15))
    return ax


def plot_histograms(series: dict, bins, xlabel: str, ylabel: str = "count", title: str | None = None, ax=None,
                    vlines: dict | None = None, logy: bool = False):
    """Overlaid histograms of named value sets; ``vlines`` maps a label to an x position to mark."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 3.8))
    for name, values in series.items():
        ax.hist(_to_numpy(values).ravel(), bins=bins, alpha=0.55, label=name)
    for label, x in (vlines or {}).items():
        ax.axvline(x, color="k", linestyle="--", linewidth=1, label=label)
    return finish_axes(ax, xlabel, ylabel, title, logy=logy, grid=None)


def show_weight_tiles(weights, nrow: int, title: str | None = None, ax=None, side: int = 28,
                      colorbar: bool = True):
    """Rows of a weight matrix [n, side*side] as image tiles, each scaled by its own max |weight|.

    Red is positive, blue negative, white zero (``RdBu_r``), tiles separated by grey lines; the
    colorbar is in units of the tile's largest absolute weight, since units differ in scale.
    """
    w = torch.as_tensor(_to_numpy(weights), dtype=torch.float32)
    w = (w / w.abs().amax(1, keepdim=True).clamp_min(1e-12)).reshape(len(w), side, side)
    grid = image_grid(w, nrow)
    grid[image_grid(torch.zeros_like(w), nrow) == 1] = np.nan  # the padding between tiles
    if ax is None:
        _, ax = plt.subplots(figsize=_size(0.6 * nrow + 1.8, 0.6 * (-(-len(w) // nrow)) + 0.6))
    cmap = plt.get_cmap("RdBu_r").with_extremes(bad="0.6")
    im = ax.imshow(grid, cmap=cmap, vmin=-1.0, vmax=1.0, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    if colorbar:
        plt.colorbar(im, ax=ax, fraction=0.046, pad=0.02, label="weight / max |weight| of the unit")
    return ax


def plot_latent_trisurf(points, labels, title: str | None = None, max_points: int = 400,
                        axis_labels: Sequence[str] = ("PC 1", "PC 2", "PC 3"), ncols: int = 2,
                        panel_size: tuple[float, float] = (4.0, 3.2), cmap: str = "viridis",
                        max_edge_factor: float | None = 3.0, digits: Sequence[int] | None = None):
    """Report figure 7: one 3-D tri-surf panel per digit of the 3-d ``points`` [N, 3] of that digit.

    Each panel triangulates the digit's first ``max_points`` points in the (axis 1, axis 2)
    plane (Delaunay) and lifts every vertex to its third coordinate, colour-coded by height.
    Triangles with an edge longer than ``max_edge_factor`` times the median edge are dropped,
    so the surface covers where the codes are rather than their convex hull (None: keep all).
    All panels share the same axis limits (the 1st-99th percentiles of all points), so the
    panels show where in the common space each digit lives. The panels are large enough to
    read (``ncols`` per row, ``panel_size`` inches each) and carry a three-line grid per axis;
    ``digits`` picks the digits to draw (default: all). Returns the figure.
    """
    from matplotlib.tri import Triangulation

    pts, labels = _to_numpy(points).astype(float), _to_numpy(labels).astype(int)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ValueError(f"points: expected an [N, 3] array, got shape {pts.shape}")
    digits = sorted(set(labels.tolist())) if digits is None else list(digits)
    lo, hi = np.percentile(pts, 1, axis=0), np.percentile(pts, 99, axis=0)
    nrows = -(-len(digits) // ncols)
    fig = plt.figure(figsize=_size(panel_size[0] * ncols, panel_size[1] * nrows + 0.4))
    for i, d in enumerate(digits):
        ax = fig.add_subplot(nrows, ncols, i + 1, projection="3d")
        p = pts[labels == d][:max_points]
        _, keep = np.unique(np.round(p[:, :2], 6), axis=0, return_index=True)  # Delaunay needs distinct xy
        p = p[np.sort(keep)]
        tri = Triangulation(p[:, 0], p[:, 1])
        if max_edge_factor is not None:  # drop long, thin triangles that bridge empty space (convex hull)
            edges = np.stack([np.hypot(*(p[tri.triangles[:, i], :2] - p[tri.triangles[:, (i + 1) % 3], :2]).T)
                              for i in range(3)], 1).max(1)
            tri.set_mask(edges > max_edge_factor * np.median(edges))
        ax.plot_trisurf(tri, p[:, 2], cmap=cmap, vmin=lo[2], vmax=hi[2], linewidth=0.1, edgecolor="none",
                        antialiased=False, alpha=0.9)
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(lo[1], hi[1])
        ax.set_zlim(lo[2], hi[2])
        ax.set_title(f"digit {d}")
        for axis, name, lim in zip((ax.xaxis, ax.yaxis, ax.zaxis), axis_labels, zip(lo, hi)):
            axis.set_ticks(np.linspace(*lim, 3), labels=[])  # shared limits: the grid, not the values, matters
            axis.set_label_text(name)
            axis.labelpad = -8
        ax.set_box_aspect(None, zoom=0.9)
        ax.view_init(elev=25, azim=-60)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_grouped_bars(categories: Sequence[str], series: dict, xlabel: str, ylabel: str,
                      title: str | None = None, ax=None, ylim=None):
    """Bars of several named series side by side for each category (``series[name]`` = one value per category)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(min(MAX_WIDTH_IN, max(5, 0.55 * len(categories) * max(1, len(series)))), 3.8))
    x = np.arange(len(categories))
    width = 0.8 / max(1, len(series))
    for j, (name, values) in enumerate(series.items()):
        ax.bar(x + (j - (len(series) - 1) / 2) * width, _to_numpy(values).astype(float), width, label=name)
    ax.set_xticks(x)
    ax.set_xticklabels(categories)
    if ylim is not None:
        ax.set_ylim(*ylim)
    return finish_axes(ax, xlabel, ylabel, title, grid="y")


def show_traversal(images, values, title: str | None = None, ax=None, changed=None,
                   row_labels: Sequence[str] | None = None, value_fmt: str = "{:.2f}"):
    """A latent traversal: row ``i`` shows the decoded frames as dimension ``i`` runs through ``values[i]``.

    ``images`` [d * steps, H*W] and ``values`` [d, steps] as returned by
    :func:`replearn_core.traversal.latent_traversal_grid`. Each row is labelled with its
    dimension and the range it covers. Frames where ``changed`` [d, steps] is true (e.g. the
    classifier reads another digit than at the start) get a red frame.
    """
    vals = _to_numpy(values)
    d, steps = vals.shape
    if row_labels is None:
        row_labels = [f"$z_{{{i + 1}}}$: {value_fmt.format(vals[i, 0])} to {value_fmt.format(vals[i, -1])}"
                      for i in range(d)]
    ax = show_images(images, nrow=steps, title=title, ax=ax, row_labels=row_labels,
                     figsize=_size(0.72 * steps + 2.6, 0.72 * d + 0.9))
    arr = _to_numpy(images)
    h = arr.shape[-2] if arr.ndim >= 3 else int(round(arr.shape[-1] ** 0.5))
    w = arr.shape[-1] if arr.ndim >= 3 else h
    if changed is not None:
        from matplotlib.patches import Rectangle

        for i, k in zip(*np.nonzero(_to_numpy(changed))):
            ax.add_patch(Rectangle((k * (w + 1) - 0.5, i * (h + 1) - 0.5), w, h, fill=False, edgecolor="red",
                                   linewidth=1.2))
    ax.set_xlabel(f"value of the traversed dimension, {steps} equal steps from left to right")
    return ax


def plot_pipeline_schedule(schedule, num_stages: int, title: str | None = None, ax=None,
                           stage_labels: Sequence[str] | None = None):
    """Gantt chart of a pipeline schedule: ``schedule`` = ``(tick, stage, chunk)`` triples (e.g.
    :func:`replearn_core.parallel.pipeline_schedule`); one row per stage, one box per chunk, idle
    ticks (the pipeline "bubble") left grey."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 0.55 * num_stages + 1.4))
    ticks = max(t for t, _, _ in schedule) + 1
    chunks = max(c for _, _, c in schedule) + 1
    colours = plt.get_cmap("tab10" if chunks <= 10 else "viridis")
    ax.barh(range(num_stages), [ticks] * num_stages, left=0, height=0.8, color="0.9", edgecolor="0.8")
    for tick, stage, chunk in schedule:
        colour = colours(chunk % 10) if chunks <= 10 else colours(chunk / max(1, chunks - 1))
        ax.barh(stage, 1, left=tick, height=0.8, color=colour, edgecolor="white")
        if chunks <= 12:
            ax.text(tick + 0.5, stage, str(chunk + 1), ha="center", va="center", color="white")
    ax.set_yticks(range(num_stages))
    ax.set_yticklabels(stage_labels or [f"stage {s}" for s in range(num_stages)])
    ax.invert_yaxis()
    ax.set_xlim(0, ticks)
    ax.set_xlabel("time (clock ticks: one stage working on one chunk)")
    busy = len(schedule) / (ticks * num_stages)
    ax.set_title(title or f"{chunks} chunk(s) on {num_stages} stages: devices busy {100 * busy:.0f}% of the time")
    return ax

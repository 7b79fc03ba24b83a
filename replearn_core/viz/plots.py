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


def plot_mean_std(curves: dict, xlabel: str, ylabel: str, title: str | None = None, ax=None,
                  marker: str = "o", errorbars: bool = False):
    """Curves with a +-1 std band (or error bars): ``curves[name] = (x, mean, std)``."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    for name, (x, mean, std) in curves.items():
        x, mean, std = (np.asarray(v, dtype=float) for v in (x, mean, std))
        if errorbars:
            ax.errorbar(x, mean, yerr=std, marker=marker, capsize=3, label=name)
        else:
            line, = ax.plot(x, mean, marker=marker, label=name)
            ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    return ax


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
        _, ax = plt.subplots(figsize=(6, 3.5))
    for name, values in series.items():
        ax.hist(_to_numpy(values).ravel(), bins=bins, alpha=0.55, label=name)
    for label, x in (vlines or {}).items():
        ax.axvline(x, color="k", linestyle="--", linewidth=1, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    return ax


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
        _, ax = plt.subplots(figsize=(0.6 * nrow + 1.5, 0.6 * (-(-len(w) // nrow)) + 0.5))
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
                        axis_labels: Sequence[str] = ("PC 1", "PC 2", "PC 3"), ncols: int = 5,
                        panel_size: float = 3.0, cmap: str = "viridis", max_edge_factor: float | None = 3.0):
    """Report figure 7: one 3-D tri-surf panel per digit of the 3-d ``points`` [N, 3] of that digit.

    Each panel triangulates the digit's first ``max_points`` points in the (axis 1, axis 2)
    plane (Delaunay) and lifts every vertex to its third coordinate, colour-coded by height.
    Triangles with an edge longer than ``max_edge_factor`` times the median edge are dropped,
    so the surface covers where the codes are rather than their convex hull (None: keep all).
    All panels share the same axis limits (the 1st-99th percentiles of all points), so the
    panels show where in the common space each digit lives. Returns the figure.
    """
    from matplotlib.tri import Triangulation

    pts, labels = _to_numpy(points).astype(float), _to_numpy(labels).astype(int)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ValueError(f"points: expected an [N, 3] array, got shape {pts.shape}")
    digits = sorted(set(labels.tolist()))
    lo, hi = np.percentile(pts, 1, axis=0), np.percentile(pts, 99, axis=0)
    nrows = -(-len(digits) // ncols)
    fig = plt.figure(figsize=(panel_size * ncols, panel_size * nrows + 0.4))
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
        ax.set_title(f"digit {d} ({len(p)} codes)", fontsize=9)
        ax.set_xlabel(axis_labels[0], fontsize=7, labelpad=-8)
        ax.set_ylabel(axis_labels[1], fontsize=7, labelpad=-8)
        ax.set_zlabel(axis_labels[2], fontsize=7, labelpad=-9)
        ax.tick_params(labelsize=5, pad=-3)
        ax.set_box_aspect(None, zoom=0.85)
        ax.view_init(elev=25, azim=-60)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_grouped_bars(categories: Sequence[str], series: dict, xlabel: str, ylabel: str,
                      title: str | None = None, ax=None, ylim=None):
    """Bars of several named series side by side for each category (``series[name]`` = one value per category)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(min(11, max(5, 0.55 * len(categories) * max(1, len(series)))), 3.5))
    x = np.arange(len(categories))
    width = 0.8 / max(1, len(series))
    for j, (name, values) in enumerate(series.items()):
        ax.bar(x + (j - (len(series) - 1) / 2) * width, _to_numpy(values).astype(float), width, label=name)
    ax.set_xticks(x)
    ax.set_xticklabels(categories)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if ylim is not None:
        ax.set_ylim(*ylim)
    if title:
        ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return ax


def plot_reparameterisation_diagram(axes=None):
    """The VAE's computation graph without and with the reparameterisation trick (report figure 14).

    Rectangles are deterministic nodes, red ellipses random ones; solid black arrows are the
    forward pass, dashed green arrows the gradient of the reconstruction loss, a red cross
    where back-propagation cannot pass. Returns the two axes.
    """
    from matplotlib.patches import Ellipse, FancyBboxPatch

    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(12.5, 4.8))
    green, red = "#1b9e4b", "#b2182b"

    def box(ax, xy, text, w=1.6, h=0.8, color="#dbe9f6"):
        ax.add_patch(FancyBboxPatch((xy[0] - w / 2, xy[1] - h / 2), w, h, boxstyle="round,pad=0.05",
                                    fc=color, ec="k", lw=1))
        ax.text(*xy, text, ha="center", va="center", fontsize=9)

    def rnd(ax, xy, text, w=2.1, h=0.95):
        ax.add_patch(Ellipse(xy, w, h, fc="#f8d3cf", ec=red, lw=1.2))
        ax.text(*xy, text, ha="center", va="center", fontsize=9)

    def arrow(ax, a, b, grad=False, shrink=18, rad=0.0):
        ax.annotate("", xy=b, xytext=a, arrowprops=dict(
            arrowstyle="-|>", color=green if grad else "k", lw=1.4 if grad else 1.1,
            linestyle="--" if grad else "-", shrinkA=shrink, shrinkB=shrink, connectionstyle=f"arc3,rad={rad}"))

    X, ENC, MU, SIG, Z, DEC, LOSS = (0.8, 3.0), (2.6, 3.0), (4.4, 4.4), (4.4, 1.6), (6.5, 3.0), (8.7, 3.0), (8.7, 5.5)
    titles = ["Without the trick: z is drawn from $q_\\phi(z|x)$",
              "With the trick: $z = \\mu + \\sigma \\odot \\varepsilon$, the noise is an input"]
    for ax, title in zip(axes, titles):
        ax.set_xlim(-0.1, 10.1)
        ax.set_ylim(-0.2, 6.3)
        ax.axis("off")
        ax.set_title(title)
        box(ax, X, "image x", w=1.3)
        box(ax, ENC, "encoder\n$q_\\phi(z|x)$")
        box(ax, MU, "$\\mu(x)$", w=1.1, h=0.7)
        box(ax, SIG, "$\\sigma(x)$", w=1.1, h=0.7)
        box(ax, DEC, "decoder\n$p_\\theta(x|z)$")
        box(ax, LOSS, "loss $= -\\log p_\\theta(x|z)$\n$+\\ \\mathrm{KL}(q_\\phi(z|x)\\,\\|\\,p(z))$", w=2.3, h=0.9,
            color="#fff2cc")
        arrow(ax, X, ENC, shrink=28)
        arrow(ax, ENC, MU, shrink=24)
        arrow(ax, ENC, SIG, shrink=24)
        arrow(ax, MU, Z, shrink=22)
        arrow(ax, SIG, Z, shrink=22)
        arrow(ax, Z, DEC, shrink=34)
        arrow(ax, DEC, LOSS, shrink=20)
        arrow(ax, (7.6, 5.3), (6.9, 3.55), grad=True, shrink=2, rad=0.25)   # back through the decoder to z
        arrow(ax, (5.8, 3.5), (4.9, 4.55), grad=True, shrink=2, rad=0.3)    # z -> mu
        arrow(ax, (5.8, 2.5), (4.9, 1.45), grad=True, shrink=2, rad=-0.3)   # z -> sigma
    ax = axes[0]
    rnd(ax, Z, "$z \\sim \\mathcal{N}(\\mu, \\sigma^2)$")
    for xy in ((5.45, 4.25), (5.45, 1.75)):
        ax.text(*xy, "\u2717", color=red, fontsize=20, ha="center", va="center")
    ax.text(4.9, 0.2, "a draw is not a differentiable function of (\u03bc, \u03c3): back-propagation\n"
            "of the reconstruction loss stops at z", ha="center", fontsize=9, color=red)
    ax = axes[1]
    box(ax, Z, "$z = \\mu + \\sigma \\odot \\varepsilon$", w=1.9)
    rnd(ax, (6.5, 0.6), "$\\varepsilon \\sim \\mathcal{N}(0, I)$")
    arrow(ax, (6.5, 0.6), Z, shrink=16)
    ax.text(5.45, 4.55, "$\\partial z / \\partial \\mu = 1$", color=green, fontsize=9, ha="left")
    ax.text(5.45, 1.3, "$\\partial z / \\partial \\sigma = \\varepsilon$", color=green, fontsize=9, ha="left")
    ax.plot([], [], color="k", lw=1.1, label="forward pass")
    ax.plot([], [], color=green, lw=1.4, linestyle="--", label="gradient of the loss")
    ax.plot([], [], marker="o", ls="", mfc="#f8d3cf", mec=red, label="random node")
    ax.plot([], [], marker="s", ls="", mfc="#dbe9f6", mec="k", label="deterministic node")
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    return axes


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
                     figsize=(0.75 * steps + 2.2, 0.75 * d + 0.6))
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
        _, ax = plt.subplots(figsize=(6, 0.5 * num_stages + 1.2))
    ticks = max(t for t, _, _ in schedule) + 1
    chunks = max(c for _, _, c in schedule) + 1
    colours = plt.get_cmap("tab10" if chunks <= 10 else "viridis")
    ax.barh(range(num_stages), [ticks] * num_stages, left=0, height=0.8, color="0.9", edgecolor="0.8")
    for tick, stage, chunk in schedule:
        colour = colours(chunk % 10) if chunks <= 10 else colours(chunk / max(1, chunks - 1))
        ax.barh(stage, 1, left=tick, height=0.8, color=colour, edgecolor="white")
        ax.text(tick + 0.5, stage, str(chunk + 1), ha="center", va="center", fontsize=7, color="white")
    ax.set_yticks(range(num_stages))
    ax.set_yticklabels(stage_labels or [f"stage {s} (device {s})" for s in range(num_stages)], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, ticks)
    ax.set_xlabel("time (clock ticks: one stage working on one chunk)")
    busy = len(schedule) / (ticks * num_stages)
    ax.set_title(title or f"{chunks} chunk(s) on {num_stages} stages: devices busy {100 * busy:.0f}% of the time")
    return ax


def plot_tensor_stages(stages: Sequence[dict], title: str | None = None, ax=None, batch: str = "N"):
    """An architecture as the tensors it passes along: one box per stage, arrows labelled with the layer.

    ``stages`` are dicts with ``stage`` (name), ``layer`` (the operation that produced it, shown on
    the incoming arrow) and ``shape``: ``(C, H, W)`` for feature maps or ``(D,)`` for vectors (batch
    dimension left out). A box's height grows with H (W) and its width with log2(C); under each box
    the shape is written in PyTorch's NCHW layout and in TensorFlow's NHWC layout.
    """
    from matplotlib.patches import FancyArrowPatch, Rectangle

    if ax is None:
        _, ax = plt.subplots(figsize=(2.1 * len(stages) + 0.5, 3.8))
    max_side = max((s["shape"][1] for s in stages if len(s["shape"]) == 3), default=1)
    x, gap, centres = 0.0, 1.5, []
    for s in stages:
        shape = tuple(int(v) for v in s["shape"])
        if len(shape) == 3:
            c, h, w = shape
            height = 0.6 + 2.4 * h / max_side
            width = 0.25 + 0.17 * np.log2(max(c, 1))
            nchw = f"{batch}x{c}x{h}x{w}"
            nhwc = f"{batch}x{h}x{w}x{c}"
            colour = "#dbe9f6"
        else:
            (d,) = shape
            height = 0.6 + 2.4 * min(1.0, np.log10(max(d, 1)) / 4)
            width = 0.2
            nchw = nhwc = f"{batch}x{d}"
            colour = "#f8e3c4"
        ax.add_patch(Rectangle((x, -height / 2), width, height, facecolor=colour, edgecolor="k", linewidth=1))
        ax.text(x + width / 2, 1.75, s["stage"], ha="center", va="bottom", fontsize=9, fontweight="bold")
        ax.text(x + width / 2, -1.75, f"NCHW {nchw}\nNHWC {nhwc}", ha="center", va="top", fontsize=7.5,
                family="monospace")
        centres.append((x, x + width))
        x += width + gap
    for (prev, nxt) in zip(range(len(stages) - 1), range(1, len(stages))):
        a, b = centres[prev][1] + 0.05, centres[nxt][0] - 0.05
        ax.add_patch(FancyArrowPatch((a, 0), (b, 0), arrowstyle="-|>", mutation_scale=10, color="0.3"))
        label = stages[nxt].get("layer", "")
        ax.text((a + b) / 2, 0.12, label.replace(" + ", "\n+ "), ha="center", va="bottom", fontsize=7, color="0.2")
    ax.set_xlim(-0.3, x - gap + 0.3)
    ax.set_ylim(-2.6, 2.2)
    ax.set_aspect("auto")
    ax.axis("off")
    if title:
        ax.set_title(title)
    return ax

"""The speed measurements stored in ``book/results/bench_<device>.json`` (written by
``replearn bench``), as tables and as the report's figure 32."""
from __future__ import annotations

import json
from pathlib import Path

from ..paths import results_dir


def _options_text(row: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in row.get("fit_options", {}).items())


def stored_benchmarks(folder: Path | None = None) -> list[dict]:
    """Every benchmark JSON stored in ``book/results`` (``bench_*.json``), CPU first."""
    folder = Path(folder) if folder is not None else results_dir()
    records = [json.loads(p.read_text()) | {"file": p.name} for p in sorted(folder.glob("bench_*.json"))]
    return sorted(records, key=lambda r: (r.get("device_type") != "cpu", r["file"]))


def benchmark_table(records: list[dict]):
    """One row per (stored file, model, loop): seconds per epoch, speed-up over the naive loop,
    the quality number and how the epoch time was obtained."""
    import pandas as pd

    rows = []
    for rec in records:
        for model, r in rec["results"].items():
            if model in ("placement", "profile"):  # epoch_times.py's placement, bench's profile: no loops
                continue
            loops = [("pytorch/examples", "naive"), ("replearn fit (float32)", "replearn")]
            if "fast_epoch_s" in r:
                loops.append((f"replearn fit ({_options_text(r)})", "fast"))
            for loop, key in loops:
                q = r[f"{key}_quality"]
                quality = (f"D / G loss {q[0]:.2f} / {q[1]:.2f}" if isinstance(q, list)
                           else f"test -ELBO {q:.1f} nats")
                rows.append({
                    "device (date)": f"{rec.get('device_label', rec['device'])} ({rec['date'][:10]})",
                    "model": model.upper(), "loop": loop, "s/epoch": round(r[f"{key}_epoch_s"], 3),
                    "speed-up": f"{r['naive_epoch_s'] / r[f'{key}_epoch_s']:.1f}x", "quality": quality,
                    "epoch time from": (f"{r['timed_iterations']} iterations, extrapolated" if r.get("extrapolated")
                                        else f"median of {len(r['naive_epoch_seconds']) - 1} epochs"),
                })
    return pd.DataFrame(rows).set_index(["device (date)", "model", "loop"])


LOOP_NAMES = {"naive": "pytorch/examples loop", "replearn": "replearn fit (float32)",
              "fast": "replearn fit with speed options"}


def plot_epoch_times(records: list[dict], models: tuple[str, ...] = ("vae", "dcgan")):
    """The report's figure 32 from stored measurements: seconds per epoch of the pytorch/examples
    loop and of replearn's ``fit`` (float32, and with the device's speed options), per model,
    one group of bars per device labelled with the date it was measured, on a log scale.

    One panel per model, stacked, so that the figure fits the book's column at its font sizes."""
    import matplotlib.pyplot as plt

    from ..viz.plots import MAX_WIDTH_IN, plot_grouped_bars

    fig, axes = plt.subplots(len(models), 1, figsize=(min(7.6, MAX_WIDTH_IN), 3.9 * len(models)),
                             squeeze=False)
    for ax, model in zip(axes[:, 0], models):
        recs = [r for r in records if model in r["results"]]
        if not recs:
            ax.set_axis_off()
            ax.set_title(f"{model.upper()}: no measurement stored")
            continue
        labels = [f"{r.get('device_label', r['device'])}\nmeasured {r['date'][:10]}" for r in recs]
        keys = ["naive", "replearn"] + (["fast"] if any("fast_epoch_s" in r["results"][model] for r in recs) else [])
        values = {k: [r["results"][model].get(f"{k}_epoch_s", float("nan")) for r in recs] for k in keys}
        plot_grouped_bars(labels, {LOOP_NAMES[k]: values[k] for k in keys}, xlabel="",
                          ylabel="seconds per epoch\n(log scale)", ax=ax)
        ax.set_yscale("log")
        width = 0.8 / len(keys)
        for i, r in enumerate(recs):
            row = r["results"][model]
            for j, k in enumerate(keys):
                v = values[k][i]
                if v == v:  # not NaN
                    label = f"{v:.3g} s" + (f"\n{row['naive_epoch_s'] / v:.1f}x" if k != "naive" else "")
                    ax.annotate(label, (i + (j - (len(keys) - 1) / 2) * width, v), ha="center", va="bottom",
                                xytext=(0, 2), textcoords="offset points")
        finite = [v for vs in values.values() for v in vs if v == v]
        ax.set_ylim(min(finite) / 3, max(finite) * 60)
        ax.legend(loc="upper left", ncol=1, frameon=False)
        arch = {"vae": "VAE 784-400-20, batch 128", "dcgan": "DCGAN 64x64, batch 64"}.get(model, model)
        extrapolated = any(r["results"][model].get("extrapolated") for r in recs)
        ax.set_title(arch + (" (CPU epoch extrapolated)" if extrapolated else ""))
        if not any(r.get("device_type") == "cuda" for r in recs):
            ax.text(0.98, 0.97, "GPU: no\nmeasurement\nstored yet", transform=ax.transAxes, ha="right",
                    va="top", color="0.35")
    fig.tight_layout()
    return fig

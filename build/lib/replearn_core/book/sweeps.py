"""Hyper-parameter sweeps behind the book's tables (report 3.4, figures 11-13).

Full scale, written to ``book/results/`` with a provenance header (command, commit, device,
date)::

    replearn sweep sparse --seeds 5 --epochs 20 --device cuda

Live, small scale (what chapter 5 runs under nbval)::

    runs, epochs = rl.sweeps.run_sparse_sweep(**rl.sweeps.LIVE_SPARSE, device=device)

The factors carry the report's names: rho is ``sparsity_target``, beta ``sparsity_weight`` and
alpha the L2 weight penalty in units of :data:`L2_UNIT` (``weight_decay = alpha * L2_UNIT``).
How alpha is scaled: the report gives no unit for alpha and tries 0.1 to 0.7. Our loss is in nats
per image, so ``alpha * 1/2 * sum ||W||^2`` taken literally would be weight decay of 0.1 to 0.7 per
image, which overwhelms the reconstruction (in a 3-epoch pilot, alpha = 0.1 on that scale left a
test loss of 153 nats per image, half-way to the 206 nats of always predicting the mean image).
On a scale of 1e-2 the report's grid spans a mild to a strong penalty (it shrinks the summed
squared weights by a factor of about two at alpha = 0.7 in a pilot run); on a scale of 1e-3 the
whole grid changed the test loss by less than half a nat.

The sparse sweep varies one factor at a time around a default (rho, beta, alpha), over the
report's grids, for several seeds, plus two reference configurations: no penalty at all
(beta = alpha = 0) and the KL penalty alone (alpha = 0). Every run is scored by its
**reconstruction loss on the 10,000 MNIST test images: binary cross-entropy summed over the
784 pixels, averaged over images, in nats per image** (the training objective's ``recon``
term, without the penalties).
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..config import TrainConfig
from ..data import DeviceBatches, mnist_tensors
from ..devices import pick_device, seed_everything
from ..losses import kl_sparsity_penalty
from ..metrics import reconstruction_nll
from ..models.base import build_model
from ..models.sparse import SparseAutoencoderConfig, mean_activations
from ..paths import results_dir
from ..training import Callback, fit
from .results import read_csv_with_header, write_csv_with_header

#: alpha is measured in these units: the L2 term is ``alpha * L2_UNIT * 1/2 * sum ||W||^2``.
L2_UNIT = 1e-2


def sparse_config(rho: float, beta: float, alpha: float) -> SparseAutoencoderConfig:
    """The sparse autoencoder of the report's (rho, beta, alpha)."""
    return SparseAutoencoderConfig(sparsity_target=rho, sparsity_weight=beta, weight_decay=alpha * L2_UNIT)

#: the report's grids (figures 11-13)
SPARSE_GRIDS: dict[str, tuple[float, ...]] = {
    "rho": (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7),
    "beta": (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0),
    "alpha": (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7),
}
#: the point around which one factor at a time is varied: the report's picks (rho 0.2, beta 2, alpha 0.3)
SPARSE_DEFAULTS: dict[str, float] = {"rho": 0.2, "beta": 2.0, "alpha": 0.3}
#: reference configurations run alongside the grids
SPARSE_REFERENCES: dict[str, dict[str, float]] = {
    "no penalty": {"beta": 0.0, "alpha": 0.0},
    "KL only": {"alpha": 0.0},
}
SPARSE_LR = 3e-3
SPARSE_BATCH = 128
FACTORS = ("rho", "beta", "alpha")
LOSS_UNIT = ("test reconstruction loss: binary cross-entropy summed over the 784 pixels, mean over the "
             "10,000 MNIST test images (nats per image)")

#: the small sweep the chapter runs live (about half a minute on two CPU cores)
LIVE_SPARSE = {
    "grids": {"rho": (0.1, 0.2, 0.7), "beta": (1.0, 2.0, 7.0), "alpha": (0.1, 0.3, 0.7)},
    "defaults": dict(SPARSE_DEFAULTS),
    "seeds": 2,
    "epochs": 2,
    "train_subset": 10_000,
    "references": {"no penalty": {"beta": 0.0, "alpha": 0.0}},
}


def sparse_jobs(grids: dict[str, tuple[float, ...]] | None = None, defaults: dict[str, float] | None = None,
                references: dict[str, dict[str, float]] | None = None) -> list[tuple[str, SparseAutoencoderConfig]]:
    """The distinct configurations of a one-factor-at-a-time sweep: ``[(label, config), ...]``.

    The default point belongs to every grid and is run once; each reference configuration
    is the default with the given changes.
    """
    grids = SPARSE_GRIDS if grids is None else grids
    defaults = SPARSE_DEFAULTS if defaults is None else defaults
    references = SPARSE_REFERENCES if references is None else references
    unknown = set(grids) - set(FACTORS)
    if unknown:
        raise ValueError(f"grids: unknown factor(s) {sorted(unknown)}; choose from {FACTORS}")
    if set(defaults) != set(FACTORS):
        raise ValueError(f"defaults: must give exactly {FACTORS}, got {sorted(defaults)}")
    jobs: dict[tuple[float, float, float], str] = {}
    for factor in FACTORS:
        for value in grids.get(factor, ()):
            point = dict(defaults, **{factor: float(value)})
            key = (point["rho"], point["beta"], point["alpha"])
            jobs.setdefault(key, "default" if point == defaults else f"{factor} = {value:g}")
    for label, changes in references.items():
        point = dict(defaults, **changes)
        jobs.setdefault((point["rho"], point["beta"], point["alpha"]), label)
    return [(label, sparse_config(r, b, a)) for (r, b, a), label in jobs.items()]


def train_sparse_run(config: SparseAutoencoderConfig, seed: int, epochs: int, x_train: torch.Tensor,
                     x_test: torch.Tensor, lr: float = SPARSE_LR, batch_size: int = SPARSE_BATCH,
                     progress: bool = False) -> tuple[dict, list[dict], torch.nn.Module]:
    """Train one sparse autoencoder; return its summary row, its per-epoch rows and the model."""
    seed_everything(seed)
    model = build_model(config).to(x_train.device)
    batches = DeviceBatches(x_train, batch_size=batch_size, shuffle=True, seed=seed)
    train = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, train_subset=len(x_train))
    test_curve = _TestCurve(x_test)
    history = fit(model, batches, train, progress=progress, callbacks=[test_curve])
    rho_hat = mean_activations(model, x_test)
    rho, beta, alpha = config.sparsity_target, config.sparsity_weight, config.weight_decay / L2_UNIT
    base = {"rho": rho, "beta": beta, "alpha": round(alpha, 12), "seed": seed}
    row = dict(base, test_bce=test_curve.values[-1], train_recon_last_epoch=history.epochs["reconstruction"][-1],
               mean_activation=float(rho_hat.mean()),
               test_kl_to_rho=float(kl_sparsity_penalty(rho_hat[None, :], rho)),
               seconds_per_epoch=sum(history.epoch_seconds) / epochs)
    epoch_rows = [dict(base, epoch=e + 1, train_recon=history.epochs["reconstruction"][e], test_bce=test_curve.values[e],
                       epoch_seconds=history.epoch_seconds[e]) for e in range(epochs)]
    return row, epoch_rows, model


class _TestCurve(Callback):
    """The test reconstruction loss after every epoch."""

    def __init__(self, x_test: torch.Tensor):
        self.x_test, self.values = x_test, []

    def on_epoch_end(self, epoch, model, history) -> None:
        self.values.append(reconstruction_nll(model, self.x_test))
        model.train()


def run_sparse_sweep(grids: dict[str, tuple[float, ...]] | None = None, defaults: dict[str, float] | None = None,
                     seeds: int = 3, epochs: int = 10, train_subset: int | None = None,
                     device: torch.device | str | None = None,
                     references: dict[str, dict[str, float]] | None = None,
                     lr: float = SPARSE_LR, batch_size: int = SPARSE_BATCH, progress: bool = True):
    """Run every configuration of :func:`sparse_jobs` for ``seeds`` seeds; return (runs, epochs) DataFrames.

    ``runs`` has one row per (configuration, seed) with the test reconstruction loss
    (:data:`LOSS_UNIT`), the mean hidden activation on the test set and the seconds per
    training epoch; ``epochs`` has the per-epoch training and test losses. A tqdm bar counts
    the runs.
    """
    import pandas as pd

    if not (isinstance(seeds, int) and seeds >= 1):
        raise ValueError(f"seeds: must be a positive integer, got {seeds!r}")
    if not (isinstance(epochs, int) and epochs >= 1):
        raise ValueError(f"epochs: must be a positive integer, got {epochs!r}")
    device = pick_device(device)
    jobs = sparse_jobs(grids, defaults, references)
    x_train, _ = mnist_tensors("train", device, subset=train_subset)
    x_test, _ = mnist_tensors("test", device)
    runs, epoch_rows = [], []
    bar = tqdm(total=len(jobs) * seeds, desc="sparse sweep", disable=not progress)
    try:
        for label, config in jobs:
            for seed in range(seeds):
                bar.set_postfix_str(f"{label}, seed {seed}")
                row, rows, _ = train_sparse_run(config, seed, epochs, x_train, x_test, lr=lr, batch_size=batch_size)
                runs.append(dict(label=label, **row))
                epoch_rows.extend(dict(label=label, **r) for r in rows)
                bar.update(1)
    finally:
        bar.close()
    return pd.DataFrame(runs), pd.DataFrame(epoch_rows)


def sparse_table(runs, factor: str, defaults: dict[str, float] | None = None,
                 references: tuple[str, ...] | None = None):
    """One report table: test loss per value of ``factor``, the other two factors at their defaults.

    Runs labelled as reference configurations (``references``, default: the names of
    :data:`SPARSE_REFERENCES`; e.g. "KL only", which is alpha = 0) are left out, so a table
    holds the grid only. Columns: the factor, ``mean`` and ``std`` (sample standard deviation
    over seeds) of the test loss, ``n`` seeds, ``vs_best`` (mean minus the best mean) and
    ``best`` (True on the lowest mean).
    """
    if factor not in FACTORS:
        raise ValueError(f"factor: must be one of {FACTORS}, got {factor!r}")
    defaults = SPARSE_DEFAULTS if defaults is None else defaults
    references = tuple(SPARSE_REFERENCES) if references is None else tuple(references)
    mask = ~runs["label"].isin(references) if "label" in runs else True
    for other in FACTORS:
        if other != factor:
            mask = mask & ((runs[other] - defaults[other]).abs() < 1e-9)
    sub = runs[mask]
    if sub.empty:
        raise ValueError(f"no runs with the other factors at their defaults {defaults}")
    table = (sub.groupby(factor)["test_bce"].agg(["mean", "std", "count"]).reset_index()
             .rename(columns={"count": "n"}))
    table["vs_best"] = table["mean"] - table["mean"].min()
    table["best"] = table["mean"] == table["mean"].min()
    return table


def separation(table) -> dict[str, float | bool]:
    """Is the best value of a table distinguishable from seed noise?

    Returns the spread of the means (max - min), the median seed std, and whether the best
    mean is lower than the runner-up by more than twice the standard error of their
    difference (``separated``).
    """
    ordered = table.sort_values("mean").reset_index(drop=True)
    best, second = ordered.iloc[0], ordered.iloc[1]
    se = math.sqrt(best["std"] ** 2 / best["n"] + second["std"] ** 2 / second["n"])
    gap = float(second["mean"] - best["mean"])
    return {"spread": float(ordered["mean"].max() - ordered["mean"].min()),
            "median_std": float(table["std"].median()), "gap_to_runner_up": gap,
            "se_of_gap": se, "separated": bool(gap > 2 * se)}


def format_table(table, factor: str, digits: int = 2):
    """A display copy of :func:`sparse_table`: ``mean ± std`` strings and a marker on the best row."""
    import pandas as pd

    return pd.DataFrame({
        factor: table[factor].map(lambda v: f"{v:g}"),
        "test loss (nats/image), mean ± std": [f"{m:.{digits}f} ± {s:.{digits}f}"
                                                for m, s in zip(table["mean"], table["std"])],
        "seeds": table["n"].astype(int),
        "minus best": table["vs_best"].map(lambda v: f"+{v:.{digits}f}" if v > 0 else "best ◀"),
    })


def time_sparse_epochs(configs: dict[str, SparseAutoencoderConfig], x_train: torch.Tensor, repeats: int = 3,
                       lr: float = SPARSE_LR, batch_size: int = SPARSE_BATCH, seed: int = 0, progress: bool = True):
    """Seconds per training epoch of each configuration, measured interleaved.

    The configurations take turns (A, B, A, B, ...), one epoch each, so that a change in the
    machine's load affects all of them alike; a first round warms up and is discarded.
    Returns a DataFrame with ``name``, ``repeat``, ``wall_seconds`` (what a user waits) and
    ``cpu_seconds`` (CPU time of this process, less sensitive to other processes).
    """
    import pandas as pd

    if not (isinstance(repeats, int) and repeats >= 1):
        raise ValueError(f"repeats: must be a positive integer, got {repeats!r}")
    device = x_train.device
    train = TrainConfig(epochs=1, batch_size=batch_size, lr=lr, seed=seed)
    models, optimizers, batches = {}, {}, {}
    for name, config in configs.items():
        seed_everything(seed)
        models[name] = build_model(config).to(device)
        optimizers[name] = models[name].configure_optimizers(train)
        batches[name] = DeviceBatches(x_train, batch_size=batch_size, shuffle=True, seed=seed)
    rows = []
    bar = tqdm(total=(repeats + 1) * len(configs), desc="timing epochs", disable=not progress)
    try:
        for r in range(repeats + 1):
            for name, model in models.items():
                cpu = time.process_time()
                history = fit(model, batches[name], train, optimizers=optimizers[name], progress=False)
                cpu = time.process_time() - cpu
                if r > 0:
                    rows.append({"name": name, "repeat": r, "wall_seconds": history.epoch_seconds[0],
                                 "cpu_seconds": cpu})
                bar.update(1)
    finally:
        bar.close()
    return pd.DataFrame(rows)


def sparse_result_paths(folder: Path | None = None) -> dict[str, Path]:
    folder = results_dir() if folder is None else Path(folder)
    names = {"runs": "sparse_runs.csv", "epochs": "sparse_epochs.csv"}
    names.update({f: f"sparse_{f}.csv" for f in FACTORS})
    return {k: folder / v for k, v in names.items()}


def load_sparse_results(folder: Path | None = None):
    """The committed full-scale sweep: (header dict, runs DataFrame, epochs DataFrame)."""
    paths = sparse_result_paths(folder)
    if not paths["runs"].exists():
        raise FileNotFoundError(f"{paths['runs']} not found; run `python -m replearn_core.sweep sparse` first")
    header, runs = read_csv_with_header(paths["runs"])
    _, epochs = read_csv_with_header(paths["epochs"])
    return header, runs, epochs


def write_sparse_results(runs, epochs, header: dict[str, str], folder: Path | None = None,
                         defaults: dict[str, float] | None = None) -> dict[str, Path]:
    """Write the runs, the per-epoch curves and the three tables as CSV files with ``header``."""
    paths = sparse_result_paths(folder)
    write_csv_with_header(paths["runs"], header, runs)
    write_csv_with_header(paths["epochs"], header, epochs)
    write_sparse_tables(runs, header, folder, defaults)
    return paths


def write_sparse_tables(runs, header: dict[str, str], folder: Path | None = None,
                        defaults: dict[str, float] | None = None) -> None:
    """Write the three tables (``sparse_rho.csv``, ...) of :func:`sparse_table` from the runs."""
    paths = sparse_result_paths(folder)
    header = dict(header, table="derived from sparse_runs.csv by replearn_core.sweep.sparse_table "
                                "(grid runs only; mean and sample std over seeds)")
    for f in FACTORS:
        write_csv_with_header(paths[f], header, sparse_table(runs, f, defaults).round(4))

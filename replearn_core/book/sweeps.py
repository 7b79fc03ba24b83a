"""Hyper-parameter sweeps behind the book's tables (report 3.4, figures 11-13), and the
generalisation experiment (report 3.5): the penalties compared where the plain autoencoder
overfits (:func:`generalisation_experiment`; ``replearn sweep generalisation`` for the full
version, :data:`LIVE_GENERALISATION` for the chapter's).

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
    return _load_stored(sparse_result_paths(folder), "runs", "epochs", "replearn sweep sparse")


def _load_stored(paths: dict, main: str, other: str, command: str):
    """(header of ``paths[main]``, its DataFrame, the DataFrame of ``paths[other]``), or a
    ``FileNotFoundError`` naming the command that writes them."""
    if not paths[main].exists():
        raise FileNotFoundError(f"{paths[main]} not found; run `{command}` first")
    header, first = read_csv_with_header(paths[main])
    _, second = read_csv_with_header(paths[other])
    return header, first, second


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


# ---------------------------------------------------------------------------------------------
# Generalisation: the penalties where the plain autoencoder overfits (report 3.5)
#
# At the book's scale (thousands of images, a few epochs) no model overfits: train and test
# reconstruction losses fall together, and "generalises better" cannot be decided. On a few
# hundred images trained for many epochs the unpenalised 784-196-784 autoencoder does overfit:
# its training loss keeps falling while its test loss passes a minimum and rises again. There the
# four configurations below are compared on the same images, epochs and seeds.

#: no penalty, the report's penalty (KL sparsity + L2 at rho 0.2, beta 2, alpha 0.3) and each part alone
GENERALISATION_CONFIGS: dict[str, SparseAutoencoderConfig] = {
    "no penalty": sparse_config(0.2, 0.0, 0.0),
    "KL + L2 (report)": sparse_config(0.2, 2.0, 0.3),
    "KL only": sparse_config(0.2, 2.0, 0.0),
    "L2 only": sparse_config(0.2, 0.0, 0.3),
}
#: the configuration every other is compared with
GENERALISATION_REFERENCE = "no penalty"
#: Adam at a higher rate and on smaller batches than the sweep's (3e-3, 128), which reaches the same
#: overfitting for about a third of the computation: in pilot runs on 500 images (seed 0) the
#: plain model's test loss bottomed out after 50 epochs (800 steps, 26k images processed) at 1e-2
#: and batch 32, after 140 (70k images) at 3e-3 and batch 32 and after 120 (60k images) at 1e-2
#: and batch 128, at 81-83 nats in each case
GENERALISATION_LR = 1e-2
GENERALISATION_BATCH = 32
GENERALISATION_LOSS_UNIT = ("reconstruction loss (the BCE term, without penalties) in eval mode: binary "
                            "cross-entropy summed over the 784 pixels, mean over images (nats per image)")

#: what chapter 5 runs live: the first 300 training images, the first 2,000 test images; 12 runs
#: of 800 steps, about 60 s of one CPU core
LIVE_GENERALISATION = {"train_size": 300, "test_size": 2000, "epochs": 80, "seeds": 3, "eval_every": 8}
#: ``replearn sweep generalisation``: the same regime, longer (the plain model's test loss rises
#: some 15 nats past its minimum), more seeds, all 10,000 test images; about 7.5 minutes on one CPU core
FULL_GENERALISATION = {"train_size": 300, "test_size": 10_000, "epochs": 300, "seeds": 5, "eval_every": 5}


class _TrainTestCurve(Callback):
    """Reconstruction loss on the training and the test images every ``every`` epochs and at the last."""

    def __init__(self, x_train: torch.Tensor, x_test: torch.Tensor, every: int, last: int):
        self.x_train, self.x_test, self.every, self.last = x_train, x_test, every, last
        self.rows: list[tuple[int, float, float]] = []

    def on_epoch_end(self, epoch, model, history) -> None:
        if epoch % self.every == 0 or epoch == self.last:
            self.rows.append((epoch, reconstruction_nll(model, self.x_train), reconstruction_nll(model, self.x_test)))
            model.train()


def _seed_list(seeds) -> list[int]:
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        if seeds < 1:
            raise ValueError(f"seeds: must be a positive integer or a list of integers, got {seeds!r}")
        return list(range(seeds))
    seeds = list(seeds)
    integers = all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)
    if not seeds or not integers or len(set(seeds)) < len(seeds):
        raise ValueError(f"seeds: must be a positive integer or a list of distinct integers, got {seeds!r}")
    return seeds


def generalisation_experiment(configs: dict[str, SparseAutoencoderConfig], train_images: torch.Tensor,
                              test_images: torch.Tensor, *, epochs: int, seeds=3, eval_every: int = 1,
                              lr: float = GENERALISATION_LR, batch_size: int = GENERALISATION_BATCH,
                              progress: bool = True):
    """Train each configuration on ``train_images`` for every seed; return (curves, summary) DataFrames.

    Every run starts from ``seed`` (initialisation and batch order), so the configurations see
    the same images in the same order and the result is reproducible. ``seeds``: a count
    (seeds 0, 1, ...) or a list of seeds. Every ``eval_every`` epochs and after the last, the
    model is scored in eval mode on all ``train_images`` and all ``test_images`` by the
    reconstruction loss alone (:data:`GENERALISATION_LOSS_UNIT`): the penalties are what is
    being compared, so they are not counted in the score.

    * ``curves``: one row per (label, seed, scored epoch): ``train_bce``, ``test_bce`` and
      ``gap = test_bce - train_bce``;
    * ``summary``: :func:`generalisation_summary` of the curves.

    The device is that of the images; the training devices differ in their last digits only.
    """
    import pandas as pd

    if not configs:
        raise ValueError("configs: give at least one configuration, {label: SparseAutoencoderConfig}")
    bad = [k for k, c in configs.items() if not isinstance(c, SparseAutoencoderConfig)]
    if bad:
        raise ValueError(f"configs: {bad} are not SparseAutoencoderConfig instances")
    for name, value in (("epochs", epochs), ("eval_every", eval_every), ("batch_size", batch_size)):
        if not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
            raise ValueError(f"{name}: must be a positive integer, got {value!r}")
    if train_images.device != test_images.device:
        raise ValueError(f"test_images: must be on the device of train_images ({train_images.device}), "
                         f"got {test_images.device}")
    seed_list = _seed_list(seeds)
    rows = []
    bar = tqdm(total=len(configs) * len(seed_list), desc="generalisation", disable=not progress)
    try:
        for label, config in configs.items():
            for seed in seed_list:
                bar.set_postfix_str(f"{label}, seed {seed}")
                seed_everything(seed)
                model = build_model(config).to(train_images.device)
                batches = DeviceBatches(train_images, batch_size=batch_size, shuffle=True, seed=seed)
                curve = _TrainTestCurve(train_images, test_images, eval_every, epochs)
                train = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed)
                fit(model, batches, train, progress=False, callbacks=[curve])
                rows.extend({"label": label, "seed": seed, "epoch": e, "train_bce": tr, "test_bce": te,
                             "gap": te - tr} for e, tr, te in curve.rows)
                bar.update(1)
    finally:
        bar.close()
    curves = pd.DataFrame(rows, columns=["label", "seed", "epoch", "train_bce", "test_bce", "gap"])
    return curves, generalisation_summary(curves)


def generalisation_summary(curves):
    """Per configuration, mean and sample std over seeds of the scores at the last scored epoch.

    Columns: ``label`` (in the order of the curves), ``n`` seeds, ``epoch`` (the last), and
    ``_mean`` / ``_std`` of ``gap`` (test minus train), ``test`` and ``train`` (the losses at
    the last epoch), ``best_test`` (each run's lowest test loss along its curve: what early
    stopping on the test set would give, an optimistic bound) and ``rise`` (last minus lowest
    test loss: how far the run has overfitted past its best point; 0 while the test loss
    still falls).
    """
    import pandas as pd

    if curves.empty:
        raise ValueError("curves: no rows to summarise")
    order = list(dict.fromkeys(curves["label"]))
    by_run = curves.sort_values("epoch").groupby(["label", "seed"], sort=False)
    runs = by_run.last().reset_index()[["label", "seed", "epoch", "gap", "test_bce", "train_bce"]]
    runs = runs.rename(columns={"test_bce": "test", "train_bce": "train"})
    runs = runs.merge(by_run["test_bce"].min().rename("best_test").reset_index(), on=["label", "seed"])
    runs["rise"] = runs["test"] - runs["best_test"]
    rows = []
    for label in order:
        sub = runs[runs["label"] == label]
        row = {"label": label, "n": len(sub), "epoch": int(sub["epoch"].max())}
        for column in ("gap", "test", "train", "best_test", "rise"):
            row[f"{column}_mean"] = float(sub[column].mean())
            row[f"{column}_std"] = float(sub[column].std()) if len(sub) > 1 else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def generalisation_verdicts(summary, reference: str = GENERALISATION_REFERENCE):
    """Does each configuration lower the gap, the test loss and the best test loss below ``reference``'s?

    One row per other configuration: for each measure, its mean +- std, the reference's, the
    reduction (reference minus it; positive: better) and the verdict of
    :func:`replearn_core.book.compare.verdict` ("supported" only when the reduction exceeds
    twice its standard error over the seeds).
    """
    import pandas as pd

    from .compare import Estimate, verdict

    table = summary.set_index("label")
    if reference not in table.index:
        raise ValueError(f"reference: {reference!r} is not a label of the summary {list(table.index)}")

    def est(label, column):
        return Estimate(float(table.loc[label, f"{column}_mean"]), float(table.loc[label, f"{column}_std"]),
                        int(table.loc[label, "n"]))

    rows = []
    for label in table.index:
        if label == reference:
            continue
        row = {"label": label}
        for column, name in (("gap", "gap"), ("test", "test"), ("best_test", "best test")):
            a, b = est(label, column), est(reference, column)
            row[name] = str(a)
            row[f"{name}, {reference}"] = str(b)
            row[f"{name} reduction"] = b.mean - a.mean
            row[f"{name} verdict"] = verdict(a, b, claim_a_greater=False)
        rows.append(row)
    return pd.DataFrame(rows)


def generalisation_estimates(summary, sparse: str = "KL + L2 (report)", plain: str = GENERALISATION_REFERENCE,
                             column: str = "gap") -> dict:
    """``{"sparse": Estimate, "plain": Estimate}`` of ``column`` (default: the gap), the form that
    :func:`replearn_core.book.compare.report_claims` takes as ``generalisation``."""
    from .compare import Estimate

    table = summary.set_index("label")
    missing = [k for k in (sparse, plain) if k not in table.index]
    if missing:
        raise ValueError(f"sparse, plain: {missing} not among the summary's labels {list(table.index)}")
    return {key: Estimate(float(table.loc[label, f"{column}_mean"]), float(table.loc[label, f"{column}_std"]),
                          int(table.loc[label, "n"]))
            for key, label in (("sparse", sparse), ("plain", plain))}


def run_generalisation_experiment(train_size: int, test_size: int, epochs: int, seeds=3, eval_every: int = 1,
                                  configs: dict[str, SparseAutoencoderConfig] | None = None,
                                  device: torch.device | str | None = None, lr: float = GENERALISATION_LR,
                                  batch_size: int = GENERALISATION_BATCH, progress: bool = True):
    """:func:`generalisation_experiment` on the first ``train_size`` MNIST training images and the
    first ``test_size`` test images (default configurations: :data:`GENERALISATION_CONFIGS`)::

        curves, summary = rl.sweeps.run_generalisation_experiment(**rl.sweeps.LIVE_GENERALISATION, device=device)
    """
    for name, value, most in (("train_size", train_size, 60_000), ("test_size", test_size, 10_000)):
        if not (isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= most):
            raise ValueError(f"{name}: must be an integer from 1 to {most:,}, got {value!r}")
    device = pick_device(device)
    x_train, _ = mnist_tensors("train", device, subset=train_size)
    x_test, _ = mnist_tensors("test", device, subset=test_size)
    return generalisation_experiment(GENERALISATION_CONFIGS if configs is None else configs, x_train, x_test,
                                     epochs=epochs, seeds=seeds, eval_every=eval_every, lr=lr,
                                     batch_size=batch_size, progress=progress)


def generalisation_result_paths(folder: Path | None = None) -> dict[str, Path]:
    folder = results_dir() if folder is None else Path(folder)
    return {"curves": folder / "sparse_generalisation.csv", "summary": folder / "sparse_generalisation_summary.csv"}


def write_generalisation_results(curves, summary, header: dict[str, str],
                                 folder: Path | None = None) -> dict[str, Path]:
    """Write the per-epoch curves and the summary as CSV files with the provenance ``header``."""
    paths = generalisation_result_paths(folder)
    write_csv_with_header(paths["curves"], header, curves)
    write_csv_with_header(paths["summary"], dict(header, table="derived from sparse_generalisation.csv by "
                                                 "replearn_core.book.sweeps.generalisation_summary"), summary)
    return paths


def load_generalisation_results(folder: Path | None = None):
    """The committed full-scale experiment: (header dict, curves DataFrame, summary DataFrame)."""
    return _load_stored(generalisation_result_paths(folder), "curves", "summary",
                        "replearn sweep generalisation")

"""Every model of the book on the same measurements (report section 7, made quantitative).

:func:`measure` puts one trained model through every measurement that applies to it, chosen by
what the model declares it can do (:class:`~replearn_core.models.LatentModel`,
:class:`~replearn_core.models.GenerativeModel`, :class:`~replearn_core.models.VAE`), on the
MNIST test set:

* reconstruction: summed binary cross-entropy per image (nats) and MSE per pixel; test minus
  training reconstruction error (generalisation);
* the negative ELBO (nats per image) of a VAE;
* latent structure: k-means (k = 10) cluster accuracy and linear-probe accuracy of the codes;
* prior match: squared MMD between test codes (a VAE's are *sampled*, mu + sigma * eps: the
  aggregated posterior its KL term regularises) and samples of the model's prior;
* samples from the prior: the classifier's inception-style score, the Frechet distance in its
  feature space to real test digits, blur (mean per-pixel Bernoulli entropy, 0 bits for crisp
  black and white) and the Parzen-window log-likelihood of the test digits (Makhzani et al.'s
  table 1), the window width chosen on a validation split;
* cost: parameter count and training seconds per epoch (from the stored history).

:func:`compare` measures a set of book models (by zoo name, at a training scale, for several
seeds) and returns a DataFrame with one row per model and seed; :func:`summarize` gives mean and
standard deviation per model; :func:`report_claims` turns the numbers into the report's claims'
verdicts (:func:`comparison_claims`: those that a comparison table alone decides). The
``replearn compare`` command wraps them and writes the CSV files under ``book/results/``; chapters
call these functions and never write those files themselves.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from .. import metrics
from ..config import TrainConfig
from ..data import mnist_tensors
from ..devices import pick_device
from ..models import VAE, GenerativeModel, LatentModel, apply_batched, encode_dataset
from ..paths import results_dir
from .zoo import book_entry, book_model, get_classifier

#: Row label -> zoo name of the final comparison, in the order of the book.
FINAL_MODELS = {
    "undercomplete AE": "undercomplete_ae",
    "deep AE, sigmoid": "deep_ae_sigmoid",
    "deep AE, leaky ReLU": "deep_ae_leaky_relu",
    "sparse AE": "sparse_ae",
    "same AE, no penalty": "sparse_ae_no_penalty",
    "VAE 2-d": "vae_2d",
    "VAE 20-d": "vae_20d",
    "AAE 2-d, Gaussian": "aae_gaussian",
    "AAE 2-d, mixture": "aae_mixture",
    "DCGAN": "dcgan",
}

#: Column -> (readable name with unit, "lower"/"higher" is better or None).
COLUMNS = {
    "recon_bce_nats": ("reconstruction BCE (nats)", "lower"),
    "recon_mse": ("reconstruction MSE (per pixel)", "lower"),
    "generalisation_gap_nats": ("test minus train BCE (nats)", "lower"),
    "neg_elbo_nats": ("-ELBO (nats)", "lower"),
    "kmeans_accuracy": ("k-means accuracy", "higher"),
    "linear_probe_accuracy": ("linear-probe accuracy", "higher"),
    "mmd2_codes_vs_prior": ("MMD² codes vs prior", "lower"),
    "inception_score": ("inception-style score", "higher"),
    "frechet_distance": ("Frechet distance", "lower"),
    "sample_entropy_bits": ("sample blur (bits)", "lower"),
    "parzen_log_likelihood": ("Parzen log-likelihood (nats)", "higher"),
    "parameters": ("parameters", None),
    "latent_dim": ("latent dimensions", None),
    "train_images": ("training images", None),
    "epochs": ("epochs", None),
    "seconds_per_epoch": ("seconds per epoch", None),
}

#: Full scale: this many times the chapter's epochs, on all 60,000 training images.
FULL_EPOCH_FACTOR = 3
SCALES = ("book", "full")
#: The Parzen window's validation split: training images that no book-scale model trains on
#: (the book-scale subsets are the first 10,000 or 20,000 images).
PARZEN_VALIDATION = slice(58_000, 60_000)


@dataclass(frozen=True)
class Budget:
    """How much data the measurements use (smaller for a quick live run)."""

    test_images: int = 10_000
    probe_train_images: int = 10_000  # training codes for the linear probe
    samples: int = 5_000              # prior samples judged by the classifier
    mmd_codes: int = 2_000            # codes and prior samples of the MMD
    parzen_samples: int = 10_000      # samples that place the Parzen windows (Makhzani et al.: 10,000)


def scaled_training(name: str, scale: str, seed: int = 0) -> TrainConfig:
    """The training of zoo model ``name`` at ``scale`` ("book": as its chapter trains it; "full":
    :data:`FULL_EPOCH_FACTOR` times the epochs on all 60,000 images), with ``seed`` added to its seed."""
    train = book_entry(name).training
    if scale == "full":
        train = train.replace(epochs=train.epochs * FULL_EPOCH_FACTOR, train_subset=None)
    elif scale != "book":
        raise ValueError(f"scale: must be one of {SCALES}, got {scale!r}")
    return train.replace(seed=train.seed + seed) if seed else train


def evaluation_data(device: torch.device | str, budget: Budget = Budget()) -> dict[str, torch.Tensor]:
    """The test set, a random sample of training images for the linear probe, the first training
    images (which every model trained on, for the generalisation gap) and the Parzen validation split."""
    x_test, y_test = mnist_tensors("test", device)
    x_train, y_train = mnist_tensors("train", device)
    probe_idx = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(0))[:budget.probe_train_images]
    probe_idx = probe_idx.to(x_train.device)
    return {"x_test": x_test[:budget.test_images], "y_test": y_test[:budget.test_images],
            "x_probe": x_train[probe_idx], "y_probe": y_train[probe_idx],
            "x_seen": x_train[:min(budget.test_images, 10_000)], "x_valid": x_train[PARZEN_VALIDATION]}


@torch.no_grad()
def _posterior_codes(model: LatentModel, x: torch.Tensor, seed: int) -> torch.Tensor:
    """Codes from the aggregated posterior: a VAE's are sampled, mu + sigma * eps; others deterministic."""
    if isinstance(model, VAE):
        mu, logvar = model.encode_distribution(x)
        eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(seed)).to(mu.device)
        return mu + torch.exp(0.5 * logvar) * eps
    return encode_dataset(model, x)


@torch.no_grad()
def measure(model, classifier, data: dict[str, torch.Tensor], budget: Budget = Budget(), *, seed: int = 0,
            history=None, train: TrainConfig | None = None) -> dict[str, float]:
    """Every measurement of :data:`COLUMNS` that applies to ``model`` (NaN where one does not)."""
    x_test, y_test = data["x_test"], data["y_test"]
    row = {k: float("nan") for k in COLUMNS}
    row["parameters"] = model.num_parameters()
    if history is not None:
        row["epochs"] = len(history.epoch_seconds)
        row["seconds_per_epoch"] = sum(history.epoch_seconds) / max(1, len(history.epoch_seconds))
    if train is not None:
        row["train_images"] = train.train_subset or 60_000
    model.eval()
    if isinstance(model, LatentModel):
        row["latent_dim"] = model.latent_dim
        recon = apply_batched(model.reconstruct, x_test)
        row["recon_bce_nats"] = metrics.bce_per_image(recon, x_test)
        row["recon_mse"] = metrics.mse_per_pixel(recon, x_test)
        seen = apply_batched(model.reconstruct, data["x_seen"])
        row["generalisation_gap_nats"] = row["recon_bce_nats"] - metrics.bce_per_image(seen, data["x_seen"])
        codes = encode_dataset(model, x_test)
        row["kmeans_accuracy"] = metrics.kmeans_cluster_accuracy(codes, y_test, seed=seed)
        row["linear_probe_accuracy"] = metrics.linear_probe_accuracy(
            encode_dataset(model, data["x_probe"]), data["y_probe"], codes, y_test)
        if isinstance(model, GenerativeModel):
            n = budget.mmd_codes
            row["mmd2_codes_vs_prior"] = metrics.mmd_rbf(_posterior_codes(model, x_test[:n], seed),
                                                         model.prior_sample(n, seed=seed))
    if isinstance(model, VAE):
        from ..models.vae import evaluate_elbo

        row["neg_elbo_nats"] = evaluate_elbo(model, x_test, seed=seed)["neg_elbo"]
    if isinstance(model, GenerativeModel):
        row["latent_dim"] = model.latent_dim
        samples = model.sample(budget.samples, seed=seed).reshape(budget.samples, -1)
        quality = metrics.sample_quality(classifier, samples, real_images=x_test[:budget.samples])
        row["inception_score"] = quality["inception_score"]
        row["frechet_distance"] = quality["frechet_distance"]
        row["sample_entropy_bits"] = quality["binarisation_entropy"]
        windows = model.sample(budget.parzen_samples, seed=seed + 1).reshape(budget.parzen_samples, -1)
        row["parzen_log_likelihood"] = metrics.parzen_estimate(windows, data["x_valid"], x_test)["parzen_log_likelihood"]
    return row


@torch.no_grad()
def real_reference(classifier, data: dict[str, torch.Tensor], budget: Budget = Budget()) -> dict[str, float]:
    """The sample measurements of real test digits (the first half of the test set judged against
    the second), for scale."""
    x = data["x_test"]
    n = min(budget.samples, len(x) // 2)
    quality = metrics.sample_quality(classifier, x[:n], real_images=x[n:2 * n])
    return {"inception_score": quality["inception_score"], "frechet_distance": quality["frechet_distance"],
            "sample_entropy_bits": quality["binarisation_entropy"]}


def final_jobs(scale: str = "book") -> dict[str, tuple[str, str]]:
    """The final comparison's rows: label -> (zoo name, scale)."""
    if scale not in SCALES:
        raise ValueError(f"scale: must be one of {SCALES}, got {scale!r}")
    return {label: (name, scale) for label, name in FINAL_MODELS.items()}


def compare(jobs: dict[str, tuple[str, str | TrainConfig]] | None = None, *, seeds=(0,),
            device: torch.device | str | None = None, budget: Budget = Budget(),
            progress: bool = True) -> pd.DataFrame:
    """Train or load each job and measure it; one row per (model, seed).

    ``jobs`` maps a row label to ``(zoo name, scale)`` with a scale of :data:`SCALES`, or to
    ``(zoo name, TrainConfig)`` for any other training (default: :func:`final_jobs` at book
    scale). Each seed adds to the training's own seed; seed 0 is the chapter's model itself.
    """
    device = pick_device(device)
    jobs = final_jobs("book") if jobs is None else jobs
    seeds = tuple(seeds)
    if not seeds or any(not isinstance(s, int) or s < 0 for s in seeds):
        raise ValueError(f"seeds: must be non-negative integers, got {seeds!r}")
    data = evaluation_data(device, budget)
    classifier = get_classifier(device, progress=progress)
    rows = []
    bar = tqdm(total=len(jobs) * len(seeds), desc="comparing", disable=not progress)
    for label, (name, how) in jobs.items():
        for seed in seeds:
            train = (how.replace(seed=how.seed + seed) if isinstance(how, TrainConfig)
                     else scaled_training(name, how, seed))
            trained = book_model(name, device, training=train, progress=progress)
            row = measure(trained.model, classifier, data, budget, seed=seed, history=trained.history, train=train)
            rows.append({"model": label, "zoo_name": name, "seed": seed, **row})
            bar.update(1)
    bar.close()
    return pd.DataFrame(rows)


def summarize(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean, standard deviation (over seeds; NaN for one seed) and seed count per model and column.

    Returns a frame indexed by model (in the order of first appearance) with columns
    ``(column, "mean")``, ``(column, "std")`` and ``("seeds", "n")``."""
    cols = [c for c in COLUMNS if c in frame]
    grouped = frame.groupby("model", sort=False)[cols]
    out = pd.concat({"mean": grouped.mean(), "std": grouped.std(ddof=1)}, axis=1).swaplevel(axis=1)
    out = out[[(c, s) for c in cols for s in ("mean", "std")]]
    out[("seeds", "n")] = frame.groupby("model", sort=False)["seed"].nunique() if "seed" in frame else 1
    return out


def best_per_column(frame: pd.DataFrame) -> dict[str, str]:
    """For each column with a direction, the model label of the best value (NaNs ignored)."""
    best = {}
    for col, (_, direction) in COLUMNS.items():
        if direction is None or col not in frame or frame[col].isna().all():
            continue
        idx = frame[col].idxmin() if direction == "lower" else frame[col].idxmax()
        best[col] = frame.loc[idx, "model"]
    return best


#: Digits shown per column: enough for the differences that matter, no more.
DIGITS = {"recon_bce_nats": 1, "recon_mse": 4, "generalisation_gap_nats": 2, "neg_elbo_nats": 1,
          "kmeans_accuracy": 2, "linear_probe_accuracy": 2, "mmd2_codes_vs_prior": 3, "inception_score": 2,
          "frechet_distance": 1, "sample_entropy_bits": 3, "parzen_log_likelihood": 0, "seconds_per_epoch": 2}


def styled_table(frame: pd.DataFrame, columns: list[str], uuid: str = "comparison"):
    """``columns`` of a per-model table (a :func:`compare` frame of one seed, or the means of
    :func:`summarize` with a ``model`` column), rounded per :data:`DIGITS`, readable headers, the
    best value of each column in bold. ``uuid`` fixes the table's HTML ids (pandas draws random
    ones otherwise, which would make a stored notebook output differ from every rerun)."""
    shown = frame.set_index("model")[columns]
    best = best_per_column(frame[["model", *columns]])

    def bold(col):
        return ["font-weight: bold" if best.get(col.name) == m else "" for m in col.index]

    styler = shown.style.set_uuid(uuid).apply(bold, axis=0)
    for col in columns:
        fmt = "{:,.0f}" if col in ("parameters", "train_images", "epochs", "latent_dim") else f"{{:.{DIGITS.get(col, 3)}f}}"
        styler = styler.format({col: fmt}, na_rep="–")
    return styler.relabel_index([COLUMNS[c][0] for c in columns], axis=1)


def csv_path(name: str):
    """``book/results/<name>.csv`` (e.g. ``final_comparison_full``)."""
    return results_dir() / f"{name}.csv"


# ---------------------------------------------------------------------------------------------
# The report's claims


@dataclass(frozen=True)
class Estimate:
    """A measured quantity: mean, standard deviation over ``n`` seeds (NaN for one seed)."""

    mean: float
    std: float = float("nan")
    n: int = 1

    def __str__(self) -> str:
        return _fmt(self.mean) + (f" ± {_fmt(self.std)}" if self.n > 1 and self.std == self.std else "")


def _fmt(v: float) -> str:
    return f"{v:.3g}" if abs(v) < 10 else f"{v:.1f}"


def estimate(summary: pd.DataFrame, model: str, column: str) -> Estimate:
    """The :class:`Estimate` of ``column`` for ``model`` in a :func:`summarize` table."""
    return Estimate(float(summary.loc[model, (column, "mean")]), float(summary.loc[model, (column, "std")]),
                    int(summary.loc[model, ("seeds", "n")]))


def verdict(a: Estimate, b: Estimate, claim_a_greater: bool = True, factor: float = 1.0) -> str:
    """Is ``a > factor * b`` (or ``a < factor * b``) by more than the seeds' spread?

    "supported" needs the difference of the means to exceed twice its standard error over the
    seeds (``2 sqrt(std_a^2 / n_a + std_b^2 / n_b)``, about a 95% bound); with one seed there is
    no spread to compare with, and the verdict says so.
    """
    diff = (a.mean - factor * b.mean) if claim_a_greater else (factor * b.mean - a.mean)
    if a.n < 2 or b.n < 2:
        return ("points the claimed way (one seed: spread unknown)" if diff > 0
                else "points against the claim (one seed: spread unknown)")
    se = math.sqrt(a.std ** 2 / a.n + (factor * b.std) ** 2 / b.n)
    if diff > 2 * se:
        return "supported"
    if diff < -2 * se:
        return "not supported: the opposite holds"
    return "not supported: within the seed spread"


#: The report's claims that the book tests, with the section that makes each.
CLAIMS = (
    "Sparse autoencoders generalise better (3.5)",
    "Sparse encoding trains faster (3.3, 3.5)",
    "AAEs capture the manifold better than VAEs (4.6, 7)",
    "VAE samples are blurry (3.6, 3.8)",
    "Sigmoid activations change digits abruptly along Z (3.3)",
    "GPU placement makes training more than 5% faster (6)",
)


def report_claims(summary: pd.DataFrame, *, generalisation: dict[str, Estimate], epoch_seconds: dict[str, Estimate],
                  class_change: dict[str, Estimate], bench_records: list[dict]) -> pd.DataFrame:
    """One row per claim of :data:`CLAIMS`: the measurement and its verdict (:func:`verdict`).

    * ``summary``: :func:`summarize` of a comparison (several seeds for verdicts that count);
    * ``generalisation``: test-minus-train gaps in the regime where the plain autoencoder
      overfits (chapter 05), keys ``"sparse"`` and ``"plain"``;
    * ``epoch_seconds``: seconds per epoch timed side by side, keys ``"sparse"`` and ``"plain"``;
    * ``class_change``: traversal class-change fractions (chapter 03), keys ``"sigmoid"``, ``"leaky_relu"``;
    * ``bench_records``: the stored benchmarks (:func:`replearn_core.book.benchmarks.stored_benchmarks`).
    """
    rows = [
        (f"test minus train BCE where the plain AE overfits: sparse {generalisation['sparse']} vs "
         f"plain {generalisation['plain']} nats", verdict(generalisation["sparse"], generalisation["plain"], False)),
        (f"seconds per epoch side by side: sparse {epoch_seconds['sparse']} vs no penalty {epoch_seconds['plain']}",
         verdict(epoch_seconds["sparse"], epoch_seconds["plain"], False)),
        _manifold_claim(summary),
        _blur_claim(summary),
        (f"traversal frames read as another digit: sigmoid {class_change['sigmoid']} vs leaky ReLU "
         f"{class_change['leaky_relu']}", verdict(class_change["sigmoid"], class_change["leaky_relu"], True)),
        _gpu_claim(bench_records),
    ]
    return pd.DataFrame({"claim": CLAIMS, "measurement": [m for m, _ in rows], "verdict": [v for _, v in rows]})


def comparison_claims(summary: pd.DataFrame) -> pd.DataFrame:
    """The claims that a comparison alone decides, as in :func:`report_claims`: the sparse
    autoencoder's generalisation gap *at the comparison's scale* (sparse AE against the same AE
    without penalty), the AAE against the VAE, and the blur of VAE samples. For a table such as
    the full-scale one (``replearn compare --scale full --seeds 3``)."""
    sparse, plain = (estimate(summary, m, "generalisation_gap_nats") for m in ("sparse AE", "same AE, no penalty"))
    rows = [
        (f"test minus train BCE at this scale: sparse {sparse} vs no penalty {plain} nats",
         verdict(sparse, plain, False)),
        _manifold_claim(summary),
        _blur_claim(summary),
    ]
    return pd.DataFrame({"claim": [CLAIMS[0], CLAIMS[2], CLAIMS[3]], "measurement": [m for m, _ in rows],
                         "verdict": [v for _, v in rows]})


def _manifold_claim(summary: pd.DataFrame) -> tuple[str, str]:
    # the better of the two AAEs (by k-means accuracy) against the 2-d VAE
    vae, aae_g, aae_m = "VAE 2-d", "AAE 2-d, Gaussian", "AAE 2-d, mixture"
    km = {m: estimate(summary, m, "kmeans_accuracy") for m in (vae, aae_g, aae_m)}
    probe = {m: estimate(summary, m, "linear_probe_accuracy") for m in (vae, aae_g, aae_m)}
    best_aae = aae_g if km[aae_g].mean >= km[aae_m].mean else aae_m
    return (f"k-means accuracy: AAE Gaussian {km[aae_g]}, mixture {km[aae_m]} vs VAE {km[vae]}; linear probe "
            f"{probe[aae_g]}, {probe[aae_m]} vs {probe[vae]}", verdict(km[best_aae], km[vae], True))


def _blur_claim(summary: pd.DataFrame) -> tuple[str, str]:
    blur = {m: estimate(summary, m, "sample_entropy_bits") for m in ("VAE 2-d", "DCGAN")}
    return (f"pixel entropy of prior samples (bits): VAE {blur['VAE 2-d']} vs DCGAN {blur['DCGAN']}",
            verdict(blur["VAE 2-d"], blur["DCGAN"], True, factor=1.5))


def _gpu_claim(records: list[dict]) -> tuple[str, str]:
    gpu = [r for r in records if r.get("device_type") == "cuda" and "placement" in r.get("results", {})]
    if not gpu:
        cpu = [r for r in records if r.get("device_type") == "cpu"]
        text = "no GPU measurement is stored (no GPU was available to this book's runs)"
        if cpu:
            v = cpu[0]["results"]["vae"]
            text = (f"CPU only ({cpu[0]['date'][:10]}): the book's loop at {v['naive_epoch_s'] / v['replearn_epoch_s']:.1f}x "
                    "the pytorch/examples loop; " + text)
        return text, "not measured on a GPU"
    p = gpu[0]["results"]["placement"]
    gain = p["single_device_epoch_s"] / p["placed_epoch_s"] - 1
    return (f"{gpu[0].get('device_label', 'GPU')}: manual placement {p['placed_epoch_s']:.3g} s vs one device "
            f"{p['single_device_epoch_s']:.3g} s per epoch ({100 * gain:+.0f}%)",
            "supported" if gain > 0.05 else "not supported")

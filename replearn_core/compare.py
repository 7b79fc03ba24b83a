"""Every model of the book on the same measurements (report section 7, made quantitative).

``python -m replearn_core.compare`` loads (or trains) each book model from the zoo and
measures, on the MNIST test set:

* reconstruction error: summed binary cross-entropy per image (nats) and MSE per pixel;
* the negative ELBO (nats per image) where it is defined (VAEs);
* latent structure: k-means (k = 10) cluster accuracy and linear-probe accuracy of the codes;
* generalisation: test minus training reconstruction error;
* sample quality from the prior, for generative models: the classifier's inception-style
  score, the Frechet distance in its 128-d feature space against real test digits, and
  blur (mean per-pixel Bernoulli entropy, 0 bits for crisp black and white);
* parameter count and training time per epoch (from the stored training history).

``--scale ci`` uses the book's models exactly as the chapters train them (CI scale);
``--scale full`` trains the same architectures longer, on all 60,000 training images.
The table is written to ``book/results/final_comparison_<scale>.csv`` with a header that
records the command, commit, device and date.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

import pandas as pd
import torch
from tqdm.auto import tqdm

from . import metrics, zoo
from .data import mnist_tensors
from .devices import pick_device, seed_everything, set_threads
from .models.autoencoder import encode_dataset
from .models.classifier import get_classifier
from .paths import results_dir
from .results import provenance, write_csv_with_header
from .training import train_or_load

#: Row label -> zoo name, in the order of the book.
MODELS = {
    "undercomplete AE": "undercomplete_ae",
    "deep AE, sigmoid": "deep_ae_sigmoid",
    "deep AE, leaky ReLU": "deep_ae_leaky_relu",
    "sparse AE": "sparse_ae",
    "same AE, no sparsity penalty": "sparse_ae_no_penalty",
    "VAE 2-d": "vae_2d",
    "VAE 20-d": "vae_20d",
    "AAE 2-d, Gaussian prior": "aae_gaussian",
    "AAE 2-d, mixture prior": "aae_mixture",
    "DCGAN": "dcgan",
}

#: Columns, their units and whether lower or higher is better (for marking the best).
COLUMNS = {
    "recon_bce_nats": ("reconstruction BCE (nats/image)", "lower"),
    "recon_mse": ("reconstruction MSE (per pixel)", "lower"),
    "generalisation_gap_nats": ("test minus train BCE (nats/image)", "lower"),
    "neg_elbo_nats": ("-ELBO (nats/image)", "lower"),
    "kmeans_accuracy": ("k-means cluster accuracy", "higher"),
    "linear_probe_accuracy": ("linear-probe accuracy", "higher"),
    "inception_score": ("inception-style score (of 10)", "higher"),
    "frechet_distance": ("Frechet distance (classifier features)", "lower"),
    "sample_entropy_bits": ("sample blur: pixel entropy (bits)", "lower"),
    "parameters": ("parameters", None),
    "latent_dim": ("latent dimensions", None),
    "train_images": ("training images per epoch", None),
    "epochs": ("epochs trained", None),
    "seconds_per_epoch": ("training seconds per epoch", None),
}

#: Full scale: this many times the chapter's epochs, on all 60,000 training images.
FULL_EPOCH_FACTOR = 3


@dataclass
class Budget:
    """How much of the data the measurements use (smaller for a quick live run)."""

    test_images: int = 10_000
    probe_train_images: int = 10_000  # training codes for the linear probe
    samples: int = 5_000              # prior samples judged by the classifier


def scaled_training(name: str, scale: str):
    """The (model config, train config) of zoo model ``name`` at ``scale`` ("ci" or "full")."""
    model_config, train_config, _ = zoo.BOOK_MODELS[name]
    if scale == "full":
        train_config = train_config.replace(epochs=train_config.epochs * FULL_EPOCH_FACTOR, train_subset=None)
    elif scale != "ci":
        raise ValueError(f"scale must be 'ci' or 'full', got {scale!r}")
    return model_config, train_config


@torch.no_grad()
def measure_model(model, train_config, history, classifier, data: dict, budget: Budget, seed: int = 0) -> dict:
    """All measurements of one trained model (NaN where a measure does not apply)."""
    x_test, y_test, x_probe, y_probe = data["x_test"], data["y_test"], data["x_probe"], data["y_probe"]
    row = {k: float("nan") for k in COLUMNS}
    row["parameters"] = model.num_parameters()
    row["epochs"] = len(history.epoch_seconds)
    row["train_images"] = train_config.train_subset or 60_000
    row["seconds_per_epoch"] = sum(history.epoch_seconds) / max(1, len(history.epoch_seconds))
    model.eval()
    if hasattr(model, "encode"):
        recon = torch.cat([model.reconstruct(x_test[i:i + 2000]) for i in range(0, len(x_test), 2000)])
        row["recon_bce_nats"] = metrics.bce_per_image(recon, x_test)
        row["recon_mse"] = metrics.mse_per_pixel(recon, x_test)
        # Images every model trained on: the chapters' training subsets all start at image 0.
        x_seen = data["x_seen"]
        recon_seen = torch.cat([model.reconstruct(x_seen[i:i + 2000]) for i in range(0, len(x_seen), 2000)])
        row["generalisation_gap_nats"] = row["recon_bce_nats"] - metrics.bce_per_image(recon_seen, x_seen)
        codes_test = encode_dataset(model, x_test)
        codes_probe = encode_dataset(model, x_probe)
        row["latent_dim"] = codes_test.shape[1]
        row["kmeans_accuracy"] = metrics.kmeans_cluster_accuracy(codes_test, y_test, seed=seed)
        row["linear_probe_accuracy"] = metrics.linear_probe_accuracy(codes_probe, y_probe, codes_test, y_test)
    if hasattr(model, "encode_distribution"):  # a VAE
        from .models.vae import evaluate_elbo

        row["neg_elbo_nats"] = evaluate_elbo(model, x_test, seed=seed)["neg_elbo"]
    if hasattr(model, "sample"):
        seed_everything(seed)
        samples = model.sample(budget.samples).reshape(budget.samples, -1)
        quality = metrics.sample_quality(classifier, samples, real_images=x_test[:budget.samples])
        row["inception_score"] = quality["inception_score"]
        row["frechet_distance"] = quality["frechet_distance"]
        row["sample_entropy_bits"] = quality["binarisation_entropy"]
        if not hasattr(model, "encode"):
            row["latent_dim"] = getattr(model.config, "z_dim", float("nan"))
    return row


def compare(scale: str = "ci", device: torch.device | str | None = None, budget: Budget = Budget(),
            names: dict[str, str] | None = None, progress: bool = True) -> pd.DataFrame:
    """Measure every model of ``names`` (default :data:`MODELS`); one row per model."""
    device = pick_device(device)
    names = MODELS if names is None else names
    x_test, y_test = mnist_tensors("test", device)
    x_train, y_train = mnist_tensors("train", device)
    g = torch.Generator().manual_seed(0)
    probe_idx = torch.randperm(len(x_train), generator=g)[:budget.probe_train_images].to(device)
    data = {"x_test": x_test[:budget.test_images], "y_test": y_test[:budget.test_images],
            "x_probe": x_train[probe_idx], "y_probe": y_train[probe_idx],
            "x_seen": x_train[:min(budget.test_images, 10_000)]}
    classifier = get_classifier(device, progress=progress)
    rows = []
    for label, name in tqdm(names.items(), desc=f"comparing ({scale} scale)", disable=not progress):
        model_config, train_config = scaled_training(name, scale)
        trained = train_or_load(model_config, train_config, device=device, progress=progress)
        row = measure_model(trained.model, train_config, trained.history, classifier, data, budget)
        rows.append({"model": label, "zoo_name": name, **row})
    return pd.DataFrame(rows)


def best_per_column(frame: pd.DataFrame) -> dict[str, str]:
    """For each column with a direction, the model label of the best value (NaNs ignored)."""
    best = {}
    for col, (_, direction) in COLUMNS.items():
        if direction is None or col not in frame or frame[col].isna().all():
            continue
        idx = frame[col].idxmin() if direction == "lower" else frame[col].idxmax()
        best[col] = frame.loc[idx, "model"]
    return best


def styled_table(frame: pd.DataFrame, digits: int = 3, uuid: str = "comparison"):
    """The table with readable column names, the best value of each column in bold.

    ``uuid`` names the table's HTML ids (pandas draws random ones otherwise, which would make a
    stored notebook output differ from every rerun); give each table on a page its own.
    """
    shown = frame.drop(columns=["zoo_name"], errors="ignore").set_index("model")
    best = best_per_column(frame)

    def bold(col):
        return ["font-weight: bold; background-color: #e6f2e6" if best.get(col.name) == m else "" for m in col.index]

    styler = shown.style.set_uuid(uuid).apply(bold, axis=0).format(precision=digits, na_rep="n/a")
    styler = styler.format({"parameters": "{:,.0f}", "epochs": "{:.0f}", "train_images": "{:,.0f}",
                            "latent_dim": "{:.0f}"}, na_rep="n/a")
    return styler.relabel_index([COLUMNS[c][0] for c in shown.columns], axis=1)


#: The report's claims that the comparison tests, with the section that makes each.
CLAIMS = (
    "Sparse autoencoders generalise better (3.5)",
    "Sparse encoding trains faster (3.3, 3.5)",
    "AAEs capture the manifold better than VAEs (4.6, 7)",
    "VAE samples are blurry (3.6, 3.8)",
    "Sigmoid activations change digits abruptly along Z (3.3)",
    "GPU placement makes training more than 5% faster (6)",
)


def report_claims(table: pd.DataFrame, class_change: dict, epoch_seconds: dict[str, float],
                  bench_records: list[dict]) -> list[tuple[str, str, str]]:
    """(claim, measurement, verdict) for each of :data:`CLAIMS`, computed from the numbers.

    ``table`` is a comparison table (:func:`compare`, or a stored CSV); ``class_change`` the
    traversal class-change fractions of chapter 3 (``03_disentangling_style.json``);
    ``epoch_seconds`` the side-by-side epoch times of ``"sparse AE"`` and ``"same AE, no
    sparsity penalty"``; ``bench_records`` the stored benchmarks (:func:`bench.stored_results`).
    """
    col = {c: dict(zip(table["model"], table[c])) for c in COLUMNS if c in table}
    bce, gap, kmeans, probe = (col[c] for c in ("recon_bce_nats", "generalisation_gap_nats", "kmeans_accuracy",
                                                "linear_probe_accuracy"))
    blur = col["sample_entropy_bits"]
    sparse, dense = "sparse AE", "same AE, no sparsity penalty"
    vae, aae_g, aae_m = "VAE 2-d", "AAE 2-d, Gaussian prior", "AAE 2-d, mixture prior"
    sig = class_change["deep_ae_sigmoid, observed 1-99%"]["fraction"]
    leaky = class_change["deep_ae_leaky_relu, observed 1-99%"]["fraction"]
    claims = [
        (f"test minus train BCE: sparse {gap[sparse]:.2f} vs no penalty {gap[dense]:.2f} nats; "
         f"test BCE {bce[sparse]:.1f} vs {bce[dense]:.1f} nats",
         "supported" if gap[sparse] < gap[dense] else "not supported"),
        (f"seconds per 10k training images, timed side by side: sparse {epoch_seconds[sparse]:.2f} vs "
         f"no penalty {epoch_seconds[dense]:.2f} (the penalties add work to every step)",
         "supported" if epoch_seconds[sparse] < 0.95 * epoch_seconds[dense] else "not supported"),
        (f"k-means accuracy AAE {kmeans[aae_g]:.2f} / {kmeans[aae_m]:.2f} vs VAE {kmeans[vae]:.2f}; "
         f"linear probe {probe[aae_g]:.2f} / {probe[aae_m]:.2f} vs {probe[vae]:.2f}",
         "supported" if max(kmeans[aae_g], kmeans[aae_m]) > kmeans[vae] else "not supported"),
        # blurry compared with what an adversarially trained generator draws (real digits: about 0.08 bits)
        (f"pixel entropy of prior samples (bits): VAE {blur[vae]:.3f} vs DCGAN {blur['DCGAN']:.3f}; "
         f"AAE {blur[aae_g]:.3f} / {blur[aae_m]:.3f}",
         ("supported" + (", and the AAEs' samples are blurrier still" if min(blur[aae_g], blur[aae_m]) > blur[vae]
                         else "")) if blur[vae] > 1.5 * blur["DCGAN"] else "not supported"),
        (f"fraction of traversal frames read as another digit: sigmoid {sig:.2f} vs leaky ReLU {leaky:.2f}",
         "supported" if sig > leaky else "not supported"),
    ]
    cpu = [r for r in bench_records if r.get("device_type") == "cpu"]
    gpu = [r for r in bench_records if r.get("device_type") == "cuda"]
    text = "no benchmark stored"
    if cpu:
        v = cpu[0]["results"]["vae"]
        text = (f"CPU ({cpu[0]['date'][:10]}): replearn's loop {v['naive_epoch_s'] / v['replearn_epoch_s']:.1f}x "
                "the speed of the pytorch/examples loop for the VAE")
    if gpu:
        v = gpu[0]["results"]["vae"]
        text += (f"; GPU ({gpu[0].get('device_label', gpu[0]['device'])}): "
                 f"{v['naive_epoch_s'] / v['replearn_epoch_s']:.1f}x")
    claims.append((text + ("" if gpu else "; no GPU measurement is stored (no GPU was available to this book's runs)"),
                   "see chapter 10" if gpu else "not measured on a GPU"))
    return [(claim, m, v) for claim, (m, v) in zip(CLAIMS, claims)]


def csv_path(scale: str):
    return results_dir() / f"final_comparison_{scale}.csv"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m replearn_core.compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=["ci", "full"], default="ci",
                        help="ci: the chapters' models; full: %dx their epochs on all training images" % FULL_EPOCH_FACTOR)
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: best available)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: $REPLEARN_NUM_THREADS)")
    args = parser.parse_args(argv)
    set_threads(args.threads)
    device = pick_device(args.device)
    frame = compare(args.scale, device)
    path = write_csv_with_header(csv_path(args.scale), provenance(device, "python -m replearn_core.compare "
                                                                  + " ".join(argv if argv is not None else sys.argv[1:])),
                                 frame.round(4))
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(frame.drop(columns=["zoo_name"]).round(3).to_string(index=False))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

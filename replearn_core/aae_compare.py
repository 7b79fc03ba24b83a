"""VAE against adversarial autoencoders with the same 2-d latent (chapter 08, report 4.6 and 7).

The report concludes that the AAE "captures the manifold of the data" better than the VAE and
that VAE samples are blurry. :func:`measure` puts numbers on both, for any model with a 2-d
``encode``/``decode`` and a prior (a VAE's ``N(0, I)`` or an AAE's ``prior_samples``):

* ``mmd2_codes_vs_prior``: squared MMD between test codes drawn from the aggregated posterior
  (a VAE's codes are *sampled*, ``mu + sigma * eps``) and samples of the model's prior, with
  ``mmd2_noise_floor`` (two independent prior samples of the same size) for scale;
* ``kmeans_accuracy`` and ``linear_probe_accuracy`` of the deterministic test codes;
* ``recon_nats``: Bernoulli NLL of the test set decoded from those codes (nats per image);
* ``sample_*``: images decoded from prior samples judged by the book's classifier (inception-
  style score, mean max-probability, Frechet distance in its feature space to real test
  digits) and their sharpness (mean per-pixel binarisation entropy, bits).

Command line::

    python -m replearn_core.aae_compare                # the book's models, as chapter 08 trains them
    python -m replearn_core.aae_compare --scale vae    # every model at vae_2d's budget

``--scale vae`` trains the three AAEs with ``vae_2d``'s training configuration (all 60,000
images, 10 epochs, batches of 128) so that the two families get the same data and epochs. The
table goes to ``book/results/08_aae_comparison_<scale>.csv`` with a provenance header.
"""
from __future__ import annotations

import argparse
import sys
import warnings

import pandas as pd
import torch
from tqdm.auto import tqdm

from . import metrics, zoo
from .data import mnist_tensors
from .devices import pick_device, set_threads
from .models.aae import AAE_TRAINING
from .models.autoencoder import encode_dataset
from .models.classifier import get_classifier
from .paths import results_dir
from .results import provenance, write_csv_with_header
from .training import train_or_load

#: Row label -> zoo name.
MODELS = {
    "VAE (vae_2d)": "vae_2d",
    "AAE, Gaussian prior": "aae_gaussian",
    "AAE, mixture prior": "aae_mixture",
    "AAE, mixture prior + labels": "aae_mixture_labels",
}
#: The VAE of chapter 6 trained with the AAEs' CI budget (a row of the CI-scale table).
VAE_AT_AAE_BUDGET = "VAE (AAE budget)"
REAL = "real test digits"


def load_data(device: torch.device | str, probe_images: int = 10_000) -> dict[str, torch.Tensor]:
    """Test set, and the first ``probe_images`` training images for the linear probe."""
    x_test, y_test = mnist_tensors("test", device)
    x_train, y_train = mnist_tensors("train", device, subset=probe_images)
    return {"x_test": x_test, "y_test": y_test, "x_probe": x_train, "y_probe": y_train}


@torch.no_grad()
def measure(model, classifier, data: dict[str, torch.Tensor], *, n_mmd: int = 2000, n_samples: int = 5000,
            seed: int = 0) -> dict[str, float]:
    """The comparison's measurements of one model (see the module docstring)."""
    model.eval()
    x_test, y_test = data["x_test"], data["y_test"]
    device = x_test.device
    gen = torch.Generator(device=device).manual_seed(seed)
    codes = encode_dataset(model, x_test)
    is_vae = hasattr(model, "encode_distribution")
    if is_vae:
        latent = codes.shape[1]
        mu, logvar = model.encode_distribution(x_test[:n_mmd])
        posterior = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, device=device, generator=gen)
        prior, prior_b, z = (torch.randn(k, latent, device=device, generator=gen) for k in (n_mmd, n_mmd, n_samples))
    elif hasattr(model, "prior_samples"):
        posterior = codes[:n_mmd]
        prior, prior_b, z = (model.prior_samples(k, generator=gen) for k in (n_mmd, n_mmd, n_samples))
    else:
        raise ValueError(f"{type(model).__name__} has no prior: need encode_distribution or prior_samples")
    out = {
        "mmd2_codes_vs_prior": metrics.mmd_rbf(posterior, prior),
        "mmd2_means_vs_prior": metrics.mmd_rbf(codes[:n_mmd], prior) if is_vae else float("nan"),
        "mmd2_noise_floor": metrics.mmd_rbf(prior_b, prior),
        "kmeans_accuracy": metrics.kmeans_cluster_accuracy(codes, y_test, seed=seed),
        "linear_probe_accuracy": metrics.linear_probe_accuracy(encode_dataset(model, data["x_probe"]),
                                                               data["y_probe"], codes, y_test),
        "recon_nats": metrics.bce_per_image(
            torch.cat([model.decode(codes[i:i + 2000]) for i in range(0, len(codes), 2000)]), x_test),
    }
    samples = model.decode(z)
    quality = _sample_quality(classifier, samples, x_test[n_samples:2 * n_samples])
    out.update({f"sample_{k}": v for k, v in quality.items()})
    return out


def _sample_quality(classifier, images: torch.Tensor, real_images: torch.Tensor) -> dict[str, float]:
    # About 50 of the classifier's 128 ReLU features are never active on these digits, so the
    # feature covariances are singular and scipy's sqrtm warns that it may be inaccurate. It is
    # not: ||S S - A|| / ||A|| is about 1e-15 here, and the dead features contribute nothing.
    from scipy.linalg import LinAlgWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LinAlgWarning)
        return metrics.sample_quality(classifier, images, real_images=real_images)


@torch.no_grad()
def real_reference(classifier, data: dict[str, torch.Tensor], n_samples: int = 5000) -> dict[str, float]:
    """The sample measurements of real test digits (the first ``n_samples`` against the next)."""
    x = data["x_test"]
    quality = _sample_quality(classifier, x[:n_samples], x[n_samples:2 * n_samples])
    return {f"sample_{k}": v for k, v in quality.items()}


def training_for(name: str, scale: str):
    """(model config, train config) of zoo model ``name`` at ``scale``: "ci" or "vae"."""
    model_config, train_config, _ = zoo.BOOK_MODELS[name]
    if scale == "vae":
        train_config = zoo.BOOK_MODELS["vae_2d"][1]
    elif scale != "ci":
        raise ValueError(f"scale must be 'ci' or 'vae', got {scale!r}")
    return model_config, train_config


def compare(scale: str = "ci", device: torch.device | str | None = None, progress: bool = True) -> pd.DataFrame:
    """One row per model (and the real digits), measured by :func:`measure`."""
    device = pick_device(device)
    data = load_data(device)
    classifier = get_classifier(device, progress=progress)
    jobs = {label: training_for(name, scale) for label, name in MODELS.items()}
    if scale == "ci":
        jobs = {label: jobs[label] for label in list(MODELS)[:1]} | {
            VAE_AT_AAE_BUDGET: (zoo.BOOK_MODELS["vae_2d"][0], AAE_TRAINING)} | {
            label: jobs[label] for label in list(MODELS)[1:]}
    rows = []
    for label, (model_config, train_config) in tqdm(jobs.items(), desc=f"VAE vs AAE ({scale})", disable=not progress):
        trained = train_or_load(model_config, train_config, device=device, progress=progress)
        rows.append({"model": label, "train_images": train_config.train_subset or 60_000,
                     "epochs": train_config.epochs, "batch_size": train_config.batch_size,
                     "train_seconds": sum(trained.history.epoch_seconds),
                     **measure(trained.model, classifier, data)})
    rows.append({"model": REAL, **real_reference(classifier, data)})
    return pd.DataFrame(rows)


def csv_path(scale: str):
    return results_dir() / f"08_aae_comparison_{scale}.csv"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m replearn_core.aae_compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=["ci", "vae"], default="ci",
                        help="ci: the book's models; vae: the AAEs retrained with vae_2d's budget")
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: best available)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: $REPLEARN_NUM_THREADS)")
    args = parser.parse_args(argv)
    set_threads(args.threads)
    device = pick_device(args.device)
    frame = compare(args.scale, device)
    command = "python -m replearn_core.aae_compare " + " ".join(argv if argv is not None else sys.argv[1:])
    path = write_csv_with_header(csv_path(args.scale), provenance(device, command.strip()), frame.round(5))
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(frame.set_index("model").T.round(3).to_string())
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

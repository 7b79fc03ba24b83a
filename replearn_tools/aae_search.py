"""``replearn aae-search``: search adversarial-autoencoder settings against the 2-d VAE.

Each setting is trained (or loaded from the checkpoint cache) at one budget and seeds, then
measured the way every book model is (:func:`replearn_core.book.compare.measure`: MMD^2 of
test codes to the prior, k-means and linear-probe accuracy of the codes, test reconstruction
in nats, classifier-judged samples, Parzen estimate) plus two discriminator checks:

* ``own_d_accuracy``: the trained model's discriminator telling the first 2,000 test codes
  from 2,000 prior samples (0.5: the codes pass for prior samples; a VAE has no discriminator);
* ``posthoc_d_accuracy``: a fresh MLP (2-128-128-1) trained to separate the other 8,000 test
  codes from 8,000 prior samples, scored on the held-out 2,000 + 2,000. It is a stronger test
  than the model's own D, which the encoder has learnt to fool. A VAE's codes are sampled,
  ``mu + sigma * eps``, as in ``measure``.

``mmd_by_epoch`` traces MMD^2 (first 2,000 test codes, a fixed prior draw) after every epoch,
to tell a regulariser that converges from one that drifts (empty when loaded from the cache).

Usage::

    replearn aae-search --budget book --settings vae,book,chosen --seeds 0,1,2
    replearn aae-search --list

Budgets: ``book`` = chapter 08's (20,000 images, 10 epochs, batches of 100), ``full`` = the
2-d VAE's (60,000 images, 10 epochs, batches of 128). The table is written to
``book/results/aae_search_<budget>.csv`` (or ``--out``) with the command, commit, device and
date; ``book/results/aae_search.csv`` holds the search behind the book's settings.
"""
from __future__ import annotations

import argparse
import sys
import time

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from replearn_core import metrics
from replearn_core.book import compare
from replearn_core.book.results import provenance, write_csv_with_header
from replearn_core.book.zoo import AAE_TRAINING, VAE_TRAINING, get_classifier
from replearn_core.config import TrainConfig
from replearn_core.devices import pick_device, set_threads
from replearn_core.models import AAEConfig, VAEConfig
from replearn_core.models.aae import AdversarialAutoencoder
from replearn_core.models.base import encode_dataset
from replearn_core.models.vae import VAE
from replearn_core.training import Callback, train_or_load

BUDGETS: dict[str, TrainConfig] = {"book": AAE_TRAINING, "full": VAE_TRAINING}

#: the chosen unsupervised setting: ten discriminator steps per batch, both adversarial phases
#: at the reconstruction's rate, every rate divided by 10 from epoch 8 on
CHOSEN = dict(disc_steps=10, disc_lr_scale=1.0, gen_lr_scale=1.0, lr_schedule="step", lr_decay_epoch=8)

#: name -> (model kind, model-config fields); the names are those of book/results/aae_search.csv
SETTINGS: dict[str, tuple[str, dict]] = {
    "vae": ("vae", dict(hidden=(400, 100, 10), latent_dim=2)),
    # the book's first settings: one discriminator step at lr / 5, the generator at lr / 2
    "book": ("aae", dict()),
    "book_mixture": ("aae", dict(prior="mixture10")),
    "book_labels": ("aae", dict(prior="mixture10", use_labels=True, gen_lr_scale=1.0)),
    # learning rates of the adversarial phases (relative to the reconstruction's)
    "lr_d1_g1": ("aae", dict(disc_lr_scale=1.0, gen_lr_scale=1.0)),
    "lr_d1_g05": ("aae", dict(disc_lr_scale=1.0, gen_lr_scale=0.5)),
    # Adam betas of the adversarial phases (GAN practice: beta1 = 0.5)
    "betas05": ("aae", dict(adversarial_betas=(0.5, 0.999))),
    "betas05_lr1": ("aae", dict(adversarial_betas=(0.5, 0.999), disc_lr_scale=1.0, gen_lr_scale=1.0)),
    # several discriminator steps per mini-batch
    "d2": ("aae", dict(disc_steps=2)),
    "d3": ("aae", dict(disc_steps=3)),
    "d5": ("aae", dict(disc_steps=5)),
    "d10": ("aae", dict(disc_steps=10)),
    "d5_g1": ("aae", dict(disc_steps=5, gen_lr_scale=1.0)),
    "d5_g02": ("aae", dict(disc_steps=5, gen_lr_scale=0.2)),
    "d5_d1": ("aae", dict(disc_steps=5, disc_lr_scale=1.0)),
    "d5_mixture": ("aae", dict(disc_steps=5, prior="mixture10")),
    "d5_labels": ("aae", dict(disc_steps=5, prior="mixture10", use_labels=True)),
    "d5_labels_g1": ("aae", dict(disc_steps=5, prior="mixture10", use_labels=True, gen_lr_scale=1.0)),
    # step schedules (the paper divides its rates by 10 late in training) and annealings
    "book_decay8": ("aae", dict(lr_schedule="step", lr_decay_epoch=8)),
    "d5_decay8": ("aae", dict(disc_steps=5, lr_schedule="step", lr_decay_epoch=8)),
    "d5_decay6": ("aae", dict(disc_steps=5, lr_schedule="step", lr_decay_epoch=6)),
    "d5_g1_decay8": ("aae", dict(disc_steps=5, gen_lr_scale=1.0, lr_schedule="step", lr_decay_epoch=8)),
    "d5_d1_g1_decay8": ("aae", dict(CHOSEN, disc_steps=5)),
    "d10_d1_g1": ("aae", dict(disc_steps=10, disc_lr_scale=1.0, gen_lr_scale=1.0)),
    "d10_d1_g1_decay8": ("aae", dict(CHOSEN)),
    "d10_d1_g1_exp2": ("aae", dict(CHOSEN, lr_schedule="exponential", lr_decay_epoch=2, lr_decay_factor=0.7)),
    "d5_exp4": ("aae", dict(disc_steps=5, lr_schedule="exponential", lr_decay_epoch=4, lr_decay_factor=0.6)),
    "d5_exp2": ("aae", dict(disc_steps=5, lr_schedule="exponential", lr_decay_epoch=2, lr_decay_factor=0.7)),
    # the chosen setting on the other two priors; the label-conditioned model's own setting
    "d10_d1_g1_decay8_mixture": ("aae", dict(CHOSEN, prior="mixture10")),
    "d10_d1_g1_decay8_labels": ("aae", dict(CHOSEN, prior="mixture10", use_labels=True)),
    "decay8_labels": ("aae", dict(prior="mixture10", use_labels=True, gen_lr_scale=1.0, lr_schedule="step",
                                  lr_decay_epoch=8)),
    # R1 gradient penalty on the discriminator (at the prior samples)
    "r1_1": ("aae", dict(disc_gradient_penalty=1.0)),
    "r1_10": ("aae", dict(disc_gradient_penalty=10.0)),
    "d5_r1_1": ("aae", dict(disc_steps=5, disc_gradient_penalty=1.0)),
    "r1_1_decay8": ("aae", dict(disc_gradient_penalty=1.0, lr_schedule="step", lr_decay_epoch=8)),
    "d5_r1_1_decay8": ("aae", dict(disc_steps=5, disc_gradient_penalty=1.0, lr_schedule="step", lr_decay_epoch=8)),
    # tensorflow-mnist-AAE's rates and two generator steps; discriminator capacity; the
    # references' widths (two layers of 1000 everywhere: paper appendix, tensorflow-mnist-AAE)
    "g2_tfmnist": ("aae", dict(gen_steps=2, gen_lr_scale=1.0)),
    "dwide_lr1": ("aae", dict(disc_hidden=(512, 512), disc_lr_scale=1.0, gen_lr_scale=1.0)),
    "w1000": ("aae", dict(hidden=(1000, 1000), disc_hidden=(1000, 1000))),
}


def build_configs(name: str, budget: str, seed: int):
    """(model config, training config) of setting ``name`` at ``budget`` with ``seed``."""
    if name not in SETTINGS:
        raise ValueError(f"setting: unknown {name!r}; known: {sorted(SETTINGS)}")
    if budget not in BUDGETS:
        raise ValueError(f"budget: must be one of {sorted(BUDGETS)}, got {budget!r}")
    kind, fields = SETTINGS[name]
    model_config = (VAEConfig if kind == "vae" else AAEConfig)(**fields)
    return model_config, BUDGETS[budget].replace(seed=seed)


@torch.no_grad()
def posterior_codes(model, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Codes of ``x`` from the aggregated posterior: a VAE's sampled, an AAE's deterministic."""
    model.eval()
    if isinstance(model, VAE):
        mu, logvar = model.encode_distribution(x)
        return mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=gen).to(mu.device)
    return encode_dataset(model, x)


def prior_draw(model, n: int, seed: int) -> torch.Tensor:
    return model.prior_sample(n, seed=seed)


@torch.no_grad()
def own_d_accuracy(model, x: torch.Tensor, y: torch.Tensor, seed: int) -> float:
    """Accuracy of an AAE's own discriminator at telling codes of ``x`` from as many prior samples
    (NaN for a model without one)."""
    if not isinstance(model, AdversarialAutoencoder):
        return float("nan")
    labels = y if model.config.use_labels else None
    z_prior = model.prior_sample(len(x), seed=seed, labels=None if labels is None else labels)
    real = model.discriminate(z_prior, labels) > 0
    fake = model.discriminate(model.encode(x), labels) < 0
    return float((real.float().mean() + fake.float().mean()) / 2)


def posthoc_d_accuracy(codes_train: torch.Tensor, prior_train: torch.Tensor, codes_test: torch.Tensor,
                       prior_test: torch.Tensor, seed: int = 0, steps: int = 3000) -> float:
    """Held-out accuracy of a fresh 2-128-128-1 MLP trained to tell codes (0) from prior samples (1)."""
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(codes_train.shape[1], 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(),
                        nn.Linear(128, 1))
    # standardised with the training points' statistics, so that far-off codes do not stall the fit
    both = torch.cat([codes_train, prior_train])
    mean, std = both.mean(0), both.std(0) + 1e-6
    x = (both - mean) / std
    t = torch.cat([torch.zeros(len(codes_train)), torch.ones(len(prior_train))])
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(0, len(x), (512,), generator=gen)
        loss = F.binary_cross_entropy_with_logits(net(x[idx]).squeeze(1), t[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        fake = net((codes_test - mean) / std).squeeze(1) < 0
        real = net((prior_test - mean) / std).squeeze(1) > 0
    return float((fake.float().mean() + real.float().mean()) / 2)


class MMDTrace(Callback):
    """MMD^2 of the codes of ``probe`` to a fixed prior draw after every epoch."""

    def __init__(self, probe: torch.Tensor):
        self.probe, self.values = probe, []

    def on_epoch_end(self, epoch, model, history) -> None:
        gen = torch.Generator().manual_seed(999)
        self.values.append(metrics.mmd_rbf(posterior_codes(model, self.probe, gen),
                                           prior_draw(model, len(self.probe), seed=999)))
        model.train()


def run_one(name: str, budget: str, seed: int, device, classifier, data) -> dict:
    """Train (or load) setting ``name`` and measure it: one row of the search table."""
    model_config, train_config = build_configs(name, budget, seed)
    x_test, y_test = data["x_test"], data["y_test"]
    probe = x_test[:2000]
    trace = MMDTrace(probe)
    start = time.perf_counter()
    trained = train_or_load(model_config, train_config, device=device, progress=False, callbacks=[trace])
    model = trained.model.eval()
    row = {"setting": name, "budget": budget, "seed": seed, "train_images": train_config.train_subset or 60_000,
           "epochs": train_config.epochs, "batch_size": train_config.batch_size,
           "train_seconds": round(sum(trained.history.epoch_seconds), 1), "loaded": trained.loaded}
    row.update(compare.measure(model, classifier, data, seed=seed))
    row["mmd2_noise_floor"] = metrics.mmd_rbf(prior_draw(model, 2000, seed + 7), prior_draw(model, 2000, seed + 8))
    row["own_d_accuracy"] = own_d_accuracy(model, probe, y_test[:2000], seed=1000 + seed)
    codes = posterior_codes(model, x_test, torch.Generator().manual_seed(1000 + seed)).cpu()
    prior_all = prior_draw(model, len(x_test), seed=2000 + seed).cpu()
    row["posthoc_d_accuracy"] = posthoc_d_accuracy(codes[2000:], prior_all[2000:], codes[:2000], prior_all[:2000],
                                                   seed=seed)
    row["code_std"] = float(codes.std(0).mean())
    row["mmd_by_epoch"] = ";".join(f"{v:.4f}" for v in trace.values)
    row["model_config"] = repr({k: v for k, v in model_config.to_dict().items() if k != "__class__"})
    row["seconds"] = round(time.perf_counter() - start, 1)
    return row


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(prog="replearn aae-search", description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", choices=sorted(BUDGETS), default="book")
    parser.add_argument("--settings", default="vae,book,d10_d1_g1_decay8", help="comma-separated names (--list)")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds")
    parser.add_argument("--out", default=None, help="CSV name under book/results (default aae_search_<budget>)")
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: best available)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: $REPLEARN_NUM_THREADS)")
    parser.add_argument("--list", action="store_true", help="print the settings and exit")
    args = parser.parse_args(argv)
    if args.list:
        for name, (kind, fields) in SETTINGS.items():
            print(f"{name:26s} {kind} {fields}")
        return 0
    names = [s for s in args.settings.split(",") if s]
    unknown = [s for s in names if s not in SETTINGS]
    if unknown:
        parser.error(f"--settings: unknown {unknown}; see --list")
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s]
    except ValueError:
        parser.error(f"--seeds: comma-separated integers, got {args.seeds!r}")
    set_threads(args.threads)
    device = pick_device(args.device)
    data = compare.evaluation_data(device)
    classifier = get_classifier(device, progress=False)
    path = compare.csv_path(args.out or f"aae_search_{args.budget}")
    header = provenance(device, "replearn aae-search " + " ".join(argv))
    rows = []
    for name in names:
        for seed in seeds:
            r = run_one(name, args.budget, seed, device, classifier, data)
            rows.append(r)
            print(f"{name:26s} seed {seed}: mmd2 {r['mmd2_codes_vs_prior']:.4f} ownD {r['own_d_accuracy']:.3f} "
                  f"postD {r['posthoc_d_accuracy']:.3f} recon {r['recon_bce_nats']:.1f} "
                  f"probe {r['linear_probe_accuracy']:.3f} {r['train_seconds']:.0f}s", flush=True)
            # rewritten after every run, so that an interrupted search keeps what it measured
            write_csv_with_header(path, header, pd.DataFrame(rows).round(5))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

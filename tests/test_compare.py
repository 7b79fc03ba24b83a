"""The final comparison: scales, per-model measurements, best-per-column and the claims' verdicts."""
import math

import pandas as pd
import pytest
import torch

import replearn_core as rl
from replearn_core import compare
from replearn_core.config import TrainConfig
from replearn_core.models.autoencoder import AutoencoderConfig
from replearn_core.models.vae import VAEConfig
from replearn_core.training import History


def test_scaled_training_full_is_longer_on_all_images_and_bad_scale_raises():
    for name in ("aae_gaussian", "vae_20d", "dcgan"):
        _, ci = compare.scaled_training(name, "ci")
        _, full = compare.scaled_training(name, "full")
        assert full.epochs == compare.FULL_EPOCH_FACTOR * ci.epochs and full.train_subset is None
        assert full.replace(epochs=ci.epochs, train_subset=ci.train_subset) == ci
    with pytest.raises(ValueError, match="scale"):
        compare.scaled_training("vae_2d", "huge")


def test_measure_model_fills_the_columns_that_apply(stub_classifier):
    torch.manual_seed(0)
    x, y = rl.mnist_tensors("train", "cpu", subset=600)
    data = {"x_test": x[:200], "y_test": y[:200], "x_probe": x[200:500], "y_probe": y[200:500], "x_seen": x[500:]}
    budget = compare.Budget(test_images=200, probe_train_images=300, samples=100)
    history = History()
    history.epoch_seconds = [2.0, 4.0]
    train = TrainConfig(epochs=2, batch_size=32, train_subset=500)
    ae = compare.measure_model(rl.build_model(AutoencoderConfig(hidden=(32,), latent_dim=4)), train, history,
                               stub_classifier, data, budget)
    assert ae["latent_dim"] == 4 and ae["seconds_per_epoch"] == 3.0 and ae["train_images"] == 500
    assert 0 < ae["recon_bce_nats"] and 0 <= ae["kmeans_accuracy"] <= 1 and 0 <= ae["linear_probe_accuracy"] <= 1
    assert all(math.isnan(ae[k]) for k in ("neg_elbo_nats", "inception_score", "frechet_distance"))
    vae = compare.measure_model(rl.build_model(VAEConfig(hidden=(32,), latent_dim=2)), train, history,
                                stub_classifier, data, budget)
    assert vae["neg_elbo_nats"] > vae["recon_bce_nats"] > 0  # the bound adds the KL term to a sampled recon
    assert 1 <= vae["inception_score"] <= 10 and vae["frechet_distance"] >= 0


def _table(overrides=None):
    rows = {
        "sparse AE": dict(recon_bce_nats=80.0, generalisation_gap_nats=0.2, kmeans_accuracy=0.5),
        "same AE, no sparsity penalty": dict(recon_bce_nats=75.0, generalisation_gap_nats=0.3, kmeans_accuracy=0.5),
        "VAE 2-d": dict(recon_bce_nats=140.0, kmeans_accuracy=0.50, sample_entropy_bits=0.25),
        "AAE 2-d, Gaussian prior": dict(recon_bce_nats=150.0, kmeans_accuracy=0.40, sample_entropy_bits=0.30),
        "AAE 2-d, mixture prior": dict(recon_bce_nats=150.0, kmeans_accuracy=0.45, sample_entropy_bits=0.30),
        "DCGAN": dict(sample_entropy_bits=0.09),
    }
    for (model, col), value in (overrides or {}).items():
        rows[model][col] = value
    frame = pd.DataFrame([{"model": m, **{c: float("nan") for c in compare.COLUMNS}, **r} for m, r in rows.items()])
    return frame


CHANGE = {"deep_ae_sigmoid, observed 1-99%": {"fraction": 0.45}, "deep_ae_leaky_relu, observed 1-99%": {"fraction": 0.26}}
SECONDS = {"sparse AE": 1.2, "same AE, no sparsity penalty": 1.0}


def test_report_claims_verdicts_follow_the_numbers():
    claims = compare.report_claims(_table(), CHANGE, SECONDS, [])
    assert [c for c, _, _ in claims] == list(compare.CLAIMS)
    verdicts = {c: v for c, _, v in claims}
    assert verdicts[compare.CLAIMS[0]] == "supported"          # gap 0.2 < 0.3
    assert verdicts[compare.CLAIMS[1]] == "not supported"      # 1.2 s vs 1.0 s
    assert verdicts[compare.CLAIMS[2]] == "not supported"      # AAE k-means 0.45 < VAE 0.50
    assert verdicts[compare.CLAIMS[3]] == "supported, and the AAEs' samples are blurrier still"  # VAE 0.25 vs GAN 0.09
    assert verdicts[compare.CLAIMS[4]] == "supported"
    assert verdicts[compare.CLAIMS[5]] == "not measured on a GPU"
    assert all(any(ch.isdigit() for ch in m) for _, m, _ in claims[:5])  # every measured claim carries a number
    flipped = {c: v for c, _, v in compare.report_claims(
        _table({("AAE 2-d, mixture prior", "kmeans_accuracy"): 0.6, ("DCGAN", "sample_entropy_bits"): 0.2,
                  ("sparse AE", "generalisation_gap_nats"): 0.5}),
        CHANGE, {"sparse AE": 0.5, "same AE, no sparsity penalty": 1.0}, [])}
    assert flipped[compare.CLAIMS[0]] == "not supported"
    assert flipped[compare.CLAIMS[1]] == "supported"
    assert flipped[compare.CLAIMS[2]] == "supported"
    assert flipped[compare.CLAIMS[3]] == "not supported"  # VAE 0.25 vs GAN 0.2


def test_report_claims_reads_the_stored_benchmarks():
    record = lambda kind, naive, fast: {"device_type": kind, "device": kind, "date": "2026-11-27 11:15 UTC",
                                        "results": {"vae": {"naive_epoch_s": naive, "replearn_epoch_s": fast}}}
    cpu_only = compare.report_claims(_table(), CHANGE, SECONDS, [record("cpu", 3.0, 1.5)])[-1]
    assert "2.0x" in cpu_only[1] and cpu_only[2] == "not measured on a GPU"
    with_gpu = compare.report_claims(_table(), CHANGE, SECONDS, [record("cpu", 3.0, 1.5), record("cuda", 3.5, 0.1)])[-1]
    assert "35.0x" in with_gpu[1] and with_gpu[2] == "see chapter 10"


def test_best_per_column_respects_direction_and_ignores_nan():
    frame = _table()
    best = compare.best_per_column(frame)
    assert best["recon_bce_nats"] == "same AE, no sparsity penalty"   # lower is better
    assert best["kmeans_accuracy"] in ("sparse AE", "same AE, no sparsity penalty", "VAE 2-d")  # higher; ties
    assert best["sample_entropy_bits"] == "DCGAN"
    assert "neg_elbo_nats" not in best  # all NaN

"""The comparison of book models: scales, per-model measurements, summaries and the claims' verdicts."""
import math
from pathlib import Path

import pandas as pd
import pytest
import torch

import replearn_core as rl
from replearn_core.book import compare
from replearn_core.book.compare import Estimate, verdict
from replearn_core.config import TrainConfig
from replearn_core.models import AAEConfig, AutoencoderConfig, DCGANConfig, VAEConfig
from replearn_core.training import History


def test_scaled_training_full_is_longer_on_all_images_and_bad_scale_raises():
    for name in ("aae_gaussian", "vae_20d", "dcgan"):
        book = compare.scaled_training(name, "book")
        full = compare.scaled_training(name, "full")
        assert full.epochs == compare.FULL_EPOCH_FACTOR * book.epochs and full.train_subset is None
        assert full.replace(epochs=book.epochs, train_subset=book.train_subset) == book
        assert compare.scaled_training(name, "full", seed=2).seed == full.seed + 2
    with pytest.raises(ValueError, match="scale"):
        compare.scaled_training("vae_2d", "huge")


def _data(n=700):
    x, y = rl.mnist_tensors("train", "cpu", subset=n)
    return {"x_test": x[:200], "y_test": y[:200], "x_probe": x[200:500], "y_probe": y[200:500], "x_seen": x[500:600],
            "x_valid": x[600:700]}


BUDGET = compare.Budget(test_images=200, probe_train_images=300, samples=100, mmd_codes=100, parzen_samples=150)


def test_measure_fills_exactly_the_columns_that_apply(stub_classifier):
    torch.manual_seed(0)
    data = _data()
    history = History(epoch_seconds=[2.0, 4.0])
    train = TrainConfig(epochs=2, batch_size=32, train_subset=500)
    measured = {}
    for name, cfg in (("ae", AutoencoderConfig(hidden=(32,), latent_dim=4)), ("vae", VAEConfig(hidden=(32,), latent_dim=2)),
                      ("aae", AAEConfig(hidden=(32, 16), disc_hidden=(16, 16))),
                      ("gan", DCGANConfig(d1=8, generator_blocks=(rl.models.ConvBlock(4), rl.models.ConvBlock(1, batch_norm=False)),
                                          discriminator_blocks=(rl.models.ConvBlock(4, batch_norm=False),)))):
        row = compare.measure(rl.build_model(cfg), stub_classifier, data, BUDGET, history=history, train=train)
        assert set(row) == set(compare.COLUMNS)
        measured[name] = {k for k, v in row.items() if not math.isnan(v)}
        assert row["seconds_per_epoch"] == 3.0 and row["train_images"] == 500
    latent = {"recon_bce_nats", "recon_mse", "generalisation_gap_nats", "kmeans_accuracy", "linear_probe_accuracy"}
    samples = {"inception_score", "frechet_distance", "sample_entropy_bits", "parzen_log_likelihood"}
    cost = {"parameters", "latent_dim", "train_images", "epochs", "seconds_per_epoch"}
    assert measured["ae"] == latent | cost
    assert measured["vae"] == latent | samples | cost | {"neg_elbo_nats", "mmd2_codes_vs_prior"}
    assert measured["aae"] == latent | samples | cost | {"mmd2_codes_vs_prior"}
    assert measured["gan"] == samples | cost


def test_vae_codes_for_the_prior_match_are_sampled(stub_classifier):
    """An untrained VAE's sampled codes are mu + 1 * eps with mu ~ 0: close to N(0, I); an untrained
    AAE's deterministic codes are a blob far from its prior."""
    torch.manual_seed(0)
    data = _data()
    vae = compare.measure(rl.build_model(VAEConfig(hidden=(32,), latent_dim=2)), stub_classifier, data, BUDGET)
    aae = compare.measure(rl.build_model(AAEConfig(hidden=(32, 16), disc_hidden=(16, 16))), stub_classifier, data, BUDGET)
    assert vae["mmd2_codes_vs_prior"] < 0.05 < aae["mmd2_codes_vs_prior"]


def test_summarize_gives_mean_std_and_seed_count():
    frame = pd.DataFrame([{"model": "A", "seed": s, "kmeans_accuracy": v} for s, v in enumerate((0.5, 0.6, 0.7))]
                         + [{"model": "B", "seed": 0, "kmeans_accuracy": 0.4}])
    summary = compare.summarize(frame)
    assert list(summary.index) == ["A", "B"]
    assert summary.loc["A", ("kmeans_accuracy", "mean")] == pytest.approx(0.6)
    assert summary.loc["A", ("kmeans_accuracy", "std")] == pytest.approx(0.1)
    assert summary.loc["A", ("seeds", "n")] == 3 and math.isnan(summary.loc["B", ("kmeans_accuracy", "std")])
    assert str(compare.estimate(summary, "A", "kmeans_accuracy")) == "0.6 ± 0.1"


def test_verdict_needs_the_difference_to_exceed_the_seed_spread():
    a, b = Estimate(0.7, 0.02, 3), Estimate(0.5, 0.02, 3)
    assert verdict(a, b) == "supported"
    assert verdict(b, a) == "not supported: the opposite holds"
    assert verdict(Estimate(0.52, 0.1, 3), b) == "not supported: within the seed spread"
    assert verdict(b, a, claim_a_greater=False) == "supported"
    assert verdict(Estimate(0.25, 0.01, 3), Estimate(0.1, 0.01, 3), factor=1.5) == "supported"
    assert verdict(Estimate(0.1, 0.01, 3), Estimate(0.1, 0.01, 3), factor=1.5) == "not supported: the opposite holds"
    assert "one seed" in verdict(Estimate(0.7), Estimate(0.5))


def _summary():
    rows = {"VAE 2-d": dict(kmeans_accuracy=0.5, linear_probe_accuracy=0.7, sample_entropy_bits=0.25),
            "AAE 2-d, Gaussian": dict(kmeans_accuracy=0.6, linear_probe_accuracy=0.8, sample_entropy_bits=0.3),
            "AAE 2-d, mixture": dict(kmeans_accuracy=0.55, linear_probe_accuracy=0.75, sample_entropy_bits=0.3),
            "DCGAN": dict(sample_entropy_bits=0.09)}
    frame = pd.DataFrame([{"model": m, "seed": s, **{k: v + 0.005 * s for k, v in r.items()}}
                          for m, r in rows.items() for s in range(3)])
    return compare.summarize(frame)


def test_report_claims_verdicts_follow_the_numbers():
    e = Estimate
    claims = compare.report_claims(
        _summary(), generalisation={"sparse": e(2.0, 0.1, 3), "plain": e(5.0, 0.2, 3)},
        epoch_seconds={"sparse": e(1.2, 0.01, 3), "plain": e(1.0, 0.01, 3)},
        class_change={"sigmoid": e(0.45, 0.02, 2), "leaky_relu": e(0.26, 0.02, 2)}, bench_records=[])
    assert list(claims["claim"]) == list(compare.CLAIMS)
    v = dict(zip(claims["claim"], claims["verdict"]))
    assert v[compare.CLAIMS[0]] == "supported"                           # gap 2 < 5
    assert v[compare.CLAIMS[1]] == "not supported: the opposite holds"   # 1.2 s vs 1.0 s
    assert v[compare.CLAIMS[2]] == "supported"                           # AAE 0.6 vs VAE 0.5
    assert v[compare.CLAIMS[3]] == "supported"                           # 0.25 > 1.5 * 0.09
    assert v[compare.CLAIMS[4]] == "supported"
    assert v[compare.CLAIMS[5]] == "not measured on a GPU"
    assert all(any(ch.isdigit() for ch in m) for m in claims["measurement"][:5])


def test_comparison_claims_decide_from_the_table_alone():
    rows = {"sparse AE": {"generalisation_gap_nats": 0.1}, "same AE, no penalty": {"generalisation_gap_nats": 0.3}}
    frame = pd.DataFrame([{"model": m, "seed": s, **{k: v + 0.005 * s for k, v in r.items()}}
                          for m, r in rows.items() for s in range(3)])
    summary = pd.concat([_summary(), compare.summarize(frame)])
    claims = compare.comparison_claims(summary)
    assert list(claims["claim"]) == [compare.CLAIMS[0], compare.CLAIMS[2], compare.CLAIMS[3]]
    full = compare.report_claims(
        _summary(), generalisation={"sparse": Estimate(2.0, 0.1, 3), "plain": Estimate(5.0, 0.2, 3)},
        epoch_seconds={"sparse": Estimate(1.0, 0.01, 3), "plain": Estimate(1.0, 0.01, 3)},
        class_change={"sigmoid": Estimate(0.4), "leaky_relu": Estimate(0.3)}, bench_records=[])
    # the AAE and blur rows are the same rule on the same numbers in both tables
    assert list(claims["verdict"][1:]) == list(full["verdict"][2:4])
    assert list(claims["measurement"][1:]) == list(full["measurement"][2:4])
    assert claims["verdict"][0] == "supported"                           # gap 0.1 < 0.3, std 0.005
    assert "0.1" in claims["measurement"][0] and "0.3" in claims["measurement"][0]


def test_stored_full_scale_comparison_has_three_seeds_and_its_provenance():
    from replearn_core.book.results import read_csv_with_header
    stored = Path(__file__).resolve().parents[1] / "book" / "results" / "final_comparison_full.csv"
    header, table = read_csv_with_header(stored)
    assert "--scale full" in header["command"] and "--seeds 3" in header["command"]
    assert {"commit", "device", "date", "torch"} <= set(header)
    assert list(dict.fromkeys(table["model"])) == list(compare.FINAL_MODELS)
    seeds = table.groupby("model")["seed"].apply(lambda s: sorted(s))
    assert all(list(s) == [0, 1, 2] for s in seeds), seeds
    # full scale: every model on all 60,000 images for 3x its chapter's epochs
    for label, name in compare.FINAL_MODELS.items():
        rows = table[table["model"] == label]
        assert (rows["train_images"] == 60_000).all(), label
        assert (rows["epochs"] == compare.scaled_training(name, "full").epochs).all(), label
    # the verdicts that the introduction and chapter 11 state in words for the full scale
    summary = compare.summarize(table)
    claims = compare.comparison_claims(summary)
    verdicts = dict(zip(claims["claim"], claims["verdict"]))
    assert verdicts[compare.CLAIMS[2]] == "not supported: the opposite holds"
    assert verdicts[compare.CLAIMS[3]] == "supported"
    vae_km = compare.estimate(summary, "VAE 2-d", "kmeans_accuracy")
    for aae in ("AAE 2-d, Gaussian", "AAE 2-d, mixture"):
        aae_km = compare.estimate(summary, aae, "kmeans_accuracy")
        assert compare.verdict(vae_km, aae_km) == "supported", aae   # "better than either AAE's"
    # the validated Gaussian-prior AAE still matches its prior better than the VAE at this scale
    assert (compare.estimate(summary, "AAE 2-d, Gaussian", "mmd2_codes_vs_prior").mean
            < compare.estimate(summary, "VAE 2-d", "mmd2_codes_vs_prior").mean)


def test_gpu_claim_reads_the_stored_placement_benchmark():
    cpu = {"device_type": "cpu", "date": "2026-11-27 11:15 UTC",
           "results": {"vae": {"naive_epoch_s": 3.0, "replearn_epoch_s": 1.5}}}
    text, result = compare._gpu_claim([cpu])
    assert "2.0x" in text and result == "not measured on a GPU"
    gpu = {"device_type": "cuda", "device_label": "H200", "date": "2026-12-01",
           "results": {"placement": {"single_device_epoch_s": 1.0, "placed_epoch_s": 0.9}}}
    text, result = compare._gpu_claim([cpu, gpu])
    assert "H200" in text and "+11%" in text and result == "supported"


def test_best_per_column_respects_direction_and_ignores_nan():
    frame = pd.DataFrame([{"model": "a", "recon_bce_nats": 80.0, "kmeans_accuracy": 0.5, "neg_elbo_nats": float("nan")},
                          {"model": "b", "recon_bce_nats": 75.0, "kmeans_accuracy": 0.4, "neg_elbo_nats": float("nan")}])
    best = compare.best_per_column(frame)
    assert best == {"recon_bce_nats": "b", "kmeans_accuracy": "a"}


def test_compare_rejects_bad_seeds():
    with pytest.raises(ValueError, match="seeds"):
        compare.compare({"x": ("vae_2d", "book")}, seeds=(), progress=False)

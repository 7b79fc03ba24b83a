"""Sparse autoencoder: the KL sparsity and L2 penalties, the model, its config and the sweep."""
import math

import pandas as pd
import pytest
import torch

import replearn_core as rl
from replearn_core.book import sweeps as sweep
from replearn_core.book.sweeps import L2_UNIT, sparse_config
from replearn_core.losses import bernoulli_nll, kl_sparsity_penalty, l2_weight_penalty
from replearn_core.metrics import reconstruction_nll
from replearn_core.models import Autoencoder, AutoencoderConfig
from replearn_core.models.sparse import SparseAutoencoder, SparseAutoencoderConfig, mean_activations


def _bernoulli_kl(p, q):
    return p * math.log(p / q) + (1 - p) * math.log((1 - p) / (1 - q))


# --- kl_sparsity_penalty -----------------------------------------------------------------------

def test_kl_penalty_matches_a_hand_computed_value():
    h = torch.tensor([[0.1, 0.5, 0.9], [0.3, 0.5, 0.7]])  # mean activations 0.2, 0.5, 0.8
    expected = _bernoulli_kl(0.2, 0.2) + _bernoulli_kl(0.2, 0.5) + _bernoulli_kl(0.2, 0.8)
    # by hand: 0 + (0.2 ln 0.4 + 0.8 ln 1.6) + (0.2 ln 0.25 + 0.8 ln 4) = 0.19275 + 0.83178
    assert expected == pytest.approx(1.024530, abs=1e-5)
    assert float(kl_sparsity_penalty(h, 0.2)) == pytest.approx(expected, rel=1e-5)


def test_kl_penalty_is_zero_only_at_the_target_and_pulls_towards_it():
    assert float(kl_sparsity_penalty(torch.full((4, 5), 0.3), 0.3)) == pytest.approx(0.0, abs=1e-7)
    assert float(kl_sparsity_penalty(torch.full((4, 5), 0.35), 0.3)) > 0
    h = torch.tensor([[0.6, 0.05]], requires_grad=True)
    kl_sparsity_penalty(h, 0.3).backward()
    assert h.grad[0, 0] > 0 and h.grad[0, 1] < 0  # gradient descent lowers 0.6, raises 0.05


@pytest.mark.parametrize("rho_hat", [0.05, 0.3, 0.9])
def test_kl_penalty_limits_of_report_3_4(rho_hat):
    h = torch.full((3, 2), rho_hat, dtype=torch.float64)
    # rho -> 0: L_kl -> -log(1 - h);  rho -> 1: L_kl -> -log(h)   (per unit; two units here)
    assert float(kl_sparsity_penalty(h, 1e-9)) == pytest.approx(-2 * math.log(1 - rho_hat), rel=1e-6)
    assert float(kl_sparsity_penalty(h, 1 - 1e-9)) == pytest.approx(-2 * math.log(rho_hat), rel=1e-6)


def test_kl_penalty_stays_finite_for_saturated_units():
    h = torch.tensor([[0.0, 1.0], [0.0, 1.0]])
    assert torch.isfinite(kl_sparsity_penalty(h, 0.2))


@pytest.mark.parametrize("rho", [0.0, 1.0, -0.1, 1.5, float("nan")])
def test_kl_penalty_rejects_rho_outside_the_open_unit_interval(rho):
    with pytest.raises(ValueError, match="rho"):
        kl_sparsity_penalty(torch.full((2, 3), 0.5), rho)


def test_kl_penalty_rejects_bad_shapes():
    with pytest.raises(ValueError, match="h"):
        kl_sparsity_penalty(torch.full((6,), 0.5), 0.2)


# --- l2_weight_penalty -------------------------------------------------------------------------

def test_l2_penalty_value_and_gradient():
    w1 = torch.ones(2, 3, requires_grad=True)
    w2 = torch.full((1, 1), 2.0, requires_grad=True)
    penalty = l2_weight_penalty([w1, w2])
    assert float(penalty.detach()) == pytest.approx(0.5 * (6 * 1.0 + 4.0))
    penalty.backward()
    assert torch.allclose(w1.grad, w1.detach()) and torch.allclose(w2.grad, w2.detach())


def test_l2_penalty_rejects_no_tensors():
    with pytest.raises(ValueError, match="weights"):
        l2_weight_penalty([])


# --- config and model --------------------------------------------------------------------------

@pytest.mark.parametrize("changes, field", [
    ({"sparsity_target": 0.0}, "sparsity_target"), ({"sparsity_target": 1.0}, "sparsity_target"),
    ({"sparsity_target": 1.2}, "sparsity_target"),
    ({"sparsity_weight": -1.0}, "sparsity_weight"), ({"weight_decay": -0.5}, "weight_decay"),
    ({"latent_activation": "relu"}, "latent_activation"), ({"latent_activation": None}, "latent_activation"),
    ({"latent_dim": 0}, "latent_dim"),
])
def test_config_rejects_invalid_values_naming_the_field(changes, field):
    with pytest.raises(ValueError, match=field):
        SparseAutoencoderConfig(**changes)


def test_model_is_an_autoencoder_with_a_sigmoid_code():
    cfg = SparseAutoencoderConfig(latent_dim=16)
    model = rl.build_model(cfg)
    assert isinstance(model, SparseAutoencoder) and isinstance(model, Autoencoder)
    x = torch.rand(8, 784)
    out = model(x)
    assert out.z.shape == (8, 16) and out.logits.shape == (8, 784)
    assert float(out.z.min()) > 0 and float(out.z.max()) < 1
    assert set(out.terms) == {"reconstruction", "sparsity", "weight_l2", "loss"}
    total = (out.terms["reconstruction"] + cfg.sparsity_weight * out.terms["sparsity"]
             + cfg.weight_decay * out.terms["weight_l2"])
    assert torch.allclose(out.loss, total)
    assert len(model.weight_matrices()) == 2


def test_without_penalties_the_loss_is_the_plain_autoencoders():
    sparse = rl.build_model(SparseAutoencoderConfig(latent_dim=16, sparsity_weight=0.0, weight_decay=0.0))
    plain = rl.build_model(AutoencoderConfig(hidden=(), latent_dim=16, activation="sigmoid",
                                             latent_activation="sigmoid"))
    plain.load_state_dict(sparse.state_dict())
    x = torch.rand(8, 784)
    out = sparse(x)
    assert set(out.terms) == {"reconstruction", "loss"}
    assert torch.allclose(out.loss, plain(x).loss)
    assert torch.allclose(out.loss, bernoulli_nll(out.logits, x))


def _tiny_mnist(n=512):
    x, _ = rl.mnist_tensors("train", "cpu", subset=n)
    return x


def test_training_lowers_the_loss_and_moves_mean_activations_to_rho():
    x = _tiny_mnist()
    results = {}
    for name, cfg in {"penalty": SparseAutoencoderConfig(latent_dim=32, sparsity_target=0.1, sparsity_weight=3.0),
                      "none": SparseAutoencoderConfig(latent_dim=32, sparsity_target=0.1, sparsity_weight=0.0,
                                                      weight_decay=0.0)}.items():
        rl.seed_everything(0)
        model = rl.build_model(cfg)
        hist = rl.fit(model, rl.DeviceBatches(x, batch_size=32, seed=0), rl.TrainConfig(epochs=10, lr=3e-3),
                      progress=False)
        assert hist.epochs["reconstruction"][-1] < 0.8 * hist.epochs["reconstruction"][0]
        results[name] = float(mean_activations(model, x).mean())
        assert 0 < reconstruction_nll(model, x) < hist.epochs["reconstruction"][0]
    # after 160 steps the penalised code is well on its way to rho = 0.1; the free code is not
    assert abs(results["penalty"] - 0.1) < 0.5 * abs(results["none"] - 0.1)
    assert results["penalty"] < 0.5


def test_book_models_are_registered():
    entry = rl.zoo.BOOK_MODELS["sparse_ae"]
    cfg = entry.model
    assert isinstance(cfg, SparseAutoencoderConfig) and cfg.sparsity_weight > 0 and cfg.weight_decay > 0
    assert cfg == sparse_config(rho=0.2, beta=2.0, alpha=0.3)  # the report's picks
    plain = rl.zoo.BOOK_MODELS["sparse_ae_no_penalty"]
    assert plain.model.sparsity_weight == 0 and plain.model.weight_decay == 0 and plain.training == entry.training
    assert entry.chapter == "05_sparse_autoencoders"


# --- the sweep ---------------------------------------------------------------------------------

def test_sweep_jobs_vary_one_factor_at_a_time_and_run_the_default_once():
    jobs = sweep.sparse_jobs()
    assert len(jobs) == 3 * 7 - 2 + len(sweep.SPARSE_REFERENCES)
    labels = [label for label, _ in jobs]
    assert labels.count("default") == 1 and "no penalty" in labels
    d = sweep.SPARSE_DEFAULTS
    for label, cfg in jobs:
        values = {"rho": cfg.sparsity_target, "beta": cfg.sparsity_weight, "alpha": cfg.weight_decay / L2_UNIT}
        differing = sum(abs(values[f] - d[f]) > 1e-9 for f in sweep.FACTORS)
        assert differing <= 1 or label in sweep.SPARSE_REFERENCES
    with pytest.raises(ValueError, match="grids"):
        sweep.sparse_jobs(grids={"gamma": (1.0,)})
    with pytest.raises(ValueError, match="defaults"):
        sweep.sparse_jobs(defaults={"rho": 0.2})


def test_sparse_table_marks_the_best_and_separation_uses_seed_noise():
    d = sweep.SPARSE_DEFAULTS
    rows = []
    for rho, losses in {0.1: [10.0, 10.2, 10.4], 0.2: [9.0, 9.1, 9.2], 0.3: [12.0, 12.0, 12.3]}.items():
        rows += [dict(rho=rho, beta=d["beta"], alpha=d["alpha"], seed=s, test_bce=v) for s, v in enumerate(losses)]
    rows = [dict(r, label="grid") for r in rows]
    rows.append(dict(label="no penalty", rho=0.1, beta=0.0, alpha=0.0, seed=0, test_bce=1.0))  # other beta
    # a reference run with the defaults except alpha = 0 ("KL only") is left out of the alpha table
    rows.append(dict(label="KL only", rho=d["rho"], beta=d["beta"], alpha=0.0, seed=0, test_bce=1.0))
    assert 0.0 not in set(sweep.sparse_table(pd.DataFrame(rows), "alpha")["alpha"])
    assert 0.0 in set(sweep.sparse_table(pd.DataFrame(rows), "alpha", references=())["alpha"])
    table = sweep.sparse_table(pd.DataFrame(rows), "rho")
    assert list(table["rho"]) == [0.1, 0.2, 0.3] and list(table["n"]) == [3, 3, 3]
    assert list(table["best"]) == [False, True, False]
    assert table.loc[1, "mean"] == pytest.approx(9.1) and table.loc[1, "std"] == pytest.approx(0.1)
    sep = sweep.separation(table)
    assert sep["separated"] and sep["gap_to_runner_up"] == pytest.approx(1.1)
    noisy = table.assign(std=[3.0, 3.0, 3.0])
    assert not sweep.separation(noisy)["separated"]
    shown = sweep.format_table(table, "rho")
    assert shown.iloc[1, -1] == "best ◀" and shown.iloc[0, 1] == "10.20 ± 0.20"
    with pytest.raises(ValueError, match="factor"):
        sweep.sparse_table(pd.DataFrame(rows), "gamma")


def test_tiny_sweep_runs_and_round_trips_through_csv(tmp_path):
    grids = {"rho": (0.1, 0.2), "beta": (), "alpha": ()}
    runs, epochs = sweep.run_sparse_sweep(grids=grids, seeds=1, epochs=2, train_subset=256, device="cpu",
                                          references={"no penalty": {"beta": 0.0, "alpha": 0.0}}, progress=False)
    assert len(runs) == 3 and len(epochs) == 3 * 2
    assert set(runs["label"]) == {"rho = 0.1", "default", "no penalty"}
    assert (runs["test_bce"] > 0).all() and runs["mean_activation"].between(0, 1).all()
    header = {"command": "test", "loss": sweep.LOSS_UNIT}
    sweep.write_sparse_results(runs, epochs, header, tmp_path)
    got_header, got_runs, got_epochs = sweep.load_sparse_results(tmp_path)
    assert got_header["command"] == "test" and len(got_runs) == 3 and len(got_epochs) == 6
    assert (tmp_path / "sparse_rho.csv").exists()
    with pytest.raises(ValueError, match="seeds"):
        sweep.run_sparse_sweep(seeds=0)


# --- the generalisation experiment (report 3.5) ------------------------------------------------

def _tiny_generalisation(seeds=2, eval_every=2):
    configs = {k: sweep.GENERALISATION_CONFIGS[k] for k in ("no penalty", "KL + L2 (report)")}
    return sweep.run_generalisation_experiment(64, 128, epochs=3, seeds=seeds, eval_every=eval_every,
                                               configs=configs, device="cpu", progress=False)


def test_generalisation_experiment_curves_and_summary():
    curves, summary = _tiny_generalisation()
    assert list(curves.columns) == ["label", "seed", "epoch", "train_bce", "test_bce", "gap"]
    # epochs 2 (every 2nd) and 3 (the last) for 2 configurations x 2 seeds
    assert len(curves) == 2 * 2 * 2 and sorted(set(curves["epoch"])) == [2, 3]
    assert (curves["gap"] - (curves["test_bce"] - curves["train_bce"])).abs().max() < 1e-9
    assert curves["train_bce"].between(20, 544).all() and curves["test_bce"].between(20, 544).all()
    assert list(summary["label"]) == ["no penalty", "KL + L2 (report)"]
    assert (summary["n"] == 2).all() and (summary["epoch"] == 3).all()
    final = curves[(curves["epoch"] == 3) & (curves["label"] == "no penalty")]
    row = summary.set_index("label").loc["no penalty"]
    assert row["gap_mean"] == pytest.approx(final["gap"].mean())
    assert row["gap_std"] == pytest.approx(final["gap"].std())
    assert row["test_mean"] == pytest.approx(final["test_bce"].mean())
    assert (summary["best_test_mean"] <= summary["test_mean"] + 1e-9).all() and (summary["rise_mean"] >= 0).all()


def test_generalisation_experiment_is_deterministic_given_the_seeds():
    a, _ = _tiny_generalisation()
    b, _ = _tiny_generalisation()
    pd.testing.assert_frame_equal(a, b)
    one, _ = _tiny_generalisation(seeds=[1])
    seed1 = a[a["seed"] == 1].reset_index(drop=True)
    pd.testing.assert_frame_equal(one, seed1)  # a run depends on its own seed only
    assert a.loc[a["seed"] == 0, "test_bce"].tolist() != seed1["test_bce"].tolist()


def test_generalisation_summary_and_verdicts_by_hand():
    rows = []
    # "plain": gaps 10 and 12 at epoch 2, test 100 and 104 (its best were 98 and 104)
    for seed, (tr1, te1, tr2, te2) in enumerate([(95, 98, 90, 100), (96, 105, 92, 104)]):
        rows += [dict(label="plain", seed=seed, epoch=1, train_bce=tr1, test_bce=te1, gap=te1 - tr1),
                 dict(label="plain", seed=seed, epoch=2, train_bce=tr2, test_bce=te2, gap=te2 - tr2)]
    # "penalised": gaps 5 and 5.2, test 95 and 95.4
    for seed, (tr, te) in enumerate([(90, 95), (90.2, 95.4)]):
        rows.append(dict(label="penalised", seed=seed, epoch=2, train_bce=tr, test_bce=te, gap=te - tr))
    summary = sweep.generalisation_summary(pd.DataFrame(rows)).set_index("label")
    assert summary.loc["plain", "gap_mean"] == pytest.approx(11.0)
    assert summary.loc["plain", "gap_std"] == pytest.approx(math.sqrt(2.0))
    assert summary.loc["plain", "best_test_mean"] == pytest.approx(101.0)
    assert summary.loc["plain", "rise_mean"] == pytest.approx(1.0)  # (100 - 98 + 104 - 104) / 2
    assert summary.loc["penalised", "rise_mean"] == pytest.approx(0.0)
    verdicts = sweep.generalisation_verdicts(summary.reset_index(), reference="plain").set_index("label")
    assert verdicts.loc["penalised", "gap reduction"] == pytest.approx(11.0 - 5.1)
    # gap: 5.9 > 2 * sqrt(2/2 + 0.02/2) = 2.01; test: 6.8 > 2 * sqrt(8/2 + 0.08/2) = 4.02
    assert verdicts.loc["penalised", "gap verdict"] == "supported"
    assert verdicts.loc["penalised", "test verdict"] == "supported"
    # best test: 101 - 95.2 = 5.8 < 2 * sqrt(18/2 + 0.08/2) = 6.01
    assert verdicts.loc["penalised", "best test verdict"] == "not supported: within the seed spread"
    estimates = sweep.generalisation_estimates(summary.reset_index(), sparse="penalised", plain="plain")
    assert estimates["sparse"].mean == pytest.approx(5.1) and estimates["plain"].n == 2
    with pytest.raises(ValueError, match="reference"):
        sweep.generalisation_verdicts(summary.reset_index(), reference="missing")


@pytest.mark.parametrize("changes, field", [({"seeds": 0}, "seeds"), ({"seeds": [0, 0]}, "seeds"),
                                            ({"eval_every": 0}, "eval_every"), ({"epochs": 0}, "epochs"),
                                            ({"configs": {}}, "configs"),
                                            ({"configs": {"ae": AutoencoderConfig()}}, "configs")])
def test_generalisation_experiment_rejects_invalid_settings(changes, field):
    x = torch.rand(8, 784)
    kwargs = dict(configs={"plain": sweep.GENERALISATION_CONFIGS["no penalty"]}, epochs=1, seeds=1, progress=False)
    kwargs.update(changes)
    configs = kwargs.pop("configs")
    with pytest.raises(ValueError, match=field):
        sweep.generalisation_experiment(configs, x, x, **kwargs)


def test_generalisation_configs_are_the_four_penalty_settings():
    c = sweep.GENERALISATION_CONFIGS
    assert (c["no penalty"].sparsity_weight, c["no penalty"].weight_decay) == (0.0, 0.0)
    assert (c["KL + L2 (report)"].sparsity_weight, c["KL + L2 (report)"].weight_decay) == (2.0, pytest.approx(0.003))
    assert (c["KL only"].sparsity_weight, c["KL only"].weight_decay) == (2.0, 0.0)
    assert (c["L2 only"].sparsity_weight, c["L2 only"].weight_decay) == (0.0, pytest.approx(0.003))
    assert all(cfg.latent_dim == 196 and cfg.sparsity_target == 0.2 for cfg in c.values())


def test_sweep_generalisation_command_writes_both_csvs_with_provenance(tmp_path, capsys):
    from replearn_tools.sweep import main

    argv = ["generalisation", "--live", "--epochs", "2", "--seeds", "2", "--train-size", "64", "--test-size", "64",
            "--eval-every", "1", "--device", "cpu", "--out-dir", str(tmp_path)]
    assert main(argv) == 0
    header, curves, summary = sweep.load_generalisation_results(tmp_path)
    assert header["command"].startswith("replearn sweep generalisation") and "device" in header and "commit" in header
    assert "64 MNIST training images" in header["setup"] and "lr 0.01" in header["setup"]
    assert len(curves) == 4 * 2 * 2 and list(summary["label"]) == list(sweep.GENERALISATION_CONFIGS)
    assert "gap verdict" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["sparse", "--lr", "0.1"])


def test_plot_train_test_curves_draws_two_lines_per_configuration():
    import matplotlib.pyplot as plt

    rows = [dict(label=label, seed=s, epoch=e, train_bce=50.0 + e, test_bce=60.0 + e + s)
            for label in ("a", "b") for s in (0, 1) for e in (1, 2, 3)]
    curves = pd.DataFrame(rows)
    ax = rl.plots.plot_train_test_curves(curves, labels=["b"])
    assert len(ax.lines) == 2
    assert list(ax.lines[0].get_ydata()) == pytest.approx([61.5, 62.5, 63.5])  # test, mean over the seeds
    assert list(ax.lines[1].get_ydata()) == pytest.approx([51.0, 52.0, 53.0])  # train
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="labels"):
        rl.plots.plot_train_test_curves(curves, labels=["c"])

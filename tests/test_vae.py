"""Variational autoencoder: the ELBO terms, the reparameterisation gradient path, the API."""
from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

import replearn_core as rl
from replearn_core.losses import bernoulli_nll, gaussian_kl
from replearn_core.models.vae import VAE, VAEConfig, evaluate_elbo, importance_weighted_nll, reparameterize
from replearn_core.traversal import quantile_grid


# --- the KL term -------------------------------------------------------------------------------


def test_gaussian_kl_closed_form_values():
    # KL(N(mu, s^2) || N(0, 1)) = 0.5 (mu^2 + s^2 - 1 - log s^2), per dimension.
    zero = gaussian_kl(torch.zeros(3, 4), torch.zeros(3, 4))
    assert float(zero) == pytest.approx(0.0, abs=1e-7)
    # mu = 1, sigma = 1 in each of 4 dims: 0.5 * 4 = 2 nats per image.
    assert float(gaussian_kl(torch.ones(5, 4), torch.zeros(5, 4))) == pytest.approx(2.0, rel=1e-6)
    # mu = 0, sigma^2 = e: 0.5 (e - 1 - 1) per dim.
    val = gaussian_kl(torch.zeros(2, 3), torch.ones(2, 3))
    assert float(val) == pytest.approx(3 * 0.5 * (math.e - 2), rel=1e-6)


def test_gaussian_kl_matches_torch_distributions_and_averages_over_batch():
    g = torch.Generator().manual_seed(1)
    mu = torch.randn(7, 5, generator=g) * 2
    logvar = torch.randn(7, 5, generator=g)
    expected = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(1).mean()
    assert float(gaussian_kl(mu, logvar)) == pytest.approx(float(expected), rel=1e-5)
    # summed over latent dims, mean over the batch: duplicating the batch changes nothing
    assert float(gaussian_kl(torch.cat([mu, mu]), torch.cat([logvar, logvar]))) == pytest.approx(float(expected), rel=1e-5)


def test_gaussian_kl_matches_a_monte_carlo_estimate():
    mu, logvar = torch.tensor([[0.7, -1.2]]), torch.tensor([[-0.5, 0.8]])
    g = torch.Generator().manual_seed(0)
    z = reparameterize(mu.expand(200_000, -1), logvar.expand(200_000, -1), g)
    q, p = Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)
    mc = (q.log_prob(z) - p.log_prob(z)).sum(1).mean()
    assert float(mc) == pytest.approx(float(gaussian_kl(mu, logvar)), abs=0.02)


# --- the reparameterisation trick ----------------------------------------------------------------


def test_reparameterisation_gradients_reach_mu_and_logvar_through_the_sample():
    mu = torch.tensor([[0.5, -1.0]], requires_grad=True)
    logvar = torch.tensor([[0.2, -0.4]], requires_grad=True)
    g = torch.Generator().manual_seed(3)
    z = reparameterize(mu, logvar, g)
    eps = torch.randn(1, 2, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(z, mu + (0.5 * logvar).exp() * eps)
    z.sum().backward()
    assert torch.allclose(mu.grad, torch.ones(1, 2))                       # dz/dmu = 1
    assert torch.allclose(logvar.grad, 0.5 * (0.5 * logvar.detach()).exp() * eps)  # dz/dlogvar = sigma eps / 2
    # without the trick, a sample is a dead end for gradients
    assert not Normal(mu, (0.5 * logvar).exp()).sample().requires_grad


def test_reconstruction_gradient_reaches_encoder_heads_only_through_the_sample():
    torch.manual_seed(0)
    model = VAE(VAEConfig(input_dim=16, hidden=(8,), latent_dim=2))
    x = torch.rand(4, 16)
    out = model(x)
    out.terms["reconstruction"].backward()
    # the reconstruction term does not contain mu/logvar explicitly, only through z
    assert model.mu.weight.grad is not None and model.mu.weight.grad.abs().sum() > 0
    assert model.logvar.weight.grad is not None and model.logvar.weight.grad.abs().sum() > 0
    assert model.encoder[0].weight.grad.abs().sum() > 0


# --- the model and the ELBO ----------------------------------------------------------------------


def test_architecture_given_at_construction():
    report = VAE(VAEConfig(hidden=(400, 100, 10), latent_dim=2))
    assert report.config.describe() == "784-400-100-10-2"
    enc = [m.out_features for m in report.encoder if isinstance(m, torch.nn.Linear)]
    dec = [m.out_features for m in report.decoder if isinstance(m, torch.nn.Linear)]
    assert enc == [400, 100, 10] and report.mu.out_features == 2 and report.logvar.out_features == 2
    assert dec == [10, 100, 400, 784]                                      # mirrored decoder
    small = VAE(VAEConfig(hidden=(400,), latent_dim=20))                   # pytorch/examples
    assert small.num_parameters() == 784 * 400 + 400 + 2 * (400 * 20 + 20) + 20 * 400 + 400 + 400 * 784 + 784


def test_forward_terms_are_the_negative_elbo_in_nats_per_image():
    torch.manual_seed(0)
    model = VAE(VAEConfig(input_dim=16, hidden=(8,), latent_dim=3))
    x = torch.rand(6, 16)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    out = model(x, generator=g1)
    assert set(out.terms) == {"neg_elbo", "reconstruction", "kl"}
    assert torch.allclose(out.loss, out.terms["reconstruction"] + out.terms["kl"])
    mu, logvar = model.encode_distribution(x)
    z = reparameterize(mu, logvar, g2)
    assert torch.allclose(out.terms["reconstruction"], bernoulli_nll(model.decode_logits(z), x))
    assert torch.allclose(out.terms["kl"], gaussian_kl(mu, logvar))
    assert float(out.terms["kl"].detach()) >= 0 and float(out.terms["reconstruction"].detach()) > 0
    assert out.z.shape == (6, 3) and torch.equal(out.z, mu)
    assert torch.equal(model.encode(x), mu)


def test_decode_and_sample_are_probabilities_and_seeded():
    model = VAE(VAEConfig(input_dim=16, hidden=(8,), latent_dim=2))
    s1 = model.sample(5, seed=0)
    s2 = model.sample(5, seed=0)
    assert s1.shape == (5, 16) and torch.equal(s1, s2)
    assert float(s1.min()) >= 0 and float(s1.max()) <= 1
    assert model.reconstruct(torch.rand(3, 16)).shape == (3, 16)


def test_invalid_configs_name_the_field():
    with pytest.raises(ValueError, match="latent_dim"):
        VAEConfig(latent_dim=0)
    with pytest.raises(ValueError, match="hidden"):
        VAEConfig(hidden=[400])
    with pytest.raises(ValueError, match="hidden"):
        VAEConfig(hidden=(400, -1))
    with pytest.raises(ValueError, match="activation"):
        VAEConfig(activation="softmax")


def test_training_lowers_the_negative_elbo_and_evaluations_agree():
    x, y = rl.mnist_tensors("test", subset=256)
    model = rl.build_model(VAEConfig(hidden=(64,), latent_dim=4))
    before = evaluate_elbo(model, x)
    history = rl.fit(model, rl.DeviceBatches(x, y, batch_size=32, seed=0),
                     rl.TrainConfig(epochs=4, batch_size=32, lr=3e-3), progress=False)
    assert history.epochs["neg_elbo"][-1] < history.epochs["neg_elbo"][0]
    after = evaluate_elbo(model, x)
    assert after["neg_elbo"] < before["neg_elbo"] - 100
    assert after["neg_elbo"] == pytest.approx(after["reconstruction"] + after["kl"])
    assert evaluate_elbo(model, x, seed=1)["kl"] == pytest.approx(after["kl"], rel=1e-5)  # KL is exact
    # importance weighting tightens the bound: -log p(x) estimate <= -ELBO, decreasing in k
    iw1 = importance_weighted_nll(model, x[:128], k=1, seed=2)
    iw32 = importance_weighted_nll(model, x[:128], k=32, seed=2)
    elbo = evaluate_elbo(model, x[:128], seed=3)["neg_elbo"]
    assert iw1 == pytest.approx(elbo, rel=0.02)
    assert iw32 < iw1
    with pytest.raises(ValueError, match="k"):
        importance_weighted_nll(model, x[:4], k=0)


def test_quantile_grid_covers_the_prior_mass_evenly():
    values, codes = quantile_grid(5, 0.1, 0.9)
    assert codes.shape == (25, 2)
    assert values[2] == pytest.approx(0.0, abs=1e-9) and values[0] == pytest.approx(-values[-1])
    assert float(codes[0, 0]) == pytest.approx(values[0]) and float(codes[0, 1]) == pytest.approx(values[-1])
    with pytest.raises(ValueError, match="lo, hi"):
        quantile_grid(5, 0.0, 0.9)


def test_book_models_are_registered():
    entry = rl.zoo.BOOK_MODELS["vae_2d"]
    assert entry.model.describe() == "784-400-100-10-2" and entry.chapter == "06_vae"
    cfg20, train20 = rl.zoo.BOOK_MODELS["vae_20d"].model, rl.zoo.BOOK_MODELS["vae_20d"].training
    assert cfg20.describe() == "784-400-20"
    assert (train20.epochs, train20.batch_size, train20.lr) == (10, 128, 1e-3)

"""The adversarial autoencoder: configuration, prior, phases, alternating updates, snapshots."""
import math

import pytest
import torch

import replearn_core as rl
from replearn_core.models import AAEConfig, AdversarialAutoencoder, sample_prior
from replearn_core.models.aae import MIXTURE_RADIUS, MIXTURE_STD

TINY = dict(hidden=(32, 16), disc_hidden=(16, 16))


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny networks run fastest on one thread (two threads spin and slow down a busy machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _data(n=256, seed=0):
    x, y = rl.mnist_tensors("train", "cpu", subset=n)
    return x, y


@pytest.mark.parametrize("changes, field", [
    (dict(prior="laplace"), "prior"),
    (dict(prior="mixture10", latent_dim=3), "latent_dim"),
    (dict(use_labels=True, prior="gaussian"), "use_labels"),
    (dict(disc_lr_scale=0.0), "disc_lr_scale"),
    (dict(hidden=()), "hidden"),
    (dict(disc_hidden=(16, -1)), "disc_hidden"),
    (dict(activation="gelu"), "activation"),
])
def test_invalid_configs_name_the_field(changes, field):
    with pytest.raises(ValueError, match=field):
        AAEConfig(**changes)


def test_shapes_and_ranges():
    x, y = _data(64)
    for prior in ("gaussian", "mixture10"):
        model = rl.build_model(AAEConfig(prior=prior, **TINY)).requires_grad_(False)
        assert isinstance(model, AdversarialAutoencoder)
        z = model.encode(x)
        assert z.shape == (64, 2)
        r = model.decode(z)
        assert r.shape == (64, 784) and float(r.min()) >= 0 and float(r.max()) <= 1
        assert model.prior_sample(10).shape == (10, 2)
        s = model.sample(7)
        assert s.shape == (7, 784) and float(s.min()) >= 0 and float(s.max()) <= 1
    gaussian5 = rl.build_model(AAEConfig(latent_dim=5, **TINY))
    assert gaussian5.encode(x).shape == (64, 5) and gaussian5.prior_sample(3).shape == (3, 5)


def test_mixture_prior_components_sit_on_the_circle_and_are_elongated():
    g = torch.Generator().manual_seed(0)
    for k in (0, 3, 7):
        z, comp = sample_prior("mixture10", 20000, labels=torch.full((20000,), k), generator=g)
        assert torch.equal(comp, torch.full((20000,), k))
        angle = 2 * math.pi * k / 10
        radial = torch.tensor([math.cos(angle), math.sin(angle)])
        tangential = torch.tensor([-math.sin(angle), math.cos(angle)])
        mean = z.mean(0)
        assert torch.allclose(mean, MIXTURE_RADIUS * radial, atol=0.02)
        centred = z - mean
        assert abs(float((centred @ radial).std()) - MIXTURE_STD[0]) < 0.02
        assert abs(float((centred @ tangential).std()) - MIXTURE_STD[1]) < 0.01
    z, comp = sample_prior("mixture10", 5000, generator=g)
    counts = torch.bincount(comp, minlength=10)
    assert counts.min() > 400  # components drawn uniformly when no labels are given
    with pytest.raises(ValueError, match="prior"):
        sample_prior("uniform", 3)
    with pytest.raises(ValueError, match="labels"):
        sample_prior("mixture10", 3, labels=torch.zeros(4))


def test_each_phase_changes_only_its_own_parameters():
    """Replay fit's alternation (zero_grad, forward, backward, step per phase) twice; after
    every phase exactly that phase's modules have moved, although the generator phase leaves
    gradients in the discriminator and the reconstruction phase in the encoder."""
    x, y = _data(64)
    model = rl.build_model(AAEConfig(prior="mixture10", **TINY))
    opts = model.configure_optimizers(rl.TrainConfig(lr=1e-2))
    assert set(opts) == set(model.phases) == {"reconstruction", "discriminator", "generator"}
    owners = {"reconstruction": {"encoder", "decoder"}, "discriminator": {"discriminator"},
              "generator": {"encoder"}}
    for _ in range(2):
        for phase in model.phases:
            before = {n: p.detach().clone() for n, p in model.named_parameters()}
            opts[phase].zero_grad(set_to_none=True)
            out = model(x, y, phase=phase)
            assert torch.isfinite(out.loss) and set(out.terms) == {phase}
            out.loss.backward()
            opts[phase].step()
            moved = {n.split(".")[0] for n, p in model.named_parameters() if not torch.equal(before[n], p)}
            assert moved == owners[phase], (phase, moved)


def test_fit_alternates_the_three_phases_with_finite_falling_losses():
    x, y = _data(512)
    model = rl.build_model(AAEConfig(**TINY))
    history = rl.fit(model, rl.DeviceBatches(x, y, batch_size=64, seed=0),
                     rl.TrainConfig(epochs=3, batch_size=64, lr=3e-3), progress=False)
    assert set(history.steps) == {"reconstruction", "discriminator", "generator"}
    for values in history.steps.values():
        assert len(values) == 3 * 8 and all(math.isfinite(v) for v in values)
    rec = history.epochs["reconstruction"]
    assert rec[-1] < rec[0] - 20  # nats per image
    # the discriminator starts near chance, BCE(real) + BCE(fake) = 2 ln 2
    assert abs(history.steps["discriminator"][0] - 2 * math.log(2)) < 0.3


def test_adversarial_phases_pull_the_codes_towards_the_prior():
    """Same data, seed and reconstruction; with the regulariser switched off (learning rate ~0
    for discriminator and generator) the codes stay far from N(0, I), with it they approach it.
    (At these settings the ratio is 0.18 to 0.33 over seeds 0 to 3.)"""
    x, y = _data(1024)
    z_prior = torch.randn(1024, 2, generator=torch.Generator().manual_seed(1))
    mmd = {}
    for name, scale in (("aae", 1.0), ("plain", 1e-12)):
        rl.seed_everything(0)
        model = rl.build_model(AAEConfig(hidden=(64, 32), disc_hidden=(32, 32), disc_lr_scale=0.2 * scale,
                                         gen_lr_scale=0.5 * scale))
        rl.fit(model, rl.DeviceBatches(x, y, batch_size=32, seed=0),
               rl.TrainConfig(epochs=12, batch_size=32, lr=1e-3), progress=False)
        with torch.no_grad():
            mmd[name] = rl.metrics.mmd_rbf(model.encode(x), z_prior)
    assert mmd["aae"] < 0.5 * mmd["plain"], mmd


def test_label_conditioned_discriminator_needs_labels():
    x, y = _data(32)
    model = rl.build_model(AAEConfig(prior="mixture10", use_labels=True, **TINY))
    assert model.discriminator[0].in_features == 2 + 10
    with pytest.raises(ValueError, match="labels"):
        model(x, phase="discriminator")
    out = model(x, y, phase="discriminator")
    assert torch.isfinite(out.loss)
    with pytest.raises(ValueError, match="phase"):
        model(x, y, phase="loss")


def test_prior_sample_is_reproducible_and_device_independent():
    model = rl.build_model(AAEConfig(prior="mixture10", **TINY))
    assert torch.equal(model.prior_sample(50, seed=3), model.prior_sample(50, seed=3))
    assert not torch.equal(model.prior_sample(50, seed=3), model.prior_sample(50, seed=4))
    assert torch.equal(model.sample(4, seed=1), model.sample(4, seed=1))


def test_book_models_are_registered():
    from replearn_core.book.zoo import BOOK_MODELS

    for name, prior in (("aae_gaussian", "gaussian"), ("aae_mixture", "mixture10"),
                        ("aae_mixture_labels", "mixture10")):
        entry = BOOK_MODELS[name]
        assert isinstance(entry.model, AAEConfig) and entry.model.prior == prior and entry.model.latent_dim == 2
        assert entry.chapter == "08_aae"
    assert BOOK_MODELS["aae_mixture_labels"].model.use_labels
    assert not BOOK_MODELS["aae_mixture"].model.use_labels

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
    (dict(disc_steps=0), "disc_steps"),
    (dict(gen_steps=1.5), "gen_steps"),
    (dict(adversarial_betas=(0.5,)), "adversarial_betas"),
    (dict(adversarial_betas=(0.5, 1.0)), "adversarial_betas"),
    (dict(lr_schedule="cosine"), "lr_schedule"),
    (dict(lr_decay_epoch=0), "lr_decay_epoch"),
    (dict(lr_decay_factor=0.0), "lr_decay_factor"),
    (dict(disc_gradient_penalty=-1.0), "disc_gradient_penalty"),
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


def test_phases_repeat_the_discriminator_and_generator_steps_per_batch():
    """disc_steps=3, gen_steps=2: fit takes 3 discriminator and 2 generator optimizer steps
    per batch (Adam counts its steps), and each discriminator step draws new prior samples."""
    x, y = _data(128)
    model = rl.build_model(AAEConfig(disc_steps=3, gen_steps=2, **TINY))
    assert model.phases == ("reconstruction", *("discriminator",) * 3, *("generator",) * 2)
    opts = model.configure_optimizers(rl.TrainConfig(lr=1e-3))
    assert set(opts) == {"reconstruction", "discriminator", "generator"}
    history = rl.fit(model, rl.DeviceBatches(x, y, batch_size=32, seed=0), rl.TrainConfig(epochs=1, batch_size=32),
                     optimizers=opts, progress=False)
    assert len(history.steps["discriminator"]) == 4  # one logged value per batch
    steps = {p: int(next(iter(o.state.values()))["step"]) for p, o in opts.items()}
    assert steps == {"reconstruction": 4, "discriminator": 12, "generator": 8}
    rl.seed_everything(0)
    losses = [float(model(x[:32], phase="discriminator").loss.detach()) for _ in range(2)]
    assert losses[0] != losses[1]  # a fresh prior draw per step


def test_discriminator_codes_are_reused_only_while_the_encoder_is_unchanged():
    x, _ = _data(32)
    model = rl.build_model(AAEConfig(disc_steps=2, **TINY))
    first = model._codes_for_discriminator(x)
    assert model._codes_for_discriminator(x) is first  # same batch, same encoder: reused
    assert model._codes_for_discriminator(x.clone()) is not first  # another batch
    again = model._codes_for_discriminator(x)
    opt = torch.optim.SGD(model.encoder.parameters(), lr=0.1)
    model(x, phase="reconstruction").loss.backward()
    opt.step()
    fresh = model._codes_for_discriminator(x)
    assert fresh is not again and not torch.allclose(fresh, again)
    assert torch.allclose(fresh, model.encode(x).detach())


@pytest.mark.parametrize("schedule, factors", [
    ("constant", [1, 1, 1, 1]),
    ("step", [1, 1, 0.1, 0.1]),
    ("exponential", [1, 1, 0.5, 0.25]),
])
def test_learning_rate_schedule_per_epoch(schedule, factors):
    config = AAEConfig(lr_schedule=schedule, lr_decay_epoch=3, lr_decay_factor=0.1 if schedule == "step" else 0.5,
                       **TINY)
    assert [config.lr_factor(epoch) for epoch in (1, 2, 3, 4)] == pytest.approx(factors)


def test_fit_applies_the_schedule_to_every_phase():
    """Training 3 epochs with every rate / 10 from epoch 2 on: the optimizers end at a tenth of
    their initial rates, each phase keeping its own scale."""
    x, y = _data(64)
    model = rl.build_model(AAEConfig(lr_schedule="step", lr_decay_epoch=2, disc_lr_scale=0.5, gen_lr_scale=0.25,
                                     **TINY))
    seen = []

    class Rates(rl.Callback):
        def on_epoch_end(self, epoch, model, history):
            seen.append({p: o.param_groups[0]["lr"] for p, o in opts.items()})

    opts = model.configure_optimizers(rl.TrainConfig(lr=1e-2))
    rl.fit(model, rl.DeviceBatches(x, y, batch_size=32, seed=0), rl.TrainConfig(epochs=3, batch_size=32, lr=1e-2),
           optimizers=opts, callbacks=[Rates()], progress=False)
    initial = {"reconstruction": 1e-2, "discriminator": 5e-3, "generator": 2.5e-3}
    for epoch, factor in zip((1, 2, 3), (1.0, 0.1, 0.1)):
        assert seen[epoch - 1] == pytest.approx({p: lr * factor for p, lr in initial.items()})


def test_adversarial_betas_go_to_the_adversarial_optimizers_only():
    model = rl.build_model(AAEConfig(adversarial_betas=(0.5, 0.99), **TINY))
    opts = model.configure_optimizers(rl.TrainConfig())
    assert opts["reconstruction"].param_groups[0]["betas"] == (0.9, 0.999)
    assert opts["discriminator"].param_groups[0]["betas"] == (0.5, 0.99)
    assert opts["generator"].param_groups[0]["betas"] == (0.5, 0.99)


def test_r1_penalty_is_logged_and_adds_gamma_half_the_squared_gradient():
    x, _ = _data(64)
    gamma = 4.0
    model = rl.build_model(AAEConfig(disc_gradient_penalty=gamma, **TINY))
    rl.seed_everything(0)
    out = model(x, phase="discriminator")
    assert set(out.terms) == {"discriminator", "gradient_penalty"}
    assert float(out.terms["gradient_penalty"]) > 0
    assert float(out.loss) == pytest.approx(float(out.terms["discriminator"] + gamma / 2 * out.terms["gradient_penalty"]))
    out.loss.backward()  # the penalty's graph reaches the discriminator's weights
    assert all(p.grad is not None for p in model.discriminator.parameters())
    assert all(p.grad is None for p in model.encoder.parameters())


def test_book_aae_uses_the_validated_game():
    from replearn_core.book.zoo import AAE_GAME, BOOK_MODELS

    cfg = BOOK_MODELS["aae_gaussian"].model
    assert (cfg.disc_steps, cfg.disc_lr_scale, cfg.gen_lr_scale, cfg.lr_schedule) == (10, 1.0, 1.0, "step")
    assert BOOK_MODELS["aae_mixture"].model.replace(prior="gaussian") == cfg
    assert AAE_GAME["lr_decay_epoch"] < BOOK_MODELS["aae_gaussian"].training.epochs

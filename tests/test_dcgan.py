"""DCGAN: output-size rule vs torch, block validation, two phases that touch only their own parameters."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import replearn_core as rl
from replearn_core.models.dcgan import (DCGAN, ConvBlock, DCGANConfig, conv_output_size,
                                        conv_transpose_output_size, stage_table)


@pytest.mark.parametrize("width,kernel,stride,padding", [
    (28, 4, 2, 1), (14, 4, 2, 1), (28, 5, 2, 2), (28, 3, 1, 1), (7, 3, 2, 0), (64, 4, 2, 1), (4, 4, 1, 0),
    (9, 4, 3, 0), (10, 4, 2, 1), (5, 5, 1, 0), (32, 7, 3, 3),
])
def test_conv_output_size_matches_torch(width, kernel, stride, padding):
    out = nn.Conv2d(1, 1, kernel, stride, padding)(torch.zeros(1, 1, width, width))
    assert conv_output_size(width, kernel, stride, padding) == out.shape[-1]


@pytest.mark.parametrize("width,kernel,stride,padding,output_padding", [
    (7, 4, 2, 1, 0), (14, 4, 2, 1, 0), (7, 5, 2, 2, 1), (1, 4, 1, 0, 0), (4, 4, 2, 1, 0), (3, 3, 2, 0, 1),
    (5, 3, 3, 1, 2), (6, 2, 2, 0, 0),
])
def test_conv_transpose_output_size_matches_torch(width, kernel, stride, padding, output_padding):
    layer = nn.ConvTranspose2d(1, 1, kernel, stride, padding, output_padding)
    out = layer(torch.zeros(1, 1, width, width))
    assert conv_transpose_output_size(width, kernel, stride, padding, output_padding) == out.shape[-1]


def test_transposed_size_inverts_the_strided_size():
    for w in range(2, 40):
        o = conv_output_size(w, 4, 2, 1)
        assert conv_transpose_output_size(o, 4, 2, 1, output_padding=w - conv_transpose_output_size(o, 4, 2, 1)) == w


def test_size_helpers_reject_impossible_arguments():
    with pytest.raises(ValueError, match="kernel 5 is larger"):
        conv_output_size(3, 5)
    with pytest.raises(ValueError, match="stride"):
        conv_output_size(28, 4, 0)
    with pytest.raises(ValueError, match="output_padding"):
        conv_transpose_output_size(7, 4, 2, 1, output_padding=2)
    with pytest.raises(ValueError, match="output width"):
        conv_transpose_output_size(1, 1, 1, padding=1)


def test_every_stage_shape_matches_the_built_network():
    with_dense = DCGANConfig(generator_dense=(48, 40), discriminator_dense=(24,))
    for config in (DCGANConfig(), DCGANConfig.pytorch_examples(64), DCGANConfig.pytorch_examples(32), with_dense):
        model = DCGAN(config)
        z = torch.randn(3, config.z_dim)
        h = model.generator.dense(model.generator.hidden(z)).view(3, config.d1, config.f1, config.f1)
        shapes = [tuple(h.shape[1:])]
        h = model.generator.dense_act(h)
        for layer in model.generator.deconv:
            h = layer(h)
            if isinstance(layer, (nn.ReLU, nn.Tanh)):
                shapes.append(tuple(h.shape[1:]))
        assert shapes == [s for _, s in config.generator_shapes()]
        x = torch.rand(3, config.image_channels, config.image_size, config.image_size)
        shapes = [tuple(x.shape[1:])]
        for layer in model.discriminator.conv:
            x = layer(x)
            if isinstance(layer, nn.LeakyReLU):
                shapes.append(tuple(x.shape[1:]))
        assert shapes == [s for _, s in config.discriminator_shapes()]
        assert model.discriminator(torch.rand(3, 1, config.image_size, config.image_size)).shape == (3,)
        rows = stage_table(config, "discriminator")
        assert rows[-1]["shape"] == (1,) and sum(r["params"] for r in rows) == sum(
            p.numel() for p in model.discriminator.parameters())
        rows = stage_table(config, "generator")
        assert sum(r["params"] for r in rows) == sum(p.numel() for p in model.generator.parameters())


def test_pytorch_examples_config_is_the_examples_network():
    config = DCGANConfig.pytorch_examples(64)
    model = DCGAN(config)
    # pytorch/examples dcgan/main.py with nc=1: netG 3,574,656 and netD 2,763,520 parameters
    assert sum(p.numel() for p in model.generator.parameters()) == 3_574_656
    assert sum(p.numel() for p in model.discriminator.parameters()) == 2_763_520
    assert [s for _, s in config.generator_shapes()] == [(512, 4, 4), (256, 8, 8), (128, 16, 16), (64, 32, 32),
                                                          (1, 64, 64)]
    assert model.sample(2, seed=0).shape == (2, 1, 64, 64)
    with pytest.raises(ValueError, match="image_size"):
        DCGANConfig.pytorch_examples(28)


@pytest.mark.parametrize("changes,field", [
    ({"generator_blocks": (ConvBlock(32), ConvBlock(1, kernel=3, batch_norm=False))}, r"generator_blocks\[1\]"),
    ({"generator_blocks": (ConvBlock(32, kernel=1, stride=1, padding=4), ConvBlock(1, batch_norm=False))},
     r"generator_blocks\[0\]"),
    ({"generator_blocks": (ConvBlock(32), ConvBlock(3, batch_norm=False))}, r"generator_blocks\[1\]\.channels"),
    ({"generator_blocks": (ConvBlock(32, output_padding=2), ConvBlock(1, batch_norm=False))},
     r"generator_blocks\[0\]\.output_padding"),
    ({"generator_blocks": (ConvBlock(0), ConvBlock(1))}, r"generator_blocks\[0\]\.channels"),
    ({"generator_blocks": ((32, 4, 2, 1), ConvBlock(1))}, r"generator_blocks\[0\]"),
    ({"generator_blocks": ()}, "generator_blocks"),
    ({"discriminator_blocks": (ConvBlock(32), ConvBlock(64), ConvBlock(64), ConvBlock(64), ConvBlock(64))},
     r"discriminator_blocks\[4\]"),
    ({"discriminator_blocks": (ConvBlock(32, stride=0),)}, r"discriminator_blocks\[0\]\.stride"),
    ({"discriminator_blocks": (ConvBlock(32, output_padding=1),)}, r"discriminator_blocks\[0\]\.output_padding"),
    ({"f1": 6}, r"generator_blocks\[1\]"),
    ({"z_dim": 0}, "z_dim"),
    ({"generator_dense": (1024, 0)}, "generator_dense"),
    ({"discriminator_dense": [1024]}, "discriminator_dense"),
    ({"init": "xavier"}, "init"),
    ({"beta1": 1.0}, "beta1"),
])
def test_invalid_configs_raise_value_error_naming_the_field(changes, field):
    with pytest.raises(ValueError, match=field):
        DCGANConfig(**changes)


def test_generator_chain_error_shows_the_sizes():
    with pytest.raises(ValueError, match=r"7 -> 14 -> 27.*image_size 28x28"):
        DCGANConfig(generator_blocks=(ConvBlock(32), ConvBlock(1, kernel=3, batch_norm=False)))


def test_a_64x64_config_from_blocks_and_a_28x28_config_with_5x5_kernels():
    cfg = DCGANConfig(f1=7, generator_blocks=(ConvBlock(32, 5, 2, 2, 1), ConvBlock(1, 5, 2, 2, 1, batch_norm=False)),
                      discriminator_blocks=(ConvBlock(32, 5, 2, 2, batch_norm=False), ConvBlock(64, 5, 2, 2)))
    assert DCGAN(cfg).sample(2, seed=1).shape == (2, 1, 28, 28)
    big = DCGANConfig(image_size=64, f1=4, d1=64, generator_blocks=tuple(ConvBlock(c) for c in (32, 16, 8))
                      + (ConvBlock(1, batch_norm=False),),
                      discriminator_blocks=tuple(ConvBlock(c) for c in (8, 16, 32)))
    assert DCGAN(big).sample(3).shape == (3, 1, 64, 64)


def _params(module: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def _changed(before: list[torch.Tensor], module: nn.Module) -> list[bool]:
    return [not torch.equal(a, b) for a, b in zip(before, module.parameters())]


@pytest.fixture
def tiny():
    torch.manual_seed(0)
    config = DCGANConfig(d1=8, generator_blocks=(ConvBlock(4), ConvBlock(1, batch_norm=False)),
                         discriminator_blocks=(ConvBlock(4, batch_norm=False), ConvBlock(8)), bias=True)
    model = DCGAN(config)
    x = torch.rand(8, 1, 28, 28)
    return model, model.configure_optimizers(rl.TrainConfig(lr=2e-4)), x


def _step(model, optimizers, x, phase):
    optimizers[phase].zero_grad(set_to_none=True)
    out = model(x, phase=phase)
    out.loss.backward()
    optimizers[phase].step()
    return out


def test_one_generator_step_changes_only_generator_parameters(tiny):
    model, optimizers, x = tiny
    g0, d0 = _params(model.generator), _params(model.discriminator)
    out = _step(model, optimizers, x, "generator")
    assert set(out.terms) == {"generator"}
    assert all(_changed(g0, model.generator))
    assert not any(_changed(d0, model.discriminator))


def test_one_discriminator_step_changes_only_discriminator_parameters(tiny):
    model, optimizers, x = tiny
    g0, d0 = _params(model.generator), _params(model.discriminator)
    out = _step(model, optimizers, x, "discriminator")
    assert set(out.terms) == {"discriminator", "d_real", "d_fake"}
    assert all(_changed(d0, model.discriminator))
    assert not any(_changed(g0, model.generator))
    # then the generator step of the same iteration reuses G(z) and still touches only G
    d1 = _params(model.discriminator)
    _step(model, optimizers, x, "generator")
    assert not any(_changed(d1, model.discriminator))


def test_optimizers_are_adam_with_the_dcgan_betas_over_disjoint_parameters(tiny):
    model, optimizers, _ = tiny
    assert list(optimizers) == list(model.phases) == ["discriminator", "generator"]
    for phase, module in (("discriminator", model.discriminator), ("generator", model.generator)):
        opt = optimizers[phase]
        assert isinstance(opt, torch.optim.Adam)
        assert opt.defaults["betas"] == (0.5, 0.999) and opt.defaults["lr"] == 2e-4
        assert {id(p) for g in opt.param_groups for p in g["params"]} == {id(p) for p in module.parameters()}
    assert model.image_input is True


def test_samples_are_images_in_the_unit_interval_and_seeded(tiny):
    model, _, _ = tiny
    a, b = model.sample(5, seed=3), model.sample(5, seed=3)
    assert a.shape == (5, 1, 28, 28) and torch.equal(a, b)
    assert float(a.min()) >= 0 and float(a.max()) <= 1
    assert model.training  # generate() restores the training mode
    with pytest.raises(ValueError, match="phase"):
        model(torch.rand(2, 1, 28, 28), phase="loss")


def test_a_few_iterations_of_fit_teach_the_discriminator(tiny):
    model, _, _ = tiny
    x, y = rl.mnist_tensors("train", "cpu", flatten=False, subset=256)
    history = rl.fit(model, rl.DeviceBatches(x, y, batch_size=32, seed=0), rl.TrainConfig(epochs=2, lr=2e-3),
                     progress=False)
    assert len(history.steps["discriminator"]) == 16 and len(history.steps["generator"]) == 16
    # D starts at chance (loss 2 log 2 = 1.386) and learns to tell real from generated digits
    assert history.steps["discriminator"][0] == pytest.approx(1.386, abs=0.15)
    assert min(history.steps["discriminator"][-4:]) < history.steps["discriminator"][0] - 0.2


def test_interpolation_paths_start_and_end_at_the_two_vectors():
    from replearn_core.traversal import interpolate

    gen = torch.Generator().manual_seed(0)
    z_a, z_b = torch.randn(2, 100, generator=gen)
    t = torch.linspace(0, 1, 5)
    for mode in ("linear", "slerp"):
        path = interpolate(z_a, z_b, t, mode)
        assert path.shape == (5, 100)
        assert torch.allclose(path[0], z_a, atol=1e-5) and torch.allclose(path[-1], z_b, atol=1e-5)
    lin, sph = interpolate(z_a, z_b, 0.5, "linear")[0], interpolate(z_a, z_b, 0.5, "slerp")[0]
    # two independent 100-d Gaussians are nearly orthogonal: the linear midpoint loses ~1/sqrt(2) of the norm
    assert lin.norm() < 0.8 * (z_a.norm() + z_b.norm()) / 2
    assert sph.norm() == pytest.approx(float((z_a.norm() + z_b.norm()) / 2), rel=1e-4)
    with pytest.raises(ValueError, match="mode"):
        interpolate(z_a, z_b, 0.5, "cubic")


def test_multiply_adds_match_torch_flop_counter():
    from torch.utils.flop_counter import FlopCounterMode

    from replearn_core.models.dcgan import multiply_adds

    for config in (DCGANConfig(), DCGANConfig.pytorch_examples(32),
                   DCGANConfig(generator_dense=(48,), discriminator_dense=(24, 16))):
        model = DCGAN(config).eval()
        counts = multiply_adds(config)
        with FlopCounterMode(display=False) as fc:
            model.generator(torch.randn(1, config.z_dim))
        assert fc.get_total_flops() == 2 * counts["generator"]
        with FlopCounterMode(display=False) as fc:
            model.discriminator(torch.rand(1, 1, config.image_size, config.image_size))
        assert fc.get_total_flops() == 2 * counts["discriminator"]


def test_book_network_has_the_dense_layers_and_long_run_rejects_unknown_networks():
    from replearn_core.book.zoo import DCGAN_ALL_CONV, DCGAN_BOOK, DCGAN_NETWORKS
    from replearn_tools.dcgan_long import long_run

    book = DCGAN(DCGAN_BOOK)
    assert [m.out_features for m in book.generator.hidden if isinstance(m, nn.Linear)] == [512]
    assert [m.out_features for m in book.discriminator.hidden if isinstance(m, nn.Linear)] == [512]
    assert len(DCGAN(DCGAN_ALL_CONV).generator.hidden) == 0 and DCGAN_NETWORKS["all-conv"] == DCGAN_ALL_CONV
    assert [r["stage"] for r in stage_table(DCGAN_BOOK, "discriminator")][-3:] == ["flatten", "dense 1", "logit"]
    with pytest.raises(ValueError, match="network"):
        long_run(1, network="resnet")


def test_generator_weight_average_follows_generator_steps_only():
    torch.manual_seed(0)
    config = DCGANConfig(d1=8, generator_blocks=(ConvBlock(4), ConvBlock(1, batch_norm=False)),
                         discriminator_blocks=(ConvBlock(4, batch_norm=False), ConvBlock(8)), generator_ema=0.75)
    model = DCGAN(config)
    plain = DCGAN(DCGANConfig(d1=8, generator_blocks=config.generator_blocks,
                              discriminator_blocks=config.discriminator_blocks))
    assert model.num_parameters() == plain.num_parameters()  # the average is a copy, not counted
    assert not any(p.requires_grad for p in model.generator_ema.parameters())
    x, y = rl.mnist_tensors("train", "cpu", flatten=False, subset=64)
    g0 = _params(model.generator)
    # one iteration of fit: a discriminator step, then a generator step, then the average's update
    rl.fit(model, rl.DeviceBatches(x, y, batch_size=64, seed=0), rl.TrainConfig(epochs=1, lr=1e-2), progress=False)
    for avg, before, after in zip(model.generator_ema.parameters(), g0, model.generator.parameters()):
        assert torch.allclose(avg, 0.75 * before + 0.25 * after.detach(), atol=1e-6)
    for avg, b in zip(model.generator_ema.buffers(), model.generator.buffers()):
        assert torch.equal(avg, b)  # BatchNorm statistics copied
    z = torch.randn(4, config.z_dim)
    assert not torch.allclose(model.generate(z), model.generate(z, averaged=False))
    with torch.no_grad():
        trained = (model.eval().generator(z) + 1) / 2
    assert torch.equal(model.generate(z, averaged=False), trained.clamp(0, 1))
    with pytest.raises(ValueError, match="generator_ema"):
        DCGANConfig(generator_ema=1.0)

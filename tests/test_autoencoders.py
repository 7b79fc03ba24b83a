"""Autoencoders of chapters 02-04: configs, shapes, training, recorded reconstructions, traversals, projections."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

import replearn_core as rl  # noqa: E402
from replearn_core.book import zoo  # noqa: E402
from replearn_core.models import autoencoder as ae  # noqa: E402
from replearn_core.models import Autoencoder, AutoencoderConfig, encode_dataset  # noqa: E402

TINY = AutoencoderConfig(hidden=(16,), latent_dim=2, activation="relu")


@pytest.mark.parametrize("kwargs, field", [
    ({"latent_dim": 0}, "latent_dim"),
    ({"input_dim": -1}, "input_dim"),
    ({"hidden": [256]}, "hidden"),
    ({"hidden": (256, 0)}, "hidden"),
    ({"activation": "swish"}, "activation"),
    ({"latent_activation": "softmax"}, "latent_activation"),
])
def test_invalid_config_names_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        AutoencoderConfig(**kwargs)


def test_deep_autoencoder_is_the_reports_architecture_mirrored():
    for cfg in (zoo.DEEP_AE_SIGMOID, zoo.DEEP_AE_LEAKY_RELU):
        model = rl.build_model(cfg)
        enc = [(m.in_features, m.out_features) for m in model.encoder if isinstance(m, nn.Linear)]
        dec = [(m.in_features, m.out_features) for m in model.decoder if isinstance(m, nn.Linear)]
        assert enc == [(784, 400), (400, 200), (200, 100), (100, 20), (20, 10)]
        assert dec == [(o, i) for i, o in reversed(enc)]
    sig = rl.build_model(zoo.DEEP_AE_SIGMOID).eval()
    assert sum(isinstance(m, nn.Sigmoid) for m in sig.encoder) == 5  # four hidden layers and the code
    z = sig.encode(torch.rand(8, 784))
    assert z.shape == (8, 10) and bool(((z > 0) & (z < 1)).all())
    leaky = rl.build_model(zoo.DEEP_AE_LEAKY_RELU)
    assert sum(isinstance(m, nn.LeakyReLU) for m in leaky.modules()) == 8
    assert isinstance(leaky.encoder[-1], nn.Linear)  # a linear, unbounded code


def test_book_models_are_registered():
    models = zoo.BOOK_MODELS
    assert models["undercomplete_ae"].model == zoo.UNDERCOMPLETE_AE
    assert models["deep_ae_sigmoid"].model == zoo.DEEP_AE_SIGMOID
    assert models["deep_ae_leaky_relu"].model == zoo.DEEP_AE_LEAKY_RELU
    assert models["deep_ae_sigmoid"].chapter == "03_disentangling_style"
    assert [zoo.bottleneck_config(w).latent_dim for w in zoo.BOTTLENECK_WIDTHS] == [2, 4, 8, 16, 32, 64]
    assert zoo.bottleneck_config(8).hidden == zoo.UNDERCOMPLETE_AE.hidden


def test_shapes_loss_and_filters():
    model = Autoencoder(AutoencoderConfig(hidden=(32,), latent_dim=4)).eval()
    x = torch.rand(5, 784)
    z = model.encode(x)
    r = model.reconstruct(x)
    assert z.shape == (5, 4) and r.shape == (5, 784)
    assert bool(((r >= 0) & (r <= 1)).all())
    out = model(x)
    assert out.loss.ndim == 0
    assert out.loss.item() == pytest.approx(rl.metrics.bce_per_image(r, x), rel=1e-4)
    assert encode_dataset(model, torch.rand(7, 784), batch_size=3).shape == (7, 4)
    assert ae.encoder_filters(model).shape == (32, 784)
    assert ae.decoder_filters(model).shape == (32, 784)
    assert torch.equal(ae.encoder_filters(model), model.encoder[0].weight)
    assert torch.equal(ae.decoder_filters(model), model.decoder[-1].weight.T)


def test_training_reduces_reconstruction_loss():
    x, y = rl.mnist_tensors("test", "cpu", subset=512)
    model = Autoencoder(AutoencoderConfig(hidden=(64,), latent_dim=8))
    before = rl.metrics.bce_per_image(model.eval().reconstruct(x), x)
    rl.fit(model, rl.DeviceBatches(x, y, batch_size=64, seed=0), rl.TrainConfig(epochs=4, batch_size=64, lr=3e-3),
           progress=False)
    after = rl.metrics.bce_per_image(model.reconstruct(x), x)
    assert after < before - 100  # from about 545 nats (random weights) to well under 250


# --- traversals ----------------------------------------------------------------------------


def test_traversal_grid_changes_only_one_dimension_per_row():
    weight = torch.randn(3, 784)
    decode = lambda z: z @ weight  # noqa: E731 - linear, so every frame can be checked exactly
    z0 = torch.tensor([0.5, -0.5, 0.0])
    images, values = rl.traversal.latent_traversal_grid(decode, z0, [[-1, 1], [0, 2], [-3, 3]], steps=5)
    assert images.shape == (15, 784) and values.shape == (3, 5)
    np.testing.assert_allclose(values[2], [-3, -1.5, 0, 1.5, 3])
    for i in range(3):
        for k in range(5):
            z = z0.clone()
            z[i] = values[i, k]
            np.testing.assert_allclose(images[i * 5 + k], z @ weight, atol=1e-5)
    with pytest.raises(ValueError, match="ranges"):
        rl.traversal.latent_traversal_grid(decode, z0, [[0, 1]] * 2)
    with pytest.raises(ValueError, match="steps"):
        rl.traversal.latent_traversal_grid(decode, z0, (0, 1), steps=1)


def test_observed_ranges_are_quantiles():
    codes = torch.stack([torch.linspace(0, 100, 101), torch.linspace(-1, 1, 101)], 1)
    r = rl.traversal.observed_ranges(codes, 0.1, 0.9)
    np.testing.assert_allclose(r, [[10, 90], [-0.8, 0.8]], atol=1e-5)
    with pytest.raises(ValueError, match="low, high"):
        rl.traversal.observed_ranges(codes, 0.9, 0.1)


def test_class_change_fraction_counts_frames_with_another_class():
    decode = lambda z: z.clone()  # noqa: E731 - the "image" is the code itself
    classify = lambda im: (im[:, 0] > 0).long()  # noqa: E731 - class 1 when z1 > 0
    codes = torch.tensor([[-1.0, 0.0], [-1.0, 5.0]])
    stats = rl.traversal.class_change_fraction(decode, classify, codes, [[-2, 2], [-2, 2]], steps=5, chunk=1)
    # dimension 1 (z1) takes the values -2, -1, 0, 1, 2: two frames of five become class 1
    np.testing.assert_allclose(stats.per_dimension, [0.4, 0.0])
    assert stats.class_change_fraction == pytest.approx(0.2)
    assert stats.start_classes.tolist() == [0, 0]
    assert stats.frame_classes.shape == (2, 2, 5) and int(stats.changed.sum()) == 4
    assert stats.switches_per_traversal == pytest.approx(0.5)  # one switch in each z1 traversal, none along z2
    # mean |frame - start| over the 2 "pixels": z1 moves by 1,0,1,2,3; z2 by 2,1,0,1,2 (first code)
    # and 7,6,5,4,3 (second code)
    expected = (2 * (1 + 0 + 1 + 2 + 3) + (2 + 1 + 0 + 1 + 2) + (7 + 6 + 5 + 4 + 3)) / (2 * 2 * 5 * 2)
    assert stats.pixel_change == pytest.approx(expected)


def test_class_change_fraction_is_zero_when_the_decoder_ignores_the_code():
    decode = lambda z: torch.zeros(len(z), 784)  # noqa: E731
    classify = lambda im: torch.zeros(len(im), dtype=torch.long)  # noqa: E731
    stats = rl.traversal.class_change_fraction(decode, classify, torch.randn(4, 3), (-1, 1), steps=3)
    assert stats.class_change_fraction == 0.0 and stats.pixel_change == 0.0


def test_pca_projection_orders_components_and_fixes_signs():
    gen = torch.Generator().manual_seed(0)
    base = torch.randn(500, 4, generator=gen) * torch.tensor([5.0, 2.0, 1.0, 0.1])
    rot = torch.linalg.qr(torch.randn(4, 4, generator=gen))[0]
    codes = base @ rot.T + 3.0
    proj, ratio = rl.traversal.pca_projection(codes, k=3)
    assert proj.shape == (500, 3) and ratio.shape == (3,)
    assert bool((ratio[:-1] >= ratio[1:]).all()) and 0.9 < float(ratio.sum()) <= 1.0
    np.testing.assert_allclose(proj.mean(0), 0, atol=1e-4)
    proj2, _ = rl.traversal.pca_projection(-codes, k=3)  # flipping the data does not flip the view
    np.testing.assert_allclose(proj2.abs(), proj.abs(), atol=1e-4)
    with pytest.raises(ValueError, match="k"):
        rl.traversal.pca_projection(codes, k=5)


def test_pca_reconstruction_mse_falls_with_components():
    x = rl.mnist_tensors("test", "cpu", subset=300)[0]
    errors = [rl.metrics.pca_reconstruction_mse(x[:200], x[200:], k) for k in (1, 8, 64)]
    assert errors[0] > errors[1] > errors[2] > 0
    assert rl.metrics.pca_reconstruction_mse(x[:200], x[:200], 199) < 1e-6  # full rank: exact on the fitted data
    with pytest.raises(ValueError, match="k"):
        rl.metrics.pca_reconstruction_mse(x[:10], x, 11)


def test_figure_helpers_draw_every_panel():
    gen = torch.Generator().manual_seed(0)
    points = torch.randn(600, 3, generator=gen)
    labels = torch.arange(600) % 10
    fig = rl.plots.plot_latent_trisurf(points, labels, title="test", max_points=40)
    axes3d = [a for a in fig.axes if a.name == "3d"]
    assert len(axes3d) == 10 and axes3d[6].get_title().startswith("digit 6")
    plt.close(fig)
    with pytest.raises(ValueError, match="points"):
        rl.plots.plot_latent_trisurf(points[:, :2], labels)
    ax = rl.plots.show_weight_tiles(torch.randn(12, 784), nrow=6, title="tiles")
    assert ax.images[0].get_clim() == (-1.0, 1.0)
    plt.close("all")
    ax = rl.plots.plot_grouped_bars(["z1", "z2"], {"a": [0.1, 0.2], "b": [0.3, 0.4]}, "dimension", "fraction")
    assert len(ax.patches) == 4
    plt.close("all")


def test_effective_dimension_counts_used_directions():
    gen = torch.Generator().manual_seed(0)
    iso = torch.randn(4000, 5, generator=gen)
    assert rl.metrics.effective_dimension(iso) == pytest.approx(5, rel=0.05)
    line = torch.randn(4000, 1, generator=gen) @ torch.randn(1, 5, generator=gen)
    assert rl.metrics.effective_dimension(line + 1e-4 * torch.randn(4000, 5, generator=gen)) == pytest.approx(1, abs=0.01)

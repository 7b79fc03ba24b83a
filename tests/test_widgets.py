"""The latent slider panel: the image it shows is always decoder(current sliders), and redraws are fast."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch

import replearn_core as rl
from replearn_core.models import Autoencoder, AutoencoderConfig
from replearn_core.viz.widgets import LatentSliderPanel


def _linear_decoder(d: int, pixels: int = 784, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    weight = torch.randn(d, pixels, generator=gen)
    bias = torch.randn(pixels, generator=gen)
    return lambda z: torch.sigmoid(z @ weight + bias)


def _expected(decode, z, shape=(28, 28)) -> np.ndarray:
    with torch.no_grad():
        return decode(torch.as_tensor(np.asarray(z), dtype=torch.float32).reshape(1, -1)).numpy().reshape(shape)


def test_initial_image_is_decoder_of_start_code():
    decode = _linear_decoder(10)
    z0 = torch.linspace(-1, 1, 10)
    panel = LatentSliderPanel(decode, z0, ranges=(-3, 3))
    np.testing.assert_allclose(panel.values, z0.numpy(), atol=1e-6)
    np.testing.assert_allclose(panel.image, _expected(decode, z0), atol=1e-6)
    assert panel.image.shape == (28, 28)


def test_moving_a_slider_changes_the_image_to_decoder_of_new_code():
    decode = _linear_decoder(10)
    panel = LatentSliderPanel(decode, torch.zeros(10), ranges=(-3, 3))
    before, png_before = panel.image.copy(), panel.image_widget.value
    panel.set_value(3, 2.5)
    z = np.zeros(10)
    z[3] = 2.5
    assert np.abs(panel.image - before).max() > 1e-3
    np.testing.assert_allclose(panel.image, _expected(decode, z), atol=1e-6)
    assert panel.image_widget.value != png_before
    # what the front end does when the reader drags a slider: set the trait directly
    panel.sliders[7].value = -1.25
    z[7] = -1.25
    np.testing.assert_allclose(panel.values, z, atol=1e-9)
    np.testing.assert_allclose(panel.image, _expected(decode, z), atol=1e-6)


def test_displayed_png_is_the_current_image():
    from PIL import Image

    decode = _linear_decoder(4)
    panel = LatentSliderPanel(decode, torch.zeros(4), ranges=(-2, 2), scale=3)
    panel.set_values([0.5, -0.5, 1.0, 2.0])
    shown = np.asarray(Image.open(io.BytesIO(panel.image_widget.value)))
    assert shown.shape == (28 * 3, 28 * 3)
    expected = np.round(panel.image * 255).astype(np.uint8).repeat(3, 0).repeat(3, 1)
    assert np.abs(shown.astype(int) - expected.astype(int)).max() <= 1


def test_set_values_redraws_once_and_reset_returns_to_start():
    decode = _linear_decoder(6)
    z0 = torch.tensor([0.1, -0.2, 0.3, 0.0, 0.5, -0.5])
    panel = LatentSliderPanel(decode, z0, ranges=(-1, 1))
    start_image = panel.image.copy()
    n = len(panel.update_seconds)
    panel.set_values(-z0)
    assert len(panel.update_seconds) == n + 1
    np.testing.assert_allclose(panel.image, _expected(decode, -z0), atol=1e-6)
    panel.reset()
    np.testing.assert_allclose(panel.image, start_image, atol=1e-6)


def test_two_d_latent_per_dimension_ranges_labels_and_caption():
    decode = _linear_decoder(2, pixels=8 * 16)
    panel = LatentSliderPanel(decode, [0.0, 0.0], ranges=[[-3, 3], [-1, 1]], image_shape=(8, 16),
                              labels=["z1", "z2"], caption=lambda im: f"mean {im.mean():.4f}")
    assert [s.description for s in panel.sliders] == ["z1", "z2"]
    assert (panel.sliders[1].min, panel.sliders[1].max) == (-1.0, 1.0)
    panel.set_value(0, 2.0)
    assert panel.image.shape == (8, 16)
    np.testing.assert_allclose(panel.image, _expected(decode, [2.0, 0.0], (8, 16)), atol=1e-6)
    assert panel.caption_widget.value == f"mean {panel.image.mean():.4f}"


def test_start_code_outside_ranges_is_clipped():
    panel = LatentSliderPanel(_linear_decoder(2), [5.0, -5.0], ranges=(-1, 1))
    np.testing.assert_allclose(panel.values, [1.0, -1.0])


@pytest.mark.parametrize("kwargs, field", [
    ({"ranges": [[0, 1]] * 3}, "ranges"),
    ({"ranges": (1, 0)}, "ranges"),
    ({"labels": ["a"]}, "labels"),
    ({"scale": 0}, "scale"),
    ({"image_shape": (28,)}, "image_shape"),
])
def test_invalid_arguments_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        LatentSliderPanel(_linear_decoder(2), [0.0, 0.0], **kwargs)


def test_out_of_range_or_wrong_length_values_raise():
    panel = LatentSliderPanel(_linear_decoder(3), [0.0, 0.0, 0.0], ranges=(-1, 1))
    with pytest.raises(ValueError, match="outside its range"):
        panel.set_value(0, 1.5)
    with pytest.raises(ValueError, match="z: expected 3 values"):
        panel.set_values([0.0, 0.0])
    with pytest.raises(ValueError, match="index"):
        panel.set_value(3, 0.0)


def test_autoencoder_decoder_and_update_time_on_cpu():
    model = Autoencoder(AutoencoderConfig(hidden=(400, 200, 100, 20), latent_dim=10, activation="leaky_relu")).eval()
    z0 = torch.randn(10)
    panel = LatentSliderPanel(model.decode, z0, ranges=(-3, 3),
                              caption=lambda im: f"brightness {im.mean():.2f}")
    assert panel.device == torch.device("cpu")
    panel.set_value(0, -2.0)
    z = z0.clone()
    z[0] = -2.0
    with torch.no_grad():
        expected = model.decode(z[None]).numpy().reshape(28, 28)
    np.testing.assert_allclose(panel.image, expected, atol=1e-5)
    assert panel.time_update(repeats=20, rounds=3) < 0.1  # well under 100 ms per update


def test_display_bundle_has_widget_and_readable_text():
    panel = LatentSliderPanel(_linear_decoder(2), [0.0, 0.0])
    bundle = panel._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["text/plain"].startswith("Latent slider panel: 2 sliders (z1, z2)")
    assert rl.widgets.LatentSliderPanel is LatentSliderPanel

"""Live latent sliders for JupyterLab: one slider per latent dimension, the decoded image redrawn.

::

    panel = rl.viz.widgets.LatentSliderPanel(model.decode, z0=codes[0], ranges=rl.traversal.observed_ranges(codes))
    panel                        # shows the sliders and the image in JupyterLab
    panel.set_value(2, 1.5)      # programmatic use: move slider z3
    panel.image                  # the decoded image now shown, [H, W] numpy array in [0, 1]

The panel is generic: any decoder callable ``decode(z [1, d]) -> image [1, H*W]`` (pixel
values in [0, 1]), any latent size and image shape, so the autoencoder chapters (10
sliders) and the VAE chapter (``z1``, ``z2``) use the same class. A redraw decodes one code
and encodes a small PNG (about a millisecond for the book's MLP decoders on a CPU);
:meth:`LatentSliderPanel.time_update` measures it.

The sliders need a live Python kernel: in the static book they render without effect (and
notebooks are stored without widget state), so the static book has its own JavaScript
explorers (:mod:`replearn_core.viz.explorer`).
"""
from __future__ import annotations

import io
import time
from typing import Callable, Sequence

import numpy as np
import torch

from ..traversal import as_ranges


class LatentSliderPanel:
    """Sliders for the coordinates of a latent code and the image the decoder makes of it.

    * ``decode``: callable mapping a float tensor [1, d] to pixel values [1, H*W] (or [1, H, W]);
    * ``z0``: the starting code [d] (e.g. the code of a chosen test digit); :meth:`reset` returns to it;
    * ``ranges``: one ``(lo, hi)`` for every slider, or a [d, 2] table (e.g.
      :func:`replearn_core.traversal.observed_ranges`); ``z0`` is clipped into them;
    * ``image_shape``: (H, W) of a decoded image; ``scale``: display magnification;
    * ``labels``: slider names (default ``z1 ... zd``, the report's 1-based notation);
    * ``caption``: optional callable ``image [H, W] -> str`` shown under the image (e.g. the
      classifier's reading of the digit);
    * ``steps``: slider resolution (number of steps across each range).
    """

    def __init__(self, decode: Callable[[torch.Tensor], torch.Tensor], z0, ranges=(-3.0, 3.0), *,
                 image_shape: tuple[int, int] = (28, 28), scale: int = 8, labels: Sequence[str] | None = None,
                 caption: Callable[[np.ndarray], str] | None = None, steps: int = 200, title: str | None = None,
                 device: torch.device | str | None = None):
        import ipywidgets as w

        z0 = torch.as_tensor(z0, dtype=torch.float32).detach().reshape(-1)
        d = len(z0)
        if d == 0:
            raise ValueError("z0: the starting code is empty")
        r = as_ranges(ranges, d).numpy()
        if labels is None:
            labels = [f"z{i + 1}" for i in range(d)]
        if len(labels) != d:
            raise ValueError(f"labels: expected {d} names, got {len(labels)}")
        if not (isinstance(scale, int) and scale >= 1):
            raise ValueError(f"scale: must be a positive integer, got {scale!r}")
        if len(image_shape) != 2 or any(int(s) <= 0 for s in image_shape):
            raise ValueError(f"image_shape: expected (H, W), got {image_shape!r}")
        if not (isinstance(steps, int) and steps >= 2):
            raise ValueError(f"steps: must be an integer >= 2, got {steps!r}")
        self.decode = decode
        self.device = torch.device(device) if device is not None else _decoder_device(decode)
        self.ranges = r
        self.image_shape = (int(image_shape[0]), int(image_shape[1]))
        self.scale = scale
        self.caption = caption
        self.z0 = np.clip(z0.numpy().astype(np.float64), r[:, 0], r[:, 1])
        self.update_seconds: list[float] = []
        self._hold = False
        self.image: np.ndarray = np.zeros(self.image_shape, dtype=np.float32)

        style = {"description_width": "36px"}
        self.sliders = [
            w.FloatSlider(value=float(self.z0[i]), min=float(lo), max=float(hi), step=float((hi - lo) / steps),
                          description=str(labels[i]), continuous_update=True, readout_format=".2f", style=style,
                          layout=w.Layout(width="320px"))
            for i, (lo, hi) in enumerate(r)
        ]
        self.image_widget = w.Image(format="png", width=self.image_shape[1] * scale, height=self.image_shape[0] * scale)
        self.caption_widget = w.HTML()
        reset = w.Button(description="reset to start code", layout=w.Layout(width="180px"))
        reset.on_click(lambda _: self.reset())
        for s in self.sliders:
            s.observe(self._on_change, names="value")
        right = w.VBox([self.image_widget, self.caption_widget, reset])
        header = [w.HTML(f"<b>{title}</b>")] if title else []
        self.widget = w.VBox(header + [w.HBox([w.VBox(self.sliders), right])])
        self.redraw()

    # -- programmatic use ------------------------------------------------------------------
    @property
    def values(self) -> np.ndarray:
        """The current code (slider values) [d]."""
        return np.array([s.value for s in self.sliders], dtype=np.float64)

    def set_value(self, index: int, value: float) -> np.ndarray:
        """Move slider ``index`` (0-based) to ``value``; return the redrawn image [H, W]."""
        if not 0 <= index < len(self.sliders):
            raise ValueError(f"index: must be in [0, {len(self.sliders)}), got {index}")
        self._check_in_range(index, value)
        self.sliders[index].value = float(value)
        return self.image

    def set_values(self, z) -> np.ndarray:
        """Move every slider at once (one redraw); return the redrawn image [H, W]."""
        z = np.asarray(torch.as_tensor(z, dtype=torch.float64).cpu()).reshape(-1)
        if len(z) != len(self.sliders):
            raise ValueError(f"z: expected {len(self.sliders)} values, got {len(z)}")
        for i, v in enumerate(z):
            self._check_in_range(i, v)
        self._hold = True
        try:
            for s, v in zip(self.sliders, z):
                s.value = float(v)
        finally:
            self._hold = False
        self.redraw()
        return self.image

    def reset(self) -> np.ndarray:
        """Back to the starting code."""
        return self.set_values(self.z0)

    @torch.no_grad()
    def decoded(self, z) -> np.ndarray:
        """``decode(z)`` as an [H, W] numpy image, without touching the sliders."""
        zt = torch.as_tensor(np.asarray(z, dtype=np.float32)).reshape(1, -1).to(self.device)
        out = self.decode(zt)
        img = out.detach().float().cpu().numpy().reshape(self.image_shape)
        return img

    def redraw(self) -> None:
        """Decode the current slider values and show the image (called on every slider move)."""
        start = time.perf_counter()
        self.image = self.decoded(self.values)
        self.image_widget.value = _png(self.image, self.scale)
        if self.caption is not None:
            self.caption_widget.value = self.caption(self.image)
        self.update_seconds.append(time.perf_counter() - start)

    def time_update(self, repeats: int = 50, index: int = 0, rounds: int = 1) -> float:
        """Seconds of one slider update (decode + PNG + caption) while sweeping slider ``index``.

        Each round moves the slider ``repeats`` times across its range and takes the median
        update time; the result is the lowest median of ``rounds`` rounds (as ``timeit``
        advises: on a busy machine the other rounds measure the neighbours, not the panel).
        """
        lo, hi = self.ranges[index]
        before = self.values
        medians = []
        for _ in range(rounds):
            times = []
            for v in np.linspace(lo, hi, repeats):
                start = time.perf_counter()
                self.set_value(index, float(v))
                times.append(time.perf_counter() - start)
            medians.append(float(np.median(times)))
        self.set_values(before)
        return min(medians)

    # -- display ---------------------------------------------------------------------------
    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = self.widget._repr_mimebundle_(include=include, exclude=exclude)
        if isinstance(bundle, tuple):
            bundle = bundle[0]
        bundle = dict(bundle or {})
        bundle["text/plain"] = (f"Latent slider panel: {len(self.sliders)} sliders "
                                f"({', '.join(s.description for s in self.sliders)}); it needs a live Python "
                                "kernel, e.g. JupyterLab.")
        return bundle

    def _on_change(self, _change) -> None:
        if not self._hold:
            self.redraw()

    def _check_in_range(self, index: int, value: float) -> None:
        lo, hi = self.ranges[index]
        tol = 1e-9 * max(1.0, abs(lo), abs(hi))
        if not (lo - tol <= float(value) <= hi + tol):
            raise ValueError(f"value {float(value):.4g} of slider {self.sliders[index].description} is outside "
                             f"its range [{lo:.4g}, {hi:.4g}]")


def _decoder_device(decode) -> torch.device:
    owner = getattr(decode, "__self__", decode)
    if isinstance(owner, torch.nn.Module):
        for p in owner.parameters():
            return p.device
    return torch.device("cpu")


def _png(image: np.ndarray, scale: int) -> bytes:
    from PIL import Image

    arr = (np.clip(image, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
    if scale > 1:
        arr = arr.repeat(scale, axis=0).repeat(scale, axis=1)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()

"""Latent explorers that work in the static book: no kernel, no network.

ipywidgets sliders render in a published Jupyter Book but do nothing there (no Python
kernel runs behind a static page), and their scripts come from a CDN. The book's explorers
instead run the decoder itself in the reader's browser:

1. :func:`export_decoder` turns a trained MLP decoder (an ``nn.Sequential`` of ``nn.Linear``
   layers and sigmoid / ReLU / leaky ReLU / tanh activations, ending in logits that a
   sigmoid turns into pixel intensities) into a compact description: layer sizes,
   activations, float32 weights (little-endian, base64), real test codes to start from and
   one slider range per latent dimension.
2. :func:`write_decoder_js` writes that description as
   ``book/_static/replearn/decoders/<name>.js``, a script that registers itself on
   ``window.replearnDecoders``. A page opened from disk (``file://``) can load it with a plain
   ``<script src>``, which ``fetch`` could not.
3. ``book/_static/replearn/explorer.js`` (dependency free) evaluates the decoder with
   Float32Array arithmetic, draws the image on a canvas and drives it with one range slider
   per latent dimension (plus a clickable pad for 2-d latents).
4. :func:`show_explorer` does both steps from a notebook and returns the HTML output that
   embeds the explorer in the chapter's page.

In a chapter, after training a model, one line is enough::

    rl.viz.explorer.show_explorer(model, "vae_2d", codes[:500], labels=y_test[:500])

The built pages live in ``_build/html/book/<chapter>.html`` and Sphinx copies ``book/_static``
to ``_build/html/_static`` (``html_static_path`` in ``_config.yml``), so the HTML refers to the
scripts as ``../_static/replearn/...``. In a live Jupyter session that path does not resolve and
the output shows a short note instead; the sliders are for the static book.
"""
from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from ..paths import static_dir, write_text_atomic
from ..traversal import as_ranges, observed_ranges

#: Version tag of the exported description; ``explorer.js`` refuses other formats.
FORMAT = "replearn-mlp-decoder/1"
#: Where the built page finds the static folder: pages are ``_build/html/book/<chapter>.html``.
STATIC_URL = "../_static"
#: Attribute that marks an explorer in the HTML (the browser tests look for it).
MARKER = "data-replearn-explorer"
#: The activations ``explorer.js`` implements (``"linear"``: none).
JS_ACTIVATIONS = ("linear", "sigmoid", "relu", "leaky_relu", "tanh")
#: Exports larger than this are refused: the file is committed and loaded by every reader.
MAX_BYTES = 8_000_000
#: At most this many codes are stored (start codes and the dots of the 2-d pad).
MAX_CODES = 2000

_NAME = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,63}$")


@dataclass(frozen=True)
class _Layer:
    weight: np.ndarray  # [out, in] float32, as nn.Linear stores it
    bias: np.ndarray  # [out] float32
    activation: str = "linear"
    slope: float = 0.0  # negative slope of leaky_relu


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array, dtype="<f4").tobytes()).decode("ascii")


def _unb64(text: str, shape: tuple[int, ...]) -> np.ndarray:
    data = np.frombuffer(base64.b64decode(text), dtype="<f4")
    if data.size != int(np.prod(shape)):
        raise ValueError(f"weights: expected {int(np.prod(shape))} float32 values, got {data.size}")
    return data.reshape(shape).astype(np.float32)


def _flatten_modules(module: nn.Module) -> list[nn.Module]:
    if isinstance(module, nn.Sequential):
        return [m for child in module for m in _flatten_modules(child)]
    return [module]


def find_decoder(decoder_model: nn.Module) -> nn.Module:
    """The decoder to export: ``decoder_model`` itself if it is an ``nn.Sequential``/``nn.Linear``,
    else its ``decoder`` attribute (the book's autoencoders, VAEs and AAEs keep it there)."""
    if isinstance(decoder_model, (nn.Sequential, nn.Linear)):
        return decoder_model
    decoder = getattr(decoder_model, "decoder", None)
    if isinstance(decoder, (nn.Sequential, nn.Linear)):
        return decoder
    raise ValueError(f"decoder_model: expected an nn.Sequential decoder or a model with a .decoder "
                     f"nn.Sequential, got {type(decoder_model).__name__} (pass e.g. model.decoders[0])")


def _layers(decoder: nn.Module, output_activation: str | None) -> list[_Layer]:
    """Linear layers with the activation that follows each; checks the module kinds."""
    layers: list[_Layer] = []
    pending: dict | None = None
    trailing_activation = False
    for m in _flatten_modules(decoder):
        if isinstance(m, (nn.Identity, nn.Dropout)):
            continue
        if isinstance(m, nn.Linear):
            if pending is not None:
                layers.append(_Layer(**pending))
            w = m.weight.detach().to("cpu", torch.float32).numpy()
            b = (m.bias.detach().to("cpu", torch.float32).numpy() if m.bias is not None
                 else np.zeros(m.out_features, np.float32))
            pending = {"weight": w.copy(), "bias": b.copy()}
            trailing_activation = False
            continue
        if isinstance(m, nn.Sigmoid):
            act, slope = "sigmoid", 0.0
        elif isinstance(m, nn.ReLU):
            act, slope = "relu", 0.0
        elif isinstance(m, nn.LeakyReLU):
            act, slope = "leaky_relu", float(m.negative_slope)
        elif isinstance(m, nn.Tanh):
            act, slope = "tanh", 0.0
        else:
            raise ValueError(f"decoder_model: cannot export {type(m).__name__}; the explorer handles "
                             "Linear layers with Sigmoid, ReLU, LeakyReLU or Tanh activations")
        if pending is None:
            raise ValueError(f"decoder_model: {type(m).__name__} before the first Linear layer")
        if trailing_activation:
            raise ValueError(f"decoder_model: two activations in a row ({type(m).__name__})")
        pending.update(activation=act, slope=slope)
        trailing_activation = True
    if pending is None:
        raise ValueError("decoder_model: the decoder has no Linear layer")
    if not trailing_activation:  # the decoder ends in logits
        act = "sigmoid" if output_activation == "auto" else (output_activation or "linear")
        if act not in JS_ACTIVATIONS or act == "leaky_relu":
            raise ValueError(f"output_activation: must be None or one of sigmoid, relu, tanh, got {output_activation!r}")
        pending.update(activation=act, slope=0.0)
    elif output_activation not in ("auto", None):
        raise ValueError(f"output_activation: the decoder already ends with an activation; got {output_activation!r} "
                         "(use 'auto')")
    layers.append(_Layer(**pending))
    for a, b in zip(layers[:-1], layers[1:]):
        if a.weight.shape[0] != b.weight.shape[1]:
            raise ValueError(f"decoder_model: layer sizes do not chain ({a.weight.shape[0]} -> {b.weight.shape[1]})")
    return layers


def _default_ranges(codes: torch.Tensor) -> list[tuple[float, float]]:
    """The 1%..99% quantiles of the start codes per dimension, as the live slider panels use
    (:func:`replearn_core.traversal.observed_ranges`); a unit that never varies gets +-0.5."""
    if len(codes) < 2:
        raise ValueError("ranges: give the slider ranges explicitly when there is only one start code")
    r = observed_ranges(codes).double().numpy()
    pad = np.where(r[:, 1] - r[:, 0] < 1e-6, 0.5, 0.0)
    return [(float(lo - p), float(hi + p)) for (lo, hi), p in zip(r, pad)]


def export_decoder(decoder_model: nn.Module, name: str, start_codes, ranges=None,
                   image_shape: Sequence[int] = (28, 28), *, labels=None, title: str | None = None,
                   output_activation: str | None = "auto", value_range: tuple[float, float] = (0.0, 1.0),
                   max_codes: int = MAX_CODES, max_bytes: int = MAX_BYTES) -> dict:
    """The JSON-ready description of ``decoder_model`` that ``explorer.js`` evaluates.

    * ``decoder_model``: an ``nn.Sequential`` (Linear + sigmoid/relu/leaky_relu/tanh) or a
      model with such a ``.decoder``; its input size is the latent size.
    * ``start_codes``: ``[N, latent_dim]`` real codes (e.g. encoded test images); the sliders
      start at the first, the explorer can step through them, a 2-d pad draws them all.
    * ``ranges``: one ``(low, high)`` per latent dimension, or one pair for all (default: the
      1%..99% quantiles of the codes, :func:`replearn_core.traversal.observed_ranges`).
    * ``labels``: optional ``[N]`` integer labels of the codes (colours on the 2-d pad).
    * ``output_activation``: applied after a final Linear (``"auto"``: sigmoid, since the
      book's decoders end in logits); ``value_range``: output values shown as black .. white.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"name: must be 1-64 lower-case letters, digits, '_' or '-' (a file name), got {name!r}")
    layers = _layers(find_decoder(decoder_model), output_activation)
    latent_dim = int(layers[0].weight.shape[1])
    n_out = int(layers[-1].weight.shape[0])
    image_shape = tuple(int(s) for s in image_shape)
    if len(image_shape) != 2 or min(image_shape) < 1 or image_shape[0] * image_shape[1] != n_out:
        raise ValueError(f"image_shape: {image_shape} does not hold the decoder's {n_out} outputs (height, width)")
    codes = torch.as_tensor(start_codes).detach().to("cpu", torch.float32)
    if codes.ndim == 1:
        codes = codes[None]
    if codes.ndim != 2 or codes.shape[1] != latent_dim or len(codes) == 0:
        raise ValueError(f"start_codes: expected shape [N, {latent_dim}] with N >= 1, got {tuple(codes.shape)}")
    if not torch.isfinite(codes).all():
        raise ValueError("start_codes: contains NaN or infinite values")
    if labels is not None:
        labels = [int(v) for v in torch.as_tensor(labels).reshape(-1).tolist()]
        if len(labels) != len(codes):
            raise ValueError(f"labels: expected {len(codes)} labels, one per start code, got {len(labels)}")
        labels = labels[:max_codes]
    codes = codes[:max_codes]
    if ranges is None:
        ranges = _default_ranges(codes)
    ranges = [(float(lo), float(hi)) for lo, hi in as_ranges(ranges, latent_dim).tolist()]
    lo_v, hi_v = (float(v) for v in value_range)
    if not lo_v < hi_v:
        raise ValueError(f"value_range: expected (low, high) with low < high, got {value_range!r}")

    digest = hashlib.sha256()
    out_layers = []
    for layer in layers:
        digest.update(np.ascontiguousarray(layer.weight, "<f4").tobytes())
        digest.update(np.ascontiguousarray(layer.bias, "<f4").tobytes())
        entry = {"in": int(layer.weight.shape[1]), "out": int(layer.weight.shape[0]),
                 "activation": layer.activation, "weight": _b64(layer.weight), "bias": _b64(layer.bias)}
        if layer.activation == "leaky_relu":
            entry["slope"] = layer.slope
        out_layers.append(entry)
    size = sum(len(e["weight"]) + len(e["bias"]) for e in out_layers)
    if size > max_bytes:
        raise ValueError(f"decoder_model: the export would take {size / 1e6:.1f} MB (> max_bytes={max_bytes / 1e6:.1f} MB); "
                         "export a smaller decoder or raise max_bytes")
    return {
        "format": FORMAT,
        "name": name,
        "title": title or name,
        "latent_dim": latent_dim,
        "image_shape": list(image_shape),
        "sizes": [latent_dim] + [e["out"] for e in out_layers],
        "activations": [e["activation"] for e in out_layers],
        "value_range": [lo_v, hi_v],
        "layers": out_layers,
        "ranges": [list(r) for r in ranges],
        "n_codes": int(len(codes)),
        "codes": _b64(codes.numpy()),
        "labels": labels,
        "sha256": digest.hexdigest(),
    }


def decoder_from_description(desc: dict) -> nn.Sequential:
    """Rebuild a PyTorch decoder (pixel values out, output activation included) from an export."""
    if desc.get("format") != FORMAT:
        raise ValueError(f"format: expected {FORMAT!r}, got {desc.get('format')!r}")
    modules: list[nn.Module] = []
    for entry in desc["layers"]:
        linear = nn.Linear(entry["in"], entry["out"])
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(_unb64(entry["weight"], (entry["out"], entry["in"]))))
            linear.bias.copy_(torch.from_numpy(_unb64(entry["bias"], (entry["out"],))))
        modules.append(linear)
        act = entry["activation"]
        if act == "sigmoid":
            modules.append(nn.Sigmoid())
        elif act == "relu":
            modules.append(nn.ReLU())
        elif act == "leaky_relu":
            modules.append(nn.LeakyReLU(entry["slope"]))
        elif act == "tanh":
            modules.append(nn.Tanh())
        elif act != "linear":
            raise ValueError(f"activations: unknown activation {act!r}")
    return nn.Sequential(*modules).eval()


def description_codes(desc: dict) -> np.ndarray:
    """The stored start codes ``[n_codes, latent_dim]`` of an export."""
    return _unb64(desc["codes"], (desc["n_codes"], desc["latent_dim"]))


def grey_levels(values: np.ndarray | torch.Tensor, value_range=(0.0, 1.0)) -> np.ndarray:
    """Decoder outputs as the canvas's 0..255 grey levels (what ``explorer.js`` draws)."""
    lo, hi = value_range
    v = np.asarray(torch.as_tensor(values).detach().cpu().double().numpy())
    return np.clip(np.floor((v - lo) / (hi - lo) * 255 + 0.5), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# Files and HTML


def decoders_dir(static: Path | None = None) -> Path:
    return Path(static or static_dir()) / "replearn" / "decoders"


def decoder_js(desc: dict) -> str:
    """The text of ``decoders/<name>.js``: registers the description on ``window.replearnDecoders``."""
    payload = json.dumps(desc, separators=(",", ":"))
    return ("/* replearn latent explorer: decoder " + json.dumps(desc["name"]) + ", " + FORMAT +
            ". Generated by replearn_core.explorer; do not edit. */\n"
            "(function (d) {\n"
            "  (window.replearnDecoders = window.replearnDecoders || {})[d.name] = d;\n"
            "  if (window.replearnExplorer) window.replearnExplorer.mountAll();\n"
            "})(" + payload + ");\n")


def read_decoder_js(path: str | Path) -> dict:
    """Parse a file written by :func:`write_decoder_js` back into its description."""
    text = Path(path).read_text()
    start, end = text.index("})(") + 3, text.rindex(");")
    return json.loads(text[start:end])


def write_decoder_js(desc: dict, static: Path | None = None) -> Path:
    """Write ``<static>/replearn/decoders/<name>.js`` (atomically) and return its path."""
    path = decoders_dir(static) / f"{desc['name']}.js"
    text = decoder_js(desc)
    if path.exists() and path.read_text() == text:
        return path
    return write_text_atomic(path, text)


def explorer_html(name: str, latent_dim: int, title: str | None = None, static_url: str = STATIC_URL) -> str:
    """The HTML that embeds explorer ``name`` in a built page.

    Depends only on the name, title and latent size (never on the weights), so the stored
    notebook output is the same on every rerun, whatever the float noise of training.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"name: must be 1-64 lower-case letters, digits, '_' or '-', got {name!r}")
    title = html.escape(title or name)
    src = html.escape(static_url.rstrip("/"))
    return (f'<div class="replearn-explorer" {MARKER}="{name}" id="replearn-explorer-{name}">\n'
            f'<p class="replearn-explorer-fallback"><strong>Latent explorer: {title}</strong> '
            f'({latent_dim} latent dimensions). The sliders run in the HTML book, where the decoder is '
            f'evaluated in the browser; this view cannot load <code>{src}/replearn/explorer.js</code>.</p>\n'
            f'</div>\n'
            f'<script src="{src}/replearn/explorer.js"></script>\n'
            f'<script src="{src}/replearn/decoders/{name}.js"></script>\n')


def show_explorer(decoder_model: nn.Module, name: str, start_codes, ranges=None,
                  image_shape: Sequence[int] = (28, 28), *, labels=None, title: str | None = None,
                  output_activation: str | None = "auto", value_range: tuple[float, float] = (0.0, 1.0),
                  static: Path | None = None, static_url: str = STATIC_URL):
    """Export ``decoder_model`` and return the HTML output that embeds its explorer in the book.

    One call in a chapter, after its model is trained::

        model = rl.book_model("vae_2d", device).model
        codes = rl.models.encode_dataset(model, x_test[:500])
        rl.viz.explorer.show_explorer(model, "vae_2d", codes, (-3, 3), labels=y_test[:500],
                                  title="VAE 784-400-100-10-2")

    * ``decoder_model``: the model (its ``.decoder`` is used) or the decoder ``nn.Sequential``
      itself (e.g. ``model.decoders[0]`` of the transfer chapter).
    * ``name``: file and DOM name, unique in the book (lower case, digits, ``_``, ``-``).
    * ``start_codes``: ``[N, latent_dim]`` real codes: the sliders start at the first one;
      "previous/next code" steps through them; for 2-d latents they are the dots on the pad.
    * ``ranges``: slider ranges, ``(low, high)`` for all dimensions or one pair per dimension
      (default: the 1%..99% quantiles of the codes, as the live ``rl.widgets`` panels use).
    * ``image_shape``: ``(height, width)`` of the decoded image, e.g. ``(64, 64)`` for faces.

    Writes ``book/_static/replearn/decoders/<name>.js`` (commit it with the notebook) and
    returns an :class:`IPython.display.HTML`, so it should be the last expression of its cell.
    """
    from IPython.display import HTML

    desc = export_decoder(decoder_model, name, start_codes, ranges, image_shape, labels=labels, title=title,
                          output_activation=output_activation, value_range=value_range)
    write_decoder_js(desc, static)
    return HTML(explorer_html(name, desc["latent_dim"], desc["title"], static_url))

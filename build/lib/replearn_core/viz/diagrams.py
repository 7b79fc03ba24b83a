"""Architecture diagrams drawn from the models' own configurations, as SVG.

The report's figures 1, 2, 14 and 21 (and the DCGAN and latent-transfer networks), drawn by
code: every layer size, activation, prior and learning-rate scale comes from the config that
builds the model, so a diagram changes when the model does. Each function returns a
:class:`Diagram`, which a notebook shows as ``image/svg+xml`` (JupyterLab and the static book
both render it as an image), and whose ``.svg`` is the text of a standalone SVG file.

* :func:`autoencoder_graph` - figure 1, the autoencoder as a graphical model x -> h -> r;
* :func:`autoencoder_diagram` - figure 2, the layers of an (undercomplete, deep or sparse)
  autoencoder, :class:`~replearn_core.models.autoencoder.AutoencoderConfig`;
* :func:`vae_diagram` - figure 14, the VAE (:class:`~replearn_core.models.vae.VAEConfig`) and,
  next to it, the reparameterisation trick (:func:`reparameterisation_diagram` alone);
* :func:`aae_diagram` - figure 21, the adversarial autoencoder's three players and three
  training phases (:class:`~replearn_core.models.aae.AAEConfig`);
* :func:`dcgan_diagram` - the DCGAN's generator and discriminator, map by map
  (:class:`~replearn_core.models.dcgan.DCGANConfig`);
* :func:`transfer_diagram` - latent transfer, one encoder and two decoders or two
  autoencoders (:class:`~replearn_core.models.transfer.TransferConfig`).

Drawing conventions, the same in every diagram: a fully connected layer is a column whose
height grows with the logarithm of its size (:func:`column_height`, one scale for all
diagrams), with the size written under it; data are light grey, encoders blue, codes dark
blue, decoders orange, discriminators green, chosen so that the parts stay apart when printed
in grey; random quantities are dashed ellipses, deterministic ones solid boxes; the forward
pass is a solid arrow, a gradient a dashed one. Text is set at a fixed size in px (14, 12 for
sizes and notes) and the drawings are about as wide as the book's text column, so that they
show at their natural size and shrink only on narrow screens (the SVG carries a ``viewBox``).
Mathematical labels are plain Unicode with italic variables and sub/superscripts (MathJax does
not run inside an SVG image); the layout measures them with the metrics of DejaVu Sans, the
first font the SVG asks for. Every SVG has a ``<title>`` and a ``<desc>`` (``Diagram.title``,
``Diagram.desc``) for screen readers, and the HTML form (:meth:`Diagram._repr_html_`, which
JupyterLab shows even in untrusted notebooks and the static book uses) carries them as ``alt``.
"""
from __future__ import annotations

import base64
import hashlib
import math
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from xml.sax.saxutils import escape

from ..config import BaseConfig
from ..models.aae import MIXTURE_COMPONENTS, AAEConfig
from ..models.autoencoder import AutoencoderConfig
from ..models.sparse import SparseAutoencoderConfig
from ..models.dcgan import DCGANConfig
from ..models.transfer import TransferConfig
from ..models.vae import VAEConfig

__all__ = [
    "Diagram", "aae_diagram", "autoencoder_diagram", "autoencoder_graph", "column_height", "dcgan_diagram",
    "label_width", "reparameterisation_diagram", "transfer_diagram", "vae_diagram",
]

FONT_FAMILY = "'DejaVu Sans', Verdana, 'Bitstream Vera Sans', sans-serif"
FONT_SIZE = 14  # labels
SMALL = 12  # layer sizes, notes, captions of parts
CAPTION_MIN_WIDTH = 520  # a caption is wrapped to at least this width (px)
MAX_LAYERS = 12  # hidden layers one diagram draws legibly (per encoder or discriminator)

INK = "#222222"
MUTED = "#555555"
GRADIENT = "#b2182b"  # dashed arrows of the backward pass

#: (fill, stroke) of each kind of part; the fills differ in lightness as well as in hue (CIE L*
#: about 96, 87, 71, 62 and 46), so that the parts stay apart when the page is printed in grey.
STYLES = {
    "data": ("#f5f5f5", "#4d4d4d"),
    "encoder": ("#7fb3d5", "#2b5d86"),
    "code": ("#2f6fae", "#173a5e"),
    "decoder": ("#fdd09f", "#a0521d"),
    "discriminator": ("#5fa85b", "#2d6a2b"),
    "op": ("#ffffff", "#333333"),
    "random": ("#ffffff", "#333333"),
    "note": ("#fff7dc", "#9a7b2c"),
}


# ---------------------------------------------------------------------------------------------
# The result


class Diagram:
    """An SVG figure: ``.svg`` is the standalone SVG text, shown by Jupyter as ``image/svg+xml``."""

    def __init__(self, svg: str, title: str, desc: str, width: float, height: float,
                 text_boxes: tuple = ()):
        self.svg = svg
        #: (x0, y0, x1, y1, text) of every label, as laid out (measured with DejaVu Sans)
        self.text_boxes = tuple(text_boxes)
        self.title = title
        self.desc = desc
        self.width = width
        self.height = height

    def _repr_svg_(self) -> str:
        return self.svg

    def _repr_html_(self) -> str:
        """The SVG as an ``<img>`` with a data URI and the description as its ``alt`` text.

        JupyterLab shows ``image/svg+xml`` only in trusted notebooks: a notebook opened from a
        clone, with its stored outputs, shows the text fallback instead. Sanitised HTML is shown
        in every notebook, and an ``<img>`` with a data URI survives the sanitiser. The static
        book (myst-nb prefers ``text/html``) gets the same tag, with the alt text.
        """
        uri = "data:image/svg+xml;base64," + base64.b64encode(self.svg.encode("utf-8")).decode("ascii")
        alt = escape(f"{self.title}. {self.desc}", {'"': "&quot;"})
        return (f'<img src="{uri}" width="{_f(self.width)}" height="{_f(self.height)}" alt="{alt}" '
                'style="max-width: 100%; height: auto;">')

    def __repr__(self) -> str:
        return f"<Diagram {self.title!r}, {self.width:.0f} x {self.height:.0f} px SVG>"

    def save(self, path: str | Path) -> Path:
        """Write the SVG file to ``path`` (UTF-8) and return the path."""
        path = Path(path)
        path.write_text(self.svg, encoding="utf-8")
        return path


# ---------------------------------------------------------------------------------------------
# Text: measuring, a small markup for math-like labels


_FONT_FILES = {(False, False): "DejaVuSans.ttf", (True, False): "DejaVuSans-Bold.ttf",
               (False, True): "DejaVuSans-Oblique.ttf", (True, True): "DejaVuSans-BoldOblique.ttf"}


@cache
def _font_path(bold: bool, italic: bool) -> str:
    import matplotlib

    return str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / _FONT_FILES[bold, italic])


@lru_cache(maxsize=8192)
def text_width(text: str, size: float, bold: bool = False, italic: bool = False) -> float:
    """Advance width in px of ``text`` set in DejaVu Sans at ``size`` px (matplotlib's copy of the font)."""
    if not text:
        return 0.0
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    props = FontProperties(fname=_font_path(bold, italic), size=size)
    measure = TextToPath().get_text_width_height_descent
    # TextToPath measures ink, so leading and trailing spaces need a visible glyph on each side
    return measure("|" + text + "|", props, ismath=False)[0] - measure("||", props, ismath=False)[0]


@dataclass(frozen=True)
class _Run:
    text: str
    italic: bool = False
    bold: bool = False
    shift: int = 0  # -1 subscript, +1 superscript


SCRIPT = 0.72  # size of sub- and superscripts relative to the text
_SHIFT_EM = {-1: 0.28, 0: 0.0, 1: -0.42}  # baseline offset in em (SVG y points down)


def _is_variable(c: str) -> bool:
    """Latin and lower-case Greek letters are set in italic inside math (ℝ, Σ, digits are not)."""
    return "a" <= c <= "z" or "A" <= c <= "Z" or "α" <= c <= "ω"


def _math_runs(body: str, bold: bool, shift: int) -> list[_Run]:
    if shift and len(body) > 1 and body.replace(" ", "").isalpha():  # a word as a subscript (g_{glasses}) stays upright
        return [_Run(body, False, bold, shift)]
    return [_Run(c, _is_variable(c), bold, shift) for c in body]


def _parse(markup: str, bold: bool = False) -> list[_Run]:
    """Runs of ``markup``: plain text, with ``$...$`` for math.

    Inside ``$...$`` letters are italic (variables), other characters upright, ``\\word`` is an
    upright word (``\\log``), ``_x`` / ``_{...}`` a subscript and ``^x`` / ``^{...}`` a superscript.
    """
    runs: list[_Run] = []
    i, math_mode = 0, False
    while i < len(markup):
        c = markup[i]
        if c == "$":
            math_mode = not math_mode
            i += 1
        elif not math_mode:
            runs.append(_Run(c, False, bold))
            i += 1
        elif c == "\\":
            j = i + 1
            while j < len(markup) and markup[j].isalpha():
                j += 1
            runs.append(_Run(markup[i + 1:j], False, bold))
            i = j
        elif c in "_^" and i + 1 < len(markup):
            shift = -1 if c == "_" else 1
            if markup[i + 1] == "{":
                j = markup.index("}", i + 2)
                body, i = markup[i + 2:j], j + 1
            else:
                body, i = markup[i + 1], i + 2
            runs.extend(_math_runs(body, bold, shift))
        else:
            runs.extend(_math_runs(c, bold, 0))
            i += 1
    merged: list[_Run] = []
    for r in runs:  # join neighbours of one style, so the SVG has few tspans
        if merged and (merged[-1].italic, merged[-1].bold, merged[-1].shift) == (r.italic, r.bold, r.shift):
            merged[-1] = _Run(merged[-1].text + r.text, r.italic, r.bold, r.shift)
        else:
            merged.append(r)
    return merged


def _runs_width(runs: list[_Run], size: float) -> float:
    return sum(text_width(r.text, size * (SCRIPT if r.shift else 1), r.bold, r.italic) for r in runs)


def label_width(markup: str, size: float = FONT_SIZE, bold: bool = False) -> float:
    """Width in px of a label written in the diagrams' markup (see :func:`_parse`)."""
    return _runs_width(_parse(markup, bold), size)


def _plain(markup: str) -> str:
    """The label as plain text (for ``<desc>``): markup removed, scripts kept inline."""
    return "".join(r.text for r in _parse(markup))


def _tspans(runs: list[_Run], size: float) -> str:
    out, offset = [], 0.0
    for r in runs:
        attrs = []
        target = _SHIFT_EM[r.shift] * size
        if target != offset:
            attrs.append(f'dy="{target - offset:.2f}"')
            offset = target
        if r.shift:
            attrs.append(f'font-size="{size * SCRIPT:.1f}"')
        if r.italic:
            attrs.append('font-style="italic"')
        if r.bold:
            attrs.append('font-weight="bold"')
        text = escape(r.text)
        out.append(f"<tspan {' '.join(attrs)}>{text}</tspan>" if attrs else text)
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# A canvas that records elements and their extent


def _f(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".") if abs(v - round(v)) > 1e-9 else str(round(v))


class _Canvas:
    def __init__(self):
        self.items: list[str] = []
        self.text_boxes: list[tuple[float, float, float, float, str]] = []  # for the overlap checks
        self.x0 = self.y0 = math.inf
        self.x1 = self.y1 = -math.inf

    def _extend(self, x0: float, y0: float, x1: float, y1: float) -> None:
        self.x0, self.y0 = min(self.x0, x0), min(self.y0, y0)
        self.x1, self.y1 = max(self.x1, x1), max(self.y1, y1)

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    # -- shapes ---------------------------------------------------------------------------------
    def rect(self, x, y, w, h, fill, stroke, rx=3.0, dash=None, stroke_width=1.2, opacity=None):
        extra = f' stroke-dasharray="{dash}"' if dash else ""
        extra += f' fill-opacity="{opacity}"' if opacity is not None else ""
        self.items.append(f'<rect x="{_f(x)}" y="{_f(y)}" width="{_f(w)}" height="{_f(h)}" rx="{_f(rx)}" '
                          f'fill="{fill}" stroke="{stroke}" stroke-width="{stroke_width}"{extra}/>')
        self._extend(x, y, x + w, y + h)

    def ellipse(self, cx, cy, rx, ry, fill, stroke, dash=None, stroke_width=1.2):
        extra = f' stroke-dasharray="{dash}"' if dash else ""
        self.items.append(f'<ellipse cx="{_f(cx)}" cy="{_f(cy)}" rx="{_f(rx)}" ry="{_f(ry)}" fill="{fill}" '
                          f'stroke="{stroke}" stroke-width="{stroke_width}"{extra}/>')
        self._extend(cx - rx, cy - ry, cx + rx, cy + ry)

    def polygon(self, points, fill, stroke="none", opacity=None, stroke_width=1.0):
        pts = " ".join(f"{_f(x)},{_f(y)}" for x, y in points)
        extra = f' fill-opacity="{opacity}"' if opacity is not None else ""
        self.items.append(f'<polygon points="{pts}" fill="{fill}" stroke="{stroke}" '
                          f'stroke-width="{stroke_width}" stroke-linejoin="round"{extra}/>')
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        self._extend(min(xs), min(ys), max(xs), max(ys))

    def path(self, d, stroke=INK, width=1.2, dash=None, fill="none", extent=None):
        extra = f' stroke-dasharray="{dash}"' if dash else ""
        self.items.append(f'<path d="{d}" fill="{fill}" stroke="{stroke}" stroke-width="{width}" '
                          f'stroke-linecap="round" stroke-linejoin="round"{extra}/>')
        if extent:
            self._extend(*extent)

    def arrow(self, points, color=INK, width=1.4, dash=None, head=9.0, curve=False):
        """A polyline (or, with ``curve``, a quadratic curve through a control point) with a head at the end."""
        (xa, ya), (xb, yb) = points[-2], points[-1]
        length = math.hypot(xb - xa, yb - ya) or 1.0
        ux, uy = (xb - xa) / length, (yb - ya) / length
        stop = (xb - ux * head * 0.8, yb - uy * head * 0.8)
        pts = [*points[:-1], stop]
        if curve and len(pts) == 3:
            d = f"M{_f(pts[0][0])},{_f(pts[0][1])} Q{_f(pts[1][0])},{_f(pts[1][1])} {_f(stop[0])},{_f(stop[1])}"
        else:
            d = "M" + " L".join(f"{_f(x)},{_f(y)}" for x, y in pts)
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        self.path(d, color, width, dash, extent=(min(xs), min(ys), max(xs), max(ys)))
        nx, ny = -uy, ux
        self.polygon([(xb, yb), (xb - ux * head + nx * head * 0.38, yb - uy * head + ny * head * 0.38),
                      (xb - ux * head - nx * head * 0.38, yb - uy * head - ny * head * 0.38)], color, color)

    def brace(self, xa, xb, y, down=True, depth=7.0, color=MUTED):
        """A horizontal curly brace from xa to xb whose tip points down (or up) from y."""
        s = 1 if down else -1
        h, xm = depth, (xa + xb) / 2
        d = (f"M{_f(xa)},{_f(y)} Q{_f(xa)},{_f(y + s * h)} {_f(xa + h)},{_f(y + s * h)} "
             f"L{_f(xm - h)},{_f(y + s * h)} Q{_f(xm)},{_f(y + s * h)} {_f(xm)},{_f(y + 2 * s * h)} "
             f"Q{_f(xm)},{_f(y + s * h)} {_f(xm + h)},{_f(y + s * h)} L{_f(xb - h)},{_f(y + s * h)} "
             f"Q{_f(xb)},{_f(y + s * h)} {_f(xb)},{_f(y)}")
        self.path(d, color, 1.2, extent=(xa, min(y, y + 2 * s * h), xb, max(y, y + 2 * s * h)))
        return y + 2 * s * h

    # -- text -----------------------------------------------------------------------------------
    def text(self, x, y, markup, size=FONT_SIZE, anchor="middle", bold=False, color=INK, runs=None):
        """A one-line label at baseline ``y``; returns its width."""
        runs = runs if runs is not None else _parse(markup, bold)
        w = _runs_width(runs, size)
        x0 = {"start": x, "middle": x - w / 2, "end": x - w}[anchor]
        sub = any(r.shift < 0 for r in runs)
        self.items.append(f'<text x="{_f(x)}" y="{_f(y)}" font-size="{_f(size)}" text-anchor="{anchor}" '
                          f'fill="{color}">{_tspans(runs, size)}</text>')
        box = (x0, y - 0.78 * size, x0 + w, y + (0.45 if sub else 0.24) * size)
        self._extend(*box)
        self.text_boxes.append((*box, "".join(r.text for r in runs)))
        return w

    def lines(self, x, y, markups, size=FONT_SIZE, anchor="middle", color=INK, leading=1.3):
        """Several centred lines starting at baseline ``y``; returns the baseline of the last line."""
        for i, m in enumerate(markups):
            self.text(x, y + i * size * leading, m, size, anchor, color=color)
        return y + (len(markups) - 1) * size * leading

    def badge(self, x, y, number, r=9.0):
        """A phase number: a dark disc with a white digit centred at (x, y)."""
        self.items.append(f'<circle cx="{_f(x)}" cy="{_f(y)}" r="{_f(r)}" fill="{INK}"/>')
        self.items.append(f'<text x="{_f(x)}" y="{_f(y + 4.2)}" font-size="12" font-weight="bold" '
                          f'text-anchor="middle" fill="#ffffff">{number}</text>')
        self._extend(x - r, y - r, x + r, y + r)

    # -- the SVG document ---------------------------------------------------------------------
    def render(self, title: str, desc: str, caption: str | None = None, pad: float = 12.0) -> Diagram:
        x0, y0, x1, y1 = self.x0 - pad, self.y0 - pad, self.x1 + pad, self.y1 + pad
        items = list(self.items)
        if caption:
            width = max(x1 - x0, CAPTION_MIN_WIDTH)
            cx = (x0 + x1) / 2
            x0, x1 = cx - width / 2, cx + width / 2
            lines = _wrap(_caption_runs(caption), width - 2 * pad, FONT_SIZE)
            baseline = y1 + 6 + FONT_SIZE
            for i, line in enumerate(lines):
                if len(lines) == 1:
                    items.append(f'<text x="{_f(cx)}" y="{_f(baseline)}" font-size="{FONT_SIZE}" '
                                 f'text-anchor="middle" fill="{INK}">{_tspans(line, FONT_SIZE)}</text>')
                else:
                    items.append(f'<text x="{_f(x0 + pad)}" y="{_f(baseline + i * FONT_SIZE * 1.35)}" '
                                 f'font-size="{FONT_SIZE}" fill="{INK}">{_tspans(line, FONT_SIZE)}</text>')
            y1 = baseline + (len(lines) - 1) * FONT_SIZE * 1.35 + 0.3 * FONT_SIZE + pad
        w, h = x1 - x0, y1 - y0
        uid = "d" + hashlib.sha1((title + desc + "".join(items)).encode()).hexdigest()[:8]
        head = (f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{_f(w)}" height="{_f(h)}" '
                f'viewBox="{_f(x0)} {_f(y0)} {_f(w)} {_f(h)}" role="img" '
                f'aria-labelledby="{uid}-title {uid}-desc" font-family="{escape(FONT_FAMILY)}" '
                f'font-size="{FONT_SIZE}" style="max-width: 100%; height: auto;">')
        body = [head, f'<title id="{uid}-title">{escape(title)}</title>',
                f'<desc id="{uid}-desc">{escape(desc)}</desc>',
                f'<rect x="{_f(x0)}" y="{_f(y0)}" width="{_f(w)}" height="{_f(h)}" fill="#ffffff"/>',
                *items, "</svg>"]
        return Diagram("\n".join(body) + "\n", title, desc, w, h, self.text_boxes)


def _caption_runs(caption: str) -> list[_Run]:
    """A caption's runs; a leading "Figure N." (up to the first period followed by a space) is bold."""
    if caption.startswith("Figure ") and ". " in caption:
        head, rest = caption.split(". ", 1)
        return _parse(head + ".", bold=True) + _parse(" " + rest)
    return _parse(caption)


def _wrap(runs: list[_Run], width: float, size: float) -> list[list[_Run]]:
    """Greedy line breaking of styled runs at spaces."""
    words: list[list[_Run]] = [[]]
    for r in runs:
        parts = r.text.split(" ")
        for k, part in enumerate(parts):
            if k:
                words.append([])
            if part:
                words[-1].append(_Run(part, r.italic, r.bold, r.shift))
    words = [w for w in words if w]
    space = text_width(" ", size)
    lines: list[list[_Run]] = []
    line: list[_Run] = []
    line_w = 0.0
    for word in words:
        ww = _runs_width(word, size)
        if line and line_w + space + ww > width:
            lines.append(line)
            line, line_w = [], 0.0
        if line:
            line.append(_Run(" "))
            line_w += space
        line.extend(word)
        line_w += ww
    if line:
        lines.append(line)
    return lines


# ---------------------------------------------------------------------------------------------
# Building blocks: layer columns


COLUMN_WIDTH = 26.0


def column_height(size: int) -> float:
    """Height in px of the column of a layer of ``size`` units: 12 px for one unit, +56 px per factor of 10.

    One scale for every diagram (784 units: 174 px, 32: 96 px, 2: 29 px), so that columns of
    different figures compare.
    """
    return 12.0 + 56.0 * math.log10(size)


@dataclass
class _Column:
    x: float
    y: float  # centre
    size: int
    kind: str
    h: float = 0.0

    @property
    def top(self) -> float:
        return self.y - self.h / 2

    @property
    def bottom(self) -> float:
        return self.y + self.h / 2

    @property
    def left(self) -> float:
        return self.x - COLUMN_WIDTH / 2

    @property
    def right(self) -> float:
        return self.x + COLUMN_WIDTH / 2


def _column(c: _Canvas, x: float, y: float, size: int, kind: str, dash: str | None = None) -> _Column:
    col = _Column(x, y, size, kind, column_height(size))
    fill, stroke = STYLES[kind]
    c.rect(col.left, col.top, COLUMN_WIDTH, col.h, fill, stroke, rx=3, dash=dash)
    return col


def _fan(c: _Canvas, a: _Column, b: _Column, kind: str, a_part: tuple[float, float] = (0.0, 1.0)) -> None:
    """The fully connected layer from column a to column b: a translucent band (from a part of a's height)."""
    fill, stroke = STYLES[kind]
    ya0, ya1 = a.top + a_part[0] * a.h, a.top + a_part[1] * a.h
    c.polygon([(a.right, ya0), (b.left, b.top), (b.left, b.bottom), (a.right, ya1)], fill, stroke,
              opacity=0.4, stroke_width=0.6)


def _layer_row(c: _Canvas, x0: float, y: float, gap: float, layers: list[tuple[int, str]]) -> list[_Column]:
    """Columns for ``layers`` [(size, kind)] from x0, every ``gap`` px, joined by bands in the colour of the target."""
    cols = [_column(c, x0 + i * gap, y, size, kind) for i, (size, kind) in enumerate(layers)]
    for a, b in zip(cols, cols[1:]):
        _fan(c, a, b, "decoder" if b.kind == "data" and a.kind != "data" else
             ("encoder" if b.kind == "code" else b.kind))
    return cols


def _sizes_row(c: _Canvas, cols: list[_Column], y: float | None = None) -> float:
    """Layer sizes under the columns, on one baseline; returns the baseline."""
    y = (max(col.bottom for col in cols) + 17) if y is None else y
    for col in cols:
        c.text(col.x, y, f"{col.size:,}", SMALL, color=INK)
    return y


def _notes(c: _Canvas, x: float, y: float, notes: list[str], width: float, sep: str = "   ·   ") -> float:
    """Short notes joined by ``sep`` on centred lines no wider than ``width``; returns the last baseline."""
    lines, line = [], ""
    for note in notes:
        trial = note if not line else line + sep + note
        if line and label_width(trial, SMALL) > width:
            lines.append(line)
            line = note
        else:
            line = trial
    lines.append(line)
    return c.lines(x, y, lines, SMALL, color=MUTED)


def _gap_for(n_columns: int, width: float = 640.0, lo: float = 56.0, hi: float = 92.0,
             sizes: tuple[int, ...] = (), labels: tuple[str, ...] = ()) -> float:
    """Distance between column centres: ``width`` shared out, within [lo, hi], and never less than
    the widest size label (``sizes``, or ``labels``) needs."""
    widest = max([label_width(f"{s:,}", SMALL) for s in sizes] + [label_width(m, SMALL) for m in labels] + [0.0])
    return max(lo, min(hi, width / max(n_columns - 1, 1)), widest + 12)


def _activation_name(name: str | None) -> str:
    return {"relu": "ReLU", "leaky_relu": "leaky ReLU", "sigmoid": "sigmoid", "tanh": "tanh",
            None: "linear"}.get(name, str(name))


# ---------------------------------------------------------------------------------------------
# Validation


def _check_config(config, cls: type, function: str, field: str = "config") -> None:
    if not isinstance(config, cls):
        raise ValueError(f"{field}: {function} needs a config of type {cls.__name__}, got "
                         f"{type(config).__name__} ({config!r:.120})")
    config.validate()  # a config changed after construction (object.__setattr__) is caught here


def _check_depth(config: BaseConfig, field: str) -> None:
    layers = getattr(config, field)
    if len(layers) > MAX_LAYERS:
        raise ValueError(f"invalid configuration: {field}: a diagram draws at most {MAX_LAYERS} hidden layers "
                         f"legibly, got {len(layers)}")


def _check_caption(caption) -> None:
    if caption is not None and not isinstance(caption, str):
        raise ValueError(f"caption: must be a string or None, got {caption!r}")


def _check_number(number) -> None:
    if number is not None and not (isinstance(number, (int, str)) and not isinstance(number, bool)
                                   and str(number).strip()):
        raise ValueError(f"number: must be a figure number (int or str) or None, got {number!r}")


def _caption(caption: str | None, number, default: str) -> str | None:
    """The caption under a diagram: ``caption`` ("" for none) or ``default``, prefixed "Figure N." if numbered."""
    _check_caption(caption)
    _check_number(number)
    text = default if caption is None else caption
    if not text:
        return f"Figure {number}." if number is not None else None
    return f"Figure {number}. {text}" if number is not None else text


# ---------------------------------------------------------------------------------------------
# Figure 1: the autoencoder as a graphical model


def autoencoder_graph(config: AutoencoderConfig | None = None, *, caption: str | None = None,
                      number: int | str | None = None) -> Diagram:
    """Report figure 1: the autoencoder as a graphical model, x -> h -> r with h = f(x), r = g(h).

    With ``config`` (an :class:`AutoencoderConfig`) the nodes carry their dimensions
    (x in R^784, h in R^32, ...). ``caption`` replaces the default caption ("" for none);
    ``number`` prefixes "Figure N.".
    """
    if config is not None:
        _check_config(config, AutoencoderConfig, "autoencoder_graph")
    c = _Canvas()
    r = 25.0
    h_xy, x_xy, r_xy = (210.0, 40.0), (60.0, 160.0), (360.0, 160.0)
    for (cx, cy), name, kind in ((h_xy, "h", "code"), (x_xy, "x", "data"), (r_xy, "r", "data")):
        fill, stroke = STYLES[kind]
        c.ellipse(cx, cy, r, r, fill, stroke, stroke_width=1.4)
        c.text(cx, cy + 6.5, f"${name}$", 19, color="#ffffff" if kind == "code" else INK)

    def edge(a, b):
        dx, dy = b[0] - a[0], b[1] - a[1]
        d = math.hypot(dx, dy)
        return (a[0] + dx / d * (r + 2), a[1] + dy / d * (r + 2)), (b[0] - dx / d * (r + 3), b[1] - dy / d * (r + 3))

    c.arrow(list(edge(x_xy, h_xy)), width=1.6)
    c.arrow(list(edge(h_xy, r_xy)), width=1.6)
    mid_l = ((x_xy[0] + h_xy[0]) / 2, (x_xy[1] + h_xy[1]) / 2)
    mid_r = ((h_xy[0] + r_xy[0]) / 2, (h_xy[1] + r_xy[1]) / 2)
    c.lines(mid_l[0] - 14, mid_l[1] - 12, ["encoder $f$", "$h = f(x)$"], FONT_SIZE, anchor="end")
    c.lines(mid_r[0] + 14, mid_r[1] - 12, ["decoder $g$", "$r = g(h)$"], FONT_SIZE, anchor="start")
    below = [["input"], ["reconstruction"], ["code"]]
    if config is not None:
        below[0].append(f"$x ∈ ℝ^{{{config.input_dim}}}$")
        below[1].append(f"$r ∈ [0, 1]^{{{config.input_dim}}}$")
        below[2].append(f"$h ∈ ℝ^{{{config.latent_dim}}}$")
    c.lines(x_xy[0], x_xy[1] + r + 20, below[0], SMALL, color=MUTED)
    c.lines(r_xy[0], r_xy[1] + r + 20, below[1], SMALL, color=MUTED)
    c.lines(h_xy[0] + r + 10, h_xy[1] + (0 if config is not None else 5), below[2], SMALL, anchor="start",
            color=MUTED)
    dims = (f" (x has {config.input_dim} dimensions, h {config.latent_dim})" if config is not None else "")
    desc = ("Graphical model of an autoencoder: the input x points to the code h through the encoder f, "
            f"and h points to the reconstruction r through the decoder g{dims}.")
    default = ("The autoencoder as a graphical model: the encoder $f$ maps the input $x$ to the code $h$, "
               "the decoder $g$ maps $h$ to the reconstruction $r$, and training makes $g(f(x))$ close to $x$.")
    return c.render("Autoencoder as a graphical model: x → h → r", desc, _caption(caption, number, default))


# ---------------------------------------------------------------------------------------------
# Figure 2: the layers of an autoencoder


def autoencoder_diagram(config: AutoencoderConfig, *, caption: str | None = None,
                        number: int | str | None = None) -> Diagram:
    """Report figure 2: an autoencoder's layers, ``input -> hidden... -> code -> hidden... -> output``.

    Sizes and activations come from ``config`` (an :class:`AutoencoderConfig`, or a
    :class:`~replearn_core.models.sparse.SparseAutoencoderConfig`, whose penalties are noted at
    the code). Column heights grow with the logarithm of the layer size.
    """
    _check_config(config, AutoencoderConfig, "autoencoder_diagram")
    _check_depth(config, "hidden")
    enc = [config.input_dim, *config.hidden]
    layers = ([(config.input_dim, "data")] + [(s, "encoder") for s in config.hidden] + [(config.latent_dim, "code")]
              + [(s, "decoder") for s in config.hidden[::-1]] + [(config.input_dim, "data")])
    c = _Canvas()
    k = len(enc)  # index of the code column
    brace_labels = ("encoder  $h = f(x)$", "decoder  $r = g(h)$")
    gap = max(_gap_for(len(layers), sizes=tuple(s for s, _ in layers)),
              (max(label_width(b) for b in brace_labels) + 24) / k)
    top = max(column_height(s) for s, _ in layers) / 2
    cols = _layer_row(c, 0.0, 0.0, gap, layers)
    label_y = -top - 12
    c.text(cols[0].x, label_y, "input $x$")
    c.text(cols[k].x, label_y, "code $h$")
    c.text(cols[-1].x, label_y, "output $r$")
    sizes_y = _sizes_row(c, cols, top + 17)
    by = c.brace(cols[0].left, cols[k].x - 5, sizes_y + 9)
    c.text((cols[0].left + cols[k].x - 5) / 2, by + 17, brace_labels[0])
    by = c.brace(cols[k].x + 5, cols[-1].right, sizes_y + 9)
    c.text((cols[k].x + 5 + cols[-1].right) / 2, by + 17, brace_labels[1])
    notes = [f"hidden layers: fully connected + {_activation_name(config.activation)}"
             if config.hidden else "no hidden layers: one fully connected layer each way",
             f"code: {_activation_name(config.latent_activation)}", "output: logits of Bernoulli pixels"]
    if isinstance(config, SparseAutoencoderConfig) and config.sparsity_weight > 0:
        notes[1] += f", KL sparsity ρ = {config.sparsity_target:g}, β = {config.sparsity_weight:g}"
    _notes(c, (cols[0].left + cols[-1].right) / 2, by + 40, notes, max(cols[-1].right - cols[0].left, 480))
    name = "-".join(str(s) for s, _ in layers)
    kind = "undercomplete" if config.latent_dim < config.input_dim else "overcomplete"
    desc = (f"An {kind} autoencoder with layers {name}: the encoder maps {config.input_dim} inputs through "
            + (f"hidden layers of {', '.join(map(str, config.hidden))} units" if config.hidden else "no hidden layer")
            + f" to a code of {config.latent_dim} units; the decoder mirrors it back to {config.input_dim} outputs. "
            + "; ".join(notes) + ".")
    default = (f"An {kind} autoencoder, {name}. The encoder $f$ maps the {config.input_dim} pixels to a "
               f"{config.latent_dim}-dimensional code $h$, the decoder $g$ mirrors it back. Each column is a layer "
               "(its height grows with the logarithm of its size), each band a fully connected layer.")
    return c.render(f"Autoencoder {name}", desc, _caption(caption, number, default))


# ---------------------------------------------------------------------------------------------
# Figure 14: the VAE and the reparameterisation trick


def _vae_architecture(c: _Canvas, config: VAEConfig, x0: float, y0: float) -> str:
    """Panel (a): x -> hidden -> (mu, log sigma^2) -> z = mu + sigma * eps -> mirrored decoder. Returns its name."""
    L = config.latent_dim
    enc = [(config.input_dim, "data")] + [(s, "encoder") for s in config.hidden]
    dec = [(s, "decoder") for s in config.hidden[::-1]] + [(config.input_dim, "data")]
    n_pos = len(enc) + 3 + len(dec)  # encoder, (mu, log sigma^2), sampling, z, decoder
    gap = _gap_for(n_pos, 620.0, 56.0, 84.0, sizes=config.layer_sizes, labels=(f"{L} + {L}",))
    h_lat = column_height(L)
    off = h_lat / 2 + 16  # centres of the mu and log sigma^2 columns above and below the axis
    half = max(max(column_height(s) for s, _ in enc + dec) / 2, off + h_lat / 2)
    y = y0 + half + 34
    cols = _layer_row(c, x0, y, gap, enc)
    x_pair = x0 + len(enc) * gap
    mu = _column(c, x_pair, y - off, L, "code")
    lv = _column(c, x_pair, y + off, L, "code")
    _fan(c, cols[-1], mu, "encoder", (0.0, 0.5))
    _fan(c, cols[-1], lv, "encoder", (0.5, 1.0))
    c.text(x_pair, mu.top - 6, "$μ$", FONT_SIZE)
    c.text(x_pair, lv.bottom + 18, "$\\log σ^2$", FONT_SIZE)
    # the sampling step: z = mu + sigma * eps, with eps ~ N(0, I) a second input
    op_label = "$μ + σ ⊙ ε$"
    op_w, op_h = label_width(op_label, SMALL) + 14, 26.0
    x_op = x_pair + COLUMN_WIDTH / 2 + 26 + op_w / 2
    c.rect(x_op - op_w / 2, y - op_h / 2, op_w, op_h, *STYLES["op"], rx=5)
    c.text(x_op, y + 4.5, op_label, SMALL)
    x_bend = x_pair + COLUMN_WIDTH / 2 + 12
    c.arrow([(mu.right + 1, mu.y), (x_bend, mu.y), (x_bend, y - 6), (x_op - op_w / 2 - 1, y - 6)], width=1.2, head=7)
    c.arrow([(lv.right + 1, lv.y), (x_bend, lv.y), (x_bend, y + 6), (x_op - op_w / 2 - 1, y + 6)], width=1.2, head=7)
    eps_y = max(lv.bottom, y + op_h / 2 + 30) + 22
    c.ellipse(x_op, eps_y, 42, 15, *STYLES["random"], dash="4 3")
    c.text(x_op, eps_y + 4.5, "$ε ∼ N(0, I)$", SMALL)
    c.arrow([(x_op, eps_y - 15), (x_op, y + op_h / 2 + 1)], width=1.2, head=7)
    x_z = x_op + op_w / 2 + 26 + COLUMN_WIDTH / 2
    z = _column(c, x_z, y, L, "code")
    c.arrow([(x_op + op_w / 2, y), (z.left - 1, y)], width=1.2, head=7)
    dcols = _layer_row(c, x_z + gap, y, gap, dec)
    _fan(c, z, dcols[0], "decoder")
    top = y - half - 12
    c.text(cols[0].x, top, "input $x$")
    c.text(x_op, top, "sampling")
    c.text(z.x, top, "code $z$")
    c.text(dcols[-1].x, top, "output")
    sizes_y = max(half + y, eps_y + 15, lv.bottom + 22) + 17
    sized = [*cols, z, *dcols]
    _sizes_row(c, sized, sizes_y)
    c.text(x_pair, sizes_y, f"{L} + {L}", SMALL)
    by = c.brace(cols[0].left, lv.right, sizes_y + 9)
    c.text((cols[0].left + lv.right) / 2, by + 17, "encoder $q_φ(z | x)$")
    by = c.brace(z.left, dcols[-1].right, sizes_y + 9)
    c.text((z.left + dcols[-1].right) / 2, by + 17, "decoder $p_θ(x | z)$")
    _notes(c, (cols[0].left + dcols[-1].right) / 2, by + 40,
           [f"hidden layers: fully connected + {_activation_name(config.activation)}",
            "$μ$, $\\log σ^2$: linear", "output: logits of Bernoulli pixels"],
           max(dcols[-1].right - cols[0].left, 420))
    return "-".join(str(s) for s in config.layer_sizes)


def _trick_panel(c: _Canvas, x0: float, y0: float) -> None:
    """Panel (b): z = mu + sigma * eps as a computation graph, forward and backward."""
    box_w, box_h = 92.0, 36.0
    y_mu, y_sig, y_eps = y0 + 44, y0 + 134, y0 + 218
    x_in, x_op = x0 + 50, x0 + 200
    x_z, x_loss = x0 + 300, x0 + 430
    det_stroke = STYLES["code"][1]
    for yy, label in ((y_mu, "$μ$"), (y_sig, "$σ = \\exp(½ \\log σ^2)$")):
        w = max(box_w, label_width(label) + 20)
        c.rect(x_in - w / 2, yy - box_h / 2, w, box_h, "#dbe8f4", det_stroke, rx=5)
        c.text(x_in, yy + 5, label)
    c.ellipse(x_op, y_eps, 56, 19, *STYLES["random"], dash="4 3")
    c.text(x_op, y_eps + 5, "$ε ∼ N(0, I)$")
    r = 15.0
    for yy, sym in ((y_mu, "+"), (y_sig, "×")):
        c.ellipse(x_op, yy, r, r, *STYLES["op"])
        c.text(x_op, yy + 5.5, sym, 17)
    c.rect(x_z - 30, y_mu - box_h / 2, 60, box_h, "#dbe8f4", det_stroke, rx=5)
    c.text(x_z, y_mu + 5, "$z$")
    lw = label_width("decoder, loss $L$") + 22
    c.rect(x_loss - lw / 2, y_mu - box_h / 2, lw, box_h, STYLES["note"][0], STYLES["note"][1], rx=5)
    c.text(x_loss, y_mu + 5, "decoder, loss $L$")
    sig_right = x_in + max(box_w, label_width("$σ = \\exp(½ \\log σ^2)$") + 20) / 2
    # forward pass
    c.arrow([(x_in + box_w / 2, y_mu), (x_op - r - 1, y_mu)])
    c.arrow([(sig_right, y_sig), (x_op - r - 1, y_sig)])
    c.arrow([(x_op, y_eps - 19), (x_op, y_sig + r + 1)])
    c.arrow([(x_op, y_sig - r), (x_op, y_mu + r + 1)])
    c.arrow([(x_op + r, y_mu), (x_z - 31, y_mu)])
    c.arrow([(x_z + 30, y_mu), (x_loss - lw / 2 - 1, y_mu)])
    # backward pass: dashed, offset from the forward arrows
    g = {"color": GRADIENT, "width": 1.5, "dash": "5 4", "curve": True}
    c.arrow([(x_loss - lw / 2 + 8, y_mu - box_h / 2), ((x_loss - lw / 2 + x_z + 30) / 2, y_mu - 46),
             (x_z + 22, y_mu - box_h / 2 - 1)], **g)
    c.arrow([(x_z - 22, y_mu - box_h / 2), ((x_z + x_op) / 2, y_mu - 46), (x_op + 7, y_mu - r - 1)], **g)
    c.arrow([(x_op - 7, y_mu - r), ((x_op + x_in) / 2 + 10, y_mu - 46), (x_in + 30, y_mu - box_h / 2 - 1)], **g)
    c.arrow([(x_op + r - 2, y_mu + 8), (x_op + 34, (y_mu + y_sig) / 2), (x_op + r - 2, y_sig - 8)], **g)
    c.arrow([(x_op - 8, y_sig + r - 2), ((x_op + sig_right) / 2, y_sig + 40), (sig_right - 14, y_sig + box_h / 2 + 1)],
            **g)
    c.text((x_op + x_in) / 2 + 10, y_mu - 40, "$∂z/∂μ = 1$", SMALL, color=GRADIENT)
    c.text((x_op + sig_right) / 2 - 4, y_sig + 52, "$∂z/∂σ = ε$", SMALL, color=GRADIENT)
    c.lines(x_op + 66, y_eps - 4, ["an input: no gradient", "flows into the noise"], SMALL, anchor="start",
            color=MUTED)
    # legend
    ly = y_eps + 50
    items = [("line", "forward pass"), ("grad", "gradient of $L$"), ("det", "deterministic"), ("rand", "random")]
    x = x0 + 6
    for kind, text in items:
        if kind == "line":
            c.path(f"M{_f(x)},{_f(ly - 4)} L{_f(x + 26)},{_f(ly - 4)}", INK, 1.4)
        elif kind == "grad":
            c.path(f"M{_f(x)},{_f(ly - 4)} L{_f(x + 26)},{_f(ly - 4)}", GRADIENT, 1.5, dash="5 4")
        elif kind == "det":
            c.rect(x + 3, ly - 12, 20, 16, "#dbe8f4", det_stroke, rx=3)
        else:
            c.ellipse(x + 13, ly - 4, 12, 8, *STYLES["random"], dash="4 3")
        x += 32 + c.text(x + 32, ly, text, SMALL, anchor="start") + 22


def vae_diagram(config: VAEConfig, *, panels: tuple[str, ...] = ("architecture", "trick"),
                caption: str | None = None, number: int | str | None = None) -> Diagram:
    """Report figure 14: (a) the VAE's layers, (b) the reparameterisation trick.

    (a) takes its sizes from ``config`` (a :class:`VAEConfig`): the encoder's hidden layers,
    the two heads mu and log sigma^2 of ``latent_dim`` units each, the sample
    ``z = mu + sigma * eps`` with ``eps ~ N(0, I)`` as a second input, and the mirrored decoder.
    (b) shows the sample as a computation graph: the forward pass, and the gradient of the loss
    flowing back to mu and sigma while the noise is an input that needs none. ``panels`` picks
    one or both, stacked ("architecture" above "trick") so that both stay readable at the
    width of the book's column.
    """
    _check_config(config, VAEConfig, "vae_diagram")
    _check_depth(config, "hidden")
    ok = ("architecture", "trick")
    if (not isinstance(panels, tuple) or not panels or len(set(panels)) != len(panels)
            or any(p not in ok for p in panels)):
        raise ValueError(f"panels: must be a tuple of distinct names from {ok}, got {panels!r}")
    c = _Canvas()
    y, name = 0.0, "-".join(str(s) for s in config.layer_sizes)
    both = len(panels) == 2
    for i, panel in enumerate(p for p in ok if p in panels):
        if both:
            title = (f"(a) the VAE {name}" if panel == "architecture" else "(b) the reparameterisation trick")
            c.text(-COLUMN_WIDTH / 2, y, title, FONT_SIZE, anchor="start", bold=True)
        if panel == "architecture":
            _vae_architecture(c, config, 0.0, y + 6)
        else:
            _trick_panel(c, 0.0 if not both else max(0.0, (c.x0 + c.x1) / 2 - 250), y + 10)
        y = c.y1 + 40
    L = config.latent_dim
    desc = (f"Variational autoencoder {name}. The encoder maps {config.input_dim} inputs through hidden layers "
            f"{', '.join(map(str, config.hidden)) or '(none)'} to two heads of {L} units, the mean mu and the log "
            f"variance log sigma^2. A code z = mu + sigma * eps is computed with noise eps drawn from N(0, I), "
            f"and the decoder maps z back through {', '.join(map(str, config.hidden[::-1])) or 'no hidden layers'} "
            f"to {config.input_dim} Bernoulli logits. "
            "The reparameterisation trick: z is a deterministic function of mu, sigma and the noise input eps, "
            "so the gradient of the loss flows back through z to mu (dz/dmu = 1) and sigma (dz/dsigma = eps); "
            "no gradient flows into the noise.")
    default = (f"The VAE {name}" + (" and the reparameterisation trick. (a) " if both else ". ")
               + f"The encoder outputs the mean $μ$ and the log-variance $\\log σ^2$ of $q_φ(z | x)$, "
               f"{L} numbers each; a code is sampled as $z = μ + σ ⊙ ε$ and decoded by the mirrored decoder."
               + (" (b) The noise $ε$ is an input, so $z$ is a differentiable function of $μ$ and $σ$: "
                  "back-propagation reaches the encoder through the sample." if both else ""))
    if panels == ("trick",):
        default = ("The reparameterisation trick: with the noise $ε ∼ N(0, I)$ as an input, $z = μ + σ ⊙ ε$ is "
                   "a differentiable function of $μ$ and $σ$, and the gradient of the loss reaches the encoder.")
    title = f"VAE {name}" + (" and the reparameterisation trick" if "trick" in panels else "")
    if panels == ("trick",):
        title = "The reparameterisation trick"
    return c.render(title, desc, _caption(caption, number, default))


def reparameterisation_diagram(*, caption: str | None = None, number: int | str | None = None) -> Diagram:
    """The reparameterisation trick alone (panel (b) of :func:`vae_diagram`); it has no sizes."""
    return vae_diagram(VAEConfig(), panels=("trick",), caption=caption, number=number)


# ---------------------------------------------------------------------------------------------
# Figure 21: the adversarial autoencoder


def _label_with_badges(c: _Canvas, x: float, y: float, markup: str, badges: tuple[int, ...]) -> None:
    """A centred label followed by phase badges; the group is centred on x."""
    w = label_width(markup) + sum(22 for _ in badges) + 4
    left = x - w / 2
    c.text(left, y, markup, anchor="start")
    bx = left + label_width(markup) + 15
    for b in badges:
        c.badge(bx, y - 5, b)
        bx += 22


def _table(c: _Canvas, x: float, y: float, header: list[str], rows: list[list[str]], badges: bool = True,
           col_gap: float = 18.0) -> float:
    """A small table (first column: a phase badge); returns the y of its bottom rule."""
    lead = 26.0 if badges else 0.0
    widths = [max(label_width(r[i], SMALL, bold=(r is header)) for r in [header, *rows]) for i in range(len(header))]
    total = lead + sum(widths) + col_gap * (len(widths) - 1)
    row_h = SMALL * 1.9
    c.path(f"M{_f(x)},{_f(y)} L{_f(x + total)},{_f(y)}", INK, 1.0)
    xs, cx = [], x + lead
    for w in widths:
        xs.append(cx)
        cx += w + col_gap
    base = y + row_h * 0.68
    for xi, h in zip(xs, header):
        c.text(xi, base, h, SMALL, anchor="start", bold=True)
    c.path(f"M{_f(x)},{_f(y + row_h)} L{_f(x + total)},{_f(y + row_h)}", INK, 0.7)
    for i, row in enumerate(rows, start=1):
        base = y + row_h * i + row_h * 0.68
        if badges:
            c.badge(x + 9, base - 4, i, r=8)
        for xi, cell in zip(xs, row):
            c.text(xi, base, cell, SMALL, anchor="start")
    bottom = y + row_h * (len(rows) + 1) + 2
    c.path(f"M{_f(x)},{_f(bottom)} L{_f(x + total)},{_f(bottom)}", INK, 1.0)
    return bottom


def _prior_name(config: AAEConfig) -> str:
    if config.prior == "gaussian":
        return f"$N(0, I_{{{config.latent_dim}}})$" if config.latent_dim > 1 else "$N(0, 1)$"
    return f"{MIXTURE_COMPONENTS} Gaussians on a circle"


def aae_diagram(config: AAEConfig, *, caption: str | None = None, number: int | str | None = None) -> Diagram:
    """Report figure 21: the adversarial autoencoder's three players and three training phases.

    From ``config`` (an :class:`AAEConfig`): the encoder ``q(z|x)`` (``hidden``, ``latent_dim``),
    which is also the generator of a GAN in code space, the mirrored decoder ``p(x|z)``, and the
    discriminator ``D`` (``disc_hidden``) that tells codes of images from samples of the ``prior``
    (with ``use_labels``, D also sees the digit label). Phase badges mark what each of the three
    phases updates, and a table lists its loss and its learning-rate scale.
    """
    from ..models.aae import AdversarialAutoencoder

    _check_config(config, AAEConfig, "aae_diagram")
    _check_depth(config, "hidden")
    _check_depth(config, "disc_hidden")
    phases = AdversarialAutoencoder.phases
    L = config.latent_dim
    d_in = L + (MIXTURE_COMPONENTS if config.use_labels else 0)
    row1 = ([(config.input_dim, "data")] + [(s, "encoder") for s in config.hidden] + [(L, "code")]
            + [(s, "decoder") for s in config.hidden[::-1]] + [(config.input_dim, "data")])
    k = len(config.hidden) + 1  # the code column
    gap = _gap_for(len(row1), 560.0, 64.0, 88.0, sizes=tuple(s for s, _ in row1) + config.disc_hidden,
                   labels=(f"{L} + {MIXTURE_COMPONENTS}",))
    c = _Canvas()
    half1 = max(column_height(s) for s, _ in row1) / 2
    y1 = half1 + 46
    cols = _layer_row(c, 0.0, y1, gap, row1)
    z = cols[k]
    # component names above the autoencoder, with the phases that update them
    by = y1 - half1 - 8
    c.brace(cols[0].left, z.x - 5, by, down=False)
    _label_with_badges(c, (cols[0].left + z.x - 5) / 2, by - 20, "encoder $q(z | x)$, the generator", (1, 3))
    c.brace(z.x + 5, cols[-1].right, by, down=False)
    _label_with_badges(c, (z.x + 5 + cols[-1].right) / 2, by - 20, "decoder $p(x | z)$", (1,))
    sizes_y = y1 + half1 + 17
    for col in cols:
        if col is z:
            c.text(z.x - 8, sizes_y, f"{z.size:,}", SMALL, anchor="end")
        else:
            c.text(col.x, sizes_y, f"{col.size:,}", SMALL)
    c.text(cols[0].x, sizes_y + 17, "input $x$", SMALL, color=MUTED)
    c.text(cols[-1].x, sizes_y + 17, "reconstruction", SMALL, color=MUTED)
    # the discriminator, below the code
    drow = [(d_in, "discriminator")] + [(s, "discriminator") for s in config.disc_hidden] + [(1, "discriminator")]
    half2 = max(column_height(s) for s, _ in drow) / 2
    y2 = sizes_y + 62 + half2
    dcols = _layer_row(c, z.x, y2, gap, drow)
    c.arrow([(z.x, z.bottom + 2), (z.x, dcols[0].top - 2)], width=1.4)
    c.lines(z.x + 9, sizes_y + 24, ["codes $z ∼ q(z)$", "(\u201cfake\u201d)"], SMALL, anchor="start")
    x_prior = z.x - 1.75 * gap
    prior_label = "$z′ ∼ p(z)$"
    prx = max(label_width(prior_label) / 2 + 14, 46.0)
    c.ellipse(x_prior, y2, prx, 19, *STYLES["random"], dash="4 3")
    c.text(x_prior, y2 + 5, prior_label)
    c.text(x_prior, y2 + 36, "prior: " + _prior_name(config), SMALL, color=MUTED)
    c.arrow([(x_prior + prx + 1, y2), (dcols[0].left - 2, y2)], width=1.4)
    c.lines((x_prior + prx + dcols[0].left) / 2, y2 - 24, ["samples", "(\u201creal\u201d)"], SMALL)
    if config.use_labels:
        y_lab = y2 + 72
        lab = f"digit label $y$, one-hot ({MIXTURE_COMPONENTS})"
        lw = label_width(lab, SMALL) + 16
        c.rect(x_prior - lw / 2, y_lab - 12, lw, 24, *STYLES["data"], rx=4)
        c.text(x_prior, y_lab + 4, lab, SMALL)
        c.arrow([(x_prior + lw / 2 + 1, y_lab), (z.x - 9, y_lab), (z.x - 9, dcols[0].bottom + 2)], width=1.2)
    out = dcols[-1]
    c.lines(out.right + 10, y2 - 3, ["$D(z)$: probability that", "$z$ is a prior sample"], SMALL, anchor="start")
    sizes2 = max(y2 + half2, y2 + 72 + 14 if config.use_labels else 0) + 17
    labels = ([f"{L} + {MIXTURE_COMPONENTS}" if config.use_labels else f"{L}"]
              + [f"{s:,}" for s, _ in drow[1:-1]] + ["1"])
    for col, lab in zip(dcols, labels):
        c.text(col.x, sizes2, lab, SMALL)
    bb = c.brace(dcols[0].left, out.right, sizes2 + 9)
    _label_with_badges(c, (dcols[0].left + out.right) / 2, bb + 18, "discriminator $D$", (2,))
    # the three phases, one line each
    d_lr, g_lr = config.disc_lr_scale, config.gen_lr_scale
    rows = [
        [f"{phases[0]}", "encoder, decoder", "−$\\log p(x | z)$, Bernoulli", "lr"],
        [f"regularisation: {phases[1]}", "discriminator $D$", "BCE($D(z′)$, 1) + BCE($D(z)$, 0)", f"lr × {d_lr:g}"],
        [f"regularisation: {phases[2]}", "encoder", "BCE($D(z)$, 1)", f"lr × {g_lr:g}"],
    ]
    if config.use_labels:
        rows[1][2] = "BCE($D(z′, y)$, 1) + BCE($D(z, y)$, 0)"
        rows[2][2] = "BCE($D(z, y)$, 1)"
    t_y = bb + 40
    header = ["phase (on every mini-batch)", "updates", "minimises", "learning rate"]
    widths = sum(max(label_width(r[i], SMALL, bold=(r is header)) for r in [header, *rows]) for i in range(4))
    t_w = 26 + widths + 18 * 3
    x_left, x_right = min(cols[0].left, x_prior - prx), max(cols[-1].right, c.x1)
    _table(c, (x_left + x_right) / 2 - t_w / 2, t_y, header, rows)
    name = "-".join(str(s) for s, _ in row1)
    dname = "-".join(str(s) for s in (d_in, *config.disc_hidden, 1))
    prior_plain = _plain(_prior_name(config))
    desc = (f"Adversarial autoencoder. The encoder q(z|x), layers {'-'.join(str(s) for s, _ in row1[:k + 1])}, maps "
            f"an image x to a code z of {L} dimensions; the decoder p(x|z) mirrors it back to {config.input_dim} "
            f"pixels. The discriminator D, layers {dname}, gets codes of images and samples z′ of the prior "
            f"{prior_plain}" + (" together with the digit label" if config.use_labels else "")
            + " and outputs the probability that its input is a prior sample. Phases on every mini-batch: "
            "1 reconstruction updates encoder and decoder; 2 the discriminator learns to tell prior samples "
            f"from codes (learning rate x {d_lr:g}); 3 the encoder, as the generator, learns to fool it "
            f"(learning rate x {g_lr:g}).")
    default = (f"The adversarial autoencoder {name} with the discriminator {dname}: three players and "
               "three phases. The encoder $q(z | x)$ is also the generator of a GAN that plays in code space: "
               f"the discriminator $D$ learns to tell the codes of images from samples $z′$ of the prior "
               f"$p(z)$ (phase 2), the encoder learns to fool it (phase 3), and encoder and decoder learn to "
               "reconstruct (phase 1).")
    return c.render(f"Adversarial autoencoder {name}, discriminator {dname}", desc,
                    _caption(caption, number, default))


# ---------------------------------------------------------------------------------------------
# DCGAN: feature maps as boxes


def maps_size(channels: int, width: int) -> tuple[float, float]:
    """(thickness, side) in px of the box drawn for ``channels`` maps of ``width`` x ``width`` pixels.

    The side grows with the square root of the width (the face's area with the number of
    pixels), the thickness with the logarithm of the number of channels.
    """
    return 8.0 + 5.5 * math.log2(channels), 13.0 * math.sqrt(width)


DEPTH = 0.42  # oblique projection of the second spatial axis: x and y offsets per px of side


def _maps(c: _Canvas, x: float, y: float, channels: int, width: int, kind: str) -> tuple[float, float, float]:
    """A box for C x W x W feature maps, front face centred on y from x; returns (left, right, top)."""
    t, a = maps_size(channels, width)
    ox, oy = DEPTH * a, -DEPTH * 0.8 * a
    fill, stroke = STYLES[kind]
    x0, y0 = x, y - a / 2
    c.polygon([(x0, y0), (x0 + ox, y0 + oy), (x0 + t + ox, y0 + oy), (x0 + t, y0)], _tint(fill, 0.45), stroke)
    c.polygon([(x0 + t, y0), (x0 + t + ox, y0 + oy), (x0 + t + ox, y0 + a + oy), (x0 + t, y0 + a)],
              _tint(fill, -0.12), stroke)
    c.rect(x0, y0, t, a, fill, stroke, rx=0, stroke_width=1.0)
    return x0, x0 + t + ox, y0 + oy


def _tint(color: str, amount: float) -> str:
    """``color`` mixed with white (amount > 0) or black (amount < 0)."""
    rgb = [int(color[i:i + 2], 16) for i in (1, 3, 5)]
    target = 255 if amount > 0 else 0
    return "#" + "".join(f"{round(v + (target - v) * abs(amount)):02x}" for v in rgb)


def _block_label(block, transposed: bool, last: bool) -> list[str]:
    op = "deconv" if transposed else "conv"
    act = "tanh" if last and transposed else ("ReLU" if transposed else "LeakyReLU")
    return [f"{op} {block.kernel}×{block.kernel}/{block.stride}, p{block.padding}",
            ("BN, " if block.batch_norm else "") + act]


def _flow_row(c: _Canvas, x: float, y: float, stages: list[dict]) -> list[tuple[float, float, float]]:
    """Stages left to right: {"kind": "col"|"maps", "size"/("channels", "width"), "style", "op": [lines], "label"}."""
    out = []
    for i, st in enumerate(stages):
        if i:
            gap = max(52.0, max(label_width(line, SMALL) for line in st["op"]) + 12) if st.get("op") else 40.0
            x0 = x + 4
            c.arrow([(x0, y), (x0 + gap - 8, y)], width=1.3, head=8)
            if st.get("op"):
                c.text(x0 + gap / 2 - 4, y - 9, st["op"][0], SMALL)
                if len(st["op"]) > 1:
                    c.text(x0 + gap / 2 - 4, y + 19, st["op"][1], SMALL, color=MUTED)
            x = x0 + gap
        if st["kind"] == "col":
            col = _column(c, x + COLUMN_WIDTH / 2, y, st["size"], st["style"], dash=st.get("dash"))
            left, right, top, bottom = col.left, col.right, col.top, col.bottom
        else:
            left, right, top = _maps(c, x, y, st["channels"], st["width"], st["style"])
            bottom = y + maps_size(st["channels"], st["width"])[1] / 2
        out.append((left, right, top, bottom))
        x = right
    return out


def dcgan_diagram(config: DCGANConfig, *, caption: str | None = None, number: int | str | None = None) -> Diagram:
    """The DCGAN's generator and discriminator, stage by stage, from ``config`` (a :class:`DCGANConfig`).

    The shapes are the config's own ``generator_shapes()`` and ``discriminator_shapes()``: dense
    layers are columns, feature maps boxes whose face grows with their pixels and whose thickness
    with the logarithm of their channels; each arrow names its layer.
    """
    _check_config(config, DCGANConfig, "dcgan_diagram")
    _check_depth(config, "generator_blocks")
    _check_depth(config, "discriminator_blocks")
    _check_depth(config, "generator_dense")
    _check_depth(config, "discriminator_dense")
    g_shapes, d_shapes = config.generator_shapes(), config.discriminator_shapes()
    slope = config.leaky_slope
    # generator
    gen: list[dict] = [{"kind": "col", "size": config.z_dim, "style": "random", "dash": "4 3",
                        "label": [f"$z$: {config.z_dim}", "$∼ N(0, I)$"]}]
    for s in config.generator_dense:
        gen.append({"kind": "col", "size": s, "style": "decoder", "op": ["dense", "BN, ReLU"], "label": [f"{s:,}"]})
    C, H, _ = g_shapes[0][1]
    gen.append({"kind": "maps", "channels": C, "width": H, "style": "decoder",
                "op": ["dense, reshape", ("BN, " if config.dense_batch_norm else "") + "ReLU"],
                "label": [f"{C}×{H}×{H}"]})
    for i, (block, (_, (C, H, _))) in enumerate(zip(config.generator_blocks, g_shapes[1:])):
        last = i == len(config.generator_blocks) - 1
        gen.append({"kind": "maps", "channels": C, "width": H, "style": "data" if last else "decoder",
                    "op": _block_label(block, True, last),
                    "label": [f"{C}×{H}×{H}"] + (["image $G(z)$"] if last else [])})
    # discriminator
    C, H, _ = d_shapes[0][1]
    dis: list[dict] = [{"kind": "maps", "channels": C, "width": H, "style": "data",
                        "label": [f"{C}×{H}×{H}", "image $x$ or $G(z)$"]}]
    for block, (_, (C, H, _)) in zip(config.discriminator_blocks, d_shapes[1:]):
        dis.append({"kind": "maps", "channels": C, "width": H, "style": "discriminator",
                    "op": _block_label(block, False, False), "label": [f"{C}×{H}×{H}"]})
    flat = C * H * H
    dis.append({"kind": "col", "size": flat, "style": "discriminator", "op": ["flatten"], "label": [f"{flat:,}"]})
    for s in config.discriminator_dense:
        dis.append({"kind": "col", "size": s, "style": "discriminator", "op": ["dense", "BN, LeakyReLU"],
                    "label": [f"{s:,}"]})
    dis.append({"kind": "col", "size": 1, "style": "discriminator", "op": ["dense"], "label": ["1 logit", "$D(x)$"]})

    c = _Canvas()

    def row(y_title: float, title: str, stages: list[dict]) -> float:
        tall = max(maps_size(s["channels"], s["width"])[1] if s["kind"] == "maps" else column_height(s["size"])
                   for s in stages)
        over = max((DEPTH * 0.8 * maps_size(s["channels"], s["width"])[1]) if s["kind"] == "maps" else 0
                   for s in stages)
        y = y_title + 14 + over + tall / 2
        c.text(0, y_title, title, FONT_SIZE, anchor="start", bold=True)
        boxes = _flow_row(c, 0.0, y, stages)
        base = y + tall / 2 + 17
        for (left, right, _, _), st in zip(boxes, stages):
            front = left + (COLUMN_WIDTH if st["kind"] == "col" else maps_size(st["channels"], st["width"])[0]) / 2
            c.lines(front, base, st["label"], SMALL)
        return base + 17 * max(len(s["label"]) for s in stages)

    y = row(0.0, "generator $G$", gen)
    y = row(y + 28, "discriminator $D$", dis)
    _notes(c, (c.x0 + c.x1) / 2, y + 10,
           ["$k$×$k$/$s$, p$P$: kernel $k$, stride $s$, padding $P$", "BN: batch normalisation",
            f"LeakyReLU slope {slope:g}",
            f"Adam, β$_{{1}}$ = {config.beta1:g}, β$_{{2}}$ = {config.beta2:g}",
            "D: real images labelled 1, $G(z)$ labelled 0; G: $G(z)$ labelled 1"], c.width)
    g_chain = " → ".join([f"{config.z_dim}"] + [f"{s}" for s in config.generator_dense]
                         + [f"{C}×{H}×{H}" for _, (C, H, _) in g_shapes])
    d_chain = " → ".join([f"{C}×{H}×{H}" for _, (C, H, _) in d_shapes] + [f"{flat}"]
                         + [f"{s}" for s in config.discriminator_dense] + ["1"])
    desc = (f"DCGAN. The generator maps a noise vector z of {config.z_dim} numbers through {g_chain}, "
            f"growing the feature maps with transposed convolutions to an image of {config.image_channels}×"
            f"{config.image_size}×{config.image_size}. The discriminator maps an image through {d_chain}, "
            "shrinking the maps with strided convolutions to one logit, real or generated.")
    default = (f"The DCGAN: the generator $G$ grows a {config.z_dim}-dimensional noise vector into a "
               f"{config.image_size}×{config.image_size} image with transposed convolutions, the discriminator $D$ "
               "shrinks an image to one logit with strided convolutions. Box faces grow with the pixels of the "
               "maps, thickness with their channels; columns are dense layers.")
    return c.render(f"DCGAN generator {g_chain}; discriminator {d_chain}", desc, _caption(caption, number, default))


# ---------------------------------------------------------------------------------------------
# Latent transfer: one encoder and two decoders, or two autoencoders


def _code_notes(config: TransferConfig) -> list[str]:
    notes = [f"hidden layers: fully connected + {_activation_name(config.activation)}"
             if config.hidden else "no hidden layers: the code is the one hidden layer",
             f"code: {_activation_name(config.latent_activation)}"]
    if config.sparsity_weight > 0:
        notes[-1] += f", KL sparsity ρ = {config.sparsity_target:g}, weight {config.sparsity_weight:g}"
    if config.weight_decay > 0:
        notes.append(f"L2 weight penalty α = {config.weight_decay:g}")
    notes.append("loss: Bernoulli NLL of each domain with its own decoder")
    return notes


def transfer_diagram(config: TransferConfig, *, caption: str | None = None,
                     number: int | str | None = None) -> Diagram:
    """Latent transfer (report section 5) from ``config`` (a :class:`TransferConfig`).

    ``design="shared_encoder"``: one encoder f and one decoder per domain, g_glasses and
    g_no glasses; ``"two_autoencoders"``: two complete autoencoders whose codes have the same
    size (with ``alignment_weight`` > 0 a penalty ties the two codes). The dashed arrow is the
    transfer path: a face with glasses, encoded, decoded by the decoder of faces without.
    """
    _check_config(config, TransferConfig, "transfer_diagram")
    _check_depth(config, "hidden")
    c = _Canvas()
    n, L = config.input_dim, config.latent_dim
    enc_layers = [(n, "data")] + [(s, "encoder") for s in config.hidden] + [(L, "code")]
    dec_layers = [(s, "decoder") for s in config.hidden[::-1]] + [(n, "data")]
    gap = _gap_for(len(enc_layers) + len(dec_layers), 520.0, 64.0, 96.0, sizes=(n, *config.hidden, L))
    if config.design == "two_autoencoders":
        # each row has an encoder name and a decoder name side by side, centred on their parts,
        # whose centres lie (k + 1/2) gaps apart (k = the code's index)
        name_w = max(label_width(m) for m in ("encoder $f_{no glasses}$: faces without glasses",
                                              "decoder $g_{no glasses}$: faces without glasses"))
        gap = max(gap, (name_w + 16) / (len(enc_layers) - 0.5))
    tall = max(column_height(s) for s, _ in enc_layers + dec_layers)
    off = tall / 2 + 34  # the two rows' centres above and below the middle
    names = {"glasses": "$g_{glasses}$", "no": "$g_{no glasses}$"}
    shared = config.design == "shared_encoder"
    y_up, y_dn = -off, off
    k = len(enc_layers) - 1
    x_dec = [(k + 1 + i) * gap for i in range(len(dec_layers))]

    def dec_row(src: _Column, y: float, part: tuple[float, float], dash: str | None = None) -> list[_Column]:
        cols = [_column(c, x, y, s, kind) for x, (s, kind) in zip(x_dec, dec_layers)]
        _fan(c, src, cols[0], "decoder", part)
        for a, b in zip(cols, cols[1:]):
            _fan(c, a, b, "decoder")
        return cols

    def outside_labels(cols: list[_Column], y: float, markup: str) -> None:
        """Sizes and the row's name above the upper row, below the lower one."""
        if y < 0:
            size_y, name_y = y - tall / 2 - 8, y - tall / 2 - 28
        else:
            size_y, name_y = y + tall / 2 + 17, y + tall / 2 + 39
        for col in cols:
            c.text(col.x, size_y, f"{col.size:,}", SMALL)
        c.text((cols[0].left + cols[-1].right) / 2, name_y, markup)

    transfer_text = ["transfer: a face with glasses", "is encoded by $f$ and", f"decoded by {names['no']}"]
    if shared:
        enc = _layer_row(c, 0.0, 0.0, gap, enc_layers)
        h = enc[-1]
        up = dec_row(h, y_up, (0.0, 0.5))
        dn = dec_row(h, y_dn, (0.5, 1.0))
        _sizes_row(c, enc, tall / 2 + 17)
        c.text(enc[0].x, enc[0].top - 8, "face $x$")
        c.text(h.x, h.top - 8, "code $h$")
        by = c.brace(enc[0].left, h.right, tall / 2 + 26)
        c.text((enc[0].left + h.right) / 2, by + 17, "one encoder $f$ for both domains")
        # the transfer path, beside the band into the decoder of faces without glasses
        c.arrow([(h.right + 2, h.y + 10), ((h.right + dn[0].left) / 2 + 6, dn[0].top - 10),
                 (dn[0].left - 3, dn[0].y - 20)], GRADIENT, 1.6, dash="6 4", curve=True)
        c.lines(x_dec[0] + COLUMN_WIDTH / 2 + 12, -10, transfer_text, SMALL, anchor="start", color=GRADIENT)
    else:
        rows = [_layer_row(c, 0.0, y, gap, enc_layers) for y in (y_up, y_dn)]
        up = dec_row(rows[0][-1], y_up, (0.0, 1.0))
        dn = dec_row(rows[1][-1], y_dn, (0.0, 1.0))
        outside_labels(rows[0], y_up, "encoder $f_{glasses}$: faces with glasses")
        outside_labels(rows[1], y_dn, "encoder $f_{no glasses}$: faces without glasses")
        src = rows[0][-1]
        c.arrow([(src.x + 4, src.bottom + 2), (dn[0].left - 4, dn[0].top + 6)], GRADIENT, 1.6, dash="6 4")
        c.lines(src.x + 14, -4, ["transfer:", "$g_{no glasses}(f_{glasses}(x))$"], SMALL, anchor="start",
                color=GRADIENT)
        if config.alignment_weight > 0:
            xa = src.x - 20
            c.path(f"M{_f(xa)},{_f(src.bottom + 4)} L{_f(xa)},{_f(rows[1][-1].top - 4)}", MUTED, 1.4,
                   dash="2 3", extent=(xa, src.bottom, xa, rows[1][-1].top))
            penalty = f"$‖f_{{glasses}}(x) − f_{{no glasses}}(x)‖^2$ × {config.alignment_weight:g}"
            c.lines(xa - 6, -4, ["alignment penalty", penalty], SMALL, anchor="end", color=MUTED)
    outside_labels(up, y_up, f"decoder {names['glasses']}: faces with glasses")
    outside_labels(dn, y_dn, f"decoder {names['no']}: faces without glasses")
    bottom = c.y1 + 14
    _notes(c, (c.x0 + c.x1) / 2, bottom + 6, _code_notes(config), max(c.width, 420))
    chain = "-".join(str(s) for s, _ in enc_layers)
    design = ("one encoder and two decoders" if shared else "two autoencoders")
    desc = (f"Latent transfer with {design}. " + (
        f"An encoder f, layers {chain}, maps a face of either domain to a code h of {L} units; a decoder for "
        f"faces with glasses and a decoder for faces without glasses each map h back to {n} pixels. "
        if shared else
        f"An autoencoder for faces with glasses and one for faces without glasses, each with an encoder {chain} "
        f"and a mirrored decoder; both codes have {L} units. ")
        + "Transfer: a face with glasses is encoded and decoded by the decoder of faces without glasses. "
        + "; ".join(_code_notes(config)) + ".")
    default = ((f"Latent transfer with one encoder $f$ ({chain}) and one decoder per domain: every face is "
                "coded in one space and reconstructed by the decoder of its own domain. The dashed arrow is the "
                "transfer: a face with glasses decoded by the decoder that has only produced faces without.")
               if shared else
               (f"Latent transfer with two autoencoders ({chain} each), one per domain, with codes of the same "
                "size. The dashed arrow is the transfer: the code of a face with glasses decoded by the decoder "
                "of faces without."))
    return c.render(f"Latent transfer, {design}, {chain}", desc, _caption(caption, number, default))

"""How a chapter shows things: sharp figures, the library's own source, static quizzes, tables.

Conventions (CONTRIBUTING.md, "Writing a chapter", has the copy-pasteable versions):

* **Figures** (:func:`configure_figures`, called by ``rl.setup_notebook()``). One inch of a
  matplotlib figure is one CSS inch (96 CSS px) on the page and a matplotlib point is a CSS
  point, in JupyterLab and in the book alike. Bitmaps are PNGs with twice as many pixels as
  their CSS width (the notebook output carries ``width`` metadata, which JupyterLab and MyST-NB
  both honour), so they are sharp on HiDPI screens. A figure marked with :func:`vector` is
  stored as SVG as well (the book shows the SVG; JupyterLab shows it once the notebook is
  trusted and the PNG before). Text is at least :data:`MIN_FONT_PT` (the book's footnote
  size, 0.9 of the 16 px body) and a figure at most :data:`MAX_FIGURE_WIDTH_IN` wide (the text
  column at 1400 px), so that the page never shrinks it; a figure that breaks either rule is
  still shown, with a warning that names the offending text.
* **Source** (:func:`show_source`): the real code of a library function, class or method,
  as a highlighted ``python`` block with the file and line numbers it comes from.
* **Quiz** (:func:`quiz`): a question whose answer the static page checks in the browser
  (``book/_static/replearn/quiz.js``, no kernel, no network).
* **Tables** (:func:`table`): numbers rounded to meaningful digits, at most
  :data:`MAX_TABLE_COLUMNS` columns per table (wider ones are split, the index repeated).

This module never imports torch, so the book tooling and its tests stay light.
"""
from __future__ import annotations

import ast
import base64
import hashlib
import html
import inspect
import io
import json
import math
import re
import textwrap
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

#: CSS pixels per inch (fixed by CSS); a figure inch is a CSS inch on the page.
CSS_PX_PER_INCH = 96
#: Bitmap pixels per CSS pixel of a PNG figure (2: sharp on HiDPI, "retina", screens).
BITMAP_SCALE = 2
#: Width of the book's text column at a 1400 px window (sphinx-book-theme 1.3: the article is
#: 848 px with 32 px padding each side), measured in Chromium; a wider figure is shrunk.
COLUMN_WIDTH_PX = 784
MAX_FIGURE_WIDTH_IN = COLUMN_WIDTH_PX / CSS_PX_PER_INCH
#: The book's footnote / ``<small>`` size is 0.9 x 16 px = 14.4 CSS px = 10.8 pt.
MIN_FONT_PT = 10.8
#: Most columns one rendered table has before :func:`table` splits it.
MAX_TABLE_COLUMNS = 8

#: matplotlib settings of every chapter (fonts >= MIN_FONT_PT; SVG ids and metadata fixed so
#: that a rerun writes the same file).
FIGURE_RC: dict[str, Any] = {
    "figure.dpi": CSS_PX_PER_INCH,
    "savefig.dpi": CSS_PX_PER_INCH * BITMAP_SCALE,
    "figure.figsize": (6.4, 4.0),
    "figure.max_open_warning": 0,
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "xtick.labelsize": 11,
    "ytick.labelsize": 11,
    "legend.fontsize": 11,
    "legend.title_fontsize": 11,
    "figure.titlesize": 12,
    "svg.fonttype": "path",
    "svg.hashsalt": "replearn",
}

_VECTOR_ATTR = "_replearn_vector"


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------

def vector(fig=None):
    """Mark ``fig`` (default: the current figure) to be stored as SVG too; return it.

    For line plots, bar charts and diagrams: the book shows the SVG (crisp at any zoom); the
    notebook keeps a PNG next to it, which JupyterLab shows while the notebook is untrusted
    (JupyterLab renders SVG outputs only from trusted notebooks). Image grids stay PNG only:
    an SVG would embed the same pixels and let the browser blur them.
    """
    if fig is None:
        import matplotlib.pyplot as plt

        fig = plt.gcf()
    setattr(fig, _VECTOR_ATTR, True)
    return fig


def figure_problems(fig, css_width_px: float | None = None) -> list[str]:
    """What makes ``fig`` unreadable in the book: text under :data:`MIN_FONT_PT`, or a width
    over the text column (the page would shrink it, and its fonts with it)."""
    from matplotlib.text import Text

    problems = []
    small = {}
    for text in fig.findobj(Text):
        label = text.get_text().strip()
        if not label or not text.get_visible() or text.get_alpha() == 0:
            continue
        size = float(text.get_fontsize())
        if size < MIN_FONT_PT - 1e-6 and text.get_figure() is fig and _on_figure(text, fig):
            small.setdefault(round(size, 1), []).append(label)
    for size, labels in sorted(small.items()):
        shown = ", ".join(repr(x[:30]) for x in labels[:4]) + (" ..." if len(labels) > 4 else "")
        problems.append(f"{len(labels)} text(s) at {size:g} pt < {MIN_FONT_PT:g} pt: {shown}")
    if css_width_px is None:
        css_width_px = fig.get_figwidth() * CSS_PX_PER_INCH
    if css_width_px > COLUMN_WIDTH_PX + 1:
        problems.append(f"{css_width_px:.0f} CSS px wide > the {COLUMN_WIDTH_PX} px text column "
                        f"(at most {MAX_FIGURE_WIDTH_IN:.2f} in): the page would shrink it")
    return problems


def _on_figure(text, fig) -> bool:
    """Whether ``text`` is drawn inside the figure (tick labels of hidden ticks are not)."""
    try:
        bbox = text.get_window_extent(renderer=fig.canvas.get_renderer())
    except Exception:  # pragma: no cover - backends without a renderer
        return True
    fb = fig.bbox
    return bbox.width > 0 and bbox.x1 >= fb.x0 and bbox.x0 <= fb.x1 and bbox.y1 >= fb.y0 and bbox.y0 <= fb.y1


def _warn_problems(fig, css_width_px: float) -> None:
    problems = figure_problems(fig, css_width_px)
    if problems:
        # warn_explicit: the message names no file of this machine (it is printed on the page)
        warnings.warn_explicit("figure not legible in the book: " + "; ".join(problems), UserWarning,
                               filename="replearn_core.book.display", lineno=0)


def png_bundle(fig) -> tuple[str, dict]:
    """``(base64 PNG, {"width": css_px})``: the PNG has BITMAP_SCALE pixels per CSS pixel."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=CSS_PX_PER_INCH * BITMAP_SCALE, bbox_inches="tight",
                facecolor="white", metadata={"Software": None})
    data = buf.getvalue()
    width_px, _ = _png_size(data)
    css_width = width_px // BITMAP_SCALE
    _warn_problems(fig, css_width)
    return base64.b64encode(data).decode("ascii"), {"width": css_width}


def svg_text(fig) -> str | None:
    """The SVG of a figure marked with :func:`vector` (``None`` for other figures)."""
    if not getattr(fig, _VECTOR_ATTR, False):
        return None
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", facecolor="white", metadata={"Date": None})
    return buf.getvalue()


def _png_size(data: bytes) -> tuple[int, int]:
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("data: not a PNG file")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def configure_figures(shell=None) -> None:
    """Apply :data:`FIGURE_RC` and, inside IPython, register the figure formatters.

    Called by ``rl.setup_notebook()``. Imports pyplot first, because IPython's inline backend
    resets the figure formatters when pyplot activates it.
    """
    import matplotlib

    matplotlib.rcParams.update(FIGURE_RC)
    if shell is None:
        try:
            from IPython import get_ipython
        except ImportError:  # pragma: no cover - outside IPython
            return
        shell = get_ipython()
    if shell is None:
        return
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    # Load the backend now: matplotlib resolves it lazily (at the first figure), and loading
    # the inline backend installs IPython's own figure formatters, which would replace ours.
    plt.switch_backend(plt.get_backend())

    matplotlib.rcParams.update(FIGURE_RC)  # the inline backend's own rc may have just run
    formatters = shell.display_formatter.formatters
    for mime in ("image/png", "image/svg+xml", "image/jpeg", "application/pdf"):
        formatters[mime].pop(Figure, None)
    formatters["image/png"].for_type(Figure, png_bundle)
    formatters["image/svg+xml"].for_type(Figure, svg_text)
    # NumPy 2 scalars print as ``np.float64(1.5)``: glued numbers ({glue:text}`x:.1f`) would
    # then fail to format in the book. They are shown as the plain Python number they equal.
    # Each concrete type is registered: IPython's pretty printer stops at the first class in
    # the MRO that defines ``__repr__`` (every NumPy scalar type does), so a printer for
    # ``np.floating`` is never reached, and IPython registers its own for ``np.float64``.
    for scalar_type, python_type in _numpy_scalar_types():
        formatters["text/plain"].for_type(
            scalar_type, lambda x, p, cycle, to=python_type: p.text(repr(to(x))))


def _numpy_scalar_types() -> list[tuple[type, type]]:
    """Every concrete NumPy bool, integer and floating scalar type, with its Python type."""
    import numpy as np

    kinds = ((np.bool_, bool), (np.integer, int), (np.floating, float))
    # (np.timedelta64 subclasses np.signedinteger, but is a duration, not a number)
    types = {t for t in np.sctypeDict.values() if isinstance(t, type) and t is not np.timedelta64}
    return [(t, python_type) for t in sorted(types, key=lambda t: t.__name__)
            for base, python_type in kinds if issubclass(t, base)]


# --------------------------------------------------------------------------------------------
# The library's own source
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Source:
    """Source code shown in a chapter: ``text/markdown`` (a ``python`` fence) for JupyterLab
    and MyST-NB, which highlights it with Sphinx's highlighter; plain text for nbval."""

    code: str
    location: str  # "replearn_core/losses.py, lines 10-24" (never a machine path)
    qualname: str

    def _repr_markdown_(self) -> str:
        fence = "````" if "```" in self.code else "```"
        return (f'<div class="rl-source">\n\n'
                f'<p class="rl-source-caption"><code>{html.escape(self.qualname)}</code>: '
                f'{html.escape(self.location)}</p>\n\n'
                f"{fence}python\n{self.code}\n{fence}\n\n</div>\n")

    def __repr__(self) -> str:
        return f"# {self.qualname}: {self.location}\n{self.code}"

    def _repr_pretty_(self, p, cycle) -> None:
        p.text(repr(self))


def _relative_location(path: str) -> str:
    """``replearn_core/losses.py`` for a file of the package (or ``<name>.py`` for another)."""
    p = Path(path).resolve()
    for parent in p.parents:
        if (parent / "__init__.py").exists():
            continue
        return p.relative_to(parent).as_posix()
    return p.name  # pragma: no cover


def _strip_docstring(code: str) -> str:
    """Remove the docstring of the (first) function or class in ``code``."""
    tree = ast.parse(code)
    if not tree.body or not isinstance(tree.body[0], (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return code
    body = tree.body[0].body
    if not (body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant)
            and isinstance(body[0].value.value, str)):
        return code
    lines = code.splitlines()
    start, end = body[0].lineno - 1, body[0].end_lineno
    if len(body) == 1:  # keep a syntactically valid body
        indent = re.match(r"\s*", lines[start]).group(0)
        return "\n".join(lines[:start] + [indent + "..."] + lines[end:])
    return "\n".join(lines[:start] + lines[end:])


def show_source(obj, member: str | None = None, *, docstring: bool = True,
                lines: tuple[int, int] | None = None) -> Source:
    """The library's own source of a function, class or method, to show in a chapter.

    ``show_source(rl.losses.gaussian_kl)``; one method of a class:
    ``show_source(VAE, "forward")`` (or ``show_source(VAE.forward)``), dedented to the left
    margin. ``docstring=False`` leaves the docstring out; ``lines=(first, last)`` keeps only
    those lines (1-based, inclusive, counted in the shown object) and says so. The caption
    names the file relative to the package and the line numbers, never a machine path.
    """
    target = obj
    if member is not None:
        if not isinstance(member, str) or not member:
            raise ValueError(f"member: a method or attribute name, got {member!r}")
        try:
            target = inspect.getattr_static(obj, member)
        except AttributeError:
            raise ValueError(f"member: {getattr(obj, '__name__', obj)!r} has no attribute {member!r}") from None
        if isinstance(target, (staticmethod, classmethod)):
            target = target.__func__
        if isinstance(target, property):
            target = target.fget
    target = inspect.unwrap(target)
    try:
        raw_lines, first = inspect.getsourcelines(target)
        path = inspect.getsourcefile(target)
    except (TypeError, OSError) as exc:
        raise ValueError(f"obj: no Python source for {obj!r} ({exc})") from None
    code = textwrap.dedent("".join(raw_lines)).rstrip("\n")
    last = first + len(raw_lines) - 1
    if lines is not None:
        lo, hi = lines
        n = len(raw_lines)
        if not (1 <= lo <= hi <= n):
            raise ValueError(f"lines: (first, last) with 1 <= first <= last <= {n}, got {lines!r}")
        code = textwrap.dedent("\n".join(code.splitlines()[lo - 1:hi]))
        first, last = first + lo - 1, first + hi - 1
    elif not docstring:
        code = _strip_docstring(code)
    qualname = f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', '?')}"
    location = f"{_relative_location(path)}, lines {first}-{last}"
    return Source(code=code, location=location, qualname=qualname)


# --------------------------------------------------------------------------------------------
# Static quizzes
# --------------------------------------------------------------------------------------------

_MATH = re.compile(r"(?<![\\$])\$(?!\$)(.+?)(?<!\\)\$")
_CODE = re.compile(r"`([^`]+)`")


def _inline(text: str) -> str:
    """Escape ``text`` for HTML, keeping ``$math$`` (typeset by MathJax) and ``code``."""
    if not isinstance(text, str):
        raise ValueError(f"text: a string, got {type(text).__name__}")
    parts, pos = [], 0
    for m in _MATH.finditer(text):
        parts.append(_code(text[pos:m.start()]))
        parts.append(f'<span class="math notranslate nohighlight">\\({html.escape(m.group(1))}\\)</span>')
        pos = m.end()
    parts.append(_code(text[pos:]))
    return "".join(parts)


def _code(text: str) -> str:
    out, pos = [], 0
    for m in _CODE.finditer(text):
        out.append(html.escape(text[pos:m.start()]))
        out.append(f"<code>{html.escape(m.group(1))}</code>")
        pos = m.end()
    out.append(html.escape(text[pos:]))
    return "".join(out)


@dataclass(frozen=True)
class Quiz:
    """A question that the static book checks in the reader's browser (``quiz.js``)."""

    data: dict
    title: str = "Question"

    @property
    def quiz_id(self) -> str:
        digest = hashlib.sha256(json.dumps(self.data, sort_keys=True).encode()).hexdigest()
        return "rl-quiz-" + digest[:12]

    def _repr_html_(self) -> str:
        payload = html.escape(json.dumps(self.data, sort_keys=True, separators=(",", ":")), quote=True)
        return (f'<div class="rl-quiz" id="{self.quiz_id}" data-rl-quiz="{payload}">\n'
                f'<p class="rl-quiz-title"><strong>{html.escape(self.title)}</strong></p>\n'
                f'<p class="rl-quiz-question">{self.data["question"]}</p>\n'
                f'{self._fallback_html()}'
                f'</div>\n')

    def _fallback_html(self) -> str:
        """What shows where ``quiz.js`` does not run (JupyterLab): the choices, and the answer
        behind a toggle. ``quiz.js`` removes it and builds the answer box instead."""
        d = self.data
        choices = ""
        if d["kind"] == "choice":
            choices = "<ol type=\"a\">" + "".join(f"<li>{c}</li>" for c in d["choices"]) + "</ol>"
            answer = f"({'abcdefghijklmnopqrstuvwxyz'[d['answer']]}) {d['choices'][d['answer']]}"
        else:
            tol = f" (within &plusmn;{d['tolerance']:g})" if d["tolerance"] else ""
            answer = f"{d['answer']:g}{(' ' + d['unit']) if d['unit'] else ''}{tol}"
        return (f'<div class="rl-quiz-fallback">{choices}'
                f'<p><em>In the HTML book this question has an answer box.</em></p>'
                f'<details><summary>Show the answer</summary><p>{answer}. {d["explanation"]}</p></details>'
                f'</div>\n')

    def __repr__(self) -> str:
        kind = "number" if self.data["kind"] == "number" else f"{len(self.data['choices'])} choices"
        return f"Quiz ({kind}): {html.unescape(re.sub('<[^>]+>', '', self.data['question']))}"

    def _repr_pretty_(self, p, cycle) -> None:
        p.text(repr(self))


def quiz(question: str, *, answer, explanation: str, tolerance: float | None = None,
         unit: str = "", choices: Sequence[str] | None = None,
         feedback: Sequence[str] | None = None, hint: str = "", title: str = "Question") -> Quiz:
    """A question for the end of a chapter, checked in the static page without a kernel.

    A number: ``quiz("...", answer=784 * 400 + 400, tolerance=0, explanation="...")`` accepts
    answers within ``tolerance`` (absolute, in ``unit``) of ``answer``. A choice:
    ``quiz("...", choices=["a", "b", "c"], answer=1, explanation="...", feedback=[...])``,
    with ``answer`` the index of the right choice and ``feedback`` one optional line per choice
    said when it is picked. ``question``, ``choices``, ``explanation``, ``feedback`` and ``hint``
    are plain text with ``$inline math$`` and ```code```; ``title`` heads the box. Make it the
    last expression of its
    cell (the output is HTML; ``quiz.js`` turns it into an answer box in the book).
    """
    if not isinstance(question, str) or not question.strip():
        raise ValueError("question: a non-empty string")
    if not isinstance(explanation, str) or not explanation.strip():
        raise ValueError("explanation: a non-empty string (say why the answer is right)")
    data: dict[str, Any] = {"version": 1, "question": _inline(question), "explanation": _inline(explanation),
                            "hint": _inline(hint) if hint else ""}
    if choices is None:
        if isinstance(answer, bool) or not isinstance(answer, (int, float)) or not math.isfinite(answer):
            raise ValueError(f"answer: a finite number for a numeric question, got {answer!r}")
        if tolerance is None or isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) \
                or not math.isfinite(tolerance) or tolerance < 0:
            raise ValueError(f"tolerance: a finite number >= 0 for a numeric question, got {tolerance!r}")
        if feedback is not None:
            raise ValueError("feedback: only for multiple-choice questions (use hint for a number)")
        data.update(kind="number", answer=float(answer), tolerance=float(tolerance), unit=_inline(unit))
    else:
        choices = list(choices)
        if len(choices) < 2 or not all(isinstance(c, str) and c.strip() for c in choices):
            raise ValueError(f"choices: at least two non-empty strings, got {choices!r}")
        if len(set(choices)) != len(choices):
            raise ValueError("choices: must be distinct")
        if isinstance(answer, bool) or not isinstance(answer, int) or not 0 <= answer < len(choices):
            raise ValueError(f"answer: the index (0..{len(choices) - 1}) of the right choice, got {answer!r}")
        if tolerance is not None or unit:
            raise ValueError("tolerance, unit: only for numeric questions")
        if feedback is not None:
            feedback = list(feedback)
            if len(feedback) != len(choices) or not all(isinstance(f, str) for f in feedback):
                raise ValueError(f"feedback: one string per choice ({len(choices)}), got {feedback!r}")
        data.update(kind="choice", answer=answer, choices=[_inline(c) for c in choices],
                    feedback=[_inline(f) for f in feedback] if feedback else [])
    if not isinstance(title, str) or not title.strip():
        raise ValueError("title: a non-empty string")
    return Quiz(data, title=title)


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------

def round_significant(value, digits: int = 3):
    """``value`` rounded to ``digits`` significant digits (ints, NaN and non-numbers unchanged)."""
    if isinstance(value, bool) or not isinstance(value, float) or not math.isfinite(value) or value == 0:
        return value
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


def _format_number(value, digits: int) -> str:
    if isinstance(value, float) and math.isfinite(value) and value != 0:
        v = round_significant(value, digits)
        magnitude = math.floor(math.log10(abs(v)))
        if -4 <= magnitude < 6:
            decimals = max(0, digits - 1 - magnitude)
            return f"{v:,.{decimals}f}" if abs(v) >= 1e4 else f"{v:.{decimals}f}"
        return f"{v:.{digits - 1}e}"
    if isinstance(value, float) and value == 0:
        return "0"
    return str(value)


@dataclass
class Tables:
    """One table per chunk of at most ``max_columns`` columns (see :func:`table`)."""

    parts: list  # pandas DataFrames of strings
    caption: str = ""

    def _repr_html_(self) -> str:
        out = []
        for i, part in enumerate(self.parts):
            cap = ""
            if self.caption:
                suffix = f" ({i + 1}/{len(self.parts)})" if len(self.parts) > 1 else ""
                cap = f"<caption>{_inline(self.caption)}{suffix}</caption>"
            body = part.to_html(border=0, classes="rl-table", escape=True)
            out.append(body.replace(">\n", f">\n{cap}", 1) if cap else body)
        return '<div class="rl-tables">\n' + "\n".join(out) + "\n</div>"

    def __repr__(self) -> str:
        return "\n\n".join(part.to_string() for part in self.parts)

    def _repr_pretty_(self, p, cycle) -> None:
        p.text(repr(self))


def table(df, digits: int = 3, max_columns: int = MAX_TABLE_COLUMNS, caption: str = "") -> Tables:
    """``df`` (a pandas DataFrame) for the page: floats rounded to ``digits`` significant digits,
    split into tables of at most ``max_columns`` columns (each repeats the index). A long,
    narrow table (many rows, few columns) reads better than a wide one: transpose first if the
    rows are the quantities. Measured floats still vary across machines: tag the cell
    ``nbval-ignore-output`` unless ``digits`` is coarse enough that they cannot change."""
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"df: a pandas DataFrame, got {type(df).__name__}")
    if isinstance(digits, bool) or not isinstance(digits, int) or digits < 1:
        raise ValueError(f"digits: an int >= 1, got {digits!r}")
    if isinstance(max_columns, bool) or not isinstance(max_columns, int) or max_columns < 1:
        raise ValueError(f"max_columns: an int >= 1, got {max_columns!r}")
    elementwise = getattr(df, "map", None) or df.applymap  # DataFrame.map is pandas >= 2.1
    text = elementwise(lambda v: _format_number(float(v) if _is_float(v) else v, digits))
    cols = list(text.columns)
    parts = [text[cols[i:i + max_columns]] for i in range(0, max(len(cols), 1), max_columns)]
    return Tables(parts=parts, caption=caption)


def _is_float(v) -> bool:
    import numpy as np

    return isinstance(v, (float, np.floating))

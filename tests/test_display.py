"""replearn_core.book.display: figures, source, quizzes and tables as the book shows them."""
from __future__ import annotations

import base64
import html
import inspect
import json
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from replearn_core import losses  # noqa: E402
from replearn_core.book import display  # noqa: E402
from replearn_core.paths import checkout_root  # noqa: E402

REPO_ROOT = checkout_root()


@pytest.fixture(autouse=True)
def _book_rc():
    with matplotlib.rc_context():
        matplotlib.rcParams.update(display.FIGURE_RC)
        yield
    plt.close("all")


# ---------------------------------------------------------------------------------- figures

def _png_width(b64: str) -> int:
    return display._png_size(base64.b64decode(b64))[0]


def test_png_has_two_pixels_per_css_pixel():
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot([0, 1], [0, 1])
    data, meta = display.png_bundle(fig)
    width = _png_width(data)
    assert meta == {"width": width // display.BITMAP_SCALE}
    assert width >= 2 * meta["width"]
    # tight bounding box: at most the figure's size, and most of it (5 in = 480 CSS px)
    assert 0.8 * 5 * display.CSS_PX_PER_INCH <= meta["width"] <= 5 * display.CSS_PX_PER_INCH + 1


def test_svg_only_for_figures_marked_vector_and_reproducible():
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([0, 1, 2], [1, 0, 1])
    assert display.svg_text(fig) is None
    assert display.vector(fig) is fig
    svg = display.svg_text(fig)
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert svg == display.svg_text(fig), "the same figure must give the same SVG (ids, no date)"
    assert "<dc:date>" not in svg


def test_vector_marks_the_current_figure_by_default():
    fig = plt.figure()
    assert display.vector() is fig and display.svg_text(fig) is not None


def test_figure_problems_name_small_text_and_wide_figures():
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.plot([0, 1])
    ax.set_xlabel("time (s)")
    assert display.figure_problems(fig) == []
    ax.set_title("tiny title", fontsize=7)
    problems = display.figure_problems(fig)
    assert len(problems) == 1 and "7 pt" in problems[0] and "tiny title" in problems[0]
    wide, _ = plt.subplots(figsize=(11, 3))
    assert any("text column" in p for p in display.figure_problems(wide))


def test_book_fonts_are_at_least_the_footnote_size():
    for key in ("font.size", "axes.titlesize", "axes.labelsize", "xtick.labelsize", "ytick.labelsize",
                "legend.fontsize"):
        assert float(display.FIGURE_RC[key]) >= display.MIN_FONT_PT, key
    assert display.FIGURE_RC["figure.figsize"][0] <= display.MAX_FIGURE_WIDTH_IN


def test_illegible_figure_warns_when_displayed():
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.set_title("small", fontsize=6)
    with pytest.warns(UserWarning, match="not legible.*6 pt"):
        display.png_bundle(fig)


def test_configure_figures_registers_the_formatters_in_ipython():
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    display.configure_figures(shell)
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([0, 1])
    data, meta = shell.display_formatter.format(fig)
    assert set(data) == {"image/png", "text/plain"}
    assert meta["image/png"]["width"] * 2 <= _png_width(data["image/png"])
    display.vector(fig)
    data, _ = shell.display_formatter.format(fig)
    assert set(data) == {"image/png", "image/svg+xml", "text/plain"}
    assert matplotlib.rcParams["figure.dpi"] == display.CSS_PX_PER_INCH


@pytest.mark.parametrize("value, shown", [
    (np.float64(1.5), "1.5"), (np.float32(0.25), "0.25"), (np.float16(2.0), "2.0"),
    (np.int64(7), "7"), (np.int32(-3), "-3"), (np.uint8(255), "255"), (np.bool_(True), "True"),
])
def test_numpy_scalars_are_shown_as_python_numbers(value, shown):
    # what myst_nb.glue stores (text/plain) and {glue:text}`name:.2f` must parse as a number
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    display.configure_figures(shell)
    data, _ = shell.display_formatter.format(value)
    assert data["text/plain"] == shown


# ----------------------------------------------------------------------------------- source

class _Example:
    """A class with a method, for show_source."""

    def method(self, x):
        """Double x."""
        return 2 * x

    @staticmethod
    def helper(y):
        return y + 1


def test_show_source_of_a_library_function():
    src = display.show_source(losses.kl_sparsity_penalty)
    lines, first = inspect.getsourcelines(losses.kl_sparsity_penalty)
    assert src.code == "".join(lines).rstrip("\n")
    assert src.location == f"replearn_core/losses.py, lines {first}-{first + len(lines) - 1}"
    md = src._repr_markdown_()
    assert "```python\ndef kl_sparsity_penalty(" in md and md.rstrip().endswith("</div>")
    assert str(REPO_ROOT) not in md + repr(src), "the page must not show a machine path"


def test_show_source_of_one_method_dedented_without_docstring():
    src = display.show_source(_Example, "method")
    assert src.code.startswith("def method(self, x):\n")
    assert '"""Double x."""' in src.code
    assert src.qualname.endswith("_Example.method")
    short = display.show_source(_Example, "method", docstring=False)
    assert short.code == "def method(self, x):\n    return 2 * x"
    assert display.show_source(_Example.method).code == src.code
    assert display.show_source(_Example, "helper").code.startswith("@staticmethod\ndef helper(y):")


def test_show_source_of_a_docstring_only_function_stays_valid():
    def only_doc():
        """Nothing else."""

    code = display.show_source(only_doc, docstring=False).code
    compile(code, "<shown>", "exec")
    assert code.endswith("...")


def test_show_source_lines_and_fences():
    src = display.show_source(_Example, "method", lines=(2, 3))
    assert src.code == '"""Double x."""\nreturn 2 * x'
    assert re.search(r"lines (\d+)-(\d+)", src.location)

    def with_fence():
        return "```"

    assert display.show_source(with_fence)._repr_markdown_().count("````python") == 1


@pytest.mark.parametrize("call, field", [
    (lambda: display.show_source(_Example, "missing"), "member"),
    (lambda: display.show_source(_Example, ""), "member"),
    (lambda: display.show_source(len), "obj"),
    (lambda: display.show_source(_Example, "method", lines=(3, 9)), "lines"),
    (lambda: display.show_source(_Example, "method", lines=(0, 1)), "lines"),
])
def test_show_source_rejects_bad_input(call, field):
    with pytest.raises(ValueError, match=f"^{field}"):
        call()


# ------------------------------------------------------------------------------------ quizzes

def _payload(q) -> dict:
    m = re.search(r'data-rl-quiz="([^"]*)"', q._repr_html_())
    return json.loads(html.unescape(m.group(1)))


def test_numeric_quiz_embeds_its_data():
    q = display.quiz("How many parameters has a 784-400 layer?", answer=314000, tolerance=0,
                     explanation="$784 \\times 400$ weights and 400 biases.", unit="parameters")
    data = _payload(q)
    assert data["kind"] == "number" and data["answer"] == 314000.0 and data["tolerance"] == 0.0
    assert '<span class="math notranslate nohighlight">\\(784 \\times 400\\)</span>' in data["explanation"]
    out = q._repr_html_()
    assert out.startswith(f'<div class="rl-quiz" id="{q.quiz_id}"') and "rl-quiz-fallback" in out
    assert q.quiz_id == display.quiz("How many parameters has a 784-400 layer?", answer=314000, tolerance=0,
                                     explanation="$784 \\times 400$ weights and 400 biases.",
                                     unit="parameters").quiz_id
    assert repr(q).startswith("Quiz (number): How many")


def test_choice_quiz_and_escaping():
    q = display.quiz("Which `<script>` is <b>safe</b>?", choices=["a", "b <i>"], answer=1,
                     explanation="Because.", feedback=["no", "yes"])
    data = _payload(q)
    assert data["kind"] == "choice" and data["answer"] == 1 and data["feedback"] == ["no", "yes"]
    assert data["question"] == "Which <code>&lt;script&gt;</code> is &lt;b&gt;safe&lt;/b&gt;?"
    assert data["choices"][1] == "b &lt;i&gt;"
    assert "<script>" not in q._repr_html_()


@pytest.mark.parametrize("kwargs, field", [
    (dict(question="", answer=1, tolerance=0, explanation="x"), "question"),
    (dict(question="q", answer=1, tolerance=0, explanation=" "), "explanation"),
    (dict(question="q", answer="1", tolerance=0, explanation="x"), "answer"),
    (dict(question="q", answer=float("nan"), tolerance=0, explanation="x"), "answer"),
    (dict(question="q", answer=1, explanation="x"), "tolerance"),
    (dict(question="q", answer=1, tolerance=-1, explanation="x"), "tolerance"),
    (dict(question="q", answer=1, tolerance=0, explanation="x", feedback=["a"]), "feedback"),
    (dict(question="q", choices=["a"], answer=0, explanation="x"), "choices"),
    (dict(question="q", choices=["a", "a"], answer=0, explanation="x"), "choices"),
    (dict(question="q", choices=["a", "b"], answer=2, explanation="x"), "answer"),
    (dict(question="q", choices=["a", "b"], answer=True, explanation="x"), "answer"),
    (dict(question="q", choices=["a", "b"], answer=0, tolerance=1, explanation="x"), "tolerance"),
    (dict(question="q", choices=["a", "b"], answer=0, explanation="x", feedback=["a"]), "feedback"),
    (dict(question="q", choices=["a", "b"], answer=0, explanation="x", title=""), "title"),
])
def test_quiz_rejects_bad_input(kwargs, field):
    with pytest.raises(ValueError, match=f"^{field}"):
        display.quiz(**kwargs)


def test_quiz_script_is_in_the_static_folder_and_loaded_on_every_page():
    import yaml

    js = REPO_ROOT / "book" / "_static" / "replearn" / "quiz.js"
    text = js.read_text()
    assert "data-rl-quiz" in text
    assert not any(call in text for call in ("fetch(", "XMLHttpRequest", "import(")), "no network"
    config = yaml.safe_load((REPO_ROOT / "_config.yml").read_text())["sphinx"]["config"]
    assert "replearn/quiz.js" in config["html_js_files"]
    assert "replearn/book.css" in config["html_css_files"]


# ------------------------------------------------------------------------------------- tables

def test_round_significant():
    assert display.round_significant(0.0123456) == 0.0123
    assert display.round_significant(123456.7) == 123000.0
    assert display.round_significant(7) == 7
    assert display.round_significant(0.0) == 0.0


def test_table_rounds_and_splits_wide_frames():
    df = pd.DataFrame([[k / 7 for k in range(12)], list(range(12))], index=["ratio", "count"],
                      columns=[f"c{k}" for k in range(12)])
    df = df.astype(object)
    df.loc["count"] = list(range(12))
    t = display.table(df, digits=3, caption="Twelve columns")
    assert [list(p.columns) for p in t.parts] == [[f"c{k}" for k in range(8)], [f"c{k}" for k in range(8, 12)]]
    assert list(t.parts[1].index) == ["ratio", "count"]
    assert t.parts[0].loc["ratio", "c1"] == "0.143" and t.parts[0].loc["count", "c3"] == "3"
    out = t._repr_html_()
    assert out.count("<table") == 2 and "Twelve columns (1/2)" in out and "Twelve columns (2/2)" in out
    assert "0.1428" not in out and "0.1428" not in repr(t)


def test_table_formats_large_and_small_numbers():
    df = pd.DataFrame({"x": [1234567.0, 0.000012345, 12.0]})
    assert list(display.table(df).parts[0]["x"]) == ["1.23e+06", "1.23e-05", "12.0"]


@pytest.mark.parametrize("kwargs, field", [
    (dict(df=[1, 2]), "df"),
    (dict(df=pd.DataFrame({"a": [1.0]}), digits=0), "digits"),
    (dict(df=pd.DataFrame({"a": [1.0]}), max_columns=0), "max_columns"),
])
def test_table_rejects_bad_input(kwargs, field):
    with pytest.raises(ValueError, match=f"^{field}"):
        display.table(**kwargs)

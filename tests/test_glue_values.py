"""Glued numbers that the prose formats (``{glue:text}`name:.2f```) are stored as plain numbers.

MyST-NB formats a glued value from its stored ``text/plain``: a NumPy scalar is stored as
``np.float64(0.5)``, which it cannot convert, and the book build (``-W``) fails on the
warning. Gluing ``float(value)`` stores ``0.5``.
"""
from __future__ import annotations

import json
import re

import pytest

from replearn_core.paths import checkout_root

NOTEBOOKS = sorted((checkout_root() / "book").glob("*.ipynb"))
RECORD = "application/papermill.record/text/plain"
FORMATTED_REFERENCE = re.compile(r"\{glue:text\}`([A-Za-z0-9_]+):[^`]+`")


def unformattable_glues(path) -> list[str]:
    """Names formatted in the prose of ``path`` whose stored glue is not a plain number."""
    cells = json.loads(path.read_text())["cells"]
    stored = {}
    prose = []
    for cell in cells:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] == "markdown":
            prose.append(source)
        for output in cell.get("outputs", []):
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            if name is not None and RECORD in output.get("data", {}):
                text = output["data"][RECORD]
                stored[name] = "".join(text) if isinstance(text, list) else text
    bad = []
    for name in sorted(set(FORMATTED_REFERENCE.findall("\n".join(prose)))):
        if name not in stored:
            bad.append(f"{name}: formatted in the prose but never glued")
            continue
        try:
            float(stored[name])
        except ValueError:
            bad.append(f"{name}: stored as {stored[name]!r}, not a plain number")
    return bad


def test_a_numpy_scalar_is_found(tmp_path):
    def glued(name, text):
        return {"output_type": "display_data", "data": {RECORD: text},
                "metadata": {"scrapbook": {"name": name}}}

    nb = {"cells": [
        {"cell_type": "code", "source": "", "outputs": [glued("a", "np.float64(1.5)"),
                                                         glued("b", "2.5")]},
        {"cell_type": "markdown", "source": "{glue:text}`a:.1f` {glue:text}`b:.1f` {glue:text}`c:.0f`"},
    ]}
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(nb))
    assert unformattable_glues(path) == [
        "a: stored as 'np.float64(1.5)', not a plain number",
        "c: formatted in the prose but never glued",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_formatted_glues_are_plain_numbers(path):
    assert unformattable_glues(path) == []


GLUE_CALL = re.compile(r"^\s*glue\(", re.MULTILINE)
GLUE_CELL_TAGS = {"remove-cell", "nbval-ignore-output"}


def untagged_glue_cells(path) -> list[str]:
    """Code cells of ``path`` that call ``glue(`` without both tags of CONTRIBUTING.md's table.

    A glued number is the run's own value, with all its digits: the checks are what nbval
    compares, within their margins. Glued text in a compared cell fails nbval on a CPU whose
    kernels round differently (CI failed that way on chapter 10's ``ddp_diff``).
    """
    bad = []
    for index, cell in enumerate(json.loads(path.read_text())["cells"]):
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] == "code" and GLUE_CALL.search(source):
            missing = GLUE_CELL_TAGS - set(cell.get("metadata", {}).get("tags", []))
            if missing:
                bad.append(f"cell {index}: tag it {', '.join(sorted(missing))}")
    return bad


def test_an_untagged_glue_cell_is_found(tmp_path):
    nb = {"cells": [
        {"cell_type": "code", "metadata": {"tags": ["hide-cell"]},
         "source": "rl.check('x', 1, '<', 2)\nglue('x', 1.0, display=False)"},
        {"cell_type": "code", "metadata": {"tags": ["remove-cell", "nbval-ignore-output"]},
         "source": "glue('y', 2.0, display=False)"},
        {"cell_type": "code", "metadata": {}, "source": "from myst_nb import glue"},
    ]}
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(nb))
    assert untagged_glue_cells(path) == ["cell 0: tag it nbval-ignore-output, remove-cell"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_glue_cells_are_removed_and_not_compared(path):
    assert untagged_glue_cells(path) == []

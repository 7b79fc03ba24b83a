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

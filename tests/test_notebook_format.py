"""Code cells of the chapters fit the book's column: no line over 88 characters.

At 1400 px the column holds about 92 monospace characters; ``make format`` (ruff format,
line length 88 from pyproject.toml) reflows the code cells of every notebook. Ruff does not
split long strings or comments: break those by hand (implicit string concatenation).
"""
from __future__ import annotations

import json

import pytest

from replearn_core.paths import checkout_root

REPO_ROOT = checkout_root()

MAX_COLUMNS = 88
NOTEBOOKS = sorted((REPO_ROOT / "book").glob("*.ipynb"))


def long_lines(path, limit: int = MAX_COLUMNS) -> list[str]:
    """``"cell 3, line 2: 97 characters"`` for each code line of ``path`` over ``limit``."""
    cells = json.loads(path.read_text())["cells"]
    found = []
    for index, cell in enumerate(cells):
        if cell["cell_type"] != "code":
            continue
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        for number, line in enumerate(source.splitlines(), start=1):
            if len(line) > limit:
                found.append(f"cell {index}, line {number}: {len(line)} characters: {line.strip()[:60]!r}...")
    return found


def test_long_lines_are_found(tmp_path):
    nb = {"cells": [{"cell_type": "markdown", "source": "x" * 200},
                    {"cell_type": "code", "source": ["a = 1\n", "b = '" + "y" * 90 + "'\n"]}]}
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(nb))
    assert long_lines(path) == [f"cell 1, line 2: 96 characters: {('b = ' + repr('y' * 90))[:60]!r}..."]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_code_lines_fit_the_column(path):
    found = long_lines(path)
    assert not found, (f"{path.name}: {len(found)} code line(s) over {MAX_COLUMNS} characters "
                       f"(run `make format`, then split long strings by hand):\n  " + "\n  ".join(found[:15]))

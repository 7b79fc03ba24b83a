"""The library code a chapter shows (``show_source(...)`` cells) is the library's code today.

A chapter stores the output of ``show_source(rl.models.vae.reparameterize)``; an edit of the
function without re-running the chapter leaves the book teaching old code, which nbval finds
only after the whole book has trained (CI failed that way once). This test finds it in
seconds: it re-creates each such cell's output from the library without running the chapter.
The cell's names come from the chapter's own import statements and its module aliases
(``tr = rl.models.transfer``). Line numbers are left out of the comparison, as in nbval's
sanitizer: an edit elsewhere in the module moves them but not the code shown.
"""
from __future__ import annotations

import ast
import json
import re

import pytest

from replearn_core.paths import checkout_root

REPO_ROOT = checkout_root()
CHAPTERS = sorted((REPO_ROOT / "book").glob("[0-9][0-9]_*.ipynb"))
LINES = re.compile(r"lines \d+-\d+")


def _source(cell) -> str:
    return cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])


def _alias_root(node: ast.stmt) -> str | None:
    """``"rl"`` for ``name = rl.models.transfer`` (a name bound to an attribute chain), else None."""
    if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
        return None
    value = node.value
    while isinstance(value, ast.Attribute):
        value = value.value
    return value.id if isinstance(value, ast.Name) and value is not node.value else None


def chapter_namespace(cells) -> dict:
    """The names the chapter's import statements and module aliases bind, in cell order (an
    alias of something the chapter computes, ``x = trained.model``, is not a module: left out)."""
    namespace: dict = {}
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        try:
            tree = ast.parse(_source(cell))
        except SyntaxError:  # an IPython magic
            continue
        for node in tree.body:  # one at a time: an alias may use a name imported just above it
            if isinstance(node, (ast.Import, ast.ImportFrom)) or _alias_root(node) in namespace:
                exec(compile(ast.Module(body=[node], type_ignores=[]), "<chapter imports>", "exec"), namespace)  # noqa: S102 (the chapter's own imports)
    return namespace


def source_cells(cells) -> list[tuple[int, str, str | None]]:
    """``(cell index, code, stored markdown)`` for each cell whose last statement is
    ``show_source(...)``; ``code`` is the cell's own code (a cell may compute the lines to show)."""
    found = []
    for index, cell in enumerate(cells):
        if cell["cell_type"] != "code":
            continue
        try:
            tree = ast.parse(_source(cell))
        except SyntaxError:
            continue
        last = tree.body[-1] if tree.body else None
        if not (isinstance(last, ast.Expr) and isinstance(last.value, ast.Call)
                and getattr(last.value.func, "id", None) == "show_source"):
            continue
        stored = [o["data"]["text/markdown"] for o in cell.get("outputs", [])
                  if "text/markdown" in o.get("data", {})]
        text = ("".join(stored[0]) if isinstance(stored[0], list) else stored[0]) if stored else None
        found.append((index, _source(cell), text))
    return found


def shown(code: str, namespace: dict) -> str:
    """The markdown that the cell ``code`` (ending in ``show_source(...)``) displays today."""
    tree = ast.parse(code)
    scope = dict(namespace)
    exec(compile(ast.Module(body=tree.body[:-1], type_ignores=[]), "<cell>", "exec"), scope)  # noqa: S102 (the chapter's own cell)
    return eval(compile(ast.Expression(tree.body[-1].value), "<cell>", "eval"), scope)._repr_markdown_()


def test_every_chapter_shows_library_code():
    """Guard against a vacuous pass: the chapters do show code this way."""
    assert sum(len(source_cells(json.loads(p.read_text())["cells"])) for p in CHAPTERS) >= 30


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_shown_source_matches_library(path):
    cells = json.loads(path.read_text())["cells"]
    namespace = chapter_namespace(cells)
    stale = []
    for index, code, stored in source_cells(cells):
        current = shown(code, namespace)
        if stored is None or LINES.sub("lines N-M", stored) != LINES.sub("lines N-M", current):
            stale.append(f"cell {index}: {code.strip().splitlines()[-1]}")
    assert not stale, (f"{path.name} shows code that the library no longer has; re-run it with "
                       f"`replearn notebooks book/{path.name}`: " + "; ".join(stale))


def test_a_stale_cell_is_found(tmp_path):
    """The comparison fails when the stored code is not the library's."""
    from replearn_core.book.display import show_source
    from replearn_core.losses import gaussian_kl

    current = show_source(gaussian_kl)._repr_markdown_()
    cells = [{"cell_type": "code", "source": "from replearn_core.losses import gaussian_kl\n"
                                             "from replearn_core.book.display import show_source",
              "outputs": []},
             {"cell_type": "code", "source": "show_source(gaussian_kl)",
              "outputs": [{"data": {"text/markdown": current.replace("return", "return -")}}]}]
    (index, code, stored), = source_cells(cells)
    assert index == 1 and shown(code, chapter_namespace(cells)) != stored
    cells[1]["outputs"][0]["data"]["text/markdown"] = LINES.sub("lines 1-2", current)
    (index, code, stored), = source_cells(cells)
    assert LINES.sub("", shown(code, chapter_namespace(cells))) == LINES.sub("", stored)

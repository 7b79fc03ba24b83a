"""The root conftest.py raises nbval's 5-second wait for a cell's output messages to 120 s."""
from __future__ import annotations

from pathlib import Path

import nbformat

ROOT_CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"


def _collected_output_timeouts(pytester, with_root_conftest: bool) -> list[float]:
    if with_root_conftest:
        pytester.makeconftest(ROOT_CONFTEST.read_text())
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell("1 + 1"), nbformat.v4.new_code_cell("2 + 2")]
    )
    nbformat.write(notebook, pytester.path / "tiny.ipynb")
    items, _ = pytester.inline_genitems("--nbval", "tiny.ipynb", "-p", "no:cacheprovider")
    return [item.output_timeout for item in items if type(item).__name__ == "IPyNbCell"]


def test_every_collected_cell_waits_120_s(pytester):
    assert _collected_output_timeouts(pytester, with_root_conftest=True) == [120, 120]


def test_without_the_hook_nbval_waits_less(pytester):
    # The control: nbval's own value (5 s in the pinned version) is what the hook replaces.
    timeouts = _collected_output_timeouts(pytester, with_root_conftest=False)
    assert len(timeouts) == 2 and all(t < 120 for t in timeouts)

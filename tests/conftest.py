"""Shared test fixtures: tests never touch the real checkpoint cache or results folder."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("REPLEARN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("REPLEARN_RESULTS", str(tmp_path / "results"))
    monkeypatch.delenv("REPLEARN_DEVICE", raising=False)
    torch.manual_seed(0)
    yield


class StubClassifier:
    """Stands in for the cached MNIST classifier: a fixed random linear map (probabilities and features)."""

    def __init__(self):
        g = torch.Generator().manual_seed(0)
        self.w = torch.randn(784, 10, generator=g)
        self.f = torch.randn(784, 16, generator=g)

    def predict_proba(self, x):
        return torch.softmax(x.reshape(len(x), -1) @ self.w, dim=1)

    def features(self, x):
        return torch.relu(x.reshape(len(x), -1) @ self.f)

    def features_of(self, x):
        return self.features(x)

    def eval(self):
        return self


@pytest.fixture
def stub_classifier():
    return StubClassifier()


def _chapter_with_exercises():
    """A small chapter in the book's exercise convention: a predict exercise with a one-cell
    solution, an implement exercise (stub, checker, gated solution of two code cells) and an
    experiment with a gated text solution. Everything that only a solution says contains SECRET."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

    def code(source, tags=(), output=None):
        cell = new_code_cell(source, execution_count=1, metadata={"tags": list(tags)} if tags else {})
        cell.outputs = [new_output("stream", name="stdout", text=output or "something\n")]
        return cell

    cells = [
        new_markdown_cell("# Sparse things\n\nA chapter to test the exercise tools."),
        code("import replearn_core as rl\nimport torch"),
        new_markdown_cell("## Exercises\n\n```{exercise} What does rho = 0.5 do?\n:label: ex-99-predict\n"
                          ":class: predict\n\nPredict the penalty of codes that are all 0.5, then run the next "
                          "cell.\n```"),
        code("print(float(rl.losses.kl_sparsity_penalty(torch.full((4, 3), 0.5), 0.5)))", output="0.0\n"),
        new_markdown_cell("````{solution} ex-99-predict\n:class: dropdown\n\nZero: SECRET-PREDICT, because\n"
                          "```python\nrho_hat == rho\n```\nfor every unit.\n````\n\nText after a solution stays."),
        new_markdown_cell("```{exercise-start} The KL sparsity penalty\n:label: ex-99-kl\n:class: implement\n```\n\n"
                          "Write `kl_sparsity(h, rho)`, the penalty summed over units."),
        code('def kl_sparsity(h, rho):\n    """Sum over units of KL(rho || rho_hat_j)."""\n'
             "    raise NotImplementedError  # your code here\n\n"
             "rl.exercises.check_kl_sparsity(kl_sparsity)",
             tags=("exercise-stub", "skip-execution", "nbval-skip")),
        new_markdown_cell("```{exercise-end}\n```"),
        new_markdown_cell("```{solution-start} ex-99-kl\n:class: dropdown\n```\n\nSECRET-PROSE: average over the "
                          "batch first."),
        code("def kl_sparsity(h, rho):\n    rho_hat = h.mean(0).clamp(1e-6, 1 - 1e-6)  # SECRET-CODE\n"
             "    return (rho * torch.log(rho / rho_hat)\n"
             "            + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))).sum()"),
        code("rl.exercises.check_kl_sparsity(kl_sparsity)", output="check_kl_sparsity: all 8 cases passed\n"),
        new_markdown_cell("```{solution-end}\n```\n\nText after the gated solution stays."),
        new_markdown_cell(":::{exercise} Change beta\n:label: ex-99-beta\n:class: experiment\n\n"
                          "Set `beta` to 3 and explain the figure.\n:::"),
        code("beta = 1.0  # change me\nprint(beta)", output="1.0\n"),
        new_markdown_cell(":::{solution-start} ex-99-beta\n:class: dropdown\n:::"),
        new_markdown_cell("SECRET-EXPERIMENT: the codes get sparser."),
        new_markdown_cell(":::{solution-end}\n:::"),
        code("print(beta * 2)", output="2.0\n"),
    ]
    nb = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                            "language": "python"}})
    nbformat.validate(nb)
    return nb


@pytest.fixture
def chapter_with_exercises():
    return _chapter_with_exercises()


# The browser tests' shared fixtures (tests/test_browser*.py): the built book and one Chromium
# per test module. Imported lazily so that unit tests need neither playwright nor a book.
@pytest.fixture(scope="module")
def html_dir() -> Path:
    from replearn_tools.explorer_bench import BrowserSetupError, require_book

    try:
        return require_book()
    except BrowserSetupError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="module")
def browser():
    from replearn_tools.explorer_bench import BrowserSetupError, launch_chromium, require_chromium

    try:
        require_chromium()
    except BrowserSetupError as exc:
        pytest.fail(str(exc))
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the python package playwright is missing: run `make install`")
    with sync_playwright() as p:
        b = launch_chromium(p)
        yield b
        b.close()

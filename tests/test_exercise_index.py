"""The exercises index page (replearn_tools.exercise_index): built from the chapters' exercise
directives, and the committed book/exercises.md is up to date with the notebooks."""
from __future__ import annotations

import copy

import nbformat
import pytest

from replearn_core.paths import checkout_root

REPO_ROOT = checkout_root()
from replearn_tools import exercise_index as index
from replearn_tools.notebook_exercises import ExerciseFormatError


def test_committed_index_page_is_up_to_date():
    page = REPO_ROOT / "book" / index.PAGE
    assert page.exists(), "run: replearn exercises-index"
    assert page.read_text(encoding="utf-8") == index.render(index.collect(REPO_ROOT / "book")), (
        "book/exercises.md is out of date: run replearn exercises-index")


def _book(tmp_path, *chapters):
    book = tmp_path / "book"
    book.mkdir(parents=True)
    for name, nb in chapters:
        nbformat.write(nb, book / name)
    return book


def _empty_chapter(title):
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"# {title}\n\nNo exercises.")])


def test_index_lists_every_exercise_with_kind_and_checker(chapter_with_exercises, tmp_path, capsys):
    book = _book(tmp_path, ("05_sparse_things.ipynb", chapter_with_exercises),
                 ("04_before.ipynb", _empty_chapter("Before")))
    text = index.render(index.collect(book))
    assert "3 exercises in 1 chapter: 1 predict, 1 implement, 1 experiment." in text
    assert "## {doc}`Sparse things <05_sparse_things>`" in text
    assert "Before" not in text  # chapters without exercises are not listed
    rows = [line for line in text.splitlines() if line.startswith("| {numref}")]
    assert rows == ["| {numref}`ex-99-predict`: What does rho = 0.5 do? | predict | (none) |",
                    "| {numref}`ex-99-kl`: The KL sparsity penalty | implement | `check_kl_sparsity` |",
                    "| {numref}`ex-99-beta`: Change beta | experiment | (none) |"]
    # the command writes the page, then --check finds it up to date
    assert index.main(["--book", str(book)]) == 0
    assert (book / index.PAGE).read_text(encoding="utf-8") == text
    assert index.main(["--book", str(book), "--check"]) == 0
    (book / index.PAGE).write_text("stale", encoding="utf-8")
    assert index.main(["--book", str(book), "--check"]) == 1
    assert (book / index.PAGE).read_text(encoding="utf-8") == "stale"
    assert "out of date" in capsys.readouterr().out


def test_index_without_exercises(tmp_path):
    text = index.render(index.collect(_book(tmp_path, ("01_a.ipynb", _empty_chapter("A")))))
    assert text.startswith("# Exercises\n") and "No chapter has exercises yet." in text


def test_index_refuses_unknown_checkers_and_duplicate_labels(chapter_with_exercises, tmp_path):
    wrong = copy.deepcopy(chapter_with_exercises)
    for i in (6, 10):
        wrong.cells[i].source = wrong.cells[i].source.replace("check_kl_sparsity", "check_kl_sparsty")
    with pytest.raises(ExerciseFormatError, match="calls check_kl_sparsty, which replearn_core.book.exercises"):
        index.collect(_book(tmp_path / "a", ("05_x.ipynb", wrong)))
    with pytest.raises(ExerciseFormatError, match="06_y.ipynb: exercise label 'ex-99-predict' is also used in 05_x.ipynb"):
        index.collect(_book(tmp_path / "b", ("05_x.ipynb", chapter_with_exercises),
                            ("06_y.ipynb", chapter_with_exercises)))

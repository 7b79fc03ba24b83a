"""Student notebooks (replearn_tools.student_notebooks): solutions removed, stubs kept and
runnable, outputs cleared; on a synthetic chapter and on the book's own chapters."""
from __future__ import annotations

import copy

import nbformat
import pytest

import replearn_core as rl
from replearn_core.book.exercises import ExerciseNotImplemented
from replearn_core.paths import checkout_root

REPO_ROOT = checkout_root()
from replearn_tools import student_notebooks as sn
from replearn_tools.notebook_exercises import (SKIP_TAGS, STUB_TAG, ExerciseFormatError, directives,
                                               read_exercises, solution_leaks)


def _all_text(nb) -> str:
    return "\n".join(c.source for c in nb.cells) + str([c.get("outputs") for c in nb.cells])


def _is_stub(cell) -> bool:
    return STUB_TAG in cell.get("metadata", {}).get("tags", [])


def _solution_only_sources(nb) -> list[str]:
    """Sources of the solutions' code cells that no other cell contains (a solution's closing
    check call, ``rl.exercises.check_x(x)``, is also in the stub)."""
    solution_cells = {i for e in read_exercises(nb) for i in e.solution_cells}
    others = [c.source for i, c in enumerate(nb.cells) if i not in solution_cells]
    return [nb.cells[i].source for i in sorted(solution_cells)
            if not any(nb.cells[i].source in other for other in others)]


def _exec_cells(nb):
    """Run the notebook's code cells in order in one namespace; return the indices of stubs that
    raised "not implemented yet" (any other error propagates)."""
    namespace = {"rl": rl}
    not_implemented = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if _is_stub(cell):
            with pytest.raises(ExerciseNotImplemented, match="is not implemented yet: fill in the function above"):
                exec(compile(cell.source, f"<cell {i}>", "exec"), namespace)
            not_implemented.append(i)
        else:
            exec(compile(cell.source, f"<cell {i}>", "exec"), namespace)
    return not_implemented


def test_directives_parser_finds_top_level_blocks_only():
    text = ("Before.\n\n````{solution} ex-1\n:class: dropdown\n\n```python\nx = 1\n```\nstill inside\n````\n"
            "After.\n```python\n```{exercise} not a directive: inside a code block\n```\n"
            ":::{exercise} Colon\n:label: ex-2\n:class: predict\nbody\n:::\n")
    found = directives(text)
    assert [(d.name, d.argument) for d in found] == [("solution", "ex-1"), ("exercise", "Colon")]
    assert text[found[0].start:found[0].end].endswith("still inside\n````\n")
    assert found[1].options == {"label": "ex-2", "class": "predict"}


def test_read_exercises_of_the_synthetic_chapter(chapter_with_exercises):
    exercises = read_exercises(chapter_with_exercises, "99_sparse_things.ipynb")
    assert [(e.label, e.kind, e.checker, e.has_solution) for e in exercises] == [
        ("ex-99-predict", "predict", None, True),
        ("ex-99-kl", "implement", "check_kl_sparsity", True),
        ("ex-99-beta", "experiment", None, True)]
    assert exercises[1].stub_cells == [6] and exercises[1].solution_cells == [9, 10]
    assert exercises[1].title == "The KL sparsity penalty"


def test_student_copy_removes_solutions_and_keeps_stubs(chapter_with_exercises):
    original = chapter_with_exercises
    student = sn.student_notebook(copy.deepcopy(original), "99_sparse_things.ipynb")
    nbformat.validate(student)
    text = _all_text(student)
    assert "SECRET" not in text
    for source in _solution_only_sources(original):
        assert all(source not in c.source for c in student.cells)
    assert len(_solution_only_sources(original)) == 1  # the solution's check call is also the stub's
    # everything else stays: the exercises, the stub, the prose around the solutions, the other code
    for kept in ("{exercise} What does rho = 0.5 do?", "{exercise-start} The KL sparsity penalty",
                 "{exercise-end}", ":::{exercise} Change beta", "Text after a solution stays.",
                 "Text after the gated solution stays.", "print(beta * 2)"):
        assert kept in text
    assert "{solution" not in text
    stubs = [c for c in student.cells if _is_stub(c)]
    assert [c.source for c in stubs] == [c.source for c in original.cells if _is_stub(c)]
    assert all(not set(SKIP_TAGS) & set(c.metadata["tags"]) for c in stubs)
    assert all(c.outputs == [] and c.execution_count is None for c in student.cells if c.cell_type == "code")
    # the student copy's exercises still read as exercises (without solutions)
    assert [(e.label, e.has_solution) for e in read_exercises(student, instructor=False)] == [
        ("ex-99-predict", False), ("ex-99-kl", False), ("ex-99-beta", False)]


def test_student_copy_runs_until_each_stub_says_not_implemented(chapter_with_exercises):
    student = sn.student_notebook(chapter_with_exercises)
    assert len(_exec_cells(student)) == 1


def test_instructor_notebook_runs_its_solutions(chapter_with_exercises, capsys):
    # what nbval and `make notebooks` do: every cell but the stubs (tagged skip-execution / nbval-skip)
    namespace = {"rl": rl}
    for cell in chapter_with_exercises.cells:
        if cell.cell_type == "code" and not _is_stub(cell):
            exec(cell.source, namespace)
    assert "check_kl_sparsity: all 8 cases passed" in capsys.readouterr().out


@pytest.mark.parametrize("break_it,rule", [
    (lambda nb: nb.cells[6].metadata.update(tags=["exercise-stub"]), "must also be tagged skip-execution, nbval-skip"),
    (lambda nb: nb.cells.pop(16), "the solution of 'ex-99-beta' is never closed"),
    (lambda nb: nb.cells.pop(11), "cell 11: {exercise} inside an open solution"),
    (lambda nb: nb.cells.pop(7), "cell 7: {solution-start} inside an open exercise"),
    (lambda nb: setattr(nb.cells[8], "source", nb.cells[8].source.replace("ex-99-kl", "ex-99-typo")),
     "'ex-99-typo' names no exercise"),
    (lambda nb: setattr(nb.cells[10], "source", "print('no checker')") or setattr(
        nb.cells[6], "source", "def kl_sparsity(h, rho):\n    raise NotImplementedError"), "lacks a checker call"),
    (lambda nb: setattr(nb.cells[5], "source", nb.cells[5].source.replace(":class: implement", ":class: hard")),
     "needs exactly one kind"),
    (lambda nb: setattr(nb.cells[5], "source", nb.cells[5].source.replace(":class: implement",
                                                                          ":class: implement predict")),
     "needs exactly one kind"),
    (lambda nb: setattr(nb.cells[10], "source", "rl.exercises.check_l2_penalty(kl_sparsity)"), "several checkers"),
    (lambda nb: setattr(nb.cells[12], "source", nb.cells[12].source.replace("ex-99-beta", "ex-99-kl")), "used twice"),
])
def test_notebooks_that_break_the_convention_are_refused(chapter_with_exercises, break_it, rule):
    break_it(chapter_with_exercises)
    with pytest.raises(ExerciseFormatError, match=rule):
        sn.student_notebook(chapter_with_exercises, "99_sparse_things.ipynb")


def test_a_later_cell_needing_a_solution_only_name_is_refused(chapter_with_exercises, tmp_path):
    nb = chapter_with_exercises
    nb.cells[9].source += "\n\nrho_default = 0.05"
    nb.cells.append(nbformat.v4.new_code_cell("print(rho_default, kl_sparsity)"))
    assert solution_leaks(nb, "99_x.ipynb") == [
        "99_x.ipynb, cell 18 uses 'rho_default', which only the solution of 'ex-99-kl' defines"]
    book = tmp_path / "book"
    book.mkdir()
    nbformat.write(nb, book / "99_x.ipynb")
    with pytest.raises(ExerciseFormatError, match="rho_default"):
        sn.write_student_notebooks(tmp_path / "out", book)


def test_command_writes_copies_and_refuses_the_book_folder(chapter_with_exercises, tmp_path, capsys):
    book = tmp_path / "book"
    book.mkdir()
    nbformat.write(chapter_with_exercises, book / "99_sparse_things.ipynb")
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Empty")]), book / "98_empty.ipynb")
    nbformat.write(chapter_with_exercises, book / "notes.ipynb")  # not a chapter
    assert sn.main([str(tmp_path / "out"), "--book", str(book)]) == 0
    assert "wrote 2 student notebooks (1 exercise stubs)" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["98_empty.ipynb", "99_sparse_things.ipynb"]
    assert sn.main([str(book), "--book", str(book)]) == 1
    assert "would replace the chapters" in capsys.readouterr().err


def test_student_copies_of_the_book(tmp_path):
    chapters = sn.chapter_paths(REPO_ROOT / "book")
    assert chapters
    written = sn.write_student_notebooks(tmp_path, REPO_ROOT / "book")
    assert [p.name for p in written] == [p.name for p in chapters]
    for path, copy_path in zip(chapters, written):
        original, student = nbformat.read(path, as_version=4), nbformat.read(copy_path, as_version=4)
        nbformat.validate(student)
        exercises = read_exercises(original, path.name)
        solution_cells = {i for e in exercises for i in e.solution_cells}
        kept = [c.source for i, c in enumerate(original.cells) if c.cell_type == "code" and i not in solution_cells]
        assert [c.source for c in student.cells if c.cell_type == "code"] == kept
        assert all(c.outputs == [] and c.execution_count is None for c in student.cells if c.cell_type == "code")
        for source in _solution_only_sources(original):
            assert all(source not in c.source for c in student.cells), (path.name, source)
        assert "{solution" not in "".join(c.source for c in student.cells if c.cell_type == "markdown")
        stubs = [c for c in student.cells if _is_stub(c)]
        assert len(stubs) == sum(len(e.stub_cells) for e in exercises)
        for stub in stubs:  # self-contained: defines the function and calls its checker
            assert not set(SKIP_TAGS) & set(stub.metadata["tags"])
            with pytest.raises(ExerciseNotImplemented, match="is not implemented yet"):
                exec(compile(stub.source, f"<{path.name} stub>", "exec"), {"rl": rl})


def test_instructor_notebook_under_run_notebooks_and_nbval(chapter_with_exercises, tmp_path):
    """`make notebooks` skips the stubs and stores the solution's check line; nbval then passes,
    and fails once the solution is wrong (the checker raises in the solution cell)."""
    import subprocess
    import sys

    from replearn_tools.notebooks import run_notebook

    path = tmp_path / "99_sparse_things.ipynb"
    for cell in chapter_with_exercises.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.write(chapter_with_exercises, path)
    run_notebook(path, timeout=300)
    executed = nbformat.read(path, as_version=4)
    stub, check = executed.cells[6], executed.cells[10]
    assert stub.outputs == [] and stub.execution_count is None
    assert [o.get("text") for o in check.outputs] == ["check_kl_sparsity: all 8 cases passed\n"]

    def nbval(nb_path):
        return subprocess.run([sys.executable, "-m", "pytest", "--nbval", str(nb_path), "--nbval-current-env",
                               "-p", "no:cacheprovider", "-q", "--rootdir", str(tmp_path)],
                              capture_output=True, text=True, cwd=tmp_path, timeout=600)

    assert nbval(path).returncode == 0
    executed.cells[9].source = executed.cells[9].source.replace("h.mean(0)", "h.mean(1).mean()")  # wrong rho_hat
    nbformat.write(executed, path)
    result = nbval(path)
    assert result.returncode == 1
    assert "check_kl_sparsity: case 'random sigmoid codes, rho = 0.05' failed" in result.stdout

"""Student notebooks: every chapter with its solutions removed and its exercise stubs kept.

``replearn student-notebooks OUT_DIR`` writes a copy of each chapter
(``book/[0-9][0-9]_*.ipynb``) into ``OUT_DIR`` for instructors to hand out:

* every solution goes: the text of a ``{solution}`` directive, and everything from a
  ``{solution-start}`` to its ``{solution-end}`` (the markdown around the markers in the same
  cell stays; cells left empty go);
* every stub (a code cell tagged ``exercise-stub``) stays and loses its ``skip-execution`` and
  ``nbval-skip`` tags, so that it runs like any other cell: until the reader fills it in, its
  checker answers "... is not implemented yet: fill in the function above and run this cell again";
* every output and execution count is cleared, and widget state dropped.

The convention it relies on is in :mod:`replearn_tools.notebook_exercises` and CONTRIBUTING.md
("Exercises"). A chapter whose later cells use a name that only a solution defines is refused
(its student copy would stop there with a NameError).
"""
from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path

import nbformat

from replearn_core.paths import checkout_root

REPO_ROOT = checkout_root()

from .notebook_exercises import (SKIP_TAGS, STUB_TAG, ExerciseFormatError, directives, read_exercises,
                                 solution_leaks)


def chapter_paths(book_dir: Path) -> list[Path]:
    return sorted(Path(book_dir).glob("[0-9][0-9]_*.ipynb"))


def _without_solutions(text: str, dropping: bool) -> tuple[str, bool]:
    """``text`` (a markdown cell) without its solutions; ``dropping``: inside a gated solution."""
    kept, position = [], None if dropping else 0
    for d in directives(text):
        if dropping:
            if d.name == "solution-end":
                dropping, position = False, d.end
        elif d.name == "solution":
            kept.append(text[position:d.start])
            position = d.end
        elif d.name == "solution-start":
            kept.append(text[position:d.start])
            dropping = True
    if not dropping:
        kept.append(text[position:])
    return re.sub(r"\n{3,}", "\n\n", "".join(kept)).strip("\n"), dropping


def student_notebook(nb, name: str = "notebook"):
    """A student copy of notebook ``nb``: solutions removed, stubs runnable, outputs cleared."""
    read_exercises(nb, name)  # refuse a notebook that breaks the convention before copying anything
    student = copy.deepcopy(nb)
    student.metadata.pop("widgets", None)
    cells, dropping = [], False
    for cell in student.cells:
        if cell.cell_type == "markdown":
            source, dropping_after = _without_solutions(cell.source, dropping)
            dropping = dropping_after
            if source.strip():
                cell.source = source
                cells.append(cell)
            continue
        if dropping:
            continue
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            tags = cell.metadata.get("tags", [])
            if STUB_TAG in tags:
                cell.metadata["tags"] = [t for t in tags if t not in SKIP_TAGS]
        cells.append(cell)
    student.cells = cells
    return student


def write_student_notebooks(out_dir: Path, book_dir: Path = REPO_ROOT / "book") -> list[Path]:
    """Write the student copy of every chapter of ``book_dir`` into ``out_dir``; return the paths."""
    out_dir, book_dir = Path(out_dir).resolve(), Path(book_dir).resolve()
    if out_dir == book_dir:
        raise ValueError(f"out_dir: {out_dir} is the book's own folder; the copies would replace the chapters")
    chapters = chapter_paths(book_dir)
    if not chapters:
        raise ValueError(f"book_dir: no chapter notebooks (NN_name.ipynb) in {book_dir}")
    copies = []
    for path in chapters:
        nb = nbformat.read(path, as_version=4)
        leaks = solution_leaks(nb, path.name)
        if leaks:
            raise ExerciseFormatError("; ".join(leaks))
        student = student_notebook(nb, path.name)
        nbformat.validate(student)
        copies.append((path.name, student))
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for filename, student in copies:
        nbformat.write(student, out_dir / filename)
        written.append(out_dir / filename)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="replearn student-notebooks",
        description="Write every chapter with its solutions removed and its exercise stubs kept (outputs cleared).")
    parser.add_argument("out_dir", type=Path, help="folder for the student notebooks (created if missing)")
    parser.add_argument("--book", type=Path, default=REPO_ROOT / "book", help="folder of the chapter notebooks")
    args = parser.parse_args(argv)
    try:
        written = write_student_notebooks(args.out_dir, args.book)
    except (ValueError, OSError) as err:
        print(f"student-notebooks: {err}", file=sys.stderr)
        return 1
    stubs = sum(STUB_TAG in c.metadata.get("tags", []) for p in written for c in nbformat.read(p, 4).cells)
    print(f"wrote {len(written)} student notebooks ({stubs} exercise stubs) to {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

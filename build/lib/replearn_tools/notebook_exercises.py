"""The book's exercise convention in chapter notebooks, as the student-notebook and index commands read it.

Exercises and solutions are sphinx-exercise directives in markdown cells (CONTRIBUTING.md,
"Exercises", has copy-pasteable examples):

* an exercise is ``{exercise}`` (all in one markdown cell) or the gated pair ``{exercise-start}``
  ... ``{exercise-end}`` (code cells between them belong to the exercise, e.g. its stub). Its
  options: ``:label:`` (required, unique in the book: ``ex-NN-short-name``) and ``:class:`` with
  exactly one *kind*, ``predict``, ``implement`` or ``experiment`` (sphinx-exercise turns the
  class into a CSS class of the admonition; other classes may stand beside it);
* a solution is ``{solution} <label>`` (in one markdown cell) or the gated pair
  ``{solution-start} <label>`` ... ``{solution-end}``; every code cell between a solution-start
  and its solution-end is part of the solution (an ordinary cell: executed, and checked by nbval);
* a *stub* is a code cell tagged ``exercise-stub`` that belongs to the exercise before it: the
  function to fill in, raising ``NotImplementedError``, and the call of its checker. It also
  carries ``skip-execution`` (nbclient, MyST-NB) and ``nbval-skip`` (nbval), so that the
  instructor's notebook never runs it; the student copy removes those two tags;
* the *checker* of an exercise is the ``check_<name>(...)`` call in its stub and solution cells
  (``rl.exercises.check_kl_sparsity(kl_sparsity)``), one name per exercise: the code that checks
  the answer is the one source of the index's "checker" column. Every *implement* exercise has
  a stub, a solution with code and a checker.

A notebook that breaks the convention raises :class:`ExerciseFormatError` naming the notebook,
the cell and the rule.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

KINDS = ("predict", "implement", "experiment")
STUB_TAG = "exercise-stub"
#: tags that keep the instructor's notebook from running a stub; the student copy drops them
SKIP_TAGS = ("skip-execution", "nbval-skip")

_OPEN = re.compile(r"^ {0,3}(?P<fence>`{3,}|:{3,})\s*(?:\{(?P<name>[A-Za-z][\w-]*)\})?(?P<argument>.*?)\s*$")
_OPTION = re.compile(r"^\s*:(?P<key>[\w-]+):\s*(?P<value>.*?)\s*$")
_CHECKER_CALL = re.compile(r"\b(check_[a-z0-9_]+)\s*\(")


class ExerciseFormatError(ValueError):
    """A notebook breaks the exercise convention (the message names the notebook, cell and rule)."""


@dataclass
class Directive:
    """A top-level fenced MyST directive in a markdown cell: ``source[start:end]`` is all of it."""

    name: str
    argument: str
    options: dict[str, str]
    start: int
    end: int


def directives(markdown: str) -> list[Directive]:
    """The top-level fenced directives of ``markdown`` (```` ```{name} ```` or ``:::{name}``), in order.

    A fence closes at the first line of at least as many of the same characters and nothing else
    (CommonMark's rule), so a directive's body may hold shorter fences; fences without a
    ``{name}`` (code blocks) are skipped with what they contain.
    """
    lines = markdown.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    found, i = [], 0
    while i < len(lines):
        opening = _OPEN.match(lines[i].rstrip("\r\n"))
        if opening is None or (opening["fence"][0] == "`" and "`" in opening["argument"]):
            i += 1
            continue
        fence = opening["fence"]
        closing = re.compile(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        j = i + 1
        options: dict[str, str] = {}
        while j < len(lines) and (m := _OPTION.match(lines[j])) and opening["name"]:
            options[m["key"]] = m["value"]
            j += 1
        while j < len(lines) and not closing.match(lines[j].rstrip("\r\n")):
            j += 1
        end = offsets[min(j + 1, len(lines))]
        if opening["name"]:
            found.append(Directive(opening["name"], opening["argument"].strip(), options, offsets[i], end))
        i = j + 1
    return found


@dataclass
class Exercise:
    """One exercise of a notebook, as its directives, stubs and solution cells define it."""

    notebook: str
    label: str
    title: str
    kind: str
    cell: int                                   # index of the markdown cell that opens it
    stub_cells: list[int] = field(default_factory=list)
    solution_cells: list[int] = field(default_factory=list)  # code cells of its gated solution
    has_solution: bool = False
    checker: str | None = None


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def read_exercises(nb, name: str = "notebook", instructor: bool = True) -> list[Exercise]:
    """Every exercise of notebook ``nb`` (an nbformat v4 node), checked against the convention.

    ``instructor=False`` reads a student copy: its stubs have lost their skip tags and its
    implement exercises their solutions."""
    exercises: dict[str, Exercise] = {}
    open_exercise: Exercise | None = None
    open_solution: Exercise | None = None
    last: Exercise | None = None

    def fail(i: int, rule: str):
        raise ExerciseFormatError(f"{name}, cell {i}: {rule}")

    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            for d in directives(cell.source):
                if d.name in ("exercise", "exercise-start"):
                    if open_exercise or open_solution:
                        fail(i, f"{{{d.name}}} inside an open "
                                f"{'exercise' if open_exercise else 'solution'} (close it first)")
                    label = d.options.get("label", "")
                    if not label:
                        fail(i, f"{{{d.name}}} {d.argument!r} needs a :label: (ex-NN-short-name)")
                    if label in exercises:
                        fail(i, f"exercise label {label!r} is used twice")
                    kinds = [c for c in d.options.get("class", "").split() if c in KINDS]
                    if len(kinds) != 1:
                        fail(i, f"exercise {label!r} needs exactly one kind in its :class: "
                                f"({', '.join(KINDS)}), got {d.options.get('class', '')!r}")
                    last = exercises[label] = Exercise(name, label, d.argument, kinds[0], i)
                    if d.name == "exercise-start":
                        open_exercise = last
                elif d.name == "exercise-end":
                    if open_exercise is None:
                        fail(i, "{exercise-end} without an {exercise-start}")
                    open_exercise = None
                elif d.name in ("solution", "solution-start"):
                    if open_exercise or open_solution:
                        fail(i, f"{{{d.name}}} inside an open "
                                f"{'exercise' if open_exercise else 'solution'} (close it first)")
                    target = exercises.get(d.argument)
                    if target is None:
                        fail(i, f"{{{d.name}}} {d.argument!r} names no exercise defined above it")
                    target.has_solution = True
                    if d.name == "solution-start":
                        open_solution = target
                elif d.name == "solution-end":
                    if open_solution is None:
                        fail(i, "{solution-end} without a {solution-start}")
                    open_solution = None
        elif cell.cell_type == "code":
            stub = STUB_TAG in _tags(cell)
            if open_solution is not None:
                if stub:
                    fail(i, f"a stub ({STUB_TAG}) inside the solution of {open_solution.label!r}")
                open_solution.solution_cells.append(i)
            elif stub:
                if last is None:
                    fail(i, f"a stub ({STUB_TAG}) before any exercise")
                missing = [t for t in SKIP_TAGS if t not in _tags(cell)]
                if missing and instructor:
                    fail(i, f"the stub of {last.label!r} must also be tagged {', '.join(missing)} so that the "
                            f"instructor's notebook does not run it")
                last.stub_cells.append(i)
    if open_exercise or open_solution:
        which = open_exercise or open_solution
        raise ExerciseFormatError(f"{name}: the {'exercise' if open_exercise else 'solution'} of {which.label!r} "
                                  f"is never closed ({{{'exercise' if open_exercise else 'solution'}-end}})")
    for exercise in exercises.values():
        calls = sorted({m for i in exercise.stub_cells + exercise.solution_cells
                        for m in _CHECKER_CALL.findall(nb.cells[i].source)})
        if len(calls) > 1:
            fail(exercise.cell, f"exercise {exercise.label!r} calls several checkers: {', '.join(calls)}")
        exercise.checker = calls[0] if calls else None
        if exercise.kind == "implement":
            lacks = [what for what, ok in (("a stub cell", exercise.stub_cells),
                                           ("a gated solution with code", exercise.solution_cells or not instructor),
                                           ("a checker call (rl.exercises.check_...)", exercise.checker)) if not ok]
            if lacks:
                fail(exercise.cell, f"implement exercise {exercise.label!r} lacks {' and '.join(lacks)}")
    return list(exercises.values())


def _bound_and_used(source: str) -> tuple[set[str], set[str]]:
    """Names a cell binds at top level and names it reads (IPython magics and shell lines ignored)."""
    code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set(), set()
    bound: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        else:
            for sub in ast.walk(node):
                if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                    bound.add(sub.id)
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return bound, used


def solution_leaks(nb, name: str = "notebook") -> list[str]:
    """Names that only a solution defines but a later cell outside every solution uses: in the
    student copy, without the solution, that cell would fail with a NameError. Empty when none."""
    exercises = read_exercises(nb, name)
    solution_cells = {i for e in exercises for i in e.solution_cells}
    bound_elsewhere: set[str] = set()
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and i not in solution_cells:
            bound_elsewhere |= _bound_and_used(cell.source)[0]
    problems = []
    for exercise in exercises:
        only_here: set[str] = set()
        for i in exercise.solution_cells:
            only_here |= _bound_and_used(nb.cells[i].source)[0]
        only_here -= bound_elsewhere
        last = max(exercise.solution_cells, default=len(nb.cells))
        for i in range(last + 1, len(nb.cells)):
            cell = nb.cells[i]
            if cell.cell_type == "code" and i not in solution_cells:
                for leaked in sorted(_bound_and_used(cell.source)[1] & only_here):
                    problems.append(f"{name}, cell {i} uses {leaked!r}, which only the solution of "
                                    f"{exercise.label!r} defines")
    return problems

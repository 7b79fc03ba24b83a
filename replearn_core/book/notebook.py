"""Notebook conventions: one setup call and the chapters' tolerance checks.

Every chapter starts with::

    import replearn_core as rl
    device = rl.setup_notebook()

and states its headline numbers through :func:`check`, which prints a line that does not
depend on float noise (``VAE test -ELBO < 110 nats: OK``), so that nbval can compare stored
and fresh outputs on any machine. Check cells are part of the harness: they run under nbval
but are hidden from the rendered page (see CONTRIBUTING.md).

With ``$REPLEARN_CHECK_LOG`` set to a file, every check also appends one JSON line to it
(name, value, operator, bound, whether it held, and ``$REPLEARN_CHECK_CONTEXT``): the margin
command (``replearn margins``) runs the chapters over seeds, instruction sets and thread counts
and measures how far each check stays from its bound.
"""
from __future__ import annotations

import json
import math
import operator
import os
from pathlib import Path

import torch

from ..devices import pick_device, seed_everything, seed_offset, set_threads

CHECK_LOG_ENV = "REPLEARN_CHECK_LOG"
CHECK_CONTEXT_ENV = "REPLEARN_CHECK_CONTEXT"
_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


class CheckFailed(AssertionError):
    """A headline number of a chapter missed its stated bar."""


def setup_notebook(seed: int = 0) -> torch.device:
    """Fix threads (``$REPLEARN_NUM_THREADS``), seeds (``seed`` plus ``$REPLEARN_SEED_OFFSET``) and
    the figure style; return the device to use (``$REPLEARN_DEVICE``, else the best available).

    Figures: :func:`replearn_core.book.display.configure_figures` (HiDPI PNGs, SVG for figures
    marked with ``vector``, fonts no smaller than the book's footnotes).
    """
    from .display import configure_figures

    set_threads()
    seed_everything(seed + seed_offset())
    configure_figures()
    return pick_device()


def _log_check(record: dict) -> None:
    path = os.environ.get(CHECK_LOG_ENV)
    if not path:
        return
    context = os.environ.get(CHECK_CONTEXT_ENV)
    if context:
        record["context"] = json.loads(context)
    # one kernel per notebook: a log written under nbval (no context) is split by process
    record["process"] = os.getpid()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:  # one short line per check: appends do not interleave
        f.write(json.dumps(record) + "\n")


def check(name: str, value: float, op: str, bound: float, unit: str = "") -> None:
    """Print ``"<name> <op> <bound><unit>: OK"`` or raise :class:`CheckFailed` with the value."""
    if op not in _OPS:
        raise ValueError(f"op must be one of {sorted(_OPS)}, got {op!r}")
    value = float(value)
    ok = bool(_OPS[op](value, bound)) and not math.isnan(value)
    _log_check({"name": name, "value": value, "op": op, "bound": float(bound), "unit": unit, "ok": ok})
    line = f"{name} {op} {bound:g}{unit}"
    if not ok:
        raise CheckFailed(f"{line}: FAILED (value {value:.6g}{unit})")
    print(f"{line}: OK")

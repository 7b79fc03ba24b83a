"""Notebook conventions: one setup call, tolerance checks, and the output regenerator.

Every chapter starts with::

    import replearn_core as rl
    device = rl.setup_notebook()

and states its headline numbers through :func:`check`, which prints a line that
does not depend on float noise (``VAE test -ELBO < 110 nats: OK``), so that nbval
can compare stored and fresh outputs on 1 or 2 threads.

``python -m replearn_core.run_notebooks`` regenerates the stored outputs.
"""
from __future__ import annotations

import operator

import torch

from .devices import pick_device, seed_everything, set_threads

_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


class CheckFailed(AssertionError):
    """A headline number of a chapter missed its stated bar."""


def setup_notebook(seed: int = 0) -> torch.device:
    """Fix threads (``$REPLEARN_NUM_THREADS``), seeds and figure style; return the device to use.

    Figures: :func:`replearn_core.book.display.configure_figures` (HiDPI PNGs, SVG for figures
    marked with ``rl.book.display.vector``, fonts no smaller than the book's footnotes).
    """
    from .book.display import configure_figures

    set_threads()
    seed_everything(seed)
    configure_figures()
    return pick_device()


def check(name: str, value: float, op: str, bound: float, unit: str = "") -> None:
    """Print ``"<name> <op> <bound><unit>: OK"`` or raise :class:`CheckFailed` with the value."""
    if op not in _OPS:
        raise ValueError(f"op must be one of {sorted(_OPS)}, got {op!r}")
    ok = _OPS[op](value, bound)
    line = f"{name} {op} {bound:g}{unit}"
    if not ok:
        raise CheckFailed(f"{line}: FAILED (value {value:.6g}{unit})")
    print(f"{line}: OK")

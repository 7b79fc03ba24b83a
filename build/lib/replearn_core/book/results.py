"""Headline numbers of each chapter, written to ``book/results/<chapter>.json``.

One helper writes them all, so later chapters (and the final comparison) can read
what earlier chapters measured. Floats are rounded so that reruns on 1 or 2 threads
do not churn the files needlessly; provenance (command, commit, device, date) is
recorded with :func:`provenance` in the files (never on the rendered pages).
"""
from __future__ import annotations

import datetime as _dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

from ..devices import device_label
from ..paths import checkout_root, results_dir, write_text_atomic


def _round(value: Any, digits: int) -> Any:
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, dict):
        return {k: _round(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_round(v, digits) for v in value]
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return round(float(value), digits)
    return value


def save_results(chapter: str, values: dict[str, Any], digits: int = 4) -> Path:
    """Merge ``values`` into ``book/results/<chapter>.json`` (keys sorted, floats rounded)."""
    path = results_dir() / f"{chapter}.json"
    current = load_results(chapter) if path.exists() else {}
    current.update(_round(values, digits))
    write_text_atomic(path, json.dumps(current, indent=2, sort_keys=True) + "\n")
    return path


def load_results(chapter: str) -> dict[str, Any]:
    """The numbers a chapter saved (``FileNotFoundError`` naming the chapter if it has not run)."""
    path = results_dir() / f"{chapter}.json"
    if not path.exists():
        raise FileNotFoundError(f"no results for chapter {chapter!r} at {path}; run that chapter first")
    return json.loads(path.read_text())


def git_commit() -> str:
    """The checkout's short commit hash, with ``-dirty`` if tracked files have changed since
    ("unknown" outside a git checkout)."""
    root = checkout_root()
    if root is None:
        return "unknown"
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=10)
        commit = out.stdout.strip() or "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return commit + ("-dirty" if dirty and commit != "unknown" else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def provenance(device: torch.device | str, command: str | None = None) -> dict[str, str]:
    """Command, commit, device, torch version and UTC date of a measurement."""
    return {
        "command": command if command is not None else " ".join([Path(sys.argv[0]).name] + sys.argv[1:]),
        "commit": git_commit(),
        "device": device_label(device),
        "torch": str(torch.__version__),
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def write_csv_with_header(path: Path, header: dict[str, str], frame) -> Path:
    """Write a pandas DataFrame as CSV preceded by ``# key: value`` provenance lines."""
    lines = [f"# {k}: {v}" for k, v in header.items()]
    write_text_atomic(Path(path), "\n".join(lines) + "\n" + frame.to_csv(index=False))
    return Path(path)


def read_csv_with_header(path: Path):
    """Read a CSV written by :func:`write_csv_with_header`; return (header dict, DataFrame)."""
    import io

    import pandas as pd

    text = Path(path).read_text()
    header, body = {}, []
    for line in text.splitlines():
        if line.startswith("# ") and not body:
            key, _, value = line[2:].partition(": ")
            header[key] = value
        else:
            body.append(line)
    return header, pd.read_csv(io.StringIO("\n".join(body)))

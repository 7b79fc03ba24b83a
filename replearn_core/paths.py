"""Where the project keeps its data, cached checkpoints and results.

Every location can be moved with an environment variable, so tests can point the
library at a temporary folder.
"""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """Vendored data (``$REPLEARN_DATA`` or ``<repo>/data``)."""
    return Path(os.environ.get("REPLEARN_DATA", REPO_ROOT / "data"))


def cache_dir() -> Path:
    """Cached checkpoints (``$REPLEARN_CACHE`` or ``<repo>/.cache/checkpoints``)."""
    return Path(os.environ.get("REPLEARN_CACHE", REPO_ROOT / ".cache" / "checkpoints"))


def results_dir() -> Path:
    """Headline numbers and tables of the chapters (``$REPLEARN_RESULTS`` or ``<repo>/book/results``)."""
    return Path(os.environ.get("REPLEARN_RESULTS", REPO_ROOT / "book" / "results"))


def static_dir() -> Path:
    """Static files copied into the built book (``<repo>/book/_static``)."""
    return REPO_ROOT / "book" / "_static"

"""Where the project keeps its data, cached checkpoints and results.

Every location can be moved with an environment variable, so tests can point the
library at a temporary folder.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

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


def write_atomic(path: str | Path, write: Callable[[BinaryIO], None]) -> Path:
    """Write a file through ``write(binary_file)`` atomically: into a temporary file in the same
    folder, flushed to disk, then renamed over ``path``. Readers never see half a file, and a
    failed write (a full disk, an exception) leaves the old file as it was and no temporary behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # results, static files and caches are read by other users and web servers
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path

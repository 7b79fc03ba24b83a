"""Where the library finds its data and keeps its checkpoints and results.

Three situations, in this order of precedence:

1. An environment variable names the folder (``REPLEARN_DATA``, ``REPLEARN_CACHE``,
   ``REPLEARN_RESULTS``, ``REPLEARN_STATIC``); tests and the margin runs point the library at
   temporary folders this way.
2. The package runs from a checkout of the replearn repository (``pip install -e .``, or the
   repository on ``sys.path``): data in ``<repo>/data``, checkpoints in ``<repo>/.cache``,
   results in ``<repo>/book/results``, where the book's chapters read them.
3. The package is installed as a wheel: checkpoints and results go to the user's cache folder
   (``$XDG_CACHE_HOME/replearn`` or ``~/.cache/replearn``); the data are not shipped in the
   wheel, so ``REPLEARN_DATA`` must name a copy of the repository's ``data/`` folder
   (:func:`data_dir` raises an error that says so).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

DATA_ENV = "REPLEARN_DATA"
CACHE_ENV = "REPLEARN_CACHE"
RESULTS_ENV = "REPLEARN_RESULTS"
STATIC_ENV = "REPLEARN_STATIC"

PACKAGE_ROOT = Path(__file__).resolve().parent


def checkout_root() -> Path | None:
    """The repository around the package, or None when the package is installed elsewhere."""
    root = PACKAGE_ROOT.parent
    if (root / "pyproject.toml").is_file() and (root / "book").is_dir() and (root / "data").is_dir():
        return root
    return None


def user_cache_root() -> Path:
    """``$XDG_CACHE_HOME/replearn`` (default ``~/.cache/replearn``)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "replearn"


class DataDirNotFound(FileNotFoundError):
    """The package is installed outside the repository and ``REPLEARN_DATA`` is not set."""


def data_dir() -> Path:
    """The folder holding ``MNIST/raw/*.gz`` and ``olivetti/`` (``$REPLEARN_DATA`` or ``<repo>/data``)."""
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV])
    root = checkout_root()
    if root is None:
        raise DataDirNotFound(
            f"replearn's data are not shipped with the installed package: set ${DATA_ENV} to a folder "
            "holding MNIST/raw/*-ubyte.gz and olivetti/ (the data/ folder of the replearn repository)")
    return root / "data"


def cache_dir() -> Path:
    """Cached checkpoints (``$REPLEARN_CACHE``, ``<repo>/.cache/checkpoints`` or the user cache)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    root = checkout_root()
    return root / ".cache" / "checkpoints" if root is not None else user_cache_root() / "checkpoints"


def results_dir() -> Path:
    """Numbers and tables of the chapters and commands (``$REPLEARN_RESULTS``, ``<repo>/book/results``
    or the user cache)."""
    if os.environ.get(RESULTS_ENV):
        return Path(os.environ[RESULTS_ENV])
    root = checkout_root()
    return root / "book" / "results" if root is not None else user_cache_root() / "results"


def static_dir() -> Path:
    """Static files copied into the built book (``$REPLEARN_STATIC``, ``<repo>/book/_static``, or the
    user cache outside a checkout)."""
    if os.environ.get(STATIC_ENV):
        return Path(os.environ[STATIC_ENV])
    root = checkout_root()
    return root / "book" / "_static" if root is not None else user_cache_root() / "static"


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


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (:func:`write_atomic`)."""
    return write_atomic(path, lambda f: f.write(text.encode("utf-8")))

"""Re-execute chapters and store their outputs.

``replearn notebooks book/06_vae.ipynb`` (or ``--all``, in order) executes in place: the stored
outputs that the book renders and nbval checks. ``--output DIR`` writes the executed copies there
instead and leaves the chapters untouched. Widget state is not stored: the static book uses its
own JavaScript explorers and must not load ipywidget scripts from a CDN.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

from replearn_core.paths import checkout_root

REPO_ROOT = checkout_root()


def run_notebook(path: Path, timeout: int = 1800, output: Path | None = None, allow_errors: bool = False) -> float:
    """Execute ``path`` (working directory: its folder) and write it to ``output`` (default: in
    place); return the seconds it took. ``allow_errors``: go on after a failing cell."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}},
                            store_widget_state=False, allow_errors=allow_errors)
    client.execute()
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, output or path)
    return time.perf_counter() - start


def chapter_paths() -> list[Path]:
    return sorted((REPO_ROOT / "book").glob("[0-9][0-9]_*.ipynb"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="replearn notebooks",
                                     description="Re-execute chapters and store their outputs in place.")
    parser.add_argument("notebooks", nargs="*", type=Path, help="chapter notebooks to run")
    parser.add_argument("--all", action="store_true", help="run every chapter, in order")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds allowed per cell")
    parser.add_argument("--output", type=Path, help="write the executed notebooks into this folder instead")
    parser.add_argument("--allow-errors", action="store_true", help="go on after a failing cell")
    args = parser.parse_args(argv)
    paths = chapter_paths() if args.all else args.notebooks
    if not paths:
        parser.error("name notebooks or pass --all")
    if args.output:
        args.output.mkdir(parents=True, exist_ok=True)
    for p in paths:
        p = Path(p).resolve()
        print(f"running {p.name} ({os.environ.get('REPLEARN_NUM_THREADS', torch.get_num_threads())} threads) ...",
              flush=True)
        seconds = run_notebook(p, args.timeout, args.output / p.name if args.output else None, args.allow_errors)
        print(f"  done in {seconds:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

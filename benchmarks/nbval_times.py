"""Seconds per chapter of an nbval run, from its ``--durations=0`` report.

``make test-notebooks`` prints the slowest cells; for the whole table run
``pytest --nbval book/*.ipynb ... --durations=0 > nbval.log`` and then

    python benchmarks/nbval_times.py nbval.log [more.log ...]

which prints one CSV row per chapter (setup, call and teardown of its cells summed) and a
total, one column per log, so that two runs (two commits, two machines) read side by side.
"""
from __future__ import annotations

import re
import sys
from collections import defaultdict
from pathlib import Path

DURATION = re.compile(r"\s*([\d.]+)s (?:call|setup|teardown)\s+(book/[^:\s]+)::Cell \d+")


def chapter_seconds(log_text: str) -> dict[str, float]:
    """Chapter notebook -> seconds, from a pytest ``--durations=0`` report."""
    seconds: dict[str, float] = defaultdict(float)
    for line in log_text.splitlines():
        match = DURATION.match(line)
        if match:
            seconds[match.group(2)] += float(match.group(1))
    return dict(seconds)


def main(paths: list[str]) -> None:
    if not paths:
        raise SystemExit(__doc__)
    runs = [chapter_seconds(Path(p).read_text()) for p in paths]
    if not all(runs):
        raise SystemExit("no per-cell durations found: run pytest with --durations=0")
    chapters = sorted(set().union(*runs))
    print(",".join(["chapter", *paths]))
    for chapter in chapters:
        print(",".join([chapter, *(f"{run[chapter]:.1f}" if chapter in run else "" for run in runs)]))
    print(",".join(["total", *(f"{sum(run.values()):.1f}" for run in runs)]))


if __name__ == "__main__":
    main(sys.argv[1:])

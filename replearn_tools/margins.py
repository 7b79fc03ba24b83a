"""``replearn margins``: how far every check of the book stays from its bound, measured.

A chapter states its headline numbers as checks (``rl.check("test -ELBO", value, "<", 108)``). A
bound chosen from one machine's run can fail on another CPU, thread count or seed. This command
runs the chapters several times, over

* seeds (``$REPLEARN_SEED_OFFSET``: every training seed of the book shifted),
* instruction sets (``native``; ``avx2``: torch, MKL and oneDNN kernels limited to AVX2, as on
  many laptops; ``default``: torch's portable kernels), and
* thread counts,

each from an empty checkpoint cache, with every check recorded (``$REPLEARN_CHECK_LOG``). For
each check it reports the values' spread (standard deviation over the runs) and its margin: the
distance from the mean to the bound in units of that spread. A check closer than ``--flag`` (3)
spreads to its bound, or one that failed in any run, is flagged: its bound must be set from what
the check is for, with room for the spread measured here.

    replearn margins                                   # every chapter, 3 seeds x native, 2 threads
    replearn margins --chapters 02_autoencoders --seeds 0,1 --isas native,default --threads 1,2

The table goes to ``book/results/check_margins.csv`` (with command, commit, machine and date).
Runs execute copies of the notebooks in a work folder (the chapters are not modified), with
their own checkpoint cache, results folder (a copy of ``book/results``) and static folder.
"""
from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from replearn_core.book.notebook import _OPS as CHECK_OPS  # the operators rl.check judges by
from replearn_core.book.results import provenance, write_csv_with_header
from replearn_core.paths import checkout_root, results_dir

#: Environment of each instruction set: torch's ATen kernels, MKL and oneDNN limited alike.
ISAS = {
    "native": {},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
    "default": {"ATEN_CPU_CAPABILITY": "default", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2", "ONEDNN_MAX_CPU_ISA": "SSE41"},
}
FLAG_SPREADS = 3.0


@dataclass(frozen=True)
class Run:
    seed: int
    isa: str
    threads: int

    @property
    def name(self) -> str:
        return f"seed{self.seed}-{self.isa}-{self.threads}t"


def chapter_notebooks(chapters: list[str] | None = None) -> list[Path]:
    """The book's chapters (``book/NN_*.ipynb``), or those whose stem is in ``chapters``."""
    root = checkout_root()
    if root is None:
        raise FileNotFoundError("replearn margins runs the book's chapters: run it from a checkout of the repository")
    paths = sorted((root / "book").glob("[0-9][0-9]_*.ipynb"))
    if chapters:
        by_stem = {p.stem: p for p in paths}
        unknown = [c for c in chapters if c not in by_stem]
        if unknown:
            raise ValueError(f"chapters: unknown {unknown}; choose from {sorted(by_stem)}")
        paths = [by_stem[c] for c in chapters]
    return paths


def run_chapters(run: Run, notebooks: list[Path], work: Path, timeout: int = 1800, keep_cache: bool = False) -> Path:
    """Execute ``notebooks`` in order under ``run``'s seed, instruction set and threads; return the check log.

    ``keep_cache``: reuse the checkpoints that an earlier run of the same name left in ``work``
    (the same seed, instruction set and threads train the same models), e.g. after a change
    to a chapter's measurements; everything else of that run is removed.
    """
    folder = work / run.name
    if folder.exists():
        for item in folder.iterdir():
            if not (keep_cache and item.name == "cache"):
                shutil.rmtree(item) if item.is_dir() else item.unlink()
    (folder / "executed").mkdir(parents=True)
    if results_dir().is_dir():  # chapters read what earlier ones and the commands stored
        shutil.copytree(results_dir(), folder / "results")
    log = folder / "checks.jsonl"
    env = {k: v for k, v in os.environ.items() if k not in ("REPLEARN_DEVICE", *ISAS["avx2"])}
    env.update(ISAS[run.isa])
    env.update({"REPLEARN_SEED_OFFSET": str(run.seed), "REPLEARN_NUM_THREADS": str(run.threads),
                "OMP_NUM_THREADS": str(run.threads), "REPLEARN_CACHE": str(folder / "cache"),
                "REPLEARN_RESULTS": str(folder / "results"), "REPLEARN_STATIC": str(folder / "static"),
                "REPLEARN_CHECK_LOG": str(log), "REPLEARN_DEVICE": "cpu"})
    for nb in notebooks:
        env["REPLEARN_CHECK_CONTEXT"] = json.dumps({"run": run.name, "seed": run.seed, "isa": run.isa,
                                                    "threads": run.threads, "chapter": nb.stem})
        with open(folder / "log.txt", "a") as out:
            subprocess.run([sys.executable, "-m", "replearn_tools", "notebooks", "--allow-errors", "--timeout",
                            str(timeout), "--output", str(folder / "executed"), str(nb)],
                           env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    return log


def read_logs(paths: list[Path]) -> pd.DataFrame:
    """All check records of the logs: one row per check per run.

    A log written without ``$REPLEARN_CHECK_CONTEXT`` (e.g. ``REPLEARN_CHECK_LOG=... make test``)
    gets its log file's name (without suffix) as the run, and each of its kernels (one per notebook) the chapter whose
    checks it shares the most names with, among the records that name their chapter.
    """
    rows = []
    for path in paths:
        if path.exists():
            for line in path.read_text().splitlines():
                rec = json.loads(line)
                ctx = rec.pop("context", {})
                rows.append({"run": path.stem, **ctx, **rec})
    frame = pd.DataFrame(rows)
    if frame.empty or "chapter" not in frame:
        if not frame.empty:
            frame["chapter"] = None
        return frame
    known = frame[frame["chapter"].notna()]
    chapters_of = known.groupby("name")["chapter"].agg(lambda c: set(c))
    unknown = frame["chapter"].isna()
    if not unknown.any():
        return frame
    for (_, _), g in frame[unknown].groupby(["run", "process"], sort=False):
        votes: dict[str, int] = {}
        for name in g["name"]:
            for chapter in chapters_of.get(name, ()):
                votes[chapter] = votes.get(chapter, 0) + 1
        if votes:
            frame.loc[g.index, "chapter"] = max(votes, key=votes.get)
    return frame


def with_current_bounds(records: pd.DataFrame) -> pd.DataFrame:
    """Each check judged by its newest bound: the operator and bound of its last record (logs are
    read oldest first), and ``ok`` recomputed, so that values measured before a bound moved count
    against the bound the chapter has now. Checks missing from their chapter's newest run go."""
    # checks that a chapter's newest run no longer makes (renamed or removed) are left out
    newest_run = records.groupby("chapter", sort=False)["run"].transform("last")
    current = set(zip(records.loc[records["run"] == newest_run, "chapter"],
                      records.loc[records["run"] == newest_run, "name"]))
    records = records[[(c, n) in current for c, n in zip(records["chapter"], records["name"])]].copy()
    last = records.groupby(["chapter", "name"], sort=False)[["op", "bound"]].transform("last")
    records["op"], records["bound"] = last["op"], last["bound"]
    records["ok"] = [bool(CHECK_OPS[o](v, b)) and v == v for o, v, b in zip(records["op"], records["value"], records["bound"])]
    return records


def margins(records: pd.DataFrame, flag: float = FLAG_SPREADS) -> pd.DataFrame:
    """Per check: runs, mean, spread (std over runs), min, max, failures, margin (spreads) and flag.

    The margin is the distance from the mean to the bound in spreads, signed so that positive is
    the passing side. A check whose values never vary has an infinite margin if it always passed.
    Flagged: margin below ``flag``, any failure, or fewer than two runs (no spread to judge).
    """
    out = []
    for (chapter, name, op, bound), g in records.groupby(["chapter", "name", "op", "bound"], sort=False):
        values = g["value"].astype(float)
        mean, std = float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else float("nan")
        if std < 1e-12 * max(1.0, abs(mean)):  # the same value, up to the rounding of the mean
            std = 0.0
        side = 1.0 if op in (">", ">=") else -1.0
        distance = side * (mean - bound)
        failures = int((~g["ok"].astype(bool)).sum())
        if std == 0:  # the same value in every run (a count, a choice, an exact result)
            margin = math.inf if failures == 0 else 0.0
        else:
            margin = distance / std if std == std else float("nan")
        flagged = failures > 0 or not (margin >= flag)
        out.append({"chapter": chapter, "check": name, "op": op, "bound": bound, "runs": len(values),
                    "mean": mean, "spread": std, "min": float(values.min()), "max": float(values.max()),
                    "failures": failures, "margin_spreads": margin, "flagged": flagged})
    return pd.DataFrame(out)


def _parse_list(text: str, cast=str) -> list:
    return [cast(v.strip()) for v in text.split(",") if v.strip()]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(prog="replearn margins", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chapters", help="comma-separated chapter names, e.g. 02_autoencoders (default: all)")
    parser.add_argument("--notebooks", nargs="*", type=Path, help="notebook files instead of the book's chapters")
    parser.add_argument("--seeds", default="0,1,2", help="seed offsets (default 0,1,2)")
    parser.add_argument("--isas", default="native", help=f"instruction sets, of {sorted(ISAS)} (default native)")
    parser.add_argument("--threads", default="2", help="thread counts (default 2)")
    parser.add_argument("--extra-runs", default="", help="more runs as seed:isa:threads, e.g. 0:avx2:2,0:default:1")
    parser.add_argument("--jobs", type=int, default=1, help="runs executed at once (each uses its thread count)")
    parser.add_argument("--work", type=Path, help="work folder (default: a temporary folder, removed at the end)")
    parser.add_argument("--keep-cache", action="store_true",
                        help="reuse the checkpoints of earlier runs of the same name in --work")
    parser.add_argument("--flag", type=float, default=FLAG_SPREADS, help="flag checks closer than this many spreads")
    parser.add_argument("--logs", nargs="*", type=Path, default=[],
                        help="check logs of earlier runs to include (oldest first), e.g. of a run of "
                             "`REPLEARN_CHECK_LOG=checks.jsonl make test`; --seeds '' runs nothing new")
    parser.add_argument("--out", type=Path, help="CSV (default book/results/check_margins.csv; '-' prints only)")
    args = parser.parse_args(argv)
    isas = _parse_list(args.isas)
    unknown = [i for i in isas if i not in ISAS]
    if unknown:
        parser.error(f"--isas: unknown {unknown}; choose from {sorted(ISAS)}")
    runs = [Run(s, i, t) for s, i, t in itertools.product(_parse_list(args.seeds, int), isas,
                                                           _parse_list(args.threads, int))]
    for spec in _parse_list(args.extra_runs):
        seed, isa, threads = spec.split(":")
        runs.append(Run(int(seed), isa, int(threads)))
    runs = list(dict.fromkeys(runs))
    notebooks = [p.resolve() for p in args.notebooks] if args.notebooks else chapter_notebooks(
        _parse_list(args.chapters) if args.chapters else None)
    work = args.work or Path(tempfile.mkdtemp(prefix="replearn-margins-"))
    start = time.perf_counter()
    print(f"{len(runs)} runs x {len(notebooks)} notebooks, {args.jobs} at a time, in {work}", flush=True)
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        logs = list(pool.map(lambda r: run_chapters(r, notebooks, work, keep_cache=args.keep_cache), runs))
    records = read_logs([*args.logs, *logs])
    if not records.empty:
        records = records[records["chapter"].notna()]
    table = margins(with_current_bounds(records), args.flag) if not records.empty else pd.DataFrame()
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    if table.empty:
        print("no check was recorded (did the notebooks run? see the work folder's log.txt)", file=sys.stderr)
        return 1
    header = provenance("cpu", "replearn margins " + " ".join(argv))
    from replearn_core.devices import cpu_model

    header["machine"] = f"CPU {cpu_model()}, {os.cpu_count()} cores ({platform.machine()})"
    header.update({"runs": ", ".join([*(p.stem for p in args.logs), *(r.name for r in runs)]), "wall_seconds": f"{time.perf_counter() - start:.0f}",
                   "margin": "(mean - bound) / spread on the passing side; spread = std over the runs"})
    if args.out != Path("-"):
        path = write_csv_with_header(args.out or results_dir() / "check_margins.csv", header, table.round(6))
        print(f"wrote {path}")
    flagged = table[table["flagged"]]
    with pd.option_context("display.width", 200, "display.max_colwidth", 70, "display.max_rows", 500):
        print(f"{len(table)} checks, {len(flagged)} flagged (margin < {args.flag:g} spreads or a failure):")
        if len(flagged):
            print(flagged[["chapter", "check", "op", "bound", "mean", "spread", "failures",
                           "margin_spreads"]].to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``replearn compare``: every book model on the same measurements, written to ``book/results/``.

    replearn compare                         # the chapters' models as trained in the book, one seed
    replearn compare --scale full --seeds 3  # 3x the epochs on all 60,000 images, 3 seeds each

The table (one row per model and seed) goes to ``book/results/final_comparison_<scale>.csv`` with a
header recording the command, commit, device and date; the summary (mean and standard deviation
over seeds) is printed. The measurements are :func:`replearn_core.book.compare.measure`.
"""
from __future__ import annotations

import argparse
import sys
import time

from replearn_core.book import compare
from replearn_core.book.results import provenance, write_csv_with_header
from replearn_core.devices import pick_device, set_threads


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(prog="replearn compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=compare.SCALES, default="book",
                        help=f"book: the chapters' models; full: {compare.FULL_EPOCH_FACTOR}x their epochs on all "
                             "training images")
    parser.add_argument("--seeds", type=int, default=1, help="seeds per model (seed 0 is the chapter's model)")
    parser.add_argument("--models", help="comma-separated zoo names (default: every model of the final comparison)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: best available)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: $REPLEARN_NUM_THREADS)")
    parser.add_argument("--out", default=None, help="CSV name under book/results (default final_comparison_<scale>)")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error("--seeds must be >= 1")
    jobs = compare.final_jobs(args.scale)
    if args.models:
        wanted = [m.strip() for m in args.models.split(",") if m.strip()]
        unknown = [m for m in wanted if m not in compare.FINAL_MODELS.values()]
        if unknown:
            parser.error(f"--models: unknown {unknown}; choose from {sorted(compare.FINAL_MODELS.values())}")
        jobs = {label: job for label, job in jobs.items() if job[0] in wanted}
    set_threads(args.threads)
    device = pick_device(args.device)
    start = time.perf_counter()
    frame = compare.compare(jobs, seeds=range(args.seeds), device=device)
    header = provenance(device, "replearn compare " + " ".join(argv))
    header["wall_seconds"] = f"{time.perf_counter() - start:.0f}"
    path = write_csv_with_header(compare.csv_path(args.out or f"final_comparison_{args.scale}"), header,
                                 frame.round(5))
    summary = compare.summarize(frame)
    with __import__("pandas").option_context("display.width", 160, "display.max_columns", 12):
        for col in ("recon_bce_nats", "kmeans_accuracy", "linear_probe_accuracy", "inception_score",
                    "sample_entropy_bits", "parzen_log_likelihood"):
            print(f"\n{compare.COLUMNS[col][0]}:")
            print(summary[col].round(4).to_string())
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``replearn sweep sparse``: the sparse autoencoder's hyper-parameter sweep (report 3.4, figures 11-13).

    replearn sweep sparse --seeds 5 --epochs 20 --device cuda   # the report's grids, full scale
    replearn sweep sparse --live                                # the chapter's small sweep

The runs, their per-epoch curves and the three tables go to ``book/results/sparse_*.csv`` with a
provenance header; the functions are :mod:`replearn_core.book.sweeps`.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from replearn_core.book.results import provenance
from replearn_core.book.sweeps import (FACTORS, LIVE_SPARSE, LOSS_UNIT, SPARSE_BATCH, SPARSE_DEFAULTS, SPARSE_GRIDS,
                                       SPARSE_LR, SPARSE_REFERENCES, format_table, run_sparse_sweep, separation,
                                       sparse_table, write_sparse_results)
from replearn_core.devices import pick_device, set_threads


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="replearn sweep",
                                     description="Hyper-parameter sweeps behind the book's tables.")
    parser.add_argument("sweep", choices=["sparse"], help="which sweep (report 3.4: rho, beta, alpha)")
    parser.add_argument("--seeds", type=int, default=5, help="seeds per configuration (default 5)")
    parser.add_argument("--epochs", type=int, default=20, help="training epochs per run (default 20)")
    parser.add_argument("--train-subset", type=int, default=None,
                        help="train on the first N MNIST training images (default: all 60,000)")
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: $REPLEARN_DEVICE or the best available)")
    parser.add_argument("--live", action="store_true", help="the chapter's small live sweep instead of the report's grids")
    parser.add_argument("--out-dir", type=Path, default=None,
                        help="folder for the CSV files (default book/results; --live writes nothing unless given)")
    args = parser.parse_args(argv)
    set_threads()
    device = pick_device(args.device)
    if args.live:
        settings = dict(LIVE_SPARSE)
    else:
        settings = {"grids": SPARSE_GRIDS, "defaults": SPARSE_DEFAULTS, "references": SPARSE_REFERENCES,
                    "seeds": args.seeds, "epochs": args.epochs, "train_subset": args.train_subset}
    start = time.perf_counter()
    runs, epochs = run_sparse_sweep(device=device, **settings)
    wall = time.perf_counter() - start
    header = provenance(device, command="replearn sweep " + " ".join(argv))
    header.update({
        "setup": (f"784-196-784 sigmoid autoencoder, Adam lr {SPARSE_LR:g}, batch {SPARSE_BATCH}, "
                  f"{settings['epochs']} epochs on {settings['train_subset'] or 60000} training images, "
                  f"{settings['seeds']} seeds; defaults {settings['defaults']}"),
        "loss": LOSS_UNIT,
        "wall_seconds": f"{wall:.0f}",
    })
    for f in FACTORS:
        table = sparse_table(runs, f, settings["defaults"])
        print(f"\n{f} (others at defaults {settings['defaults']}):")
        print(format_table(table, f).to_string(index=False))
        print("  ", {k: (round(v, 3) if isinstance(v, float) else v) for k, v in separation(table).items()})
    if not args.live or args.out_dir is not None:
        paths = write_sparse_results(runs, epochs, header, args.out_dir, settings["defaults"])
        print("\nwrote", ", ".join(str(p) for p in paths.values()))
    print(f"sweep took {wall:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

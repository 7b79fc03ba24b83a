"""``replearn sweep``: the sparse autoencoder's experiments (report 3.4-3.5).

    replearn sweep sparse --seeds 5 --epochs 20 --device cuda   # the report's grids (figures 11-13), full scale
    replearn sweep sparse --live                                # the chapter's small sweep
    replearn sweep generalisation                               # the penalties where the plain AE overfits
    replearn sweep generalisation --live                        # the chapter's live version of it

``sparse`` writes the runs, their per-epoch curves and the three tables to
``book/results/sparse_*.csv``; ``generalisation`` writes the per-epoch train and test curves to
``book/results/sparse_generalisation.csv`` and their summary to
``sparse_generalisation_summary.csv``; each file has a provenance header. The functions are
:mod:`replearn_core.book.sweeps`.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from replearn_core.book import sweeps
from replearn_core.book.results import provenance
from replearn_core.devices import pick_device, set_threads

#: defaults of the options each sweep shares: (seeds, epochs)
SPARSE_DEFAULT_RUNS = (5, 20)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="replearn sweep",
                                     description="The sparse autoencoder's experiments behind the book's tables.")
    parser.add_argument("sweep", choices=["sparse", "generalisation"],
                        help="sparse: the hyper-parameter grids (report 3.4: rho, beta, alpha); generalisation: "
                             "train and test curves with and without the penalties where the plain AE overfits "
                             "(report 3.5)")
    parser.add_argument("--seeds", type=int, default=None,
                        help=f"seeds per configuration (default: sparse {SPARSE_DEFAULT_RUNS[0]}, "
                             f"generalisation {sweeps.FULL_GENERALISATION['seeds']})")
    parser.add_argument("--epochs", type=int, default=None,
                        help=f"training epochs per run (default: sparse {SPARSE_DEFAULT_RUNS[1]}, "
                             f"generalisation {sweeps.FULL_GENERALISATION['epochs']})")
    parser.add_argument("--train-subset", type=int, default=None,
                        help="sparse: train on the first N MNIST training images (default: all 60,000)")
    parser.add_argument("--train-size", type=int, default=None,
                        help=f"generalisation: train on the first N MNIST training images "
                             f"(default {sweeps.FULL_GENERALISATION['train_size']})")
    parser.add_argument("--test-size", type=int, default=None,
                        help=f"generalisation: score on the first N test images "
                             f"(default {sweeps.FULL_GENERALISATION['test_size']:,})")
    parser.add_argument("--eval-every", type=int, default=None,
                        help=f"generalisation: score train and test every N epochs "
                             f"(default {sweeps.FULL_GENERALISATION['eval_every']})")
    parser.add_argument("--lr", type=float, default=None,
                        help=f"generalisation: Adam's learning rate (default {sweeps.GENERALISATION_LR:g})")
    parser.add_argument("--batch-size", type=int, default=None,
                        help=f"generalisation: mini-batch size (default {sweeps.GENERALISATION_BATCH})")
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: $REPLEARN_DEVICE or the best available)")
    parser.add_argument("--live", action="store_true", help="the chapter's small live version instead of the full one")
    parser.add_argument("--out-dir", type=Path, default=None,
                        help="folder for the CSV files (default book/results; --live writes nothing unless given)")
    args = parser.parse_args(argv)
    generalisation_only = {"--train-size": args.train_size, "--test-size": args.test_size,
                           "--eval-every": args.eval_every, "--lr": args.lr, "--batch-size": args.batch_size}
    if args.sweep == "sparse" and any(v is not None for v in generalisation_only.values()):
        parser.error(f"{', '.join(k for k, v in generalisation_only.items() if v is not None)}: "
                     "options of `sweep generalisation` only")
    if args.sweep == "generalisation" and args.train_subset is not None:
        parser.error("--train-subset: an option of `sweep sparse`; use --train-size")
    set_threads()
    device = pick_device(args.device)
    header = provenance(device, command="replearn sweep " + " ".join(argv))
    if args.sweep == "sparse":
        return _sparse(args, device, header)
    return _generalisation(args, device, header)


def _sparse(args, device, header: dict[str, str]) -> int:
    if args.live:
        settings = dict(sweeps.LIVE_SPARSE)
    else:
        settings = {"grids": sweeps.SPARSE_GRIDS, "defaults": sweeps.SPARSE_DEFAULTS,
                    "references": sweeps.SPARSE_REFERENCES,
                    "seeds": args.seeds or SPARSE_DEFAULT_RUNS[0], "epochs": args.epochs or SPARSE_DEFAULT_RUNS[1],
                    "train_subset": args.train_subset}
    start = time.perf_counter()
    runs, epochs = sweeps.run_sparse_sweep(device=device, **settings)
    wall = time.perf_counter() - start
    header.update({
        "setup": (f"784-196-784 sigmoid autoencoder, Adam lr {sweeps.SPARSE_LR:g}, batch {sweeps.SPARSE_BATCH}, "
                  f"{settings['epochs']} epochs on {settings['train_subset'] or 60000} training images, "
                  f"{settings['seeds']} seeds; defaults {settings['defaults']}"),
        "loss": sweeps.LOSS_UNIT,
        "wall_seconds": f"{wall:.0f}",
    })
    for f in sweeps.FACTORS:
        table = sweeps.sparse_table(runs, f, settings["defaults"])
        print(f"\n{f} (others at defaults {settings['defaults']}):")
        print(sweeps.format_table(table, f).to_string(index=False))
        print("  ", {k: (round(v, 3) if isinstance(v, float) else v) for k, v in sweeps.separation(table).items()})
    if not args.live or args.out_dir is not None:
        paths = sweeps.write_sparse_results(runs, epochs, header, args.out_dir, settings["defaults"])
        print("\nwrote", ", ".join(str(p) for p in paths.values()))
    print(f"sweep took {wall:.0f} s")
    return 0


def _generalisation(args, device, header: dict[str, str]) -> int:
    import pandas as pd

    settings = dict(sweeps.LIVE_GENERALISATION if args.live else sweeps.FULL_GENERALISATION)
    for key in ("seeds", "epochs", "train_size", "test_size", "eval_every"):
        if getattr(args, key) is not None:
            settings[key] = getattr(args, key)
    lr = sweeps.GENERALISATION_LR if args.lr is None else args.lr
    batch_size = sweeps.GENERALISATION_BATCH if args.batch_size is None else args.batch_size
    start = time.perf_counter()
    curves, summary = sweeps.run_generalisation_experiment(device=device, lr=lr, batch_size=batch_size, **settings)
    wall = time.perf_counter() - start
    configs = "; ".join(f"{label}: beta {c.sparsity_weight:g}, weight decay {c.weight_decay:g}"
                        for label, c in sweeps.GENERALISATION_CONFIGS.items())
    header.update({
        "setup": (f"784-196-784 sigmoid autoencoder (rho 0.2), Adam lr {lr:g}, batch {batch_size}, "
                  f"{settings['epochs']} epochs on the first {settings['train_size']} MNIST training images, "
                  f"scored every {settings['eval_every']} epochs on them and on the first "
                  f"{settings['test_size']} test images; seeds 0..{settings['seeds'] - 1}; {configs}"),
        "loss": sweeps.GENERALISATION_LOSS_UNIT,
        "wall_seconds": f"{wall:.0f}",
    })
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(summary.round(2).to_string(index=False))
        print()
        print(sweeps.generalisation_verdicts(summary).round(2).to_string(index=False))
    if not args.live or args.out_dir is not None:
        paths = sweeps.write_generalisation_results(curves.round(4), summary.round(4), header, args.out_dir)
        print("\nwrote", ", ".join(str(p) for p in paths.values()))
    print(f"experiment took {wall:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``replearn dcgan-long``: train the chapter's DCGAN longer and record its sample quality.

    replearn dcgan-long --epochs 8                      # the chapter's network (book/07_dcgan)
    replearn dcgan-long --epochs 16 --network all-conv  # the convolutions-only network it replaced

The network is trained with the chapter's recipe for ``--epochs`` passes over all 60,000 digits.
At 100, 200, 400, 600, 1000, 1500, 2000, 3000, ... iterations and at the end, the inception-style
score and the Frechet distance of ``--samples`` samples from a fixed z against the 10,000 test
digits are measured (for the trained weights and, where the network keeps one, their running
average). Writes ``07_dcgan_long.csv`` (with provenance) and a sample grid
``07_dcgan_long_samples.png`` under ``book/results/`` (``07_dcgan_long_allconv.*`` for ``all-conv``).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from replearn_core import metrics
from replearn_core.book.results import provenance, write_csv_with_header
from replearn_core.book.zoo import DCGAN_NETWORKS, DCGAN_TRAINING, get_classifier
from replearn_core.data import mnist_batches, mnist_tensors
from replearn_core.devices import pick_device, seed_everything, set_threads
from replearn_core.models import DCGAN
from replearn_core.paths import results_dir
from replearn_core.training import Callback, fit

CHECKPOINTS = (100, 200, 400, 600, 1000, 1500, 2000, 3000, 4000, 6000, 8000, 10000, 12000, 16000, 20000, 24000,
               28000, 32000, 40000, 48000, 56000, 64000)


class QualityCurve(Callback):
    """Sample quality of G(z) for a fixed z at chosen iterations."""

    def __init__(self, steps: set[int], z: torch.Tensor, classifier, x_test: torch.Tensor, per_epoch: int,
                 progress: bool):
        self.steps, self.z, self.classifier, self.x_test = steps, z, classifier, x_test
        self.per_epoch, self.progress, self.rows, self.start = per_epoch, progress, [], time.perf_counter()

    def on_step_end(self, step, model: DCGAN, terms) -> None:
        if step not in self.steps:
            return
        row = {"iteration": step, "epoch": round(step / self.per_epoch, 3),
               "train_seconds": round(time.perf_counter() - self.start, 1)}
        variants = {"": False} | ({"averaged_": True} if model.generator_ema is not None else {})
        for prefix, averaged in variants.items():
            q = metrics.sample_quality(self.classifier, model.generate(self.z, averaged=averaged), self.x_test)
            row.update({f"{prefix}{k}": round(v, 4) for k, v in q.items()})
        self.rows.append(row)
        if self.progress:
            key = "averaged_" if model.generator_ema is not None else ""
            print(f"iteration {step}: IS {row[key + 'inception_score']:.3f}, FD {row[key + 'frechet_distance']:.2f}",
                  flush=True)


def long_run(epochs: int, device=None, n_samples: int = 5000, seed: int = 0, progress: bool = True,
             out_dir: Path | None = None, network: str = "book") -> Path:
    """Train ``DCGAN_NETWORKS[network]`` for ``epochs`` epochs; write its quality curve; return the CSV path."""
    import matplotlib.image
    import pandas as pd

    from replearn_core.viz.plots import image_grid

    if network not in DCGAN_NETWORKS:
        raise ValueError(f"network must be one of {sorted(DCGAN_NETWORKS)}, got {network!r}")
    config = DCGAN_NETWORKS[network]
    stem = "07_dcgan_long" if network == "book" else "07_dcgan_long_allconv"
    device = pick_device(device)
    out_dir = Path(out_dir) if out_dir is not None else results_dir()
    classifier = get_classifier(device, progress=progress)
    x_test, _ = mnist_tensors("test", device, flatten=False)
    train = DCGAN_TRAINING.replace(epochs=epochs, seed=seed, train_subset=None)
    batches = mnist_batches(train, device, images=True)
    seed_everything(seed)
    model = DCGAN(config).to(device)
    total = epochs * len(batches)
    z = torch.randn(n_samples, config.z_dim, generator=torch.Generator().manual_seed(1234))
    curve = QualityCurve({s for s in CHECKPOINTS if s <= total} | {total}, z, classifier, x_test, len(batches),
                         progress)
    history = fit(model, batches, train, callbacks=[curve], progress=progress, desc="DCGAN long run")
    frame = pd.DataFrame(curve.rows)
    for term in ("generator", "discriminator"):  # mean loss over the 100 iterations before each row
        values = history.steps[term]
        frame[f"{term}_loss_window"] = [round(sum(values[max(0, s - 100):s]) / len(values[max(0, s - 100):s]), 4)
                                        for s in frame.iteration]
    header = provenance(device, command=f"replearn dcgan-long --epochs {epochs} --network {network}")
    header.update({"config": f"DCGAN_NETWORKS[{network!r}], batch {train.batch_size}, Adam lr {train.lr:g} "
                             "betas (0.5, 0.999), all 60,000 training digits",
                   "metrics": f"{n_samples} samples of a fixed z vs the 10,000 test digits, classifier features"})
    csv_path = write_csv_with_header(out_dir / f"{stem}.csv", header, frame)
    grid = image_grid(model.generate(z[:64]).cpu(), nrow=16)
    matplotlib.image.imsave(out_dir / f"{stem}_samples.png", grid, cmap="gray", vmin=0, vmax=1)
    return csv_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="replearn dcgan-long", description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=16, help="passes over the 60,000 training digits (1,875 "
                        "iterations of batch 32 each)")
    parser.add_argument("--network", choices=sorted(DCGAN_NETWORKS), default="book",
                        help="book: the chapter's network; all-conv: the convolutions-only network it replaced")
    parser.add_argument("--samples", type=int, default=5000, help="samples per quality measurement")
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: the best available)")
    parser.add_argument("--out", type=Path, default=None, help="folder for the CSV and PNG (default book/results)")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error("--epochs must be >= 1")
    set_threads()
    path = long_run(args.epochs, device=args.device, n_samples=args.samples, out_dir=args.out, network=args.network)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

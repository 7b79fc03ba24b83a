"""Seconds per training epoch of every book model on one device, and the report's "GPU
placement" comparison (the report's figure 32 and its claim that manual placement makes
training more than 5% faster).

    python benchmarks/epoch_times.py --device cuda --out $OUT/epoch_times_cuda.json
    python benchmarks/epoch_times.py --device cpu --subset 512 --models vae_20d   # quick check

Each model trains for ``--epochs`` epochs (the first is a warm-up, not counted) with the book's
own configuration and ``rl.fit``, without the checkpoint cache; the time of an epoch is taken
after synchronising the device. ``--subset`` trains on the first N images (quick checks; the
JSON says so).

Placement: the report placed its layers on a GPU by hand (``with tf.device(...)``). The
PyTorch equivalent is ``rl.parallel.split_sequential``, which puts consecutive layers of the
encoder and the decoder on the devices given (here every GPU of the machine; with one GPU, two
stages on the same GPU, which measures the helper's own overhead). It is compared with the
plain model moved to one device with ``.to(device)``. ``--bench-json`` adds the result to a
``replearn bench`` JSON under ``results["placement"]``, where chapter 11's verdict reads it.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

import replearn_core as rl
from replearn_core.book.zoo import BOOK_MODELS, book_entry
from replearn_core.devices import device_label
from replearn_core.parallel import split_sequential


class EpochTimer(rl.Callback):
    """Wall-clock seconds of each epoch, measured after the device has finished its work."""

    def __init__(self, device: torch.device):
        self.device, self.seconds = device, []

    def _sync(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def on_train_start(self, model, history):
        self._sync()
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, model, history):
        self._sync()
        now = time.perf_counter()
        self.seconds.append(now - self.start)
        self.start = now


def time_epochs(name: str, device: torch.device, epochs: int, subset: int | None,
                place: bool = False) -> dict:
    """Train book model ``name`` for ``epochs`` epochs; the seconds of every epoch."""
    entry = book_entry(name)
    training = entry.training.replace(epochs=epochs, train_subset=subset or entry.training.train_subset)
    torch.manual_seed(training.seed)
    model = rl.build_model(entry.model).to(device)
    if place:
        devices = ([torch.device("cuda", i) for i in range(torch.cuda.device_count())]
                   if device.type == "cuda" else [device])
        devices = devices * 2 if len(devices) == 1 else devices
        for part in ("encoder", "decoder"):
            setattr(model, part, split_sequential(getattr(model, part), devices))
    batches = entry.data(training, device, model)
    timer = EpochTimer(device)
    rl.fit(model, batches, training, callbacks=[timer], progress=False)
    timed = timer.seconds[1:] if len(timer.seconds) > 1 else timer.seconds
    return {"epoch_seconds": [round(s, 5) for s in timer.seconds],
            "epoch_s": statistics.median(timed), "epochs": epochs,
            "train_images": subset or training.train_subset or "all", "batch_size": training.batch_size}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--models", default=",".join(n for n in BOOK_MODELS if n != "classifier"),
                        help="comma-separated book model names (default: all but the classifier)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per model; the first is a warm-up")
    parser.add_argument("--subset", type=int, help="train on the first N images only (quick checks)")
    parser.add_argument("--placement-model", default="vae_20d",
                        help="book model of the placement comparison ('none' to skip)")
    parser.add_argument("--out", type=Path, required=True, help="JSON output")
    parser.add_argument("--bench-json", type=Path, help="a `replearn bench` JSON to add the placement to")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error("--epochs: must be at least 1")
    device = torch.device(args.device)
    names = [n for n in args.models.split(",") if n]
    for n in names:
        book_entry(n)  # ValueError naming the unknown model before anything trains

    results = {}
    for n in names:
        results[n] = time_epochs(n, device, args.epochs, args.subset)
        print(f"{n:28s} {results[n]['epoch_s']:9.4f} s/epoch  ({results[n]['epoch_seconds']})", flush=True)
    record = {"device": str(device), "device_type": device.type, "device_label": device_label(device),
              "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              "torch": torch.__version__, "python": platform.python_version(),
              "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
              "subset": args.subset, "results": results}
    if args.placement_model != "none":
        plain = time_epochs(args.placement_model, device, args.epochs, args.subset)
        placed = time_epochs(args.placement_model, device, args.epochs, args.subset, place=True)
        record["placement"] = {"model": args.placement_model, "single_device_epoch_s": plain["epoch_s"],
                               "placed_epoch_s": placed["epoch_s"], "single": plain, "placed": placed,
                               "gpus": torch.cuda.device_count() if device.type == "cuda" else 0}
        gain = plain["epoch_s"] / placed["epoch_s"] - 1
        print(f"placement ({args.placement_model}): one device {plain['epoch_s']:.4f} s, "
              f"placed {placed['epoch_s']:.4f} s per epoch ({100 * gain:+.1f}%)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    if args.bench_json is not None and "placement" in record:
        if not args.bench_json.exists():
            print(f"--bench-json: {args.bench_json} does not exist; placement kept in {args.out} only")
            return 1
        bench = json.loads(args.bench_json.read_text())
        bench.setdefault("results", {})["placement"] = record["placement"] | {"date": record["date"]}
        args.bench_json.write_text(json.dumps(bench, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

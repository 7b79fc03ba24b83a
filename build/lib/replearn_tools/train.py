"""Train a book model from the command line, on one process or data-parallel over many.

One process (on the device ``pick_device`` chooses: ``--device``, else ``$REPLEARN_DEVICE``, else
CUDA when available, else the CPU)::

    replearn train vae_20d
    replearn train vae --epochs 3 --set hidden=(400,) --set latent_dim=20

Data parallelism with ``torchrun`` on one machine, N processes (one per GPU; on a CPU-only
machine N gloo processes sharing the cores)::

    torchrun --nproc_per_node=N -m replearn_tools train vae_20d

Each process gets a shard of every batch (``DeviceBatches(num_shards=N, shard_index=rank)``),
``fit`` wraps the model in ``DistributedDataParallel`` and averages the gradients, and only
rank 0 writes the checkpoint, into the same cache that ``rl.train_or_load`` and
``rl.book_model`` read. The backend is NCCL on GPUs and gloo on CPUs.

Several machines (here 2 nodes of 8 GPUs): run the same command on every node, with the same
rendezvous address (a host:port that all nodes reach, usually node 0) and job id::

    # on each of the 2 nodes
    torchrun --nnodes=2 --nproc_per_node=8 --rdzv-backend=c10d \\
             --rdzv-endpoint=node0.example.org:29500 --rdzv-id=replearn-vae \\
             -m replearn_tools train vae_20d --batch-size 1024

or with a fixed rank per node: ``torchrun --nnodes=2 --node-rank=0|1 --nproc_per_node=8
--master-addr=node0.example.org --master-port=29500 -m replearn_tools train ...``. Every node
needs the repository and data at the same commit; the global batch (``--batch-size``) is split
over all ``nnodes * nproc_per_node`` processes and must be divisible by their number. Under
Slurm, ``srun`` starts one ``torchrun`` per node with the same arguments.

Models: a name from :mod:`replearn_core.book.zoo` (``vae_20d``, ``dcgan``, ``transfer_sparse``, ...)
with its book configuration and data, or a model family (``vae``, ``autoencoder``, ``dcgan``, ``classifier``) with its
default configuration; ``--set field=value`` changes fields of the model configuration.
"""
from __future__ import annotations

import argparse
import ast
import os
import sys
import time

import torch

from replearn_core import models
from replearn_core.book.zoo import BOOK_MODELS, BookModel
from replearn_core.config import TrainConfig

#: model families with their default configuration (trained on MNIST)
FAMILIES = {
    "autoencoder": models.AutoencoderConfig,
    "sparse": models.SparseAutoencoderConfig,
    "classifier": models.ClassifierConfig,
    "vae": models.VAEConfig,
    "aae": models.AAEConfig,
    "dcgan": models.DCGANConfig,
}


def _parse_value(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text  # a bare word, e.g. activation=relu


def resolve_model(name: str, overrides: list[str] | None = None) -> BookModel:
    """The book entry for a zoo name, or a default-configured family, with ``overrides`` of its model config."""
    if name in BOOK_MODELS:
        entry = BOOK_MODELS[name]
    elif name in FAMILIES:
        entry = BookModel(FAMILIES[name](), TrainConfig(), chapter="")
    else:
        raise ValueError(f"model: {name!r} is neither a book model {sorted(BOOK_MODELS)} "
                         f"nor a model family {sorted(FAMILIES)}")
    changes = {}
    for item in overrides or []:
        field, sep, value = item.partition("=")
        if not sep or not field:
            raise ValueError(f"--set: expected field=value, got {item!r}")
        if not hasattr(entry.model, field):
            raise ValueError(f"--set: {type(entry.model).__name__} has no field {field!r}")
        changes[field] = _parse_value(value)
    if changes:
        entry = BookModel(entry.model.replace(**changes), entry.training, entry.chapter, entry.data, entry.data_key)
    return entry


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="replearn train",
        description="Train a book model, on one process or data-parallel under torchrun "
                    "(torchrun --nproc_per_node=N -m replearn_tools train MODEL).",
        epilog="Multi-node: see the module docstring (python -c 'import replearn_tools.train as t; help(t)').")
    parser.add_argument("model", help="a book model (e.g. vae_20d) or a family (" + ", ".join(FAMILIES) + ")")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="change a field of the model configuration, e.g. --set latent_dim=2")
    parser.add_argument("--epochs", type=int, help="training epochs (default: the model's book setting)")
    parser.add_argument("--batch-size", type=int, help="global batch size, split over the processes")
    parser.add_argument("--lr", type=float, help="learning rate")
    parser.add_argument("--seed", type=int, help="random seed")
    parser.add_argument("--train-subset", type=int, help="train on the first N images only")
    parser.add_argument("--device", help="cpu, cuda, cuda:1, ... (default: $REPLEARN_DEVICE, else cuda when "
                        "available, else cpu)")
    parser.add_argument("--backend", choices=["nccl", "gloo"], help="torch.distributed backend "
                        "(default: nccl on GPUs, gloo on CPUs)")
    parser.add_argument("--amp", nargs="?", const="bfloat16", choices=["bfloat16", "float16"],
                        help="mixed precision (autocast); plain --amp means bfloat16")
    parser.add_argument("--compile", nargs="?", const="default",
                        choices=["default", "reduce-overhead", "max-autotune"],
                        help="torch.compile the model; reduce-overhead captures CUDA graphs")
    parser.add_argument("--no-cache", action="store_true",
                        help="train even if a cached checkpoint exists, and do not write one")
    parser.add_argument("--threads", type=int, help="CPU threads per process (default: cores / processes)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from replearn_core import parallel
    from replearn_core.training import train_or_load

    try:
        entry = resolve_model(args.model, args.set)
        model_config = entry.model
        changes = {k: v for k, v in (("epochs", args.epochs), ("batch_size", args.batch_size), ("lr", args.lr),
                                     ("seed", args.seed), ("train_subset", args.train_subset)) if v is not None}
        train_config = entry.training.replace(**changes) if changes else entry.training
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    dist = torch.distributed
    joined_here = not (dist.is_available() and dist.is_initialized())  # else: called inside a running job
    info = parallel.init_distributed(backend=args.backend, device=args.device)
    try:
        if info.device.type == "cpu":  # processes on one machine share its cores
            local = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
            torch.set_num_threads(args.threads or max(1, (os.cpu_count() or 1) // local))
        if train_config.batch_size % info.world_size:
            raise ValueError(f"batch_size: the global batch {train_config.batch_size} must be divisible by "
                             f"the {info.world_size} processes")
        if info.is_main:
            print(f"training {args.model}: {model_config}\n  {train_config}\n  {info.world_size} process(es), "
                  f"backend {info.backend}, device {info.device}", flush=True)
        options = {k: v for k, v in (("amp", args.amp), ("compile", args.compile)) if v}
        start = time.perf_counter()
        trained = train_or_load(model_config, train_config, device=info.device, data=entry.data,
                                data_key=entry.data_key, cache=not args.no_cache, progress=info.is_main, **options)
        seconds = time.perf_counter() - start
        if info.is_main:
            h = trained.history
            if trained.loaded:
                print(f"loaded the cached checkpoint {trained.path} (delete it or pass --no-cache to retrain)")
            else:
                last = ", ".join(f"{k} {v[-1]:.4g}" for k, v in h.epochs.items())
                per_epoch = sorted(h.epoch_seconds)[len(h.epoch_seconds) // 2]
                print(f"trained {train_config.epochs} epoch(s) in {seconds:.1f} s "
                      f"(median {per_epoch:.2f} s per epoch); last epoch: {last}")
                if trained.path is not None:
                    print(f"checkpoint: {trained.path}")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if joined_here:
            parallel.cleanup_distributed()
    return 0


if __name__ == "__main__":
    sys.exit(main())

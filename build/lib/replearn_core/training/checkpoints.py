"""Cached, atomic checkpoints: a model is trained once per configuration and then loaded.

``train_or_load`` keys a checkpoint by a hash of the model's and the training's configuration
(and of the data, when they are not the default MNIST batches). Checkpoints are written
atomically (temporary file, then rename) and read with ``torch.load(..., weights_only=True)``,
which never unpickles code. A corrupt file or one written for another configuration raises
:class:`CheckpointError`; it is never silently reused or replaced. The recordings of
:class:`~replearn_core.training.callbacks.Recorder` callbacks are cached the same way, in side
files next to the checkpoint.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import torch

from ..config import BaseConfig, TrainConfig, config_hash
from ..data import DeviceBatches, mnist_batches
from ..devices import is_main_process, pick_device, seed_everything, seed_offset, world
from ..models.base import BaseModel, build_model
from ..paths import cache_dir, write_atomic
from .callbacks import Callback, Recorder
from .loop import History, fit


class CheckpointError(RuntimeError):
    """A checkpoint file is corrupt, unreadable or belongs to another configuration."""


def save_checkpoint(path: str | Path, payload: dict) -> Path | None:
    """Write ``payload`` to ``path`` atomically: a temporary file in the same folder, then rename.

    In a data-parallel run only rank 0 writes; other ranks return ``None``.
    """
    if not is_main_process():
        return None
    return write_atomic(path, lambda f: torch.save(payload, f))


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint with ``weights_only=True``; raise :class:`CheckpointError` if it is unusable."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # truncated zip, garbage bytes, pickled code...
        raise CheckpointError(f"checkpoint {path} is corrupt or unreadable ({type(exc).__name__}: {exc}); "
                              "delete it to train again") from exc
    if not isinstance(payload, dict) or "state_dict" not in payload:
        raise CheckpointError(f"checkpoint {path} has no state_dict; delete it to train again")
    return payload


@dataclass
class Trained:
    """A model returned by :func:`train_or_load`, with its history and where it is cached."""

    model: BaseModel
    history: History
    path: Path | None
    loaded: bool  # True when it came from the cache rather than from training now
    train: TrainConfig
    #: what each :class:`~replearn_core.training.callbacks.Recorder` recorded, by its name
    recordings: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)


#: Builds a model's training batches: ``data(train, device, model) -> DeviceBatches``.
DataFactory = Callable[[TrainConfig, torch.device, BaseModel], DeviceBatches]


def mnist_data(train: TrainConfig, device: torch.device, model: BaseModel) -> DeviceBatches:
    """The default data: MNIST training batches shaped for ``model`` (flat vectors or images)."""
    if train.dataset != "mnist":
        raise ValueError(f"dataset: no default batches for {train.dataset!r}; pass data= (a DataFactory or batches)")
    return mnist_batches(train, device, images=model.image_input)


def checkpoint_path(model_config: BaseConfig, train: TrainConfig, data_key: str = "") -> Path:
    key = config_hash(model_config, train) + (f"-{data_key}" if data_key else "")
    return cache_dir() / f"{type(model_config).__name__}-{key}.pt"


def recording_path(checkpoint: Path, recorder: Recorder) -> Path:
    """The side file of ``recorder``'s recording next to ``checkpoint``."""
    return checkpoint.with_name(f"{checkpoint.stem}.{recorder.name}-{recorder.key}.pt")


def _load_cached(path: Path, model: BaseModel, model_config: BaseConfig, train: TrainConfig,
                 recorders: Sequence[Recorder], device: torch.device) -> tuple[History, dict] | None:
    """The cached history and recordings, with ``model`` loaded; None if a recording is missing."""
    payload = load_checkpoint(path, map_location=device)
    if payload.get("model_config") != model_config.to_dict() or payload.get("train_config") != train.to_dict():
        raise CheckpointError(f"checkpoint {path} was written for another configuration; delete it")
    recordings = {}
    for r in recorders:
        side = recording_path(path, r)
        if not side.exists():
            return None  # train again (same seeds) to record it, and replace both files
        recordings[r.name] = load_checkpoint(side)["state_dict"]
    model.load_state_dict(payload["state_dict"])
    model.eval()
    return History.from_dict(payload["history"]), recordings


def train_or_load(model_config: BaseConfig, train: TrainConfig = TrainConfig(), *,
                  device: torch.device | str | None = None,
                  data: DataFactory | DeviceBatches | None = None, data_key: str = "",
                  cache: bool = True, progress: bool = True,
                  callbacks: Sequence[Callback] = (), recorders: Sequence[Recorder] = (),
                  **fit_options) -> Trained:
    """Return the model for these configs, loading it from the cache or training and caching it.

    * ``data``: the training batches, or a :data:`DataFactory` that builds them (default: MNIST,
      :func:`mnist_data`); with other data give a ``data_key`` naming them, since it becomes
      part of the cache key.
    * ``recorders``: :class:`~replearn_core.training.callbacks.Recorder` callbacks whose
      recordings are cached next to the checkpoint. A cached model that lacks one of them is
      trained again with the same seeds, and its checkpoint and recordings are replaced, so that
      model and recordings always come from one run.
    * ``callbacks`` run only when training happens.
    * ``fit_options`` (``ddp``, ``amp``, ``compile``) go to :func:`~replearn_core.training.fit`;
      they change how fast a model trains, not what it is, so they are recorded in the
      checkpoint but not in its key.

    In a data-parallel job only rank 0 writes the checkpoint; the others wait for it. With
    ``$REPLEARN_SEED_OFFSET`` set, ``train.seed`` is shifted by it (and so is the cache key).
    """
    device = pick_device(device)
    if seed_offset():  # the whole book rerun with other seeds (to measure how much results vary)
        train = train.replace(seed=train.seed + seed_offset())
    recorders = list(recorders)
    names = [r.name for r in recorders]
    if len(set(names)) != len(names):
        raise ValueError(f"recorders: names must be unique, got {names}")
    path = checkpoint_path(model_config, train, data_key) if cache else None
    seed_everything(train.seed)
    model = build_model(model_config).to(device)
    if path is not None and path.exists():
        cached = _load_cached(path, model, model_config, train, recorders, device)
        if cached is not None:
            return Trained(model, cached[0], path, True, train, cached[1])
    if data is None:
        data = mnist_data
    batches = data if isinstance(data, DeviceBatches) else data(train, device, model)
    history = fit(model, batches, train, progress=progress, callbacks=[*callbacks, *recorders],
                  desc=type(model).__name__, **fit_options)
    recordings = {r.name: r.result for r in recorders}
    _, size = world()
    if path is not None:
        save_checkpoint(path, {
            "model_config": model_config.to_dict(),
            "train_config": train.to_dict(),
            "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "history": history.to_dict(),
            "meta": {"device": str(device), "torch": str(torch.__version__),
                     "train_seconds": float(sum(history.epoch_seconds)), "processes": size,
                     **{k: str(v) for k, v in fit_options.items()}},
        })
        for r in recorders:
            save_checkpoint(recording_path(path, r), {"state_dict": recordings[r.name]})
    if size > 1:  # the other processes return once rank 0 has written the checkpoint
        torch.distributed.barrier()
    return Trained(model, history, path, False, train, recordings)

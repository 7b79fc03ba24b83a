"""The book's one training loop, its history record, and cached, atomic checkpoints.

``fit`` trains any :class:`~replearn_core.models.base.BaseModel`: for every batch
it runs the model's phases in order, each with its own optimizer, and records the
named loss terms. Loss values stay on the device and are read back once per epoch
(plus a cheap finiteness check), so the loop does not stall a GPU with a
``.item()`` per step.

``train_or_load`` caches a trained model under a hash of its configuration.
Checkpoints are written atomically (temporary file, then rename) and read with
``torch.load(..., weights_only=True)``, which never unpickles code.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from tqdm.auto import tqdm

from .config import BaseConfig, TrainConfig, config_hash
from .data import DeviceBatches, mnist_tensors
from .devices import pick_device, seed_everything, synchronize
from .models.base import BaseModel, ModelOutput, build_model
from .paths import cache_dir, write_atomic


class TrainingDiverged(RuntimeError):
    """A loss term became NaN or infinite; training was stopped."""


class CheckpointError(RuntimeError):
    """A checkpoint file is corrupt, unreadable or belongs to another configuration."""


@dataclass
class History:
    """Loss terms per optimisation step and per epoch (epoch = mean over its steps)."""

    steps: dict[str, list[float]] = field(default_factory=dict)
    epochs: dict[str, list[float]] = field(default_factory=dict)
    epoch_seconds: list[float] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"steps": self.steps, "epochs": self.epochs, "epoch_seconds": self.epoch_seconds}

    @classmethod
    def from_dict(cls, d: dict) -> "History":
        return cls(steps={k: list(v) for k, v in d["steps"].items()},
                   epochs={k: list(v) for k, v in d["epochs"].items()},
                   epoch_seconds=list(d["epoch_seconds"]))

    def last(self, name: str) -> float:
        """The mean of term ``name`` over the last epoch."""
        return self.epochs[name][-1]


def _is_main_process() -> bool:
    dist = torch.distributed
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def _world() -> tuple[int, int]:
    """(rank, world size) of this process; (0, 1) without an initialised process group."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class _LossOnly(torch.nn.Module):
    """Wraps a model for DistributedDataParallel: its output keeps only the loss and detached terms.

    DDP looks for the parameters a phase uses by following the output's graph; the codes or
    images a model also returns (a GAN's G(z), kept for the next phase) would lead it to
    parameters that this phase's loss does not depend on, and it would wait for their gradients.
    """

    def __init__(self, model: BaseModel):
        super().__init__()
        self.model = model

    def forward(self, *batch: torch.Tensor, phase: str) -> ModelOutput:
        out = self.model(*batch, phase=phase)
        return ModelOutput(loss=out.loss, terms={k: v.detach() for k, v in out.terms.items()})


AMP_DTYPES = {"bfloat16": torch.bfloat16, "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def _amp_dtype(amp: bool | str | None, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``amp`` (None: full precision)."""
    if amp is None or amp is False:
        return None
    if amp is True:
        if device.type == "cuda" and not torch.cuda.is_bf16_supported():
            return torch.float16
        return torch.bfloat16
    if amp not in AMP_DTYPES:
        raise ValueError(f"amp: must be None, True or one of {sorted(AMP_DTYPES)}, got {amp!r}")
    return AMP_DTYPES[amp]


def _compile_kwargs(compile: bool | str | dict) -> dict | None:
    """Keyword arguments of ``torch.compile`` for the ``compile`` option (None: do not compile)."""
    if compile is False or compile is None:
        return None
    if compile is True:
        return {}
    if isinstance(compile, str):
        if compile not in COMPILE_MODES:
            raise ValueError(f"compile: must be a bool, a dict of torch.compile arguments or one of "
                             f"{COMPILE_MODES}, got {compile!r}")
        return {"mode": compile}
    if isinstance(compile, dict):
        return dict(compile)
    raise ValueError(f"compile: must be a bool, a mode string or a dict, got {compile!r}")


def fit(model: BaseModel, batches: DeviceBatches, train: TrainConfig, *,
        optimizers: dict[str, torch.optim.Optimizer] | None = None,
        progress: bool = True, desc: str | None = None,
        on_step: Callable[[int, BaseModel], None] | None = None,
        on_epoch: Callable[[int, BaseModel, History], None] | None = None,
        nan_check_every: int | None = None,
        history: History | None = None,
        ddp: bool | None = None,
        amp: bool | str | None = None,
        compile: bool | str | dict = False) -> History:
    """Train ``model`` for ``train.epochs`` epochs over ``batches``; return its :class:`History`.

    * ``optimizers``: one per phase of the model (default: ``model.configure_optimizers(train)``).
    * ``on_step(step, model)`` is called after every optimisation step (steps count from 1);
      ``on_epoch(epoch, model, history)`` after every epoch (epochs count from 1).
    * A NaN or infinite loss term raises :class:`TrainingDiverged` naming the term, epoch
      and step. The check runs every step on the CPU and every ``nan_check_every`` steps
      (default 50) on a GPU, where reading a value back costs a synchronisation.

    Speed options (all off by default, so results do not depend on the hardware):

    * ``ddp``: data parallelism. Inside a ``torch.distributed`` process group of N processes
      (``torchrun --nproc_per_node=N``, see :mod:`replearn_core.train`) the model is wrapped in
      ``DistributedDataParallel``, which averages the gradients of the N processes before each
      optimiser step. ``batches`` must then be this process's shard
      (``DeviceBatches(..., num_shards=N, shard_index=rank)``), so that the N shards of a
      global batch together are the batch one process would see. The recorded loss terms are
      averaged over the processes. Default (None): on whenever a process group of more than
      one process is initialised.
    * ``amp``: mixed precision: the forward passes run under ``torch.autocast`` in bfloat16
      (``True`` or ``"bfloat16"``; float16 where a GPU lacks bfloat16) or ``"float16"`` (with
      gradient scaling). Parameters and optimiser states stay float32.
    * ``compile``: ``torch.compile`` the model's forward: ``True``, a mode (``"reduce-overhead"``
      captures CUDA graphs, which removes the per-kernel launch cost on GPUs;
      ``"max-autotune"``), or a dict of ``torch.compile`` arguments. A model with several phases
      has each of its parts (e.g. generator and discriminator) compiled separately, for the
      duration of ``fit``.
    """
    if optimizers is None:
        optimizers = model.configure_optimizers(train)
    missing = [p for p in model.phases if p not in optimizers]
    if missing:
        raise ValueError(f"optimizers: no optimizer for phase(s) {missing} of {type(model).__name__}")
    device = batches.device
    rank, world = _world()
    if ddp is None:
        ddp = world > 1
    if ddp:
        if world < 2:
            raise ValueError("ddp: data parallelism needs an initialised torch.distributed process group of "
                             "two or more processes (launch with torchrun; see replearn_core.train)")
        if (batches.num_shards, batches.shard_index) != (world, rank):
            raise ValueError(f"batches: process {rank} of {world} needs its shard of every batch, "
                             f"DeviceBatches(..., num_shards={world}, shard_index={rank}); got num_shards="
                             f"{batches.num_shards}, shard_index={batches.shard_index}")
    amp_dtype = _amp_dtype(amp, device)
    compile_kwargs = _compile_kwargs(compile)
    if nan_check_every is None:
        nan_check_every = 1 if device.type == "cpu" else 50
    history = history if history is not None else History()
    # Noise drawn during training (e.g. reparameterisation) is seeded too; each data-parallel
    # process draws different noise for its different examples.
    seed_everything(train.seed + 1 + 1000 * rank)
    model.train()
    runner: torch.nn.Module = model
    if ddp:
        from torch.nn.parallel import DistributedDataParallel

        runner = DistributedDataParallel(
            _LossOnly(model), device_ids=[device.index] if device.type == "cuda" else None,
            # a multi-phase model (GAN, AAE) leaves some parameters out of some phases
            find_unused_parameters=len(model.phases) > 1)
    compiled_parts: list[torch.nn.Module] = []
    if compile_kwargs is not None:
        if len(model.phases) == 1:
            runner = torch.compile(runner, **compile_kwargs)
        else:
            # A multi-phase model may reuse one phase's outputs in the next (a GAN's G(z)); with the
            # whole forward as one compiled graph, that graph would be back-propagated twice.
            # Compile each part (generator, discriminator, ...) on its own instead.
            for part in model.children():
                part.forward = torch.compile(part.forward, **compile_kwargs)
                compiled_parts.append(part)
    scalers = ({phase: torch.amp.GradScaler(device.type) for phase in model.phases}
               if amp_dtype == torch.float16 else None)
    names: list[str] | None = None
    step = sum(len(v) for v in list(history.steps.values())[:1])
    epochs = range(1, train.epochs + 1)
    bar = tqdm(total=train.epochs * len(batches), desc=desc or type(model).__name__,
               disable=not progress or rank != 0, leave=False, mininterval=1.0)
    try:
        for epoch in epochs:
            synchronize(device)
            start = time.perf_counter()
            rows: list[torch.Tensor] = []
            pending = 0
            for batch in batches:
                terms: dict[str, torch.Tensor] = {}
                for phase in model.phases:
                    opt = optimizers[phase]
                    opt.zero_grad(set_to_none=True)
                    if amp_dtype is None:
                        out = runner(*batch, phase=phase)
                    else:
                        with torch.autocast(device.type, dtype=amp_dtype):
                            out = runner(*batch, phase=phase)
                    if scalers is None:
                        out.loss.backward()
                        opt.step()
                    else:
                        scalers[phase].scale(out.loss).backward()
                        scalers[phase].step(opt)
                        scalers[phase].update()
                    model.after_optimizer_step(phase)
                    terms.update(out.terms)
                if names is None:
                    names = list(terms)
                row = torch.stack([terms[n].detach().float() for n in names])
                rows.append(row)
                step += 1
                pending += 1
                if pending >= nan_check_every:
                    _check_finite(torch.stack(rows[-pending:]), names, epoch, step)
                    pending = 0
                if on_step is not None:
                    on_step(step, model)
                bar.update(1)
            table = torch.stack(rows)
            if ddp:  # the mean of the processes' shard means: the loss of the global batches
                torch.distributed.all_reduce(table)
                table = table / world
            table = table.cpu()
            _check_finite(table, names, epoch, step)
            synchronize(device)
            history.epoch_seconds.append(time.perf_counter() - start)
            for j, name in enumerate(names):
                history.steps.setdefault(name, []).extend(table[:, j].tolist())
                history.epochs.setdefault(name, []).append(float(table[:, j].mean()))
            bar.set_postfix({n: f"{history.epochs[n][-1]:.4g}" for n in names[:3]})
            if on_epoch is not None:
                on_epoch(epoch, model, history)
    finally:
        bar.close()
        del runner  # a DistributedDataParallel wrapper removes its gradient hooks when freed
        for part in compiled_parts:
            del part.forward  # back to the class's (uncompiled) forward
    model.eval()
    return history


def _check_finite(table: torch.Tensor, names: list[str], epoch: int, step: int) -> None:
    bad = ~torch.isfinite(table)
    if bad.any():
        first_row, col = (int(i) for i in torch.nonzero(bad)[0])
        at_step = step - len(table) + first_row + 1
        value = float(table[first_row, col])
        raise TrainingDiverged(
            f"loss term {names[col]!r} became {value} at epoch {epoch}, step {at_step}; training stopped "
            "(try a lower learning rate, check the inputs, or the loss for log(0))")


# ---------------------------------------------------------------------------------------------
# Checkpoints


def save_checkpoint(path: str | Path, payload: dict) -> Path | None:
    """Write ``payload`` to ``path`` atomically: a temporary file in the same folder, then rename.

    In a data-parallel run only rank 0 writes; other ranks return ``None``.
    """
    if not _is_main_process():
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


def default_batches(model: BaseModel, train: TrainConfig, device: torch.device) -> DeviceBatches:
    """MNIST training batches on ``device`` shaped for ``model`` (flat vectors or images)."""
    if train.dataset != "mnist":
        raise ValueError(f"dataset: no default batches for {train.dataset!r}; pass batches= explicitly")
    x, y = mnist_tensors("train", device, flatten=not model.image_input, subset=train.train_subset)
    rank, world = _world()  # in a data-parallel job each process gets its shard of every batch
    return DeviceBatches(x, y, batch_size=train.batch_size, shuffle=True, seed=train.seed,
                         num_shards=world, shard_index=rank)


def checkpoint_path(model_config: BaseConfig, train: TrainConfig, data_key: str = "") -> Path:
    key = config_hash(model_config, train) + (f"-{data_key}" if data_key else "")
    return cache_dir() / f"{type(model_config).__name__}-{key}.pt"


def train_or_load(model_config: BaseConfig, train: TrainConfig = TrainConfig(), *,
                  device: torch.device | str | None = None,
                  batches: DeviceBatches | None = None, data_key: str = "",
                  cache: bool = True, progress: bool = True,
                  on_step: Callable[[int, BaseModel], None] | None = None,
                  on_epoch: Callable[[int, BaseModel, History], None] | None = None,
                  **fit_options) -> Trained:
    """Return the model for these configs, loading it from the cache or training and caching it.

    ``batches`` overrides the default MNIST batches; then give a ``data_key`` naming that
    data, since it becomes part of the cache key. Callbacks run only when training happens.
    A corrupt cached checkpoint raises :class:`CheckpointError`; it is never silently replaced.
    ``fit_options`` (``ddp``, ``amp``, ``compile``) go to :func:`fit`; they change how fast a
    model trains, not what it is, so they are recorded in the checkpoint but not in its key.
    In a data-parallel job only rank 0 writes the checkpoint; the others wait for it.
    """
    device = pick_device(device)
    path = checkpoint_path(model_config, train, data_key) if cache else None
    seed_everything(train.seed)
    model = build_model(model_config).to(device)
    if path is not None and path.exists():
        payload = load_checkpoint(path, map_location=device)
        if payload.get("model_config") != model_config.to_dict() or payload.get("train_config") != train.to_dict():
            raise CheckpointError(f"checkpoint {path} was written for another configuration; delete it")
        model.load_state_dict(payload["state_dict"])
        model.eval()
        return Trained(model, History.from_dict(payload["history"]), path, True, train)
    if batches is None:
        batches = default_batches(model, train, device)
    history = fit(model, batches, train, progress=progress, on_step=on_step, on_epoch=on_epoch,
                  desc=type(model).__name__, **fit_options)
    rank, world = _world()
    if path is not None:
        save_checkpoint(path, {
            "model_config": model_config.to_dict(),
            "train_config": train.to_dict(),
            "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "history": history.to_dict(),
            "meta": {"device": str(device), "torch": str(torch.__version__),
                     "train_seconds": float(sum(history.epoch_seconds)), "processes": world,
                     **{k: str(v) for k, v in fit_options.items()}},
        })
    if world > 1:  # the other processes return once rank 0 has written the checkpoint
        torch.distributed.barrier()
    return Trained(model, history, path, False, train)


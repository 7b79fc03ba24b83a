"""The book's one training loop, ``fit``, and its record of the losses, :class:`History`.

``fit`` trains any :class:`~replearn_core.models.base.BaseModel`: for every batch it runs the
model's phases in order, each with its own optimizer (a phase listed twice steps twice), and
records the named loss terms; before every epoch it calls the model's ``before_epoch`` (a
learning-rate schedule). Loss
values stay on the device and are read back once per epoch (plus a cheap finiteness check), so
the loop does not stall a GPU with a ``.item()`` per step. Everything else that happens during
training (recording snapshots, printing, averaging weights) is a
:class:`~replearn_core.training.callbacks.Callback`.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Iterator, Sequence

import torch
from tqdm.auto import tqdm

from ..config import TrainConfig
from ..data import DeviceBatches
from ..devices import seed_everything, synchronize, world
from ..models.base import BaseModel, ModelOutput
from .callbacks import Callback


class TrainingDiverged(RuntimeError):
    """A loss term became NaN or infinite; training was stopped."""


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

    @property
    def num_steps(self) -> int:
        return len(next(iter(self.steps.values()))) if self.steps else 0

    def last(self, name: str) -> float:
        """The mean of term ``name`` over the last epoch."""
        return self.epochs[name][-1]

    def add_epoch(self, names: list[str], table: torch.Tensor, seconds: float) -> None:
        """Append one epoch: ``table`` [steps, len(names)] of loss terms on the CPU."""
        self.epoch_seconds.append(seconds)
        for j, name in enumerate(names):
            self.steps.setdefault(name, []).extend(table[:, j].tolist())
            self.epochs.setdefault(name, []).append(float(table[:, j].mean()))


# ---------------------------------------------------------------------------------------------
# Options: mixed precision, compilation, data parallelism

AMP_DTYPES = {"bfloat16": torch.bfloat16, "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def amp_dtype(amp: bool | str | None, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for the ``amp`` option of :func:`fit` (None: full precision)."""
    if amp is None or amp is False:
        return None
    if amp is True:
        if device.type == "cuda" and not torch.cuda.is_bf16_supported():
            return torch.float16
        return torch.bfloat16
    if amp not in AMP_DTYPES:
        raise ValueError(f"amp: must be None, True or one of {sorted(AMP_DTYPES)}, got {amp!r}")
    return AMP_DTYPES[amp]


def compile_kwargs(compile: bool | str | dict | None) -> dict | None:
    """Keyword arguments of ``torch.compile`` for the ``compile`` option of :func:`fit` (None: do not compile)."""
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


def _check_data_parallel(ddp: bool | None, batches: DeviceBatches) -> bool:
    """Whether to wrap the model in DistributedDataParallel; checks that ``batches`` is this process's shard."""
    rank, size = world()
    ddp = size > 1 if ddp is None else ddp
    if not ddp:
        return False
    if size < 2:
        raise ValueError("ddp: data parallelism needs an initialised torch.distributed process group of "
                         "two or more processes (launch with torchrun; see `replearn train --help`)")
    if (batches.num_shards, batches.shard_index) != (size, rank):
        raise ValueError(f"batches: process {rank} of {size} needs its shard of every batch, "
                         f"DeviceBatches(..., num_shards={size}, shard_index={rank}); got num_shards="
                         f"{batches.num_shards}, shard_index={batches.shard_index}")
    return True


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


@contextlib.contextmanager
def _runner(model: BaseModel, ddp: bool, compile_options: dict | None) -> Iterator[torch.nn.Module]:
    """The module that runs the phases: the model itself, wrapped for data parallelism and/or
    compiled; the wrapping is undone on exit."""
    runner: torch.nn.Module = model
    if ddp:
        from torch.nn.parallel import DistributedDataParallel

        device = next(model.parameters()).device
        runner = DistributedDataParallel(
            _LossOnly(model), device_ids=[device.index] if device.type == "cuda" else None,
            # a multi-phase model (GAN, AAE) leaves some parameters out of some phases
            find_unused_parameters=len(model.phases) > 1)
    compiled: list[torch.nn.Module] = []
    if compile_options is not None:
        if len(model.phases) == 1:
            runner = torch.compile(runner, **compile_options)
        else:
            # A multi-phase model may reuse one phase's outputs in the next (a GAN's G(z)); with the
            # whole forward as one compiled graph, that graph would be back-propagated twice.
            # Compile each part (generator, discriminator, ...) on its own instead.
            for part in model.children():
                part.forward = torch.compile(part.forward, **compile_options)
                compiled.append(part)
    try:
        yield runner
    finally:
        del runner  # a DistributedDataParallel wrapper removes its gradient hooks when freed
        for part in compiled:
            del part.forward  # back to the class's (uncompiled) forward


# ---------------------------------------------------------------------------------------------
# One step, one epoch


class _Stepper:
    """Runs the phases of one batch: forward (under autocast if asked), backward, optimizer step."""

    def __init__(self, runner: torch.nn.Module, model: BaseModel, optimizers: dict[str, torch.optim.Optimizer],
                 dtype: torch.dtype | None, device: torch.device, ddp: bool = False):
        self.runner, self.model, self.optimizers = runner, model, optimizers
        self.dtype, self.device = dtype, device
        # Each phase back-propagates only into the parameters its own optimizer steps. Without
        # ``inputs``, a GAN's generator phase also computes the discriminator's weight gradients
        # (about a sixth of a DCGAN step's matrix work), which the next discriminator phase
        # throws away. The updates are bitwise the same. Not under DDP, whose reducer waits for
        # a gradient of every parameter the graph reaches.
        self.inputs = ({phase: [p for group in optimizers[phase].param_groups for p in group["params"]
                                if p.requires_grad] for phase in model.phases}
                       if len(model.phases) > 1 and not ddp else {})
        # float16 needs its gradients scaled to stay representable; bfloat16 has float32's range
        self.scalers = ({phase: torch.amp.GradScaler(device.type) for phase in model.phases}
                        if dtype == torch.float16 else None)

    def __call__(self, batch: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
        """One batch: every phase of ``model.phases`` in order (a repeated phase steps again with
        the same optimizer; the terms of its last step are kept)."""
        terms: dict[str, torch.Tensor] = {}
        for phase in self.model.phases:
            opt = self.optimizers[phase]
            opt.zero_grad(set_to_none=True)
            if self.dtype is None:
                out = self.runner(*batch, phase=phase)
            else:
                with torch.autocast(self.device.type, dtype=self.dtype):
                    out = self.runner(*batch, phase=phase)
            inputs = self.inputs.get(phase)
            if self.scalers is None:
                out.loss.backward(inputs=inputs)
                opt.step()
            else:
                self.scalers[phase].scale(out.loss).backward(inputs=inputs)
                self.scalers[phase].step(opt)
                self.scalers[phase].update()
            self.model.after_optimizer_step(phase)
            terms.update(out.terms)
        return terms


def _check_finite(table: torch.Tensor, names: list[str], epoch: int, first_step: int) -> None:
    """Raise :class:`TrainingDiverged` at the first non-finite entry of ``table`` (rows = steps
    ``first_step``, ``first_step + 1``, ...)."""
    bad = ~torch.isfinite(table)
    if bad.any():
        row, col = (int(i) for i in torch.nonzero(bad)[0])
        raise TrainingDiverged(
            f"loss term {names[col]!r} became {float(table[row, col])} at epoch {epoch}, step {first_step + row}; "
            "training stopped (try a lower learning rate, check the inputs, or the loss for log(0))")


def _train_epoch(stepper: _Stepper, batches: DeviceBatches, epoch: int, step: int, names: list[str] | None,
                 callbacks: Sequence[Callback], nan_check_every: int, bar) -> tuple[list[str], torch.Tensor]:
    """One pass over ``batches``; returns the term names and the [steps, terms] table (on the device)."""
    table: torch.Tensor | None = None
    checked = 0
    for i, batch in enumerate(batches):
        terms = stepper(batch)
        if names is None:
            names = list(terms)
        if table is None:  # one buffer per epoch instead of one tensor per step
            table = torch.empty(len(batches), len(names), device=stepper.device)
        torch.stack([terms[n].detach().float() for n in names], out=table[i])
        if i + 1 - checked >= nan_check_every:
            _check_finite(table[checked:i + 1], names, epoch, step + checked + 1)
            checked = i + 1
        for cb in callbacks:
            cb.on_step_end(step + i + 1, stepper.model, terms)
        bar.update(1)
    if table is None:
        raise ValueError("batches: an epoch has no batches (empty data set?)")
    return names, table


def fit(model: BaseModel, batches: DeviceBatches, train: TrainConfig, *,
        optimizers: dict[str, torch.optim.Optimizer] | None = None,
        callbacks: Sequence[Callback] = (),
        progress: bool = True, desc: str | None = None,
        history: History | None = None,
        nan_check_every: int | None = None,
        ddp: bool | None = None,
        amp: bool | str | None = None,
        compile: bool | str | dict = False) -> History:
    """Train ``model`` for ``train.epochs`` epochs over ``batches``; return its :class:`History`.

    * ``optimizers``: one per phase of the model (default: ``model.configure_optimizers(train)``).
    * ``callbacks``: objects with the hooks of :class:`~replearn_core.training.callbacks.Callback`
      (e.g. a :class:`~replearn_core.training.callbacks.Recorder`).
    * ``history``: continue an earlier history (its step count carries on).
    * A NaN or infinite loss term raises :class:`TrainingDiverged` naming the term, epoch and
      step. The check runs every step on the CPU and every ``nan_check_every`` steps (default
      50) on a GPU, where reading a value back costs a synchronisation.

    Speed options (all off by default, so results do not depend on the hardware):

    * ``ddp``: data parallelism. Inside a ``torch.distributed`` process group of N processes
      (``torchrun --nproc_per_node=N -m replearn_tools train ...``) the model is wrapped in
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
    optimizers = model.configure_optimizers(train) if optimizers is None else optimizers
    missing = [p for p in model.phases if p not in optimizers]
    if missing:
        raise ValueError(f"optimizers: no optimizer for phase(s) {missing} of {type(model).__name__}")
    device = batches.device
    rank, size = world()
    use_ddp = _check_data_parallel(ddp, batches)
    dtype = amp_dtype(amp, device)
    compile_options = compile_kwargs(compile)
    if nan_check_every is None:
        nan_check_every = 1 if device.type == "cpu" else 50
    history = history if history is not None else History()
    # Noise drawn during training (e.g. reparameterisation) is seeded too; each data-parallel
    # process draws different noise for its different examples.
    seed_everything(train.seed + 1 + 1000 * rank)
    model.train()
    step = history.num_steps
    names = list(history.steps) or None
    bar = tqdm(total=train.epochs * len(batches), desc=desc or type(model).__name__,
               disable=not progress or rank != 0, leave=False, mininterval=1.0)
    try:
        with _runner(model, use_ddp, compile_options) as runner:
            stepper = _Stepper(runner, model, optimizers, dtype, device, ddp=use_ddp)
            for cb in callbacks:
                cb.on_train_start(model, history)
            for epoch in range(len(history.epoch_seconds) + 1, len(history.epoch_seconds) + train.epochs + 1):
                model.before_epoch(epoch, optimizers)
                synchronize(device)
                start = time.perf_counter()
                names, table = _train_epoch(stepper, batches, epoch, step, names, callbacks, nan_check_every, bar)
                if use_ddp:  # the mean of the processes' shard means: the loss of the global batches
                    torch.distributed.all_reduce(table)
                    table = table / size
                table = table.cpu()
                _check_finite(table, names, epoch, step + 1)
                synchronize(device)
                history.add_epoch(names, table, time.perf_counter() - start)
                step += len(table)
                bar.set_postfix({n: f"{history.epochs[n][-1]:.4g}" for n in names[:3]})
                for cb in callbacks:
                    cb.on_epoch_end(epoch, model, history)
    finally:
        bar.close()
    model.eval()
    for cb in callbacks:
        cb.on_train_end(model, history)
    return history

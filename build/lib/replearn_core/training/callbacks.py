"""What happens during training besides the updates: one protocol, as Lightning's ``Callback``.

:func:`replearn_core.fit` calls, on every callback it is given,

* ``on_train_start(model, history)`` once, before the first step (the model as initialised);
* ``on_step_end(step, model, terms)`` after every optimisation step (steps count from 1;
  ``terms`` are that step's loss terms, still on the device);
* ``on_epoch_end(epoch, model, history)`` after every epoch (epochs count from 1);
* ``on_train_end(model, history)`` once, after the last epoch.

:class:`Recorder` is the one recorder of the book: it keeps what a function of the model returns
at chosen steps or epochs (reconstructions of probe images, codes of the test set, generator
weights), and :func:`replearn_core.train_or_load` caches its recordings next to the checkpoint.
"""
from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Callable

import torch

if TYPE_CHECKING:  # pragma: no cover
    from ..models.base import BaseModel
    from .loop import History


class Callback:
    """Base class of training callbacks: every hook does nothing unless overridden."""

    def on_train_start(self, model: "BaseModel", history: "History") -> None:
        pass

    def on_step_end(self, step: int, model: "BaseModel", terms: dict[str, torch.Tensor]) -> None:
        pass

    def on_epoch_end(self, epoch: int, model: "BaseModel", history: "History") -> None:
        pass

    def on_train_end(self, model: "BaseModel", history: "History") -> None:
        pass


def _times(values, what: str) -> tuple[int, ...]:
    values = tuple(values)
    bad = [v for v in values if not (isinstance(v, int) and not isinstance(v, bool) and v >= 0)]
    if bad:
        raise ValueError(f"{what}: must be non-negative integers, got {list(values)!r}")
    return tuple(sorted(set(values)))


def tensor_digest(*tensors: torch.Tensor) -> str:
    """A short hash of the values, shapes and dtypes of tensors (what a recording was made of)."""
    h = hashlib.sha256()
    for t in tensors:
        t = t.detach().cpu().contiguous()
        h.update(f"{tuple(t.shape)}{t.dtype}".encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    return h.hexdigest()[:12]


class Recorder(Callback):
    """Record ``record(model, **inputs)`` (a dict of tensors) at chosen ``steps`` or ``epochs``.

    Step or epoch 0 is the untrained model, exactly as initialised. The model is in eval mode
    and gradients are off while ``record`` runs; training resumes as before afterwards. After
    training, :attr:`result` holds ``{"steps" or "epochs": [T], name: [T, ...] for each name
    record returned}``, on the CPU.

    ``name`` and ``inputs`` (the tensors ``record`` reads, e.g. probe images) identify what is
    recorded: :attr:`key` hashes them with the times, so that ``train_or_load`` can cache the
    recording next to the checkpoint and never confuse two recordings::

        probe = x_test[:8]
        recon = rl.Recorder("reconstructions", lambda m, x: {"images": m.reconstruct(x)},
                            steps=(0, 10, 100, 1000), inputs={"x": probe})
        trained = rl.book_model("undercomplete_ae", recorders=[recon])
        trained.recordings["reconstructions"]["images"]   # [4, 8, 784]
    """

    def __init__(self, name: str, record: Callable[..., dict[str, torch.Tensor]], *, steps=(), epochs=(),
                 inputs: dict[str, torch.Tensor] | None = None):
        if not isinstance(name, str) or not name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"name: must be a word of letters, digits, '_' or '-', got {name!r}")
        self.name = name
        self.record = record
        self.steps = _times(steps, "steps")
        self.epochs = _times(epochs, "epochs")
        if bool(self.steps) == bool(self.epochs):
            raise ValueError("steps, epochs: give the times to record as steps or as epochs (exactly one of them)")
        self.inputs = dict(inputs or {})
        self._taken: dict[int, dict[str, torch.Tensor]] = {}

    @property
    def unit(self) -> str:
        return "steps" if self.steps else "epochs"

    @property
    def times(self) -> tuple[int, ...]:
        return self.steps or self.epochs

    @property
    def key(self) -> str:
        """Hash of the name, the unit and times and the input tensors: the recording's cache key."""
        h = hashlib.sha256(f"{self.name}|{self.unit}|{self.times}".encode())
        for k in sorted(self.inputs):
            h.update(k.encode() + tensor_digest(self.inputs[k]).encode())
        return h.hexdigest()[:12]

    @torch.no_grad()
    def _take(self, time: int, model: "BaseModel") -> None:
        was_training = model.training
        model.eval()
        try:
            out = self.record(model, **self.inputs)
        finally:
            model.train(was_training)
        if not isinstance(out, dict) or not all(isinstance(v, torch.Tensor) for v in out.values()):
            raise ValueError(f"record: recorder {self.name!r} must return a dict of tensors, got {type(out).__name__}")
        self._taken[time] = {k: v.detach().cpu().clone() for k, v in out.items()}

    def on_train_start(self, model, history) -> None:
        self._taken.clear()
        if 0 in self.times:
            self._take(0, model)

    def on_step_end(self, step, model, terms) -> None:
        if step in self.steps:
            self._take(step, model)

    def on_epoch_end(self, epoch, model, history) -> None:
        if epoch in self.epochs:
            self._take(epoch, model)

    @property
    def result(self) -> dict[str, torch.Tensor]:
        """The recordings, stacked over time; raises ``ValueError`` if a time was never reached."""
        missing = [t for t in self.times if t not in self._taken]
        if missing:
            raise ValueError(f"{self.unit}: recorder {self.name!r} has nothing at {self.unit} {missing}: "
                             f"training ended before them (recorded: {sorted(self._taken)})")
        first = self._taken[self.times[0]]
        out = {self.unit: torch.tensor(self.times)}
        for k in first:
            out[k] = torch.stack([self._taken[t][k] for t in self.times])
        return out

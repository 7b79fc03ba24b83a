"""Model parallelism and data parallelism (report section 6).

The report names two ways of spreading a network over several devices:

* **Model parallelism**: different devices run different *parts* of the network, and each
  batch flows through them in turn. :func:`split_sequential` cuts an ``nn.Sequential`` into
  consecutive stages, puts stage ``k`` on ``devices[k]`` and moves the activations from one
  device to the next, the PyTorch equivalent of the report's ``with tf.device("/device:GPU:1")``.
  With ``micro_batches > 1`` a batch is cut into chunks that are fed in a fill-and-drain
  schedule (GPipe), so that on GPUs, where kernels are queued asynchronously, stage 1 can work
  on chunk 1 while stage 0 already works on chunk 2.
* **Data parallelism**: every device (process) holds a full copy of the network and trains on
  its share of each batch; the gradients are averaged across processes before every optimiser
  step, so all copies stay identical. :func:`init_distributed` sets up ``torch.distributed``
  from the environment that ``torchrun`` creates (NCCL on GPUs, gloo on CPUs); the training
  loop :func:`replearn_core.fit` then wraps the model in ``DistributedDataParallel`` by itself.

Both are exact: the stages compute the same function as the unsplit network, and ``N``
data-parallel processes on ``B / N`` examples each take the same steps as one process on
``B`` examples (tests/test_parallel.py and tests/test_distributed.py check both).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Sequence

import torch
from torch import nn

from .devices import pick_device, world

# ---------------------------------------------------------------------------------------------
# Model parallelism


def _to(x, device: torch.device):
    """Move a tensor (or a tuple/list of tensors) to ``device``; anything else is passed through."""
    if isinstance(x, torch.Tensor):
        # asynchronous copies only towards a GPU: a GPU-to-CPU copy must finish before the CPU reads it
        return x.to(device, non_blocking=device.type == "cuda")
    if isinstance(x, (tuple, list)):
        return type(x)(_to(v, device) for v in x)
    return x


def _parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def balance_by_parameters(layers: Sequence[nn.Module], num_stages: int) -> list[int]:
    """Split ``layers`` into ``num_stages`` consecutive groups of about equal parameter count.

    Returns the number of layers per stage (each at least 1). A parameter-free layer
    (activation, reshape) stays in the stage of the layer before it.
    """
    n = len(layers)
    if not 1 <= num_stages <= n:
        raise ValueError(f"devices: cannot split {n} layers into {num_stages} stages (need 1 to {n} devices)")
    sizes = [_parameter_count(m) for m in layers]
    if not sum(sizes):
        sizes = [1] * n
    cumulative = torch.tensor(sizes, dtype=torch.float64).cumsum(0).tolist()
    total = cumulative[-1]
    cuts: list[int] = []  # cuts[k - 1]: index of the first layer of stage k
    for k in range(1, num_stages):
        j = next(i for i, c in enumerate(cumulative) if c >= total * k / num_stages) + 1
        while j < n and sizes[j] == 0:  # keep activations with their layer
            j += 1
        lowest = (cuts[-1] if cuts else 0) + 1
        highest = n - (num_stages - k)
        cuts.append(min(max(j, lowest), highest))
    bounds = [0, *cuts, n]
    return [b - a for a, b in zip(bounds[:-1], bounds[1:])]


def pipeline_schedule(num_stages: int, micro_batches: int) -> list[tuple[int, int, int]]:
    """The fill-and-drain (GPipe) forward schedule: ``(tick, stage, chunk)`` in the order issued.

    At clock tick ``t`` stage ``s`` works on chunk ``t - s``; within a tick later stages are
    issued first. The run takes ``micro_batches + num_stages - 1`` ticks, of which each stage is
    idle for ``num_stages - 1`` (the "bubble"): a fraction ``(S - 1) / (M + S - 1)`` of the time.
    """
    if num_stages < 1 or micro_batches < 1:
        raise ValueError(f"num_stages and micro_batches must be positive, got {num_stages}, {micro_batches}")
    order = []
    for tick in range(micro_batches + num_stages - 1):
        for stage in range(min(tick, num_stages - 1), -1, -1):
            chunk = tick - stage
            if 0 <= chunk < micro_batches:
                order.append((tick, stage, chunk))
    return order


class ModelParallel(nn.Module):
    """Consecutive stages of a network, stage ``k`` on ``devices[k]`` (see :func:`split_sequential`).

    ``forward(x)`` moves ``x`` to the first device, runs each stage on its device, moves the
    activation to the next device, and returns the output on the last device. Autograd follows
    the copies backwards, so ``loss.backward()`` fills every stage's gradients on its own device.
    """

    def __init__(self, stages: Sequence[nn.Module], devices: Sequence[str | torch.device], micro_batches: int = 1):
        super().__init__()
        if len(stages) != len(devices):
            raise ValueError(f"devices: got {len(devices)} devices for {len(stages)} stages")
        if not isinstance(micro_batches, int) or micro_batches < 1:
            raise ValueError(f"micro_batches: must be a positive integer, got {micro_batches!r}")
        self.devices = [torch.device(d) for d in devices]
        self.stages = nn.ModuleList(stage.to(device) for stage, device in zip(stages, self.devices))
        self.micro_batches = micro_batches

    @property
    def input_device(self) -> torch.device:
        return self.devices[0]

    @property
    def output_device(self) -> torch.device:
        return self.devices[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.micro_batches == 1 or len(self.stages) == 1 or len(x) < 2:
            for stage, device in zip(self.stages, self.devices):
                x = stage(_to(x, device))
            return x
        return self._pipelined(x)

    def _pipelined(self, x: torch.Tensor) -> torch.Tensor:
        """Fill-and-drain schedule: at clock tick ``t`` stage ``s`` runs chunk ``t - s``.

        Kernels for different devices are queued in an interleaved order, so on GPUs the
        stages overlap in time; on one CPU the result is the same, only not faster. (Layers
        that compute batch statistics, e.g. BatchNorm in training mode, see chunks, not the
        whole batch.)
        """
        chunks = list(torch.chunk(x, self.micro_batches))
        for _, stage, c in pipeline_schedule(len(self.stages), len(chunks)):
            chunks[c] = self.stages[stage](_to(chunks[c], self.devices[stage]))
        return torch.cat(chunks)

    def placement(self) -> list[dict]:
        """One row per stage: its device, its layers and its parameter count (for printing)."""
        rows = []
        for k, (stage, device) in enumerate(zip(self.stages, self.devices)):
            layers = list(stage.children()) if isinstance(stage, nn.Sequential) else [stage]
            rows.append({"stage": k, "device": str(device),
                         "layers": ", ".join(type(m).__name__ for m in layers),
                         "parameters": _parameter_count(stage)})
        return rows

    def extra_repr(self) -> str:
        return f"devices={[str(d) for d in self.devices]}, micro_batches={self.micro_batches}"


def split_sequential(model: nn.Sequential, devices: Sequence[str | torch.device], *,
                     balance: Sequence[int] | None = None, micro_batches: int = 1) -> ModelParallel:
    """Split ``model`` into ``len(devices)`` consecutive stages and place them on ``devices``.

    * ``balance``: number of layers per stage (must sum to ``len(model)``); by default the
      stages get about equal numbers of parameters (:func:`balance_by_parameters`).
    * ``micro_batches``: cut each batch into this many chunks and pipeline them.

    The layers are *moved*, not copied (as with ``tf.device``): the returned module shares its
    parameters with ``model``. Example, the encoder of a VAE on two GPUs::

        net = split_sequential(nn.Sequential(nn.Linear(784, 400), nn.ReLU(), nn.Linear(400, 20)),
                               ["cuda:0", "cuda:1"])
        out = net(x)            # x on any device; out on cuda:1
    """
    if not isinstance(model, nn.Sequential):
        raise ValueError(f"model: split_sequential needs an nn.Sequential, got {type(model).__name__}")
    devices = list(devices)
    if not devices:
        raise ValueError("devices: give at least one device")
    layers = list(model.children())
    if balance is None:
        balance = balance_by_parameters(layers, len(devices))
    balance = list(balance)
    if len(balance) != len(devices):
        raise ValueError(f"balance: has {len(balance)} entries for {len(devices)} devices")
    if any(not isinstance(b, int) or b < 1 for b in balance) or sum(balance) != len(layers):
        raise ValueError(f"balance: must be positive layer counts summing to {len(layers)}, got {balance}")
    stages, start = [], 0
    for count in balance:
        stages.append(nn.Sequential(*layers[start:start + count]))
        start += count
    return ModelParallel(stages, devices, micro_batches=micro_batches)


# ---------------------------------------------------------------------------------------------
# Data parallelism: torch.distributed set-up from torchrun's environment


@dataclass(frozen=True)
class DistributedInfo:
    """Where this process sits in a data-parallel job."""

    rank: int = 0          # global index of this process, 0 .. world_size - 1
    world_size: int = 1    # number of processes over all machines
    local_rank: int = 0    # index of this process on its machine (picks its GPU)
    backend: str = "none"  # "nccl", "gloo" or "none" (a single process)
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def is_distributed() -> bool:
    """True inside an initialised process group of more than one process."""
    return world()[1] > 1


def init_distributed(backend: str | None = None, device: str | torch.device | None = None,
                     timeout_s: float = 600.0) -> DistributedInfo:
    """Join the process group that ``torchrun`` describes in the environment; return this process's place.

    The device is chosen by :func:`replearn_core.pick_device` like everywhere else (``device``,
    else ``$REPLEARN_DEVICE``, else CUDA when available); under ``torchrun`` each process uses
    GPU ``LOCAL_RANK``. ``torchrun`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``
    and ``MASTER_PORT``. The backend is NCCL on GPUs and gloo on CPUs (``backend`` overrides).
    Without torchrun's variables this is a single process and nothing is initialised.
    """
    dist = torch.distributed
    dev = pick_device(device)
    if "WORLD_SIZE" not in os.environ or "RANK" not in os.environ:
        return DistributedInfo(device=dev)
    if not dist.is_available():
        raise RuntimeError("torch.distributed is not available in this build of PyTorch")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if dev.type == "cuda":
        dev = torch.device("cuda", local_rank % torch.cuda.device_count())
        torch.cuda.set_device(dev)
    if backend is None:
        backend = "nccl" if dev.type == "cuda" else "gloo"
    if backend not in ("nccl", "gloo"):
        raise ValueError(f"backend: must be 'nccl' or 'gloo', got {backend!r}")
    if not dist.is_initialized():
        kwargs = {"device_id": dev} if backend == "nccl" else {}
        dist.init_process_group(backend=backend, timeout=timedelta(seconds=timeout_s), **kwargs)
    return DistributedInfo(dist.get_rank(), dist.get_world_size(), local_rank, backend, dev)


def cleanup_distributed() -> None:
    """Leave the process group (call at the end of a data-parallel script)."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    """Wait for every process of the group (no-op for a single process)."""
    if is_distributed():
        torch.distributed.barrier()

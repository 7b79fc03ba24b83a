"""Device choice, seeding, threads and process rank: the same code runs on CPU and CUDA."""
from __future__ import annotations

import os
import platform
import random
from pathlib import Path

import numpy as np
import torch

DEVICE_ENV = "REPLEARN_DEVICE"
THREADS_ENV = "REPLEARN_NUM_THREADS"
SEED_OFFSET_ENV = "REPLEARN_SEED_OFFSET"


def pick_device(preferred: str | torch.device | None = None) -> torch.device:
    """CUDA, then Apple MPS, then CPU; ``preferred`` or ``$REPLEARN_DEVICE`` override.

    An explicit request for a device that is not available raises ``ValueError``
    instead of silently falling back. Inside a data-parallel job on GPUs (``torchrun``),
    a bare ``"cuda"`` means this process's own GPU, ``cuda:$LOCAL_RANK``.
    """
    choice = preferred if preferred is not None else os.environ.get(DEVICE_ENV) or None
    if choice is not None:
        device = torch.device(choice)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {str(device)!r} requested (argument or ${DEVICE_ENV}) "
                             "but CUDA is not available on this machine")
        if device.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise ValueError(f"device 'mps' requested (argument or ${DEVICE_ENV}) but MPS is not available")
    elif torch.cuda.is_available():
        device = torch.device("cuda")
    elif hasattr(torch.backends, "mps") and torch.backends.mps.is_available():
        device = torch.device("mps")
    else:
        device = torch.device("cpu")
    if device.type == "cuda" and device.index is None and "LOCAL_RANK" in os.environ:
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]) % torch.cuda.device_count())
    return device


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices); return a CPU generator seeded alike."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def seed_offset() -> int:
    """``$REPLEARN_SEED_OFFSET`` (default 0): added to every training seed by
    :func:`replearn_core.train_or_load` and to a chapter's seed by ``setup_notebook``, so that the
    whole book can be rerun with other seeds to measure how much its numbers vary."""
    text = os.environ.get(SEED_OFFSET_ENV, "").strip()
    if not text:
        return 0
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"${SEED_OFFSET_ENV} must be an integer, got {text!r}") from None


def set_threads(num_threads: int | None = None) -> int:
    """Set torch's intra-op threads from the argument or ``$REPLEARN_NUM_THREADS``; return the count."""
    if num_threads is None:
        env = os.environ.get(THREADS_ENV)
        num_threads = int(env) if env else None
    if num_threads is not None:
        if num_threads < 1:
            raise ValueError(f"{THREADS_ENV} must be >= 1, got {num_threads}")
        torch.set_num_threads(num_threads)
    return torch.get_num_threads()


def synchronize(device: torch.device | str) -> None:
    """Wait for queued work on ``device`` (needed before reading a wall clock on CUDA)."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def world() -> tuple[int, int]:
    """(rank, world size) of this process; (0, 1) outside an initialised process group."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main_process() -> bool:
    """True for a single process and for rank 0 of a data-parallel job (the one that writes files)."""
    return world()[0] == 0


def cpu_model() -> str:
    """The processor's model name (``/proc/cpuinfo`` on Linux), e.g. ``AMD EPYC 7B13``."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_label(device: torch.device | str) -> str:
    """A short name of the hardware: the GPU's name, or the CPU model and torch's thread count."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return f"Apple MPS ({platform.machine()})"
    return f"CPU {cpu_model()}, {torch.get_num_threads()} threads"

"""Device choice, seeding and thread control: the same code runs on CPU and CUDA."""
from __future__ import annotations

import os
import random

import numpy as np
import torch

DEVICE_ENV = "REPLEARN_DEVICE"
THREADS_ENV = "REPLEARN_NUM_THREADS"


def pick_device(preferred: str | torch.device | None = None) -> torch.device:
    """CUDA, then Apple MPS, then CPU; ``$REPLEARN_DEVICE`` or ``preferred`` override.

    An explicit request for a device that is not available raises ``ValueError``
    instead of silently falling back.
    """
    choice = preferred if preferred is not None else os.environ.get(DEVICE_ENV) or None
    if choice is not None:
        device = torch.device(choice)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {str(device)!r} requested (argument or ${DEVICE_ENV}) "
                             "but CUDA is not available on this machine")
        if device.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise ValueError(f"device 'mps' requested (argument or ${DEVICE_ENV}) but MPS is not available")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if hasattr(torch.backends, "mps") and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices); return a CPU generator seeded alike."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def set_threads(num_threads: int | None = None) -> int:
    """Set torch's intra-op threads from the argument or ``$REPLEARN_NUM_THREADS``."""
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

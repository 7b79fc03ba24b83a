"""Configuration dataclasses: one small, validated, hashable record per model.

Every model of the book is described by a frozen dataclass deriving from
:class:`BaseConfig`. ``__post_init__`` calls :meth:`BaseConfig.validate`, so an
invalid configuration fails at construction with a ``ValueError`` that names the
offending field. :func:`config_hash` gives a stable key used to cache checkpoints.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

# Bump when the checkpoint layout or the training semantics change, so that old
# cached checkpoints are not silently reused.
CACHE_FORMAT_VERSION = 2


def require(condition: bool, field: str, message: str) -> None:
    """Raise ``ValueError`` naming ``field`` unless ``condition`` holds."""
    if not condition:
        raise ValueError(f"invalid configuration: {field}: {message}")


@dataclass(frozen=True)
class BaseConfig:
    """Base of every configuration: validation on construction, dict and hash."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:  # pragma: no cover - overridden
        """Check field values; raise ``ValueError`` naming the field."""

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["__class__"] = type(self).__name__
        return out

    def replace(self, **changes: Any) -> "BaseConfig":
        return dataclasses.replace(self, **changes)


def check_positive_int(cfg: BaseConfig, *names: str) -> None:
    for name in names:
        value = getattr(cfg, name)
        require(isinstance(value, int) and not isinstance(value, bool) and value > 0,
                name, f"must be a positive integer, got {value!r}")


def check_positive(cfg: BaseConfig, *names: str) -> None:
    for name in names:
        value = getattr(cfg, name)
        require(isinstance(value, (int, float)) and value > 0, name,
                f"must be a positive number, got {value!r}")


def check_non_negative(cfg: BaseConfig, *names: str) -> None:
    for name in names:
        value = getattr(cfg, name)
        require(isinstance(value, (int, float)) and value >= 0, name,
                f"must be a non-negative number, got {value!r}")


def check_layer_sizes(cfg: BaseConfig, name: str, min_len: int = 1) -> None:
    sizes = getattr(cfg, name)
    require(isinstance(sizes, tuple) and len(sizes) >= min_len, name,
            f"must be a tuple of at least {min_len} layer sizes, got {sizes!r}")
    for s in sizes:
        require(isinstance(s, int) and s > 0, name, f"layer sizes must be positive integers, got {sizes!r}")


ACTIVATIONS = ("sigmoid", "relu", "leaky_relu", "tanh")


@dataclass(frozen=True)
class TrainConfig(BaseConfig):
    """How a model is trained: shared by every chapter through :func:`replearn_core.fit`."""

    epochs: int = 5
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0
    dataset: str = "mnist"
    train_subset: int | None = None  # use the first N training images (CI-scale runs)

    def validate(self) -> None:
        check_positive_int(self, "epochs", "batch_size")
        check_positive(self, "lr")
        require(isinstance(self.seed, int), "seed", f"must be an integer, got {self.seed!r}")
        require(self.dataset in ("mnist", "olivetti"), "dataset",
                f"must be 'mnist' or 'olivetti', got {self.dataset!r}")
        require(self.train_subset is None or (isinstance(self.train_subset, int) and self.train_subset > 0),
                "train_subset", f"must be None or a positive integer, got {self.train_subset!r}")


def config_hash(*configs: BaseConfig) -> str:
    """Stable 12-hex-digit key of one or more configs (class names included)."""
    payload = json.dumps([CACHE_FORMAT_VERSION] + [c.to_dict() for c in configs],
                         sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]

"""The book's trained models by name: one place that fixes each chapter's configuration.

Chapters, the latent explorers of the static book and the final comparison all load the
same checkpoints through :func:`book_model`, so a model is trained once (CI scale) and
reused. Each entry is ``name: (model_config, train_config, chapter)``; modules that define
models append their entries with :func:`add`.
"""
from __future__ import annotations

import torch

from .config import BaseConfig, TrainConfig
from .models.classifier import CLASSIFIER_TRAINING, ClassifierConfig

BOOK_MODELS: dict[str, tuple[BaseConfig, TrainConfig, str]] = {
    "classifier": (ClassifierConfig(), CLASSIFIER_TRAINING, "01_data_and_tools"),
}


def add(name: str, model_config: BaseConfig, train_config: TrainConfig, chapter: str) -> None:
    if name in BOOK_MODELS and BOOK_MODELS[name][:2] != (model_config, train_config):
        raise ValueError(f"book model {name!r} is already defined with another configuration")
    BOOK_MODELS[name] = (model_config, train_config, chapter)


def book_model(name: str, device: torch.device | str | None = None, progress: bool = True):
    """Train or load the book model ``name``; returns :class:`replearn_core.training.Trained`."""
    from .training import train_or_load

    if name not in BOOK_MODELS:
        raise ValueError(f"unknown book model {name!r}; known: {sorted(BOOK_MODELS)}")
    model_config, train_config, _ = BOOK_MODELS[name]
    return train_or_load(model_config, train_config, device=device, progress=progress)

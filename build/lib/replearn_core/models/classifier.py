"""The book's measuring instrument: a small LeNet-style MNIST classifier.

Later chapters use it to judge latent traversals, generated samples and clusters
(class of a decoded image, inception-style score, Frechet distance in its
feature space). The book trains it once and caches it like every other model
(``rl.get_classifier()``, :mod:`replearn_core.book.zoo`).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..config import BaseConfig, check_positive_int
from .base import BaseModel, ModelOutput, apply_batched, register


@dataclass(frozen=True)
class ClassifierConfig(BaseConfig):
    channels: tuple[int, int] = (16, 32)
    feature_dim: int = 128  # the penultimate layer: the feature space of the Frechet distance

    def validate(self) -> None:
        check_positive_int(self, "feature_dim")
        if not (isinstance(self.channels, tuple) and len(self.channels) == 2
                and all(isinstance(c, int) and c > 0 for c in self.channels)):
            raise ValueError(f"invalid configuration: channels: must be two positive integers, got {self.channels!r}")


@register(ClassifierConfig)
class MNISTClassifier(BaseModel):
    """conv5x5(16) - pool - conv5x5(32) - pool - fc(128) - fc(10), ReLU; input [N, 784] or [N, 1, 28, 28]."""

    def __init__(self, config: ClassifierConfig = ClassifierConfig()):
        super().__init__(config)
        c1, c2 = config.channels
        self.conv = nn.Sequential(
            nn.Conv2d(1, c1, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(c2 * 7 * 7, config.feature_dim), nn.ReLU())
        self.head = nn.Linear(config.feature_dim, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer activations [N, feature_dim] of images in [0, 1]."""
        return self.fc(self.conv(x.reshape(-1, 1, 28, 28)))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None, phase: str = "loss") -> ModelOutput:
        logits = self.logits(x)
        loss = F.cross_entropy(logits, y) if y is not None else logits.new_zeros(())
        return ModelOutput(loss=loss, terms={"cross_entropy": loss})

    @torch.no_grad()
    def predict_proba(self, x: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
        """Class probabilities [N, 10], computed in batches in eval mode."""
        was_training = self.training
        self.eval()
        out = apply_batched(lambda xb: F.softmax(self.logits(xb), dim=1), x, batch_size)
        self.train(was_training)
        return out

    @torch.no_grad()
    def features_of(self, x: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
        """Penultimate-layer features [N, feature_dim] of many images, in batches, in eval mode."""
        was_training = self.training
        self.eval()
        out = apply_batched(self.features, x, batch_size)
        self.train(was_training)
        return out

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self.predict_proba(x).argmax(dim=1)

    @torch.no_grad()
    def accuracy(self, x: torch.Tensor, y: torch.Tensor) -> float:
        return float((self.predict(x) == y).float().mean())

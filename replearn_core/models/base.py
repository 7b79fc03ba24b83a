"""The shared base of every model: a config, named training phases, an output record.

A model trained by :func:`replearn_core.fit` has

* ``config``: its validated configuration dataclass;
* ``phases``: the names of its training phases, one optimizer each. A plain
  autoencoder has the single phase ``"loss"``; a GAN has ``("discriminator",
  "generator")``; an adversarial autoencoder ``("reconstruction",
  "discriminator", "generator")``;
* ``forward(x, y=None, phase=...)`` returning a :class:`ModelOutput`, whose
  ``loss`` is what that phase minimises and whose ``terms`` are the named scalars
  to log;
* ``configure_optimizers(train)`` returning one optimizer per phase, each over
  the parameters that phase may change.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ..config import BaseConfig, TrainConfig


@dataclass
class ModelOutput:
    """What one forward pass returns: the objective, named loss terms, and optional tensors."""

    loss: torch.Tensor
    terms: dict[str, torch.Tensor] = field(default_factory=dict)
    z: torch.Tensor | None = None
    recon: torch.Tensor | None = None


class BaseModel(nn.Module):
    """Base class: holds the config and defines the default single-phase Adam training."""

    phases: tuple[str, ...] = ("loss",)
    #: True for convolutional models that take [N, 1, 28, 28] images instead of [N, 784] vectors.
    image_input: bool = False

    def __init__(self, config: BaseConfig):
        super().__init__()
        self.config = config

    def configure_optimizers(self, train: TrainConfig) -> dict[str, torch.optim.Optimizer]:
        return {"loss": torch.optim.Adam(self.parameters(), lr=train.lr)}

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None, phase: str = "loss") -> ModelOutput:
        raise NotImplementedError

    def after_optimizer_step(self, phase: str) -> None:
        """Called by :func:`replearn_core.fit` after each optimizer step of ``phase`` (e.g. to
        update an average of the weights); does nothing by default."""

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


class BernoulliDecoderMixin:
    """``decode`` and ``reconstruct`` for a model whose ``decoder`` outputs pixel logits.

    The decoder models each pixel as a Bernoulli variable: ``decode`` returns its mean, the
    pixel probabilities in [0, 1]; ``reconstruct`` decodes the model's ``encode(x)``.
    """

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Pixel probabilities [N, input_dim] in [0, 1] (the mean of the Bernoulli decoder)."""
        return torch.sigmoid(self.decode_logits(z))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


_REGISTRY: dict[type, type] = {}


def register(config_class: type):
    """Class decorator: ``@register(VAEConfig) class VAE(BaseModel)`` lets ``build_model`` find it."""

    def decorate(model_class: type) -> type:
        _REGISTRY[config_class] = model_class
        return model_class

    return decorate


def build_model(config: BaseConfig) -> BaseModel:
    """Instantiate the model registered for ``type(config)``."""
    try:
        model_class = _REGISTRY[type(config)]
    except KeyError:
        raise ValueError(f"no model is registered for {type(config).__name__}") from None
    return model_class(config)


def mlp(sizes: tuple[int, ...] | list[int], activation: str, *, final_activation: str | None = None) -> nn.Sequential:
    """A stack of Linear layers ``sizes[0] -> ... -> sizes[-1]`` with ``activation`` between them."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        last = i == len(sizes) - 2
        act = final_activation if last else activation
        if act is not None:
            layers.append(activation_layer(act))
    return nn.Sequential(*layers)


def activation_layer(name: str) -> nn.Module:
    """The module for an activation name of :data:`replearn_core.config.ACTIVATIONS`."""
    if name == "sigmoid":
        return nn.Sigmoid()
    if name == "relu":
        return nn.ReLU()
    if name == "leaky_relu":
        return nn.LeakyReLU(0.2)
    if name == "tanh":
        return nn.Tanh()
    raise ValueError(f"unknown activation {name!r}; choose one of sigmoid, relu, leaky_relu, tanh")

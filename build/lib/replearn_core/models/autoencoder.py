"""Fully connected autoencoders: h = f(x), r = g(h) (report 3.1-3.3).

The decoder mirrors the encoder. The decoder's last layer outputs logits; ``decode``
returns pixel probabilities in [0, 1] and the loss is the Bernoulli negative
log-likelihood (binary cross-entropy summed over pixels, nats per image).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..config import ACTIVATIONS, BaseConfig, check_layer_sizes, check_positive_int, require
from ..losses import bernoulli_nll
from .base import LatentModel, ModelOutput, mlp, register


@dataclass(frozen=True)
class AutoencoderConfig(BaseConfig):
    """``input_dim -> hidden[0] -> ... -> latent_dim`` and the mirror image back."""

    input_dim: int = 784
    hidden: tuple[int, ...] = (256,)
    latent_dim: int = 32
    activation: str = "relu"
    #: activation of the code h itself (None: linear code; "sigmoid": code in (0, 1))
    latent_activation: str | None = None

    def validate(self) -> None:
        check_positive_int(self, "input_dim", "latent_dim")
        require(isinstance(self.hidden, tuple), "hidden", f"must be a tuple of layer sizes, got {self.hidden!r}")
        if self.hidden:
            check_layer_sizes(self, "hidden")
        require(self.activation in ACTIVATIONS, "activation",
                f"must be one of {ACTIVATIONS}, got {self.activation!r}")
        require(self.latent_activation is None or self.latent_activation in ACTIVATIONS, "latent_activation",
                f"must be None or one of {ACTIVATIONS}, got {self.latent_activation!r}")


@register(AutoencoderConfig)
class Autoencoder(LatentModel):
    """A deterministic autoencoder with a mirrored decoder and a Bernoulli reconstruction loss."""

    def __init__(self, config: AutoencoderConfig = AutoencoderConfig()):
        super().__init__(config)
        sizes = (config.input_dim, *config.hidden, config.latent_dim)
        self.encoder = mlp(sizes, config.activation, final_activation=config.latent_activation)
        self.decoder = mlp(sizes[::-1], config.activation, final_activation=None)  # logits

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """h = f(x): the latent code [N, latent_dim]."""
        return self.encoder(x.reshape(len(x), -1))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None, phase: str = "loss") -> ModelOutput:
        z = self.encode(x)
        logits = self.decode_logits(z)
        reconstruction = bernoulli_nll(logits, x)
        return ModelOutput(loss=reconstruction, terms={"reconstruction": reconstruction}, z=z, logits=logits)


# ---------------------------------------------------------------------------------------------
# Weights as images (report figure 4)


def _linear_layers(module: nn.Module) -> list[nn.Linear]:
    return [m for m in module.modules() if isinstance(m, nn.Linear)]


def encoder_filters(model: nn.Module) -> torch.Tensor:
    """Weights of the first encoder layer, one row per hidden unit: [hidden_0, input_dim].

    Row ``j`` is the pattern of input pixels that unit ``j`` responds to (its receptive field).
    """
    return _linear_layers(model.encoder)[0].weight.detach()


def decoder_filters(model: nn.Module) -> torch.Tensor:
    """Weights of the last decoder layer, one row per unit feeding it: [hidden_0, input_dim].

    Row ``j`` is the image (in logits) that unit ``j`` adds to the output when it is active.
    """
    return _linear_layers(model.decoder)[-1].weight.detach().T

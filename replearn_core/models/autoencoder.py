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
from .base import BaseModel, ModelOutput, mlp, register


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
class Autoencoder(BaseModel):
    """A deterministic autoencoder with a mirrored decoder and a Bernoulli reconstruction loss."""

    def __init__(self, config: AutoencoderConfig = AutoencoderConfig()):
        super().__init__(config)
        sizes = (config.input_dim, *config.hidden, config.latent_dim)
        self.encoder = mlp(sizes, config.activation, final_activation=config.latent_activation)
        self.decoder = mlp(sizes[::-1], config.activation, final_activation=None)  # logits

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """h = f(x): the latent code [N, latent_dim]."""
        return self.encoder(x.reshape(len(x), -1))

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """r = g(h): pixel probabilities [N, input_dim] in [0, 1]."""
        return torch.sigmoid(self.decoder(z))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None, phase: str = "loss") -> ModelOutput:
        z = self.encode(x)
        logits = self.decode_logits(z)
        recon = bernoulli_nll(logits, x)
        return ModelOutput(loss=recon, terms={"recon": recon}, z=z, recon=logits)


@torch.no_grad()
def encode_dataset(model: nn.Module, x: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
    """Latent codes of ``x`` in eval mode (``model.encode``; for a VAE the posterior mean)."""
    model.eval()
    return torch.cat([model.encode(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])

"""Variational autoencoder (report 3.6-3.8; Kingma and Welling 2014).

The encoder maps an image x to the parameters of a diagonal Gaussian posterior
``q(z|x) = N(mu(x), diag(exp(logvar(x))))``; the decoder maps a code z to Bernoulli pixel
logits, ``p(x|z)``; the prior is ``p(z) = N(0, I)``. Training minimises the negative
evidence lower bound, in nats per image,

    -L(q) = E_{z~q(z|x)}[-log p(x|z)] + KL(q(z|x) || p(z))
          =        "recon"             +       "kl"

with one reparameterised sample ``z = mu + exp(logvar / 2) * eps, eps ~ N(0, I)`` for the
expectation (so gradients reach ``mu`` and ``logvar`` through z) and the closed-form KL.

The architecture is given at construction (the report's object-oriented design):
``VAEConfig(hidden=(400, 100, 10), latent_dim=2)`` is the report's 784-400-100-10-2 encoder
with the mirrored decoder 2-10-100-400-784, ``VAEConfig(hidden=(400,), latent_dim=20)`` the
784-400-20 network of pytorch/examples' MNIST VAE.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ACTIVATIONS, BaseConfig, check_layer_sizes, check_positive_int, require
from ..losses import bernoulli_nll, gaussian_kl
from .base import GenerativeModel, LatentModel, ModelOutput, mlp, register

LOG_2PI = math.log(2 * math.pi)


@dataclass(frozen=True)
class VAEConfig(BaseConfig):
    """``input_dim -> hidden[0] -> ... -> hidden[-1] -> (mu, logvar)`` of size ``latent_dim``; decoder mirrored."""

    input_dim: int = 784
    hidden: tuple[int, ...] = (400,)
    latent_dim: int = 20
    activation: str = "relu"

    def validate(self) -> None:
        check_positive_int(self, "input_dim", "latent_dim")
        require(isinstance(self.hidden, tuple), "hidden",
                f"must be a tuple of layer sizes (e.g. (400, 100, 10)), got {self.hidden!r}")
        if self.hidden:
            check_layer_sizes(self, "hidden")
        require(self.activation in ACTIVATIONS, "activation",
                f"must be one of {ACTIVATIONS}, got {self.activation!r}")

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        """Encoder sizes down to the latent, e.g. (784, 400, 100, 10, 2)."""
        return (self.input_dim, *self.hidden, self.latent_dim)

    def describe(self) -> str:
        """``"784-400-100-10-2"`` style name of the encoder (the decoder mirrors it)."""
        return "-".join(str(s) for s in self.layer_sizes)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """``z = mu + sigma * eps`` with ``sigma = exp(logvar / 2)`` and ``eps ~ N(0, I)``.

    The noise is an input, not a function of the parameters, so ``dz/dmu = 1`` and
    ``dz/dlogvar = sigma * eps / 2``: back-propagation runs through the sample.
    """
    # randn_like draws the same numbers as randn(mu.shape) from the global generator, and unlike
    # it traces under torch.compile when the batch size is symbolic (a partial last batch)
    eps = torch.randn_like(mu) if generator is None else torch.randn(
        mu.shape, device=mu.device, dtype=mu.dtype, generator=generator)
    return mu + torch.exp(0.5 * logvar) * eps


@register(VAEConfig)
class VAE(LatentModel, GenerativeModel):
    """A Gaussian-encoder, Bernoulli-decoder VAE whose layer sizes come from :class:`VAEConfig`."""

    def __init__(self, config: VAEConfig = VAEConfig()):
        super().__init__(config)
        sizes = (config.input_dim, *config.hidden)
        # shared trunk, then two linear heads: mu and log sigma^2
        self.encoder = mlp(sizes, config.activation, final_activation=config.activation) if config.hidden \
            else nn.Identity()
        self.mu = nn.Linear(sizes[-1], config.latent_dim)
        self.logvar = nn.Linear(sizes[-1], config.latent_dim)
        self.decoder = mlp((config.latent_dim, *config.hidden[::-1], config.input_dim), config.activation,
                           final_activation=None)  # logits of Bernoulli pixels

    def encode_distribution(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Parameters of q(z|x): ``(mu, logvar)``, each [N, latent_dim]."""
        h = self.encoder(x.reshape(len(x), -1))
        return self.mu(h), self.logvar(h)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The posterior mean ``mu(x)``: the deterministic code used for plots and probes."""
        return self.encode_distribution(x)[0]


    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """Images decoded from codes ``z`` (pixel probabilities, [n, input_dim])."""
        return self.decode(z)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None, phase: str = "loss",
                generator: torch.Generator | None = None) -> ModelOutput:
        """One-sample estimate of the negative ELBO (nats per image) and its two terms."""
        mu, logvar = self.encode_distribution(x)
        z = reparameterize(mu, logvar, generator)
        logits = self.decode_logits(z)
        reconstruction = bernoulli_nll(logits, x)
        kl = gaussian_kl(mu, logvar)
        loss = reconstruction + kl
        return ModelOutput(loss=loss, terms={"neg_elbo": loss, "reconstruction": reconstruction, "kl": kl},
                           z=mu, logits=logits)


# ---------------------------------------------------------------------------------------------
# Evaluation


@torch.no_grad()
def evaluate_elbo(model: VAE, x: torch.Tensor, batch_size: int = 1000, seed: int = 0) -> dict[str, float]:
    """Test negative ELBO in nats per image, with its ``reconstruction`` and ``kl`` terms.

    Single-sample estimate, as in pytorch/examples' ``test()``: one reparameterised z per image
    for the reconstruction expectation, the KL in closed form; averaged over all images.
    The noise comes from a generator seeded with ``seed``, so the number is reproducible.
    """
    model.eval()
    device = next(model.parameters()).device
    gen = torch.Generator(device=device).manual_seed(seed)
    reconstruction = kl = 0.0
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size]
        out = model(xb, generator=gen)
        reconstruction += float(out.terms["reconstruction"]) * len(xb)
        kl += float(out.terms["kl"]) * len(xb)
    n = len(x)
    return {"neg_elbo": (reconstruction + kl) / n, "reconstruction": reconstruction / n, "kl": kl / n}


@torch.no_grad()
def importance_weighted_nll(model: VAE, x: torch.Tensor, k: int = 64, batch_size: int = 250,
                            seed: int = 0) -> float:
    """``-log p(x)`` estimated with ``k`` importance samples from q(z|x), nats per image (batch mean).

    ``log p(x) >= log (1/k) sum_i p(x|z_i) p(z_i) / q(z_i|x)`` (Burda et al. 2016): the bound is
    the ELBO for ``k = 1`` and tightens towards ``log p(x)`` as ``k`` grows, so the returned value
    lies below the negative ELBO and decreases with ``k``.
    """
    if k < 1:
        raise ValueError(f"k: must be a positive number of importance samples, got {k}")
    model.eval()
    device = next(model.parameters()).device
    gen = torch.Generator(device=device).manual_seed(seed)
    total = 0.0
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size].reshape(min(batch_size, len(x) - i), -1)
        mu, logvar = model.encode_distribution(xb)
        eps = torch.randn((k, *mu.shape), device=device, dtype=mu.dtype, generator=gen)
        z = mu + torch.exp(0.5 * logvar) * eps                       # [k, B, d]
        log_q = (-0.5 * (eps.pow(2) + logvar + LOG_2PI)).sum(-1)     # log N(z; mu, sigma^2)
        log_pz = (-0.5 * (z.pow(2) + LOG_2PI)).sum(-1)               # log N(z; 0, I)
        logits = model.decode_logits(z.reshape(-1, z.shape[-1])).reshape(k, len(xb), -1)
        log_px_z = -F.binary_cross_entropy_with_logits(logits, xb.expand(k, -1, -1), reduction="none").sum(-1)
        log_w = log_px_z + log_pz - log_q
        log_px = torch.logsumexp(log_w, dim=0) - math.log(k)
        total += float(-log_px.sum())
    return total / len(x)

"""Adversarial autoencoder (report 4.3-4.6; Makhzani et al. 2015).

An autoencoder whose encoder q(z|x) doubles as the *generator* of a GAN that plays in
code space: a discriminator D(z) learns to tell codes of real images, drawn from the
aggregated posterior q(z) = E_{p_d(x)} q(z|x), from samples of a chosen prior p(z), and
the encoder learns to fool it. Training alternates three phases on every mini-batch,
each with its own optimizer over only its own parameters:

1. ``"reconstruction"``: encoder and decoder minimise the Bernoulli negative
   log-likelihood of x given the decoded code (nats per image, as the VAE's decoder);
2. ``"discriminator"``: D minimises ``BCE(D(z_prior), 1) + BCE(D(z_code), 0)``;
3. ``"generator"``: the encoder minimises ``BCE(D(z_code), 1)`` (the non-saturating
   GAN loss), pulling q(z) towards p(z).

Priors: ``"gaussian"`` (standard normal, any latent size) and ``"mixture10"`` (2-d: ten
elongated Gaussians whose means lie on a circle of radius 1.4, standard deviations 0.5
along and 0.1 across the radius, as in the tensorflow-mnist-AAE code the report adopted).
With ``use_labels=True`` the discriminator also sees the digit label, one-hot, next to the
code, and a prior sample of component k is paired with label k: this is the paper's
"incorporating label information in the adversarial regularization" (its figure 4),
which is the variant that the tensorflow-mnist-AAE repository implements. It uses the
labels, so it is not an unsupervised method.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..config import (ACTIVATIONS, BaseConfig, TrainConfig, check_layer_sizes, check_positive,
                      check_positive_int, require)
from ..losses import bernoulli_nll, discriminator_loss, generator_loss
from .base import GenerativeModel, LatentModel, ModelOutput, adam, mlp, register

PRIORS = ("gaussian", "mixture10")

#: The mixture-of-Gaussians prior of tensorflow-mnist-AAE: 10 components on a circle.
MIXTURE_COMPONENTS = 10
MIXTURE_RADIUS = 1.4
MIXTURE_STD = (0.5, 0.1)  # along the radius, across it


def sample_prior(prior: str, n: int, latent_dim: int = 2, device: torch.device | str = "cpu",
                 labels: torch.Tensor | None = None,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Draw ``n`` codes from ``prior``; return ``(z [n, latent_dim], component [n] or None)``.

    For ``"mixture10"`` the component of each sample is ``labels`` when given (the
    label-conditioned AAE pairs a code of digit k with component k), otherwise uniform.
    ``generator`` (on ``device``) makes the draw reproducible without touching the global seed.
    """
    if prior == "gaussian":
        return torch.randn(n, latent_dim, device=device, generator=generator), None
    if prior != "mixture10":
        raise ValueError(f"prior must be one of {PRIORS}, got {prior!r}")
    if latent_dim != 2:
        raise ValueError(f"the mixture10 prior is 2-dimensional, got latent_dim={latent_dim}")
    if labels is None:
        comp = torch.randint(0, MIXTURE_COMPONENTS, (n,), device=device, generator=generator)
    else:
        comp = labels.to(device=device, dtype=torch.long)
        if len(comp) != n:
            raise ValueError(f"labels: expected {n} labels, got {len(comp)}")
    eps = torch.randn(n, 2, device=device, generator=generator) * torch.tensor(MIXTURE_STD, device=device)
    angle = comp.float() * (2 * math.pi / MIXTURE_COMPONENTS)
    cos, sin = torch.cos(angle), torch.sin(angle)
    # rotate the elongated noise by the component's angle, then shift it out along the radius
    x = eps[:, 0] * cos - eps[:, 1] * sin + MIXTURE_RADIUS * cos
    y = eps[:, 0] * sin + eps[:, 1] * cos + MIXTURE_RADIUS * sin
    return torch.stack([x, y], dim=1), comp


@dataclass(frozen=True)
class AAEConfig(BaseConfig):
    """Encoder ``input_dim -> hidden -> latent_dim``, mirrored decoder, discriminator on codes."""

    input_dim: int = 784
    hidden: tuple[int, ...] = (400, 100)  # the encoder's hidden layers; the decoder mirrors them
    latent_dim: int = 2
    disc_hidden: tuple[int, ...] = (128, 128)  # the discriminator's hidden layers
    activation: str = "relu"
    prior: str = "gaussian"
    use_labels: bool = False  # label-conditioned discriminator (paper fig. 4, tensorflow-mnist-AAE)
    #: learning rates of the discriminator and generator phases relative to TrainConfig.lr
    #: (tensorflow-mnist-AAE: lr / 5 for the discriminator, lr for two generator steps; the
    #: book's small sweep in chapter 08 settled on lr / 5 and lr / 2 for one generator step,
    #: lr for the label-conditioned model)
    disc_lr_scale: float = 0.2
    gen_lr_scale: float = 0.5

    def validate(self) -> None:
        check_positive_int(self, "input_dim", "latent_dim")
        check_layer_sizes(self, "hidden")
        check_layer_sizes(self, "disc_hidden")
        require(self.activation in ACTIVATIONS, "activation",
                f"must be one of {ACTIVATIONS}, got {self.activation!r}")
        require(self.prior in PRIORS, "prior", f"must be one of {PRIORS}, got {self.prior!r}")
        require(self.prior != "mixture10" or self.latent_dim == 2, "latent_dim",
                f"the mixture10 prior is 2-dimensional, got latent_dim={self.latent_dim!r}")
        require(isinstance(self.use_labels, bool), "use_labels", f"must be True or False, got {self.use_labels!r}")
        require(not self.use_labels or self.prior == "mixture10", "use_labels",
                "label conditioning needs the mixture10 prior (one component per digit)")
        check_positive(self, "disc_lr_scale", "gen_lr_scale")


@register(AAEConfig)
class AdversarialAutoencoder(LatentModel, GenerativeModel):
    """Encoder (the code generator), decoder and code discriminator, trained in three phases."""

    phases = ("reconstruction", "discriminator", "generator")

    def __init__(self, config: AAEConfig = AAEConfig()):
        super().__init__(config)
        c = config
        self.encoder = mlp((c.input_dim, *c.hidden, c.latent_dim), c.activation, final_activation=None)
        self.decoder = mlp((c.latent_dim, *c.hidden[::-1], c.input_dim), c.activation, final_activation=None)
        n_cond = MIXTURE_COMPONENTS if c.use_labels else 0
        self.discriminator = mlp((c.latent_dim + n_cond, *c.disc_hidden, 1), c.activation, final_activation=None)

    # -- the parameters each phase may change --------------------------------------------------
    def phase_parameters(self) -> dict[str, list[nn.Parameter]]:
        return {
            "reconstruction": [*self.encoder.parameters(), *self.decoder.parameters()],
            "discriminator": list(self.discriminator.parameters()),
            "generator": list(self.encoder.parameters()),
        }

    def configure_optimizers(self, train: TrainConfig) -> dict[str, torch.optim.Optimizer]:
        params = self.phase_parameters()
        scale = {"reconstruction": 1.0, "discriminator": self.config.disc_lr_scale,
                 "generator": self.config.gen_lr_scale}
        return {p: adam(params[p], lr=train.lr * scale[p]) for p in self.phases}

    # -- encoder, decoder, prior ---------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The deterministic code z = q(x) [N, latent_dim]."""
        return self.encoder(x.reshape(len(x), -1))


    def prior_sample(self, n: int, seed: int | None = None, labels: torch.Tensor | None = None) -> torch.Tensor:
        """``n`` codes drawn from the prior p(z) [n, latent_dim] on the model's device (for the
        mixture prior, of components ``labels`` if given)."""
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        z, _ = sample_prior(self.config.prior, n, self.config.latent_dim, labels=None if labels is None else labels.cpu(),
                            generator=gen)
        return z.to(self.device)

    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """Images decoded from codes ``z`` [n, input_dim] (pixel probabilities)."""
        return self.decode(z)

    def discriminate(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """D's logit that ``z`` was drawn from the prior [N]."""
        if self.config.use_labels:
            if labels is None:
                raise ValueError("this AAE has use_labels=True: the discriminator needs the digit labels")
            z = torch.cat([z, F.one_hot(labels.long(), MIXTURE_COMPONENTS).to(z.dtype)], dim=1)
        return self.discriminator(z).squeeze(1)

    # -- the three phases ----------------------------------------------------------------------
    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None, phase: str = "reconstruction") -> ModelOutput:
        if self.config.use_labels and y is None:
            raise ValueError("this AAE has use_labels=True: forward needs the labels y")
        labels = y if self.config.use_labels else None
        if phase == "reconstruction":
            z = self.encode(x)
            logits = self.decode_logits(z)
            loss = bernoulli_nll(logits, x)
            return ModelOutput(loss=loss, terms={"reconstruction": loss}, z=z, logits=logits)
        if phase == "discriminator":
            with torch.no_grad():
                z_code = self.encode(x)
            z_prior, comp = sample_prior(self.config.prior, len(x), self.config.latent_dim, x.device, labels=labels)
            real = self.discriminate(z_prior, comp if self.config.use_labels else None)
            fake = self.discriminate(z_code, labels)
            loss = discriminator_loss(real, fake)
            return ModelOutput(loss=loss, terms={"discriminator": loss}, z=z_code)
        if phase == "generator":
            z = self.encode(x)
            loss = generator_loss(self.discriminate(z, labels))
            return ModelOutput(loss=loss, terms={"generator": loss}, z=z)
        raise ValueError(f"phase must be one of {self.phases}, got {phase!r}")

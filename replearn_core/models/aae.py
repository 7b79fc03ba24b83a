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

The balance of the game is set by the config: ``disc_steps`` discriminator steps (each on a
fresh prior draw) and ``gen_steps`` generator steps per mini-batch, the adversarial phases'
learning-rate scales and Adam betas, a learning-rate schedule, and an optional R1 penalty on
the discriminator. With the paper's kind of schedule (all rates divided by 10 late in
training), ten discriminator steps per batch and the reconstruction's rate for both
adversarial phases, the 2-d Gaussian-prior AAE's codes match the prior at least as well as
the VAE's at the same budget (the search of ``replearn aae-search``,
``book/results/aae_search.csv``); one discriminator step at a fifth of the rate, the book's
first setting, left codes far from the prior.

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
LR_SCHEDULES = ("constant", "step", "exponential")

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
    #: optimizer steps per mini-batch of the discriminator (each on a fresh prior draw) and of
    #: the generator (tensorflow-mnist-AAE takes two generator steps)
    disc_steps: int = 1
    gen_steps: int = 1
    #: Adam's (beta1, beta2) for the discriminator and generator phases (GANs often use 0.5)
    adversarial_betas: tuple[float, float] = (0.9, 0.999)
    #: schedule of every phase's learning rate: "constant"; "step" (the paper's kind): the
    #: rates times lr_decay_factor from epoch lr_decay_epoch on; "exponential": times
    #: lr_decay_factor ** (epoch - lr_decay_epoch + 1) from lr_decay_epoch on
    lr_schedule: str = "constant"
    lr_decay_epoch: int = 1
    lr_decay_factor: float = 0.1
    #: weight gamma of the R1 penalty gamma/2 * E_prior ||grad_z D(z)||^2 added to the
    #: discriminator's loss (Mescheder et al. 2018: it damps the game's oscillation; 0: off)
    disc_gradient_penalty: float = 0.0

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
        check_positive_int(self, "disc_steps", "gen_steps")
        betas = self.adversarial_betas
        require(isinstance(betas, tuple) and len(betas) == 2
                and all(isinstance(b, (int, float)) and 0 <= b < 1 for b in betas), "adversarial_betas",
                f"must be a tuple of two numbers in [0, 1), got {betas!r}")
        require(self.lr_schedule in LR_SCHEDULES, "lr_schedule",
                f"must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        check_positive_int(self, "lr_decay_epoch")
        check_positive(self, "lr_decay_factor")
        require(isinstance(self.disc_gradient_penalty, (int, float)) and self.disc_gradient_penalty >= 0,
                "disc_gradient_penalty", f"must be a non-negative number, got {self.disc_gradient_penalty!r}")

    def lr_factor(self, epoch: int) -> float:
        """The factor of every phase's initial learning rate in ``epoch`` (epochs count from 1)."""
        decayed = epoch - self.lr_decay_epoch + 1  # epochs at a decayed rate, this one included
        if self.lr_schedule == "constant" or decayed <= 0:
            return 1.0
        return self.lr_decay_factor ** (decayed if self.lr_schedule == "exponential" else 1)


@register(AAEConfig)
class AdversarialAutoencoder(LatentModel, GenerativeModel):
    """Encoder (the code generator), decoder and code discriminator, trained in three phases."""

    phases = ("reconstruction", "discriminator", "generator")

    def __init__(self, config: AAEConfig = AAEConfig()):
        super().__init__(config)
        c = config
        # fit runs the phases in this order on every mini-batch; a repeated phase takes another
        # step with the same optimizer
        self.phases = ("reconstruction", *("discriminator",) * c.disc_steps, *("generator",) * c.gen_steps)
        self._disc_codes: tuple | None = None  # see _codes_for_discriminator
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
        c = self.config
        scale = {"reconstruction": 1.0, "discriminator": c.disc_lr_scale, "generator": c.gen_lr_scale}
        betas = {"reconstruction": (0.9, 0.999), "discriminator": c.adversarial_betas,
                 "generator": c.adversarial_betas}
        return {p: adam(params[p], lr=train.lr * scale[p], betas=betas[p]) for p in params}

    def before_epoch(self, epoch: int, optimizers: dict[str, torch.optim.Optimizer]) -> None:
        """Set every phase's learning rate to its initial rate times the schedule's factor."""
        factor = self.config.lr_factor(epoch)
        for opt in optimizers.values():
            for group in opt.param_groups:
                group["lr"] = group.setdefault("initial_lr", group["lr"]) * factor

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

    @torch.no_grad()
    def _codes_for_discriminator(self, x: torch.Tensor) -> torch.Tensor:
        """The encoder's codes of ``x``, computed once for the ``disc_steps`` steps of a batch.

        The encoder does not change between those steps, and with several of them its forward
        pass would cost more than the discriminator's steps. The cache holds the batch itself and
        the version counters of the encoder's parameters (which every optimizer step increments),
        so another batch or an updated encoder computes the codes afresh.
        """
        versions = tuple(p._version for p in self.encoder.parameters())
        cached = self._disc_codes
        if cached is not None and cached[0] is x and cached[1] == versions:
            return cached[2]
        z = self.encode(x)
        self._disc_codes = (x, versions, z) if self.config.disc_steps > 1 else None
        return z

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
            z_code = self._codes_for_discriminator(x)
            z_prior, comp = sample_prior(self.config.prior, len(x), self.config.latent_dim, x.device, labels=labels)
            gamma = self.config.disc_gradient_penalty
            if gamma:
                z_prior.requires_grad_(True)
            real = self.discriminate(z_prior, comp if self.config.use_labels else None)
            fake = self.discriminate(z_code, labels)
            loss = discriminator_loss(real, fake)
            terms = {"discriminator": loss}
            if gamma:  # R1: the squared gradient norm of D at the prior samples
                (grad,) = torch.autograd.grad(real.sum(), z_prior, create_graph=True)
                penalty = grad.pow(2).sum(1).mean()
                terms["gradient_penalty"] = penalty
                loss = loss + 0.5 * gamma * penalty
            return ModelOutput(loss=loss, terms=terms, z=z_code)
        if phase == "generator":
            z = self.encode(x)
            loss = generator_loss(self.discriminate(z, labels))
            return ModelOutput(loss=loss, terms={"generator": loss}, z=z)
        raise ValueError(f"phase must be one of {type(self).phases}, got {phase!r}")

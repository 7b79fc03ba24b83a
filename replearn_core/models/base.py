"""The shared base of every model: a config, named training phases, an output record, and
declared capabilities.

A model trained by :func:`replearn_core.fit` has

* ``config``: its validated configuration dataclass;
* ``phases``: the names of its training phases, one optimizer each, in the order ``fit`` runs
  them on every batch. A plain autoencoder has the single phase ``"loss"``; a GAN has
  ``("discriminator", "generator")``; an adversarial autoencoder ``("reconstruction",
  "discriminator", "generator")``. A phase named several times takes several optimizer steps
  per batch (an AAE with ``disc_steps=3`` lists ``"discriminator"`` three times);
* ``forward(x, y=None, phase=...)`` returning a :class:`ModelOutput`, whose ``loss`` is what
  that phase minimises and whose ``terms`` are the named scalars to log. Every model uses the
  same names for the same quantities (:data:`TERMS`);
* ``configure_optimizers(train)`` returning one optimizer per phase, each over the parameters
  that phase may change.

What a model can do beyond training is declared by its base classes, not discovered with
``hasattr``: a :class:`LatentModel` has a code (``encode``, ``decode``, ``reconstruct``), a
:class:`GenerativeModel` draws images (``prior_sample``, ``generate``, ``sample``). Models know
nothing of the training loop: ``fit`` lives in :mod:`replearn_core.training`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from ..config import BaseConfig, TrainConfig

#: The names of logged loss terms, shared by every model (nats; per image where it applies).
TERMS = {
    "loss": "the total objective of a phase that adds several terms",
    "reconstruction": "Bernoulli negative log-likelihood of the input given its code (nats per image)",
    "kl": "KL(q(z|x) || p(z)) of a VAE (nats per image)",
    "neg_elbo": "negative evidence lower bound of a VAE, reconstruction + kl (nats per image)",
    "sparsity": "KL sparsity penalty sum_j KL(rho || rho_hat_j), before its weight (nats)",
    "weight_l2": "L2 weight penalty 1/2 sum ||W||^2, before its weight",
    "discriminator": "a GAN discriminator's loss BCE(D(real), 1) + BCE(D(fake), 0) (nats)",
    "generator": "the non-saturating generator loss BCE(D(fake), 1) (nats)",
    "gradient_penalty": "an R1 penalty E ||grad D(real)||^2 on a discriminator, before its weight",
    "d_real": "the discriminator's mean probability that real inputs are real",
    "d_fake": "the discriminator's mean probability that generated inputs are real",
    "cross_entropy": "a classifier's cross-entropy (nats per image)",
}


@dataclass
class ModelOutput:
    """What one forward pass returns: the objective, named loss terms, and optional tensors.

    ``z``: the codes (or latent inputs) of the batch; ``logits``: what the decoder or generator
    produced from them (pixel logits of a reconstruction, or generated images).
    """

    loss: torch.Tensor
    terms: dict[str, torch.Tensor] = field(default_factory=dict)
    z: torch.Tensor | None = None
    logits: torch.Tensor | None = None


class BaseModel(nn.Module):
    """Base class: holds the config and defines the default single-phase Adam training."""

    phases: tuple[str, ...] = ("loss",)
    #: True for convolutional models that take [N, 1, 28, 28] images instead of [N, 784] vectors.
    image_input: bool = False

    def __init__(self, config: BaseConfig):
        super().__init__()
        self.config = config

    def configure_optimizers(self, train: TrainConfig) -> dict[str, torch.optim.Optimizer]:
        """One optimizer per phase (default: Adam over every parameter, at ``train.lr``)."""
        return {"loss": adam(self.parameters(), lr=train.lr)}

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None, phase: str = "loss") -> ModelOutput:
        raise NotImplementedError

    def before_epoch(self, epoch: int, optimizers: dict[str, torch.optim.Optimizer]) -> None:
        """Called by :func:`replearn_core.fit` before each epoch (epochs count from 1), e.g. to
        set the learning rates of a schedule; does nothing by default."""

    def after_optimizer_step(self, phase: str) -> None:
        """Called by :func:`replearn_core.fit` after each optimizer step of ``phase`` (e.g. to
        update an average of the weights); does nothing by default."""

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device


#: devices on which torch.optim.Adam has a fused kernel in every PyTorch >= 2.4 build
FUSED_ADAM_DEVICES = ("cpu", "cuda")


def adam(params, lr: float, betas: tuple[float, float] = (0.9, 0.999)) -> torch.optim.Adam:
    """Adam as every model of the book uses it: PyTorch's fused kernel where the parameters'
    device has one.

    The default (for-loop) Adam runs about ten elementwise operations per parameter tensor per
    step, each a pass over memory; the fused kernel updates the parameter and both moments in
    one vectorised pass. On a 2-core CPU that is 2-4x faster (VAE 784-400-20: 2.2 -> 1.1 ms per
    step; DCGAN: 13 -> 5 ms), a fifth to a third of a CPU epoch. Its rounding differs from the
    for-loop's in the last bit of about one element in a hundred per step (the same formula in
    another order), so trajectories drift apart as runs on two different CPUs do; it is
    deterministic and gives bitwise the same result on 1 and 2 threads.
    """
    params = list(params)
    fused = bool(params) and all(p.device.type in FUSED_ADAM_DEVICES and p.is_floating_point()
                                 for p in params)
    return torch.optim.Adam(params, lr=lr, betas=betas, fused=True if fused else None)


class LatentModel(BaseModel):
    """A model with a code: ``encode(x) -> z``, ``decode(z) -> x``, ``reconstruct(x)``.

    The decoder models each pixel as a Bernoulli variable: ``decode_logits`` returns its logits
    and ``decode`` their sigmoid, the pixel probabilities in [0, 1] (the mean of the decoder).
    Subclasses define ``encode`` and keep their decoder network in ``self.decoder``.
    """

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The (deterministic) code of each image, [N, latent_dim]."""
        raise NotImplementedError

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Pixel probabilities [N, input_dim] in [0, 1] (the mean of the Bernoulli decoder)."""
        return torch.sigmoid(self.decode_logits(z))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """``decode(encode(x))``: pixel probabilities [N, input_dim]."""
        return self.decode(self.encode(x))


def _generator(seed: int | None) -> torch.Generator | None:
    return torch.Generator().manual_seed(seed) if seed is not None else None


class GenerativeModel(BaseModel):
    """A model that draws images: ``prior_sample(n)`` codes, ``generate(z)`` images from them,
    ``sample(n) = generate(prior_sample(n))``.

    ``seed`` makes a draw reproducible without touching the global random state. The codes are
    drawn on the CPU and then moved to the model's device, so a seed gives the same codes on
    every device.
    """

    def prior_sample(self, n: int, seed: int | None = None) -> torch.Tensor:
        """``n`` codes drawn from the model's prior p(z), on the model's device."""
        return torch.randn(n, self.latent_dim, generator=_generator(seed)).to(self.device)

    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] generated from codes ``z``."""
        raise NotImplementedError

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None) -> torch.Tensor:
        """``n`` images in [0, 1] from prior samples (``seed``: a reproducible draw)."""
        was_training = self.training
        self.eval()
        out = self.generate(self.prior_sample(n, seed))
        self.train(was_training)
        return out


@torch.no_grad()
def apply_batched(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
    """``fn`` applied to ``x`` in chunks of ``batch_size`` rows, concatenated (no gradients)."""
    if len(x) == 0:
        raise ValueError("x: nothing to process (0 rows)")
    return torch.cat([fn(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])


@torch.no_grad()
def encode_dataset(model: LatentModel, x: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
    """Codes of ``x`` in eval mode (``model.encode``; for a VAE the posterior mean)."""
    model.eval()
    return apply_batched(model.encode, x, batch_size)


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

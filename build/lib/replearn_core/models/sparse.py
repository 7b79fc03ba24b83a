"""Sparse autoencoders: a sigmoid code pushed towards a target mean activation (report 3.3-3.4).

The network is the one-hidden-layer autoencoder of :mod:`~replearn_core.models.autoencoder`,
``784 -> 196 (sigmoid) -> 784``, whose code ``h = f(x)`` lies in (0, 1). Its loss, per image
and averaged over the mini-batch, is

    L = BCE(g(f(x)), x) + sparsity_weight * sum_j KL(rho || rho_hat_j) + weight_decay * 1/2 * sum_W ||W||^2

* ``BCE``: binary cross-entropy summed over the 784 pixels (nats per image);
* ``rho = sparsity_target`` (the report's rho) and ``rho_hat_j`` the mean activation of hidden
  unit j over the mini-batch; ``KL`` is the Bernoulli KL divergence of
  :func:`replearn_core.losses.kl_sparsity_penalty`; ``sparsity_weight`` is the report's beta;
* the L2 penalty covers the encoder and decoder weight matrices (not the biases);
  ``weight_decay`` is its coefficient. The report's alpha has no stated unit; the book reads
  alpha = 0.1 ... 0.7 as ``weight_decay = alpha * 1e-2`` (see :mod:`replearn_core.book.sweeps`),
  since the loss is summed over 784 pixels.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..config import check_non_negative, require
from ..losses import bernoulli_nll, kl_sparsity_penalty, l2_weight_penalty
from .autoencoder import Autoencoder, AutoencoderConfig
from .base import ModelOutput, apply_batched, register


@dataclass(frozen=True)
class SparseAutoencoderConfig(AutoencoderConfig):
    """A sigmoid-code autoencoder with the KL sparsity penalty and an L2 weight penalty.

    Defaults: one hidden layer of 196 sigmoid units (a 14x14 grid of learned weights) and the
    report's picks rho = 0.2, beta = 2, alpha = 0.3 (report 3.4; alpha = 0.3 is a weight decay
    of 0.003).
    """

    hidden: tuple[int, ...] = ()
    latent_dim: int = 196
    activation: str = "sigmoid"
    latent_activation: str | None = "sigmoid"
    #: rho: the target mean activation of every hidden unit, in (0, 1)
    sparsity_target: float = 0.2
    #: beta: the weight of the KL sparsity penalty (0: no sparsity penalty)
    sparsity_weight: float = 2.0
    #: the coefficient of the L2 weight penalty (0: none); the report's alpha times 1e-2
    weight_decay: float = 0.003

    def validate(self) -> None:
        super().validate()
        require(self.latent_activation == "sigmoid", "latent_activation",
                f"a sparse autoencoder needs a sigmoid code so that mean activations lie in (0, 1), "
                f"got {self.latent_activation!r}")
        require(isinstance(self.sparsity_target, (int, float)) and not isinstance(self.sparsity_target, bool)
                and 0.0 < self.sparsity_target < 1.0, "sparsity_target",
                f"the target mean activation must lie strictly between 0 and 1, got {self.sparsity_target!r}")
        check_non_negative(self, "sparsity_weight", "weight_decay")


@register(SparseAutoencoderConfig)
class SparseAutoencoder(Autoencoder):
    """:class:`Autoencoder` whose loss adds the weighted KL sparsity and L2 weight penalties.

    Logged terms: ``reconstruction`` (BCE, nats per image), ``sparsity`` (the unweighted KL sum,
    when its weight is > 0), ``weight_l2`` (the unweighted ``1/2 sum ||W||^2``, when the weight
    decay is > 0) and ``loss``, the total. With both weights 0 it computes exactly the plain
    autoencoder's loss, so that timing the two compares the cost of the penalties and nothing else.
    """

    def weight_matrices(self) -> list[torch.Tensor]:
        """The weight matrices that the L2 penalty covers (every Linear layer, biases excluded)."""
        return [m.weight for m in self.modules() if isinstance(m, nn.Linear)]

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None, phase: str = "loss") -> ModelOutput:
        cfg = self.config
        h = self.encode(x)
        logits = self.decode_logits(h)
        reconstruction = bernoulli_nll(logits, x)
        loss = reconstruction
        terms = {"reconstruction": reconstruction}
        if cfg.sparsity_weight > 0:
            sparsity = kl_sparsity_penalty(h, cfg.sparsity_target)
            loss = loss + cfg.sparsity_weight * sparsity
            terms["sparsity"] = sparsity
        if cfg.weight_decay > 0:
            weight_l2 = l2_weight_penalty(self.weight_matrices())
            loss = loss + cfg.weight_decay * weight_l2
            terms["weight_l2"] = weight_l2
        terms["loss"] = loss
        return ModelOutput(loss=loss, terms=terms, z=h, logits=logits)


@torch.no_grad()
def mean_activations(model: SparseAutoencoder, x: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
    """Each hidden unit's mean activation ``rho_hat_j`` over the images ``x`` (eval mode), shape [units]."""
    model.eval()
    return apply_batched(model.encode, x, batch_size).mean(0)


@torch.no_grad()
def weight_images(model: Autoencoder, side: int = 28) -> torch.Tensor:
    """The encoder's first-layer weights as images [units, side, side] in [0, 1] (report figure 8).

    Each unit's 784 incoming weights are scaled by their largest absolute value, so mid-grey
    (0.5) is a zero weight, white the unit's strongest positive and black its strongest
    negative weight.
    """
    w = model.encoder[0].weight.detach().float().cpu()
    w = w / w.abs().amax(1, keepdim=True).clamp_min(1e-12)
    return (0.5 + 0.5 * w).reshape(len(w), side, side)

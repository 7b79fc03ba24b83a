"""Sparse autoencoders: a sigmoid code pushed towards a target mean activation (report 3.3-3.4).

The network is the one-hidden-layer autoencoder of :mod:`~replearn_core.models.autoencoder`,
``784 -> 196 (sigmoid) -> 784``, whose code ``h = f(x)`` lies in (0, 1). Its loss, per image
and averaged over the mini-batch, is

    L = BCE(g(f(x)), x) + beta * sum_j KL(rho || rho_hat_j) + alpha * L2_UNIT * 1/2 * sum_W ||W||^2

* ``BCE``: binary cross-entropy summed over the 784 pixels (nats per image);
* ``rho_hat_j``: the mean activation of hidden unit j over the mini-batch, and ``KL`` the
  Bernoulli KL divergence of :func:`replearn_core.losses.kl_sparsity_penalty`;
* the L2 penalty covers the encoder and decoder weight matrices (not the biases).

How alpha is scaled. The report gives no unit for alpha and tries 0.1 to 0.7. Our loss is in
nats per image, so ``alpha * 1/2 * sum ||W||^2`` taken literally would be weight decay of 0.1
to 0.7 per image, which overwhelms the reconstruction (in a 3-epoch pilot, alpha = 0.1 on
that scale left a test loss of 153 nats per image, half-way to the 206 nats of always
predicting the mean image). We therefore measure alpha in units of ``L2_UNIT = 1e-2``: the L2 term is
``alpha * 1e-2 * 1/2 * sum ||W||^2``, i.e. weight decay ``alpha * 1e-2`` next to a summed
cross-entropy of about 60-100 nats per image. On that scale the report's grid spans a mild to
a strong penalty (it shrinks the summed squared weights by a factor of about two at
alpha = 0.7 in a pilot run); on a scale of 1e-3 the whole grid changed the test loss by less
than half a nat and barely changed the weights, so the table would have measured nothing.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..config import check_non_negative, require
from ..losses import bernoulli_nll, kl_sparsity_penalty, l2_weight_penalty
from .autoencoder import Autoencoder, AutoencoderConfig
from .base import ModelOutput, register

#: alpha is measured in these units: the L2 term is ``alpha * L2_UNIT * 1/2 * sum ||W||^2``.
L2_UNIT = 1e-2


@dataclass(frozen=True)
class SparseAutoencoderConfig(AutoencoderConfig):
    """A sigmoid-code autoencoder with the KL sparsity penalty (rho, beta) and an L2 penalty (alpha).

    Defaults: one hidden layer of 196 sigmoid units (a 14x14 grid of learned weights) and the
    report's picks rho = 0.2, beta = 2, alpha = 0.3 (report 3.4).
    """

    hidden: tuple[int, ...] = ()
    latent_dim: int = 196
    activation: str = "sigmoid"
    latent_activation: str | None = "sigmoid"
    #: target mean activation of every hidden unit, in (0, 1)
    rho: float = 0.2
    #: weight of the KL sparsity penalty (0: no sparsity penalty)
    beta: float = 2.0
    #: weight of the L2 weight penalty, in units of ``L2_UNIT`` (0: no weight penalty)
    alpha: float = 0.3

    def validate(self) -> None:
        super().validate()
        require(self.latent_activation == "sigmoid", "latent_activation",
                f"a sparse autoencoder needs a sigmoid code so that mean activations lie in (0, 1), "
                f"got {self.latent_activation!r}")
        require(isinstance(self.rho, (int, float)) and not isinstance(self.rho, bool) and 0.0 < self.rho < 1.0,
                "rho", f"the target mean activation must lie strictly between 0 and 1, got {self.rho!r}")
        check_non_negative(self, "beta", "alpha")


@register(SparseAutoencoderConfig)
class SparseAutoencoder(Autoencoder):
    """:class:`Autoencoder` whose loss adds ``beta * KL(rho || rho_hat)`` and an L2 weight penalty.

    Logged terms: ``recon`` (BCE, nats per image), ``kl`` (the unweighted KL sum, when
    beta > 0), ``l2`` (the unweighted ``1/2 sum ||W||^2``, when alpha > 0) and ``loss``, the
    total. With beta = alpha = 0 it computes exactly the plain autoencoder's loss, so that
    timing the two compares the cost of the penalties and nothing else.
    """

    def __init__(self, config: SparseAutoencoderConfig = SparseAutoencoderConfig()):
        super().__init__(config)

    def weight_matrices(self) -> list[torch.Tensor]:
        """The weight matrices that the L2 penalty covers (every Linear layer, biases excluded)."""
        return [m.weight for m in self.modules() if isinstance(m, nn.Linear)]

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None, phase: str = "loss") -> ModelOutput:
        cfg = self.config
        h = self.encode(x)
        logits = self.decode_logits(h)
        recon = bernoulli_nll(logits, x)
        loss = recon
        terms = {"recon": recon}
        if cfg.beta > 0:
            kl = kl_sparsity_penalty(h, cfg.rho)
            loss = loss + cfg.beta * kl
            terms["kl"] = kl
        if cfg.alpha > 0:
            l2 = l2_weight_penalty(self.weight_matrices(), 1.0)
            loss = loss + cfg.alpha * L2_UNIT * l2
            terms["l2"] = l2
        terms["loss"] = loss
        return ModelOutput(loss=loss, terms=terms, z=h, recon=logits)


@torch.no_grad()
def mean_activations(model: SparseAutoencoder, x: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
    """Each hidden unit's mean activation ``rho_hat_j`` over the images ``x`` (eval mode), shape [units]."""
    model.eval()
    total = None
    for i in range(0, len(x), batch_size):
        s = model.encode(x[i:i + batch_size]).sum(0)
        total = s if total is None else total + s
    return total / len(x)


@torch.no_grad()
def reconstruction_bce(model: nn.Module, x: torch.Tensor, batch_size: int = 2000) -> float:
    """Reconstruction loss on ``x``: binary cross-entropy summed over pixels, mean over images (nats)."""
    model.eval()
    total = 0.0
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size]
        total += float(bernoulli_nll(model.decode_logits(model.encode(xb)), xb)) * len(xb)
    return total / len(x)


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


# --- the chapter's trained models (book/05_sparse_autoencoders) --------------------------------
def _register_book_models() -> None:
    from .. import zoo
    from ..config import TrainConfig

    # the same setting as one seed of the full-scale sweep (replearn_core.sweep: Adam lr 3e-3, batch 128)
    train = TrainConfig(epochs=6, batch_size=128, lr=3e-3, seed=0, train_subset=20_000)
    zoo.add("sparse_ae", SparseAutoencoderConfig(), train, "05_sparse_autoencoders")
    zoo.add("sparse_ae_no_penalty", SparseAutoencoderConfig(beta=0.0, alpha=0.0), train, "05_sparse_autoencoders")


_register_book_models()

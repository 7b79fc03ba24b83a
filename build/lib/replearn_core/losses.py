"""Loss functions as plain, separately testable functions.

Conventions: images are in [0, 1]; decoders output *logits*; a reconstruction loss is
summed over pixels and averaged over the batch, i.e. in nats per image.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def bernoulli_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of ``x`` under Bernoulli pixels with ``logits``: nats per image (batch mean)."""
    n = len(x)
    return F.binary_cross_entropy_with_logits(logits.reshape(n, -1), x.reshape(n, -1), reduction="sum") / n


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) in closed form: summed over latent dims, batch mean (nats).

    Per image, ``0.5 * sum_j (mu_j^2 + sigma_j^2 - 1 - log sigma_j^2)`` (Kingma and Welling 2014,
    appendix B): the regulariser of the VAE's evidence lower bound.
    """
    mu = mu.reshape(len(mu), -1)
    logvar = logvar.reshape(len(logvar), -1)
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum() / len(mu)


def kl_sparsity_penalty(h: torch.Tensor, rho: float, eps: float = 1e-6) -> torch.Tensor:
    """Sparsity penalty of a sparse autoencoder: ``sum_j KL(rho || rho_hat_j)`` (nats; unweighted).

    ``h`` holds hidden activations in (0, 1), shape [N, units] (e.g. a sigmoid code);
    ``rho_hat_j = mean_n h[n, j]`` is unit j's mean activation over the batch, and
    ``KL(rho || rho_hat) = rho log(rho / rho_hat) + (1 - rho) log((1 - rho) / (1 - rho_hat))``
    is the KL divergence between Bernoulli(rho) and Bernoulli(rho_hat) (report 3.3). It is 0
    when every unit's mean activation equals the target ``rho`` and grows without bound as
    ``rho_hat`` approaches 0 or 1. As ``rho -> 0`` a unit's term tends to ``-log(1 - rho_hat)``
    and as ``rho -> 1`` to ``-log(rho_hat)`` (report 3.4). ``rho_hat`` is clamped to
    ``[eps, 1 - eps]`` so the penalty stays finite. The model multiplies it by its weight beta.
    """
    if not isinstance(rho, (int, float)) or not 0.0 < rho < 1.0:
        raise ValueError(f"rho: the target mean activation must lie strictly between 0 and 1, got {rho!r}")
    if h.ndim != 2:
        raise ValueError(f"h: expected hidden activations of shape [N, units], got {tuple(h.shape)}")
    rho_hat = h.mean(0).clamp(eps, 1.0 - eps)
    kl = rho * torch.log(rho / rho_hat) + (1.0 - rho) * torch.log((1.0 - rho) / (1.0 - rho_hat))
    return kl.sum()


def l2_weight_penalty(weights) -> torch.Tensor:
    """L2 weight penalty ``1/2 * sum_W ||W||^2`` over the given weight tensors (unweighted).

    The factor 1/2 makes its gradient ``W``: multiplied by a coefficient alpha it is plain
    weight decay with that coefficient. Pass weight matrices only (biases are conventionally
    not penalised).
    """
    weights = list(weights)
    if not weights:
        raise ValueError("weights: expected at least one weight tensor")
    return 0.5 * sum(w.pow(2).sum() for w in weights)


def negative_elbo(logits: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """The VAE's negative evidence lower bound, nats per image (batch mean): the Bernoulli
    reconstruction NLL of ``x`` under ``logits`` (decoded from one sample of q(z|x)) plus the
    closed-form ``KL(q(z|x) || N(0, I))`` of the posterior ``N(mu, diag(exp(logvar)))``."""
    return bernoulli_nll(logits, x) + gaussian_kl(mu, logvar)


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """A GAN discriminator's loss: ``BCE(D(real), 1) + BCE(D(fake), 0)``, each a batch mean (nats).

    ``real_logits`` and ``fake_logits`` are D's logits (before the sigmoid). At a perfectly
    confused discriminator, D = 1/2 everywhere, it equals ``2 ln 2``.
    """
    return (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss ``-log D(G(z))`` = ``BCE(D(fake), 1)``, batch mean (nats).

    Goodfellow et al. (2014) propose it instead of minimising ``log(1 - D(G(z)))``, whose
    gradient vanishes when D confidently rejects the fakes early in training.
    """
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))

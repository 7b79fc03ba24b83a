"""Measurements shared by the chapters: reconstruction, latent structure, sample quality.

All functions take tensors (any device) and return Python floats.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import torch
import torch.nn.functional as F


def bce_per_image(recon_probs: torch.Tensor, x: torch.Tensor) -> float:
    """Mean over images of the summed binary cross-entropy (nats per image)."""
    r = recon_probs.reshape(len(x), -1).clamp(1e-7, 1 - 1e-7)
    return float(F.binary_cross_entropy(r, x.reshape(len(x), -1), reduction="sum") / len(x))


@torch.no_grad()
def reconstruction_nll(model, x: torch.Tensor, batch_size: int = 2000) -> float:
    """Bernoulli negative log-likelihood of ``x`` decoded from its own codes, ``decode(encode(x))``
    of a :class:`~replearn_core.models.LatentModel` in eval mode: nats per image (mean)."""
    from .losses import bernoulli_nll

    model.eval()
    total = 0.0
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size]
        total += float(bernoulli_nll(model.decode_logits(model.encode(xb)), xb)) * len(xb)
    return total / len(x)


def mse_per_pixel(recon: torch.Tensor, x: torch.Tensor) -> float:
    """Mean squared error per pixel (pixels in [0, 1])."""
    return float(F.mse_loss(recon.reshape(len(x), -1), x.reshape(len(x), -1)))


def cluster_accuracy(labels: np.ndarray | torch.Tensor, clusters: np.ndarray | torch.Tensor) -> float:
    """Accuracy of ``clusters`` after the best one-to-one mapping to ``labels`` (Hungarian method)."""
    from scipy.optimize import linear_sum_assignment

    labels = np.asarray(torch.as_tensor(labels).cpu())
    clusters = np.asarray(torch.as_tensor(clusters).cpu())
    n = int(max(labels.max(), clusters.max())) + 1
    counts = np.zeros((n, n), dtype=np.int64)
    np.add.at(counts, (clusters, labels), 1)
    rows, cols = linear_sum_assignment(-counts)
    return float(counts[rows, cols].sum() / len(labels))


def kmeans_cluster_accuracy(codes: torch.Tensor, labels: torch.Tensor, k: int = 10, seed: int = 0) -> float:
    """k-means (k = 10, 10 restarts) on standardised codes, scored by :func:`cluster_accuracy`."""
    from sklearn.cluster import KMeans

    z = _standardise(codes)
    clusters = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(z)
    return cluster_accuracy(labels, clusters)


def linear_probe_accuracy(train_codes: torch.Tensor, train_labels: torch.Tensor,
                          test_codes: torch.Tensor, test_labels: torch.Tensor) -> float:
    """Test accuracy of a logistic regression fitted on standardised training codes."""
    from sklearn.linear_model import LogisticRegression

    mean = train_codes.double().mean(0)
    std = train_codes.double().std(0).clamp_min(1e-8)
    ztr = ((train_codes.double() - mean) / std).cpu().numpy()
    zte = ((test_codes.double() - mean) / std).cpu().numpy()
    probe = LogisticRegression(max_iter=1000)
    probe.fit(ztr, np.asarray(train_labels.cpu()))
    return float((probe.predict(zte) == np.asarray(test_labels.cpu())).mean())


def _standardise(codes: torch.Tensor) -> np.ndarray:
    z = codes.double()
    return ((z - z.mean(0)) / z.std(0).clamp_min(1e-8)).cpu().numpy()


def inception_score(probs: torch.Tensor, splits: int = 1) -> float:
    """exp(E_x KL(p(y|x) || p(y))) of classifier probabilities [N, 10]: 1 (useless) to 10 (ideal)."""
    p = probs.double().clamp_min(1e-12)
    scores = []
    for part in torch.chunk(p, splits):
        marginal = part.mean(0, keepdim=True)
        kl = (part * (part.log() - marginal.log())).sum(1).mean()
        scores.append(float(kl.exp()))
    return float(np.mean(scores))


def frechet_distance(feats_a: torch.Tensor, feats_b: torch.Tensor) -> float:
    """Frechet distance between Gaussians fitted to two feature sets [N, d] (FID's formula)."""
    from scipy import linalg

    a = feats_a.double().cpu().numpy()
    b = feats_b.double().cpu().numpy()
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    # About 50 of the book classifier's 128 ReLU features are never active on digits, so the
    # covariances are singular and scipy's sqrtm warns that its result may be inaccurate. It is not:
    # ||S S - A|| / ||A|| is about 1e-15 here, and the dead features contribute nothing.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        covmean = np.real(linalg.sqrtm(cov_a @ cov_b))
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * covmean))


def mmd_rbf(x: torch.Tensor, y: torch.Tensor, bandwidths: tuple[float, ...] = (0.2, 0.5, 1.0, 2.0, 5.0)) -> float:
    """Unbiased squared maximum mean discrepancy with a sum of RBF kernels (0 when x ~ y)."""
    x, y = x.double(), y.double()
    xx, yy, xy = torch.cdist(x, x) ** 2, torch.cdist(y, y) ** 2, torch.cdist(x, y) ** 2
    kxx = sum(torch.exp(-xx / (2 * s**2)) for s in bandwidths)
    kyy = sum(torch.exp(-yy / (2 * s**2)) for s in bandwidths)
    kxy = sum(torch.exp(-xy / (2 * s**2)) for s in bandwidths)
    m, n = len(x), len(y)
    term_x = (kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1))
    term_y = (kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1))
    return float(term_x + term_y - 2 * kxy.mean())


def binarisation_entropy(images: torch.Tensor) -> float:
    """Mean per-pixel Bernoulli entropy in bits of images in [0, 1]: 0 for crisp black/white, 1 for all-grey."""
    p = images.double().clamp(1e-7, 1 - 1e-7)
    return float((-(p * p.log2() + (1 - p) * (1 - p).log2())).mean())


@torch.no_grad()
def sample_quality(classifier, images: torch.Tensor, real_images: torch.Tensor | None = None) -> dict[str, float]:
    """Classifier-judged quality of generated ``images`` in [0, 1].

    Returns the inception-style score, the mean max-probability (confidence), the
    sharpness (binarisation entropy) and, given ``real_images``, the Frechet distance in
    the classifier's feature space.
    """
    probs = classifier.predict_proba(images)
    out = {
        "inception_score": inception_score(probs),
        "mean_max_prob": float(probs.max(1).values.mean()),
        "binarisation_entropy": binarisation_entropy(images),
    }
    if real_images is not None:
        out["frechet_distance"] = frechet_distance(classifier.features_of(images), classifier.features_of(real_images))
    return out


@torch.no_grad()
def pca_reconstruction_mse(x_fit: torch.Tensor, x_test: torch.Tensor, k: int) -> float:
    """Mean squared error per pixel of ``x_test`` rebuilt from ``k`` principal components of ``x_fit``.

    The linear baseline of an autoencoder with a ``k``-dimensional code: PCA is the best
    rank-``k`` linear reconstruction (in squared error) of the fitting data. Reconstructions
    are clipped to the pixel range [0, 1] before scoring.
    """
    a = x_fit.reshape(len(x_fit), -1).double()
    b = x_test.reshape(len(x_test), -1).double()
    if not (isinstance(k, int) and 1 <= k <= min(a.shape)):
        raise ValueError(f"k: must be an integer in [1, {min(a.shape)}], got {k!r}")
    mean = a.mean(0)
    _, _, vt = torch.linalg.svd(a - mean, full_matrices=False)
    basis = vt[:k]
    recon = ((b - mean) @ basis.T @ basis + mean).clamp(0, 1)
    return float(((recon - b) ** 2).mean())


def effective_dimension(codes: torch.Tensor) -> float:
    """Participation ratio (sum of variances)^2 / (sum of squared variances) of the principal components of ``codes`` [N, d].

    It is ``d`` when the codes vary equally in ``d`` orthogonal directions and 1 when they
    vary along a single direction: how many dimensions a code really uses.
    """
    c = codes.reshape(len(codes), -1).double()
    eig = torch.linalg.eigvalsh(torch.cov(c.T).reshape(c.shape[1], c.shape[1])).clamp_min(0)
    return float(eig.sum() ** 2 / (eig ** 2).sum().clamp_min(1e-300))


# ---------------------------------------------------------------------------------------------
# Parzen-window log-likelihood (Makhzani et al. 2015, table 1; after Goodfellow et al. 2014)


@torch.no_grad()
def _parzen_sq_distances(samples: torch.Tensor, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Squared distances [N, M] of every row of ``x`` to every sample, blockwise, as float64.

    The products ``x.s`` are float32 matrix products (four times faster than float64 on a CPU):
    for pixels in [0, 1] and 784 of them, their rounding error is about 1e-5 in a squared
    distance, 1e-4 nats in a log-likelihood at the widths that matter (sigma > 0.1).
    """
    s = samples.reshape(len(samples), -1).float()
    q = x.reshape(len(x), -1).float().to(s.device)
    if s.shape[1] != q.shape[1]:
        raise ValueError(f"x: rows have {q.shape[1]} values but the samples {s.shape[1]}")
    s_sq = s.double().pow(2).sum(1)
    out = torch.empty(len(q), len(s), dtype=torch.float64, device=s.device)
    for rows, qb in zip(torch.split(out, batch_size), torch.split(q, batch_size)):
        # written into the output in place (no temporary per term), summed (|q|^2 - 2 q.s) + |s|^2
        rows.copy_(qb @ s.T).mul_(-2).add_(qb.double().pow(2).sum(1, keepdim=True)).add_(s_sq).clamp_min_(0)
    return out


def _parzen_from_distances(sq_dist: torch.Tensor, dim: int, sigmas: list[float]) -> list[torch.Tensor]:
    """log p(x) [N] under the windows of each width in ``sigmas``, from squared distances [N, M].

    A logsumexp whose largest term is taken out once for all widths: each row is shifted by
    its smallest distance, so every remaining exponential lies in (0, 1] and float32 is enough
    for them and their sum (relative error ~1e-7, ~1e-6 nats: a hundredth of the error of the
    float32 products in :func:`_parzen_sq_distances`). Exponents are clamped at -87, just above
    float32's smallest normal number: such a window is e^-87 times less likely than the nearest
    one and adds nothing to a sum of at most M terms, while denormal exponentials are seven
    times slower on a CPU. A float64 logsumexp per width made a Parzen estimate (10,000 test
    digits, 10,000 windows, 20 widths) take 15-20 s on 2 cores; this takes 4 s.
    """
    m = sq_dist.shape[1]
    nearest = sq_dist.min(1, keepdim=True).values
    shifted = (sq_dist - nearest).float()
    nearest = nearest.squeeze(1)
    terms = torch.empty_like(shifted)  # reused for every width
    out = []
    for sigma in sigmas:
        scale = 1 / (2 * sigma ** 2)
        torch.mul(shifted, -scale, out=terms).clamp_min_(-87.0).exp_()
        log_sum = terms.sum(1).double().log()
        const = -math.log(m) - 0.5 * dim * math.log(2 * math.pi * sigma ** 2)
        out.append(log_sum - nearest * scale + const)
    return out


def _check_sigma(sigma) -> float:
    if not (isinstance(sigma, (int, float)) and not isinstance(sigma, bool) and sigma > 0):
        raise ValueError(f"sigma: the window width must be a positive number, got {sigma!r}")
    return float(sigma)


@torch.no_grad()
def parzen_log_likelihood(samples: torch.Tensor, x: torch.Tensor, sigma: float, batch_size: int = 500) -> torch.Tensor:
    """Log-likelihood [N] of each row of ``x`` under a Parzen window (a mixture of isotropic
    Gaussians of width ``sigma``, one at each of the ``samples`` [M, D]), in nats:

        log p(x) = logsumexp_m( -||x - s_m||^2 / (2 sigma^2) ) - log M - D/2 log(2 pi sigma^2)

    Computed from ``||x||^2 - 2 x.s + ||s||^2``, ``batch_size`` rows of ``x`` at a time.
    """
    sigma = _check_sigma(sigma)
    d = samples.reshape(len(samples), -1).shape[1]
    out = [_parzen_from_distances(_parzen_sq_distances(samples, xb, batch_size), d, [sigma])[0]
           for xb in torch.split(x, batch_size)]
    return torch.cat(out).cpu()


@torch.no_grad()
def parzen_select_sigma(samples: torch.Tensor, x_valid: torch.Tensor, sigmas=None) -> tuple[float, dict[float, float]]:
    """The window width with the highest mean log-likelihood of ``x_valid`` (a validation split,
    never the test set), and the mean log-likelihood of every width tried.

    Default widths: 20 values spaced logarithmically from 0.05 to 1 (for pixels in [0, 1]).
    """
    sigmas = [_check_sigma(float(v)) for v in (np.logspace(np.log10(0.05), 0, 20) if sigmas is None else sigmas)]
    if not sigmas:
        raise ValueError("sigmas: give at least one window width")
    d = samples.reshape(len(samples), -1).shape[1]
    sq_dist = _parzen_sq_distances(samples, x_valid, 500)  # once, for every width
    scores = {sg: float(ll.mean()) for sg, ll in zip(sigmas, _parzen_from_distances(sq_dist, d, sigmas))}
    return max(scores, key=scores.get), scores


def parzen_estimate(samples: torch.Tensor, x_valid: torch.Tensor, x_test: torch.Tensor, sigmas=None) -> dict[str, float]:
    """The Parzen-window estimate of a generative model's test log-likelihood, as Makhzani et al.
    (2015, table 1) report it: the width chosen on ``x_valid``, then the mean log-likelihood of
    ``x_test`` (nats per image) and its standard error over the test images."""
    sigma, _ = parzen_select_sigma(samples, x_valid, sigmas)
    ll = parzen_log_likelihood(samples, x_test, sigma)
    return {"parzen_sigma": sigma, "parzen_log_likelihood": float(ll.mean()),
            "parzen_standard_error": float(ll.std() / math.sqrt(len(ll)))}

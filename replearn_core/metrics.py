"""Measurements shared by the chapters: reconstruction, latent structure, sample quality.

All functions take tensors (any device) and return Python floats.
"""
from __future__ import annotations

import warnings

import numpy as np
import torch
import torch.nn.functional as F


def bce_per_image(recon_probs: torch.Tensor, x: torch.Tensor) -> float:
    """Mean over images of the summed binary cross-entropy (nats per image)."""
    r = recon_probs.reshape(len(x), -1).clamp(1e-7, 1 - 1e-7)
    return float(F.binary_cross_entropy(r, x.reshape(len(x), -1), reduction="sum") / len(x))


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
    with warnings.catch_warnings():  # a nearly singular covariance (dead feature units) is expected
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
        classifier.eval()
        fa = torch.cat([classifier.features(images[i:i + 2000]) for i in range(0, len(images), 2000)])
        fb = torch.cat([classifier.features(real_images[i:i + 2000]) for i in range(0, len(real_images), 2000)])
        out["frechet_distance"] = frechet_distance(fa, fb)
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

import numpy as np
import pytest
import torch

from replearn_core import metrics


def test_cluster_accuracy_is_permutation_invariant():
    labels = np.array([0, 0, 1, 1, 2, 2])
    assert metrics.cluster_accuracy(labels, np.array([2, 2, 0, 0, 1, 1])) == 1.0
    assert metrics.cluster_accuracy(labels, np.array([0, 1, 0, 1, 0, 1])) == pytest.approx(2 / 6)


def test_inception_score_limits():
    confident_uniform = torch.eye(10).repeat(10, 1)
    assert metrics.inception_score(confident_uniform) == pytest.approx(10.0, rel=1e-6)
    one_class = torch.zeros(50, 10)
    one_class[:, 3] = 1
    assert metrics.inception_score(one_class) == pytest.approx(1.0, rel=1e-6)
    assert metrics.inception_score(torch.full((20, 10), 0.1)) == pytest.approx(1.0, rel=1e-6)


def test_frechet_distance_zero_for_same_and_mean_shift():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(2000, 3, generator=g)
    assert metrics.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert metrics.frechet_distance(a, a + 2.0) == pytest.approx(12.0, rel=1e-3)


def test_mmd_small_for_same_distribution_large_for_shift():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(500, 2, generator=g), torch.randn(500, 2, generator=g)
    assert abs(metrics.mmd_rbf(a, b)) < 0.02
    assert metrics.mmd_rbf(a, b + 3.0) > 0.5


def test_binarisation_entropy_and_bce():
    assert metrics.binarisation_entropy(torch.tensor([[0.0, 1.0]])) < 1e-4
    assert metrics.binarisation_entropy(torch.full((1, 4), 0.5)) == pytest.approx(1.0)
    x = torch.tensor([[0.0, 1.0]])
    assert metrics.bce_per_image(torch.tensor([[0.5, 0.5]]), x) == pytest.approx(2 * np.log(2), rel=1e-5)
    assert metrics.mse_per_pixel(torch.tensor([[0.5, 0.5]]), x) == pytest.approx(0.25)


def test_linear_probe_and_kmeans_on_separable_codes():
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(10).repeat_interleave(30)
    centers = torch.randn(10, 5, generator=g) * 10
    codes = centers[labels] + torch.randn(300, 5, generator=g) * 0.1
    assert metrics.kmeans_cluster_accuracy(codes, labels) > 0.95
    assert metrics.linear_probe_accuracy(codes, labels, codes, labels) > 0.95


def _parzen_reference(samples, x, sigma):
    # the formula in float64 with SciPy's logsumexp, one row at a time
    from scipy.special import logsumexp

    s, q = samples.double().numpy(), x.double().numpy()
    sq = ((q[:, None, :] - s[None, :, :]) ** 2).sum(-1)
    m, d = s.shape
    return logsumexp(-sq / (2 * sigma**2), axis=1) - np.log(m) - d / 2 * np.log(2 * np.pi * sigma**2)


@pytest.mark.parametrize("sigma", [0.05, 0.2, 1.0])
def test_parzen_log_likelihood_matches_the_formula(sigma):
    # binary-ish "digits": at sigma 0.05 all but the nearest window lie far below float32's
    # smallest normal exponential, the case the float32 shortcut must get right
    g = torch.Generator().manual_seed(1)
    samples = (torch.rand(300, 64, generator=g) > 0.7).float() * torch.rand(300, 64, generator=g)
    x = torch.cat([samples[:5], (torch.rand(40, 64, generator=g) > 0.7).float()])
    got = metrics.parzen_log_likelihood(samples, x, sigma, batch_size=16).numpy()
    np.testing.assert_allclose(got, _parzen_reference(samples, x, sigma), rtol=0, atol=1e-3)


def test_parzen_select_sigma_scores_every_width_as_the_formula():
    g = torch.Generator().manual_seed(2)
    samples = torch.rand(200, 32, generator=g)
    x_valid = torch.rand(30, 32, generator=g)
    sigmas = [0.05, 0.1, 0.2, 0.4, 0.8]
    best, scores = metrics.parzen_select_sigma(samples, x_valid, sigmas)
    expected = {s: float(_parzen_reference(samples, x_valid, s).mean()) for s in sigmas}
    assert list(scores) == sigmas
    for s in sigmas:
        assert scores[s] == pytest.approx(expected[s], abs=1e-3)
    assert best == max(expected, key=expected.get)
    with pytest.raises(ValueError, match="sigma"):
        metrics.parzen_select_sigma(samples, x_valid, [0.1, -1.0])

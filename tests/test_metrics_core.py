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

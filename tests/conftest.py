"""Shared test fixtures: tests never touch the real checkpoint cache or results folder."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("REPLEARN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("REPLEARN_RESULTS", str(tmp_path / "results"))
    monkeypatch.delenv("REPLEARN_DEVICE", raising=False)
    torch.manual_seed(0)
    yield


class StubClassifier:
    """Stands in for the cached MNIST classifier: a fixed random linear map (probabilities and features)."""

    def __init__(self):
        g = torch.Generator().manual_seed(0)
        self.w = torch.randn(784, 10, generator=g)
        self.f = torch.randn(784, 16, generator=g)

    def predict_proba(self, x):
        return torch.softmax(x.reshape(len(x), -1) @ self.w, dim=1)

    def features(self, x):
        return torch.relu(x.reshape(len(x), -1) @ self.f)

    def features_of(self, x):
        return self.features(x)

    def eval(self):
        return self


@pytest.fixture
def stub_classifier():
    return StubClassifier()

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

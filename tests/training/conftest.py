"""Shared fixtures for the training tests."""

import pytest
import torch


def _blobs(n=300, seed=0, classes=3):
    g = torch.Generator().manual_seed(seed)
    centers = torch.tensor([[0.0, 3.0], [3.0, -2.0], [-3.0, -2.0], [3.0, 3.0]])[:classes]
    y = torch.randint(0, classes, (n,), generator=g)
    x = centers[y] + 0.6 * torch.randn(n, 2, generator=g)
    return x, y


def _mlp(out=3, hidden=16, seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(2, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, out))


@pytest.fixture
def blobs():
    """``blobs(n, seed, classes)``: well-separated Gaussian blobs, x float32 (n, 2), labels (n,)."""
    return _blobs


@pytest.fixture
def mlp():
    """``mlp(out, hidden, seed)``: a 2-input tanh MLP as nn.Sequential."""
    return _mlp

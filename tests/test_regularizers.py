"""Regularizers: penalties against formulas and gradients, maxnorm against the projection rule."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from neuralab import registry, regularizers
from neuralab.errors import ConfigError


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 3, 3), nn.Flatten(), nn.Linear(12, 2))


def test_l1_l2_penalties_skip_biases():
    net = _net()
    ws = [net[0].weight.detach(), net[2].weight.detach()]
    assert float(regularizers.l1(0.3).penalty(net).detach()) == pytest.approx(0.3 * sum(float(w.abs().sum()) for w in ws),
                                                                     rel=1e-5)
    assert float(regularizers.l2(0.2).penalty(net).detach()) == pytest.approx(0.2 * sum(float((w ** 2).sum()) for w in ws),
                                                                     rel=1e-5)


def test_l2_gradient_is_weight_decay():
    net = _net()
    regularizers.L2(0.05).penalty(net).backward()
    torch.testing.assert_close(net[2].weight.grad, 2 * 0.05 * net[2].weight.detach())
    assert net[2].bias.grad is None


@settings(max_examples=25, deadline=None)
@given(rows=st.integers(1, 6), cols=st.integers(1, 6), c=st.floats(0.1, 5.0), scale=st.floats(0.01, 10.0))
def test_maxnorm_projects_rows(rows, cols, c, scale):
    layer = nn.Linear(cols, rows)
    with torch.no_grad():
        layer.weight.mul_(scale)
    before = layer.weight.detach().clone()
    regularizers.maxnorm(c).apply(layer)
    norms = before.norm(dim=1, keepdim=True)
    want = before * torch.clamp(c / norms, max=1.0)
    torch.testing.assert_close(layer.weight.detach(), want, rtol=1e-5, atol=1e-6)
    assert float(layer.weight.detach().norm(dim=1).max()) <= c * (1 + 1e-5)


def test_maxnorm_on_conv_filters():
    net = _net()
    with torch.no_grad():
        net[0].weight.mul_(100)
    regularizers.MaxNorm(1.0).apply(net)
    norms = net[0].weight.detach().reshape(3, -1).norm(dim=1)
    torch.testing.assert_close(norms, torch.ones(3))


def test_registry_resolve_and_errors():
    regs = regularizers.resolve(["l1", {"class": "l2", "config": {"coef": 0.1}}, regularizers.maxnorm(2.0)])
    assert [type(r).__name__ for r in regs] == ["L1", "L2", "MaxNorm"] and regs[1].coef == 0.1
    assert isinstance(registry.regularizers.get("max_norm"), regularizers.MaxNorm)
    assert repr(regularizers.l2(0.5)) == "L2(coef=0.5)"
    with pytest.raises(ConfigError, match=r"l2: expected `coef` to be a finite number >= 0, received -1"):
        regularizers.l2(-1)
    with pytest.raises(ConfigError, match=r"maxnorm: expected `max_value` to be a finite number > 0, received 0"):
        regularizers.maxnorm(0)
    with pytest.raises(ConfigError, match=r"l1: expected `coef` to be a finite number >= 0, received '0.1'"):
        regularizers.l1("0.1")
    with pytest.raises(ConfigError, match=r"unknown regularizer 'dropout'; expected one of: l1, l2, maxnorm"):
        regularizers.resolve("dropout")

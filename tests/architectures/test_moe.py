"""Mixture of experts: y = Σ g_i(x) E_i(x) against a hand computation; its errors."""

import pytest
import torch

from neuralab import layers as L
from neuralab.architectures import MixtureOfExperts, mixture_of_experts
from neuralab.errors import ConfigError, DTypeError, ShapeError


def experts(n=3, features=6, out=4):
    return [L.Input(features) >> L.Tanh(5) >> L.Linear(out) for _ in range(n)]


def test_output_is_the_gated_average_of_the_experts():
    torch.manual_seed(0)
    nets = experts()
    moe = mixture_of_experts(nets)
    assert isinstance(moe, MixtureOfExperts) and moe.n_experts == 3
    x = torch.randn(7, 6)
    gate = moe.layer("gate")
    g = torch.softmax(x @ gate.weight.T + gate.bias, dim=1)            # (N, n)
    expected = sum(g[:, i:i + 1] * nets[i](x) for i in range(3))        # the experts' own graphs
    torch.testing.assert_close(moe(x), expected)
    # the experts' layers are shared, not copied: training the mixture trains them
    assert moe.layer(nets[0].layers[1].name) is nets[0].layers[1]
    feats = moe.features(x)
    assert len(feats) == 4
    torch.testing.assert_close(feats[0], g)
    torch.testing.assert_close(moe.head(*feats), moe(x))


def test_custom_gating_and_image_inputs():
    torch.manual_seed(1)
    nets = [L.Input((1, 6, 6)) >> L.Convolution(2, 3) >> L.Reshape() >> L.Linear(3)
            for _ in range(2)]
    gating = L.Input((1, 6, 6)) >> L.Reshape() >> L.Relu(8) >> L.Softmax(2)
    moe = mixture_of_experts(nets, gating)
    x = torch.randn(3, 1, 6, 6)
    g = gating(x)
    torch.testing.assert_close(moe(x), g[:, :1] * nets[0](x) + g[:, 1:] * nets[1](x))
    torch.testing.assert_close(g.sum(dim=1), torch.ones(3))


def test_default_experts_and_backward():
    moe = mixture_of_experts(3, num_classes=5, input_shape=(1, 8, 8), hidden_units=16)
    assert moe.output_shape == (5,)
    x = torch.randn(4, 1, 8, 8)
    moe(x).sum().backward()
    assert all(p.grad is not None for p in moe.parameters())
    assert moe.reset_classifier(2).output_shape == (2,)
    assert moe(x).shape == (4, 2)


@pytest.mark.parametrize("call,error,match", [
    (lambda: mixture_of_experts(experts(1)), ConfigError, r"mixture_of_experts: expected `experts` to be a list of at least 2 networks"),
    (lambda: mixture_of_experts(1), ConfigError, r"needs at least 2 experts, received 1"),
    (lambda: mixture_of_experts([experts(1)[0], L.Input(5) >> L.Linear(4)]), ShapeError,
     r"experts need the same input shape; expert 2 expects \(5,\) but the mixture's input is \(6,\)"),
    (lambda: mixture_of_experts([experts(1)[0], L.Input(6) >> L.Linear(3)]), ShapeError,
     r"experts need the same output shape; expert 2 gives \(3,\), expert 1 gives \(4,\)"),
    (lambda: mixture_of_experts(experts(2), L.Softmax(3)), ShapeError,
     r"the gating network must output \(2,\) weights for 2 experts, received \(3,\)"),
    (lambda: mixture_of_experts(experts(2), L.Input(5) >> L.Softmax(2)), ShapeError,
     r"the gating network expects input \(5,\) but the experts take \(6,\)"),
    (lambda: mixture_of_experts([L.Linear(3), L.Linear(3)]), ShapeError, r"cannot tell the input shape"),
    (lambda: mixture_of_experts(experts(2), num_classes=3), ShapeError, r"num_classes=3 but the experts output \(4,\)"),
    (lambda: mixture_of_experts(["relu", "tanh"]), DTypeError, r"expert 1: expected a neuralab layer or network, received str"),
    (lambda: mixture_of_experts([L.Input(3), L.Input(3)]), ConfigError, r"expert 1 is a bare Input layer"),
])
def test_bad_experts(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_graph_must_end_with_gated_average():
    net = L.Input(3) >> L.Linear(2)
    with pytest.raises(ConfigError, match="must end with one GatedAverage layer"):
        MixtureOfExperts(net.input_layers, net.output_layers, net._preds)

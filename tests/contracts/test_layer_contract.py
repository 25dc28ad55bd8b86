"""One battery over every registered layer: build, forward, backward, config round trip.

A layer registered in ``neuralab.registry.layers`` without a sample below fails
``test_every_layer_has_a_sample``, so new layers cannot skip the battery.
"""

import json

import pytest
import torch

from neuralab import layers as L
from neuralab import registry
from neuralab.layers.base import Layer

# name -> (constructor, per-sample input shape(s), input kind)
SAMPLES = {
    "Input": (lambda: L.Input((3, 5)), (3, 5), "float"),
    "Identity": (lambda: L.Identity(), (4,), "float"),
    "Reshape": (lambda: L.Reshape((2, -1)), (3, 4), "float"),
    "Transpose": (lambda: L.Transpose((1, 0)), (3, 4), "float"),
    "Embedding": (lambda: L.Embedding(10, 4), (6,), "index"),
    "Linear": (lambda: L.Linear(3), (5,), "float"),
    "Sigmoid": (lambda: L.Sigmoid(3), (5,), "float"),
    "HardSigmoid": (lambda: L.HardSigmoid(3), (5,), "float"),
    "Tanh": (lambda: L.Tanh(3), (5,), "float"),
    "Relu": (lambda: L.Relu(3), (5,), "float"),
    "LeakyRelu": (lambda: L.LeakyRelu(3, alpha=0.2), (5,), "float"),
    "Elu": (lambda: L.Elu(3, alpha=0.5), (5,), "float"),
    "PRelu": (lambda: L.PRelu(alpha=0.1), (3, 4, 4), "float"),
    "Softplus": (lambda: L.Softplus(3), (5,), "float"),
    "Softmax": (lambda: L.Softmax(3), (5,), "float"),
    "Convolution": (lambda: L.Convolution(4, 3, stride=2, padding="same"), (2, 7, 7), "float"),
    "Deconvolution": (lambda: L.Deconvolution(3, 3, stride=2, padding="same"), (2, 4, 4), "float"),
    "MaxPooling": (lambda: L.MaxPooling(3, 2, padding="same"), (2, 7, 7), "float"),
    "AveragePooling": (lambda: L.AveragePooling(2), (2, 6, 6), "float"),
    "AdaptiveAveragePooling": (lambda: L.AdaptiveAveragePooling((3, 2)), (2, 7, 5), "float"),
    "Upscale": (lambda: L.Upscale((2, 3)), (2, 3, 3), "float"),
    "GlobalPooling": (lambda: L.GlobalPooling("max"), (3, 4, 4), "float"),
    "BatchNorm": (lambda: L.BatchNorm(), (3, 4, 4), "float"),
    "GroupNorm": (lambda: L.GroupNorm(2), (4, 3, 3), "float"),
    "LocalResponseNorm": (lambda: L.LocalResponseNorm(3), (5, 4, 4), "float"),
    "Dropout": (lambda: L.Dropout(0.3), (6,), "float"),
    "GaussianNoise": (lambda: L.GaussianNoise(0.0, 0.1), (6,), "float"),
    "DropBlock": (lambda: L.DropBlock(0.2, 3), (2, 8, 8), "float"),
    "Elementwise": (lambda: L.Elementwise("multiply"), [(3,), (3,)], "float"),
    "Concatenate": (lambda: L.Concatenate(), [(2, 4), (3, 4)], "float"),
    "GatedAverage": (lambda: L.GatedAverage(), [(2,), (3,), (3,)], "float"),
    "SimpleRNN": (lambda: L.SimpleRNN(4, activation="relu"), (5, 3), "float"),
    "LSTM": (lambda: L.LSTM(4, return_sequences=True), (5, 3), "float"),
    "GRU": (lambda: L.GRU(4, bidirectional=True), (5, 3), "float"),
}


def layer_names():
    return [n for n, cls in registry.layers.items()
            if isinstance(cls, type) and issubclass(cls, Layer)]


def make_inputs(shapes, kind, batch=3):
    gen = torch.Generator().manual_seed(0)
    if isinstance(shapes, list):
        return [torch.randn((batch,) + s, generator=gen) for s in shapes]
    if kind == "index":
        return [torch.randint(0, 10, (batch,) + shapes, generator=gen)]
    return [torch.randn((batch,) + shapes, generator=gen, requires_grad=True)]


def test_every_layer_has_a_sample():
    missing = sorted(set(layer_names()) - set(SAMPLES))
    assert not missing, f"registered layers without a contract sample: {missing}"


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_layer_contract(name):
    make, shapes, kind = SAMPLES[name]
    layer = make()
    assert registry.layers.lookup(name) is type(layer)
    inputs = make_inputs(shapes, kind)
    if isinstance(shapes, list):
        for x in inputs:
            x.requires_grad_(True)
    # build from the shape alone, then run: predicted shape equals the real one
    layer.build(shapes if isinstance(shapes, list) else tuple(shapes))
    layer.train()
    torch.manual_seed(0)
    out = layer(*inputs)
    assert tuple(out.shape[1:]) == tuple(layer.output_shape)
    assert torch.isfinite(out).all()
    # backward reaches every parameter and every float input
    out.float().pow(2).sum().backward()
    for pname, p in layer.named_parameters():
        assert p.grad is not None, f"{name}.{pname} got no gradient"
    for x in inputs:
        if x.is_floating_point() and name not in ("Input",):
            assert x.grad is not None
    # config round trip through JSON rebuilds the same layer
    config = json.loads(json.dumps(layer.get_config()))
    copy = registry.layers.get({"class": name, "config": config})
    assert type(copy) is type(layer)
    assert copy.get_config() == layer.get_config()
    copy.build(layer.input_shape)
    copy.load_state_dict(layer.state_dict())
    layer.eval()
    copy.eval()
    with torch.no_grad():
        inputs = [x.detach() for x in inputs]
        torch.testing.assert_close(copy(*inputs), layer(*inputs))


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_lazy_build_on_first_call(name):
    make, shapes, kind = SAMPLES[name]
    layer = make()
    inputs = [x.detach() for x in make_inputs(shapes, kind)]
    layer.eval()
    out = layer(*inputs)
    assert layer.built
    assert tuple(out.shape[1:]) == tuple(layer.output_shape)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_double_precision(name):
    make, shapes, kind = SAMPLES[name]
    if kind == "index":
        pytest.skip("integer input")
    layer = make()
    layer.build(shapes if isinstance(shapes, list) else tuple(shapes)).double().eval()
    inputs = [x.detach().double() for x in make_inputs(shapes, kind)]
    assert layer(*inputs).dtype == torch.float64


@pytest.mark.slow
def test_torch_compile_many_layer_kinds():
    """One compiled network covering many layer kinds matches eager execution."""
    torch.manual_seed(0)
    x = L.Input((2, 12, 12))
    branch = (L.Convolution(4, 1) | (L.Convolution(4, 3, padding="same") >> L.BatchNorm()))
    net = (x >> L.Convolution(6, 3, padding="same") >> L.PRelu() >> L.GroupNorm(2)
           >> (L.Identity() | L.Convolution(6, 3, padding=1)) >> L.Elementwise("add")
           >> L.LocalResponseNorm(3) >> L.MaxPooling(2) >> branch >> L.Concatenate()
           >> L.Deconvolution(4, 2, stride=2) >> L.AveragePooling(2) >> L.Upscale(2)
           >> L.DropBlock(0.1, 3) >> L.GlobalPooling() >> L.Dropout(0.2)
           >> L.Elu(16) >> L.LeakyRelu(8) >> L.Softmax(3))
    net.eval()
    data = torch.randn(4, 2, 12, 12)
    compiled = torch.compile(net, backend="inductor")
    with torch.no_grad():
        torch.testing.assert_close(compiled(data), net(data), rtol=1e-4, atol=1e-5)

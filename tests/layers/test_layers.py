"""Layer values against PyTorch's own modules and hand-computed formulas; construction errors."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from neuralab import init
from neuralab import layers as L
from neuralab.errors import ConfigError, DTypeError, ShapeError


@pytest.mark.parametrize("layer,ref", [
    (L.Sigmoid(), torch.sigmoid),
    (L.Tanh(), torch.tanh),
    (L.Relu(), F.relu),
    (L.LeakyRelu(alpha=0.2), lambda x: torch.where(x > 0, x, 0.2 * x)),
    (L.Elu(alpha=0.7), lambda x: torch.where(x > 0, x, 0.7 * (torch.exp(x) - 1))),
    (L.Softplus(), lambda x: torch.log1p(torch.exp(x))),
    (L.HardSigmoid(), lambda x: torch.clamp(x / 6 + 0.5, 0, 1)),
    (L.Softmax(), lambda x: torch.exp(x) / torch.exp(x).sum(-1, keepdim=True)),
    (L.Linear(), lambda x: x),
])
def test_bare_activations_match_formulas(layer, ref):
    x = torch.linspace(-4, 4, 33).reshape(3, 11)
    torch.testing.assert_close(layer(x), ref(x))


def test_prelu_slope_per_channel_and_gradient():
    layer = L.PRelu(alpha=0.3)
    x = torch.randn(2, 4, 3, 3)
    y = layer(x)
    assert layer.slope.shape == (4,)
    torch.testing.assert_close(y, torch.where(x > 0, x, 0.3 * x))


def test_dense_activation_is_linear_then_activation():
    torch.manual_seed(0)
    layer = L.Tanh(3)
    x = torch.randn(5, 4)
    torch.testing.assert_close(layer(x), torch.tanh(x @ layer.weight.T + layer.bias))
    assert L.Tanh(3, bias=None).build((4,)).bias is None


def test_deconvolution_matches_conv_transpose():
    torch.manual_seed(0)
    layer = L.Deconvolution(3, 4, stride=2)
    x = torch.randn(2, 5, 6, 6)
    ref = nn.ConvTranspose2d(5, 3, 4, stride=2)
    y = layer(x)
    with torch.no_grad():
        ref.weight.copy_(layer.weight)
        ref.bias.copy_(layer.bias)
    torch.testing.assert_close(y, ref(x))


def test_deconvolution_is_the_adjoint_of_convolution():
    # <conv(x), y> == <x, deconv(y)> with shared weights and no bias
    torch.manual_seed(1)
    conv = L.Convolution(3, 3, stride=2, bias=None).build((2, 9, 9))
    deconv = L.Deconvolution(2, 3, stride=2, bias=None).build((3, 4, 4))
    with torch.no_grad():
        deconv.weight.copy_(conv.weight)
    x, y = torch.randn(1, 2, 9, 9), torch.randn(1, 3, 4, 4)
    torch.testing.assert_close((conv(x) * y).sum(), (x * deconv(y)).sum())


def test_batchnorm_matches_torch():
    torch.manual_seed(0)
    layer, ref = L.BatchNorm(momentum=0.2), nn.BatchNorm2d(3, momentum=0.2)
    x = torch.randn(8, 3, 4, 4) * 3 + 1
    torch.testing.assert_close(layer.train()(x), ref.train()(x))
    torch.testing.assert_close(layer.running_mean, ref.running_mean)
    torch.testing.assert_close(layer.eval()(x), ref.eval()(x))


def test_groupnorm_and_lrn_match_torch():
    x = torch.randn(2, 6, 5, 5)
    torch.testing.assert_close(L.GroupNorm(3)(x), nn.GroupNorm(3, 6)(x))
    torch.testing.assert_close(L.LocalResponseNorm(5, 1e-4, 0.75, 2.0)(x),
                               nn.LocalResponseNorm(5, 1e-4, 0.75, 2.0)(x))


@pytest.mark.parametrize("cls,ref_cls", [(L.SimpleRNN, nn.RNN), (L.LSTM, nn.LSTM), (L.GRU, nn.GRU)])
def test_recurrent_layers_match_torch(cls, ref_cls):
    torch.manual_seed(0)
    layer = cls(5, return_sequences=True)
    x = torch.randn(3, 7, 4)
    y = layer(x)
    ref = ref_cls(4, 5, batch_first=True)
    ref.load_state_dict(layer.cell.state_dict())
    torch.testing.assert_close(y, ref(x)[0])
    last = cls(5)
    last.build((7, 4))
    last.cell.load_state_dict(layer.cell.state_dict())
    torch.testing.assert_close(last(x), y[:, -1])


def test_pooling_values():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    torch.testing.assert_close(L.AveragePooling(2)(x), F.avg_pool2d(x, 2))
    # "same" average pooling ignores padding: corner window of a 3x3 over ones is 1
    ones = torch.ones(1, 1, 5, 5)
    torch.testing.assert_close(L.AveragePooling(3, 1, padding="same")(ones), ones)
    torch.testing.assert_close(L.MaxPooling(3, 1, padding="same")(-ones), -ones)
    torch.testing.assert_close(L.Upscale(2)(x), F.interpolate(x, scale_factor=2, mode="nearest"))
    torch.testing.assert_close(L.GlobalPooling()(x), x.mean(dim=(2, 3)))
    # padded max pooling: symmetric (torch pads itself) and asymmetric ("same", explicit -inf)
    z = torch.randn(2, 3, 9, 8)
    torch.testing.assert_close(L.MaxPooling(3, 2, padding=1)(z), F.max_pool2d(z, 3, 2, 1))
    ref = F.max_pool2d(F.pad(z, (0, 1, 0, 1), value=float("-inf")), 2, 2)
    torch.testing.assert_close(L.MaxPooling(2, padding="same")(z), ref)


def test_merge_values():
    a, b = torch.randn(2, 3), torch.randn(2, 3)
    torch.testing.assert_close(L.Elementwise("multiply")(a, b), a * b)
    torch.testing.assert_close(L.Elementwise("max")(a, b), torch.maximum(a, b))
    torch.testing.assert_close(L.Elementwise("average")(a, b), (a + b) / 2)
    torch.testing.assert_close(L.Concatenate(-1)(a, b), torch.cat([a, b], -1))
    g = torch.softmax(torch.randn(2, 2), -1)
    torch.testing.assert_close(L.GatedAverage()(g, a, b), g[:, :1] * a + g[:, 1:] * b)


def test_dropout_scaling_and_eval():
    torch.manual_seed(0)
    layer = L.Dropout(0.25)
    y = layer(torch.ones(200, 500))
    values = torch.unique(y)
    assert len(values) == 2 and values[0] == 0
    assert values[1].item() == pytest.approx(1 / 0.75)
    assert abs((y == 0).float().mean().item() - 0.25) < 0.01
    assert torch.equal(layer.eval()(torch.ones(3, 3)), torch.ones(3, 3))


def _dropblock_expected_rate(p, bs, size):
    """Independent formula: a pixel survives iff none of the in-map centres whose
    bs×bs block covers it fires; centres fire with γ = p/bs² · size²/(size − bs + 1)²."""
    gamma = p / bs**2 * size**2 / (size - bs + 1) ** 2
    left, right = (bs - 1) // 2, bs - 1 - (bs - 1) // 2
    idx = np.arange(size)
    cover = np.minimum(idx + right, size - 1) - np.maximum(idx - left, 0) + 1   # per axis
    counts = cover[:, None] * cover[None, :]
    return 1 - ((1 - gamma) ** counts).mean()


def test_dropblock_drops_blocks_at_rate():
    torch.manual_seed(0)
    layer = L.DropBlock(0.2, 3)
    y = layer(torch.ones(256, 4, 24, 24))
    dropped = (y == 0).float().mean().item()
    target = _dropblock_expected_rate(0.2, 3, 24)
    assert target == pytest.approx(0.2035, abs=0.001)
    assert abs(dropped - target) < 0.01                   # ±1 point (without the edge correction: 18%)
    assert abs(y.mean().item() - 1.0) < 1e-4  # rescaled to keep the mean
    # whole blocks: every dropped pixel has a dropped 3×3 block around it
    zero = (y == 0).float()
    blocks = torch.nn.functional.max_pool2d(1 - torch.nn.functional.max_pool2d(1 - zero, 3, 1, 1), 3, 1, 1)
    assert bool((blocks >= zero).all())


def test_gaussian_noise_statistics():
    torch.manual_seed(0)
    y = L.GaussianNoise(0.5, 2.0)(torch.zeros(100_000))
    assert abs(y.mean().item() - 0.5) < 0.03 and abs(y.std().item() - 2.0) < 0.03
    assert torch.equal(L.GaussianNoise().eval()(torch.ones(3)), torch.ones(3))


def test_embedding_and_shapes():
    layer = L.Embedding(10, 4)
    idx = torch.tensor([[1, 2, 3]])
    torch.testing.assert_close(layer(idx), layer.weight[idx])
    with pytest.raises(DTypeError, match=r"expects integer indices in \[0, 10\), received a "
                                         r"tensor of dtype torch.float32"):
        layer(torch.zeros(1, 3))


# -- initializers -------------------------------------------------------------------------


@pytest.mark.parametrize("initializer,std", [
    (init.HeNormal(), math.sqrt(2 / 200)),
    (init.HeUniform(), math.sqrt(2 / 200)),
    (init.XavierNormal(), math.sqrt(2 / (200 + 300))),
    (init.XavierUniform(), math.sqrt(2 / (200 + 300))),
    (init.Normal(0, 0.05), 0.05),
])
def test_initializer_statistics(initializer, std):
    torch.manual_seed(0)
    w = initializer(torch.empty(300, 200))
    assert abs(w.std().item() - std) / std < 0.03
    assert abs(w.mean().item()) < 0.01


def test_orthogonal_constant_uniform_and_layer_use():
    q = init.Orthogonal()(torch.empty(6, 6))
    torch.testing.assert_close(q @ q.T, torch.eye(6), atol=1e-5, rtol=0)
    assert torch.all(init.Constant(0.5)(torch.empty(3)) == 0.5)
    u = init.Uniform(-1, 2)(torch.empty(10_000))
    assert u.min() >= -1 and u.max() <= 2
    conv = L.Convolution(4, 3, weight=init.Constant(0.1), bias=init.Constant(1.0)).build((2, 5, 5))
    assert torch.all(conv.weight == 0.1) and torch.all(conv.bias == 1.0)
    dense = L.Relu(3, weight="orthogonal").build((3,))
    torch.testing.assert_close(dense.weight @ dense.weight.T, torch.eye(3), atol=1e-5, rtol=0)


# -- construction errors: each message names the layer/argument, the value and the choices ----


@pytest.mark.parametrize("make,error,pattern", [
    (lambda: L.Convolution(4, 0), ConfigError,
     r"Convolution: `kernel_size` must be a positive integer or a tuple of positive integers, "
     r"received 0"),
    (lambda: L.Convolution(0, 3), ConfigError, r"Convolution: expected `filters` to be an integer >= 1, received 0"),
    (lambda: L.Convolution(4, 3, padding="sane"), ConfigError,
     r"unknown padding mode 'sane'; expected one of: 'valid', 'same', 'full'"),
    (lambda: L.MaxPooling(2, padding=-1), ConfigError, r"invalid padding -1"),
    (lambda: L.Dropout(1.5), ConfigError, r"Dropout: `p` must be a probability in \[0, 1\), "
                                          r"received 1.5"),
    (lambda: L.DropBlock(-0.1), ConfigError, r"probability in \[0, 1\)"),
    (lambda: L.get_activation("swishy"), ConfigError,
     r"get_activation: expected an activation name, one of elu, hard_sigmoid, .*tanh, or an Activation layer; received 'swishy'"),
    (lambda: L.SimpleRNN(4, activation="sigmoid"), ConfigError, r"expected one of: 'tanh', 'relu'"),
    (lambda: L.Elementwise("concat"), ConfigError, r"unknown merge 'concat'; expected one of: 'add'"),
    (lambda: L.GlobalPooling("sum"), ConfigError, r"expected one of: 'avg', 'max'"),
    (lambda: L.Relu(-3), ConfigError, r"Relu: expected `n_units` to be an integer >= 1 or None, received -3"),
    (lambda: L.Input((0, 3)), ConfigError, r"Input: `shape` must be a .*received \(0, 3\)"),
    (lambda: L.Reshape((2, -1, -1)), ConfigError, r"at most one -1"),
    (lambda: L.BatchNorm(momentum=2), ConfigError, r"`momentum` must be a finite number in \[0, 1\]"),
    (lambda: L.Uniform if False else init.Uniform(1, 0), ConfigError, r"`maxval` must be greater"),
    (lambda: init.get("glorious"), ConfigError, r"unknown initializer 'glorious'; expected one of:"),
    (lambda: L.Transpose((0, 0)), ConfigError, r"permutation"),
    (lambda: L.Concatenate(0), ConfigError, r"axis 0 is the batch"),
])
def test_construction_errors(make, error, pattern):
    with pytest.raises(error, match=pattern):
        make()


def test_shape_errors_when_built():
    with pytest.raises(ShapeError, match=r"channels divisible by n_groups=4, received 6"):
        L.Input((6, 3, 3)) >> L.GroupNorm(4)
    with pytest.raises(ShapeError, match=r"expects an input \(C, L\), \(C, H, W\) or \(C, D, H, W\)"):
        L.Input(5) >> L.Convolution(2, 3)
    with pytest.raises(ShapeError, match=r"cannot reshape \(2, 3\) \(6 values\) to \(4,\)"):
        L.Input((2, 3)) >> L.Reshape(4)
    with pytest.raises(ShapeError, match=r"gate of shape \(2,\) for 2 experts, received \(3,\)"):
        (L.Input(3) | L.Input(4) | L.Input(4)) >> L.GatedAverage()


def test_same_padding_on_an_axis_of_unknown_length_follows_each_batch():
    net = L.Input((2, None)) >> L.Convolution(3, 4, stride=2, padding="same") \
        >> L.MaxPooling(2, padding="same")
    assert net.output_shape == (3, None)
    for length in (9, 16):  # O = ceil(ceil(I / 2) / 2)
        out = net(torch.randn(1, 2, length))
        assert out.shape[-1] == math.ceil(math.ceil(length / 2) / 2)


def test_more_construction_and_shape_messages():
    with pytest.raises(ConfigError, match=r"Relu: expected `name` to be a non-empty string without "
                                          r"'.', received 'a.b'"):
        L.Relu(name="a.b")
    with pytest.raises(ConfigError, match=r"Input: unknown dtype 'int7'; expected one of: .*int64"):
        L.Input(3, dtype="int7")
    with pytest.raises(ShapeError, match=r"\(LSTM\) expects sequences \(T, F\) with a known "
                                         r"feature size, received \(5,\)"):
        L.Input(5) >> L.LSTM(4)
    with pytest.raises(ShapeError, match=r"needs a known number of channels, received "
                                         r"\(None, 8\)"):
        L.Input((None, 8)) >> L.Convolution(2, 3)


@pytest.mark.parametrize("name", ["LeakyRelu", "leaky_relu", "leaky-relu", "HardSigmoid", "PRelu"])
def test_get_activation_accepts_every_spelling_the_registry_does(name):
    from neuralab import registry

    assert type(L.get_activation(name)) is type(registry.layers.get(name.replace("-", "").replace("_", "")))


def test_initializers_draw_with_the_published_variances():
    torch.manual_seed(0)
    w = torch.empty(400, 300)
    from neuralab import init

    for cls, var in [(init.HeNormal, 2 / 300), (init.HeUniform, 2 / 300),
                     (init.XavierNormal, 2 / 700), (init.XavierUniform, 2 / 700)]:
        cls()(w)
        assert float(w.var()) == pytest.approx(var, rel=0.03), cls.__name__
    b = torch.empty(10_000)
    init.HeNormal()(b)                      # 1-D: the length is the fan
    assert float(b.var()) == pytest.approx(2 / 10_000, rel=0.05)

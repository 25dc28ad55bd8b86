"""CS230 arithmetic against hand-computed values and PyTorch's own outputs."""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from neuralab import arithmetic as A
from neuralab import layers as L
from neuralab.errors import ConfigError, ShapeError


def test_cs230_examples():
    # O = (I - F + Ps + Pe)/S + 1
    assert A.output_size(32, 5, 1, "valid") == 28
    assert A.output_size(227, 11, 4, "valid") == 55  # AlexNet conv1
    assert A.output_size(224, 7, 2, 3) == 112  # ResNet conv1
    assert A.output_size(5, 3, 1, "full") == 7


@given(I=st.integers(1, 40), F=st.integers(1, 7), S=st.integers(1, 4))
def test_same_padding_formula(I, F, S):
    ps, pe = A.padding(I, F, S, "same")
    total = S * math.ceil(I / S) - I + F - S
    assert (ps, pe) == (max(total, 0) // 2, max(total, 0) - max(total, 0) // 2)
    assert A.output_size(I, F, S, "same") == math.ceil(I / S)


def test_receptive_field_formula():
    # R_k = 1 + sum_j (F_j - 1) prod_{i<j} S_i
    layers = [(3, 2), (3, 1), (5, 3), (2, 1)]
    expected = 1 + (3 - 1) * 1 + (3 - 1) * 2 + (5 - 1) * 2 + (2 - 1) * 6
    assert A.receptive_field(layers) == expected == 21
    assert A.receptive_field([(3, 1, 2)]) == 5  # dilated 3x3 spans 5


def test_parameter_formulas():
    assert A.conv_parameters(5, 1, 6) == 156
    assert A.conv_parameters(3, 3, 64) == (3 * 3 * 3 + 1) * 64
    assert A.dense_parameters(84, 10) == 850
    assert A.conv_parameters((3, 3), 64, 64, groups=64) == (9 + 1) * 64
    conv = L.Convolution(7, 3)
    conv.build((5, 9, 9))
    assert A.count_parameters(conv) == A.conv_parameters(3, 5, 7)


def test_bad_arguments():
    with pytest.raises(ConfigError, match="unknown padding mode 'sane'.*'valid', 'same', 'full'"):
        A.padding(10, 3, 1, "sane")
    with pytest.raises(ConfigError, match="arithmetic: expected `kernel_size` to be an integer >= 1, received 0"):
        A.output_size(10, 0)
    with pytest.raises(ShapeError, match="does not fit an input of size 3"):
        A.output_size(3, 5)


_conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


@settings(max_examples=60, deadline=None)
@given(
    rank=st.integers(1, 3),
    size=st.integers(4, 11),
    kernel=st.integers(1, 4),
    stride=st.integers(1, 3),
    dilation=st.integers(1, 2),
    mode=st.sampled_from(["valid", "same", "full", 0, 1, 2]),
)
def test_conv_shapes_agree_everywhere(rank, size, kernel, stride, dilation, mode):
    """Graph prediction == real forward == arithmetic.output_size == torch on explicit padding."""
    fe = dilation * (kernel - 1) + 1
    ps, pe = A.padding(size, kernel, stride, mode, dilation)
    if size + ps + pe < fe:
        with pytest.raises(ShapeError):
            L.Input((2,) + (size,) * rank) >> L.Convolution(3, kernel, stride, mode, dilation)
        return
    net = L.Input((2,) + (size,) * rank) >> L.Convolution(3, kernel, stride, mode, dilation)
    expected = A.output_size(size, kernel, stride, mode, dilation)
    assert net.output_shape == (3,) + (expected,) * rank
    x = torch.randn((2, 2) + (size,) * rank)
    y = net(x)
    assert tuple(y.shape[1:]) == net.output_shape
    # independent reference: pad explicitly and call torch's convolution
    conv = net.layers[-1]
    ref = _conv[rank](F.pad(x, (ps, pe) * rank), conv.weight, conv.bias, stride, 0, dilation)
    torch.testing.assert_close(y, ref)


@settings(max_examples=60, deadline=None)
@given(
    rank=st.integers(1, 3),
    size=st.integers(3, 10),
    pool=st.integers(1, 3),
    stride=st.sampled_from([None, 1, 2, 3]),
    mode=st.sampled_from(["valid", "same", 1]),
    kind=st.sampled_from(["max", "avg"]),
)
def test_pool_shapes_agree(rank, size, pool, stride, mode, kind):
    if mode == 1 and pool < 2:
        mode = "valid"
    layer = (L.MaxPooling if kind == "max" else L.AveragePooling)(pool, stride, mode)
    net = L.Input((2,) + (size,) * rank) >> layer
    expected = A.output_size(size, pool, stride or pool, mode)
    assert net.output_shape == (2,) + (expected,) * rank
    x = torch.randn((3, 2) + (size,) * rank)
    assert tuple(net(x).shape[1:]) == net.output_shape


@settings(max_examples=40, deadline=None)
@given(
    size=st.integers(2, 8),
    kernel=st.integers(1, 4),
    stride=st.integers(1, 3),
    mode=st.sampled_from(["valid", "same", "full"]),
)
def test_deconvolution_shapes(size, kernel, stride, mode):
    try:
        expected = A.transposed_output_size(size, kernel, stride, mode)
    except ShapeError:
        with pytest.raises(ShapeError):
            L.Input((2, size, size)) >> L.Deconvolution(3, kernel, stride, mode)
        return
    net = L.Input((2, size, size)) >> L.Deconvolution(3, kernel, stride, mode)
    assert net.output_shape == (3, expected, expected)
    assert tuple(net(torch.randn(2, 2, size, size)).shape[1:]) == net.output_shape
    if mode == "same":
        assert expected == size * stride


def test_same_padding_puts_the_extra_pixel_at_the_end():
    # I=8, F=4, S=1: total padding 3 -> (1, 2); check values against explicit padding
    conv = L.Convolution(1, 4, padding="same", bias=None)
    conv.build((1, 8))
    x = torch.randn(1, 1, 8)
    torch.testing.assert_close(conv(x), F.conv1d(F.pad(x, (1, 2)), conv.weight))

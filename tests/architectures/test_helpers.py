"""The helper layers: ceil-mode max pooling and adaptive average pooling, against PyTorch."""

import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from neuralab.architectures._base import AdaptiveAveragePooling, ceil_max_pooling


@settings(max_examples=40, deadline=None)
@given(h=st.integers(3, 20), w=st.integers(3, 20), size=st.integers(2, 3), stride=st.integers(1, 3))
def test_ceil_max_pooling_equals_torch_ceil_mode(h, w, size, stride):
    x = torch.randn(2, 3, h, w)
    layer = ceil_max_pooling(size, stride, (h, w), "pool")
    layer.build((3, h, w))
    expected = F.max_pool2d(x, size, stride, ceil_mode=True)
    assert layer.output_shape == tuple(expected.shape[1:])
    torch.testing.assert_close(layer(x), expected)


@settings(max_examples=40, deadline=None)
@given(h=st.integers(1, 15), w=st.integers(1, 15), oh=st.integers(1, 7), ow=st.integers(1, 7))
def test_adaptive_average_pooling_matches_the_window_formula(h, w, oh, ow):
    x = torch.randn(1, 2, h, w)
    layer = AdaptiveAveragePooling((oh, ow))
    y = layer(x)
    assert layer.output_shape == (2, oh, ow) and y.shape == (1, 2, oh, ow)
    # cell (i, j) averages rows ⌊i·H/O⌋ … ⌈(i+1)·H/O⌉ - 1 (and the same for columns)
    for i in range(oh):
        r0, r1 = (i * h) // oh, -((-(i + 1) * h) // oh)
        for j in range(ow):
            c0, c1 = (j * w) // ow, -((-(j + 1) * w) // ow)
            torch.testing.assert_close(y[0, :, i, j], x[0, :, r0:r1, c0:c1].mean(dim=(1, 2)))

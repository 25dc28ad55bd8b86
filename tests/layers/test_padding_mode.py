"""Convolution(padding_mode=...): F.pad in that mode, then a valid convolution."""

import json

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from neuralab import arithmetic
from neuralab import layers as L
from neuralab.errors import ConfigError, ShapeError
from neuralab.layers import Convolution

MODES = ["zeros", "reflect", "replicate", "circular"]


@settings(max_examples=40, deadline=None)
@given(mode=st.sampled_from(MODES), size=st.integers(5, 12), k=st.integers(1, 4), s=st.integers(1, 3),
       d=st.integers(1, 2), padding=st.sampled_from(["same", "full", 1, (2, 1)]), rank=st.sampled_from([1, 2]))
def test_equals_fpad_then_convolution(mode, size, k, s, d, padding, rank):
    if rank == 1 and isinstance(padding, tuple):
        padding = (padding[0],)
    conv = Convolution(3, k, stride=s, dilation=d, padding=padding, padding_mode=mode)
    shape = (2,) + (size,) * rank
    x = torch.randn(4, *shape, dtype=torch.float64)
    conv = conv.double()
    try:
        y = conv(x)
    except ShapeError:
        pytest.skip("border larger than the input for this mode")
    pairs = [arithmetic.padding(size, k, s, padding if not isinstance(padding, tuple) else padding[i], d)
             for i in range(rank)]
    flat = [v for a, b in reversed(pairs) for v in (a, b)]
    xp = F.pad(x, flat, mode="constant" if mode == "zeros" else mode)
    ref = (F.conv1d if rank == 1 else F.conv2d)(xp, conv.weight, conv.bias, s, 0, d)
    torch.testing.assert_close(y, ref)
    assert tuple(y.shape[1:]) == conv.output_shape_for(shape)


def test_mirror_padding_by_hand():
    conv = Convolution(1, 3, padding=2, padding_mode="reflect", bias=None, weight=0.0)
    with torch.no_grad():
        conv.build((1, 4))
        conv.weight.zero_()
        conv.weight[0, 0, 0] = 1.0   # picks the first tap: the padded signal itself
    y = conv(torch.tensor([[[1.0, 2.0, 3.0, 4.0]]]))
    assert y.flatten().tolist() == [3.0, 2.0, 1.0, 2.0, 3.0, 4.0]   # 3 2 | 1 2 3 4 | 3 2


def test_summary_shapes_and_config_unchanged_by_the_mode():
    nets = [L.Input((3, 16, 16)) >> L.Convolution(8, 5, stride=2, padding="same", padding_mode=m)
            >> L.Relu() for m in MODES]
    assert {n.output_shape for n in nets} == {(8, 8, 8)}
    assert len({"\n".join(n.summary_lines()).replace("reflect", "").replace("replicate", "")
                .replace("circular", "").replace("zeros", "") for n in nets}) == 1
    conv = Convolution(4, 3, padding="same", padding_mode="circular")
    again = Convolution.from_config(json.loads(json.dumps(conv.get_config())))
    assert again.padding_mode == "circular"
    assert "padding_mode='circular'" in repr(conv) and "padding_mode" not in repr(Convolution(4, 3))


def test_bad_modes_and_borders():
    with pytest.raises(ConfigError, match=r"Convolution: expected `padding_mode` to be one of 'zeros', "
                                          r"'reflect', 'replicate', 'circular', received 'mirror'"):
        Convolution(4, 3, padding_mode="mirror")
    with pytest.raises(ShapeError, match=r"padding_mode='reflect' can pad at most 2 on an axis of size 3, "
                                         r"received padding \(4, 4\)"):
        L.Input((1, 3, 3)) >> Convolution(2, 9, padding="same", padding_mode="reflect")

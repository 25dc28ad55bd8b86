"""CS230's style-transfer costs against hand computations in NumPy, plus Gram properties."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from neuralab.errors import ConfigError, DTypeError, ShapeError
from neuralab.vision.style import (content_cost, gram_matrix, layer_style_cost, style_cost,
                                   total_cost)


def rand(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape)


def np_gram(a):
    """G_kk' = Σ_i Σ_j a_ijk a_ijk' with explicit loops over positions (a is (C, H, W))."""
    c, h, w = a.shape
    g = np.zeros((c, c))
    for i in range(h):
        for j in range(w):
            g += np.outer(a[:, i, j], a[:, i, j])
    return g


def np_layer_style(a_s, a_g):
    c, h, w = a_s.shape
    return ((np_gram(a_s) - np_gram(a_g)) ** 2).sum() / (2 * h * w * c) ** 2


def test_gram_equals_loops_and_batches():
    a = rand(3, 4, 5)
    np.testing.assert_allclose(gram_matrix(torch.from_numpy(a)).numpy(), np_gram(a), rtol=1e-12)
    batch = np.stack([rand(3, 4, 5, seed=s) for s in range(2)])
    out = gram_matrix(batch)  # NumPy accepted
    assert out.shape == (2, 3, 3)
    for n in range(2):
        np.testing.assert_allclose(out[n].numpy(), np_gram(batch[n]), rtol=1e-12)


@settings(max_examples=15, deadline=None)
@given(c=st.integers(1, 5), h=st.integers(1, 6), w=st.integers(1, 6),
       s=st.floats(-4, 4).filter(lambda v: abs(v) > 1e-3), seed=st.integers(0, 1000))
def test_gram_properties(c, h, w, s, seed):
    a = torch.from_numpy(rand(c, h, w, seed=seed))
    g = gram_matrix(a)
    torch.testing.assert_close(g, g.T)                                        # symmetric
    assert torch.linalg.eigvalsh(g).min() >= -1e-9 * max(1.0, float(g.abs().max()))  # PSD
    perm = torch.randperm(h * w, generator=torch.Generator().manual_seed(seed))
    shuffled = a.reshape(c, -1)[:, perm].reshape(c, h, w)
    torch.testing.assert_close(gram_matrix(shuffled), g)                      # position-free
    torch.testing.assert_close(gram_matrix(s * a), s * s * g)                 # scales by s²


def test_content_cost_is_half_squared_distance():
    a, b = rand(4, 3, 3), rand(4, 3, 3, seed=1)
    expected = 0.5 * sum((x - y) ** 2 for x, y in zip(a.ravel(), b.ravel()))
    assert float(content_cost(torch.from_numpy(a), torch.from_numpy(b))) == pytest.approx(expected)
    assert float(content_cost(torch.from_numpy(a), torch.from_numpy(a))) == 0.0  # J(C, C) = 0


def test_layer_style_cost_equals_hand_formula():
    a_s, a_g = rand(3, 4, 2), rand(3, 4, 2, seed=7)
    got = float(layer_style_cost(torch.from_numpy(a_s), torch.from_numpy(a_g)))
    assert got == pytest.approx(np_layer_style(a_s, a_g), rel=1e-12)
    assert float(layer_style_cost(torch.from_numpy(a_s), torch.from_numpy(a_s))) == 0.0
    # a batch sums its samples
    both = float(layer_style_cost(torch.from_numpy(np.stack([a_s, a_g])),
                                  torch.from_numpy(np.stack([a_g, a_g]))))
    assert both == pytest.approx(np_layer_style(a_s, a_g))


def test_layer_style_cost_of_different_sizes_normalises_each_gram():
    a_s, a_g = rand(2, 4, 4), rand(2, 2, 3, seed=3)
    expected = ((np_gram(a_s) / (2 * 16 * 2) - np_gram(a_g) / (2 * 6 * 2)) ** 2).sum()
    got = float(layer_style_cost(torch.from_numpy(a_s), torch.from_numpy(a_g)))
    assert got == pytest.approx(expected, rel=1e-12)


def test_style_cost_weights_layers():
    s = {"l1": rand(2, 3, 3), "l2": rand(4, 2, 2, seed=1)}
    g = {"l1": rand(2, 3, 3, seed=2), "l2": rand(4, 2, 2, seed=3)}
    j1, j2 = np_layer_style(s["l1"], g["l1"]), np_layer_style(s["l2"], g["l2"])
    ts = {k: torch.from_numpy(v) for k, v in s.items()}
    tg = {k: torch.from_numpy(v) for k, v in g.items()}
    assert float(style_cost(ts, tg)) == pytest.approx((j1 + j2) / 2)          # default 1/L
    assert float(style_cost(ts, tg, weights={"l1": 0.3, "l2": 2.0})) == pytest.approx(
        0.3 * j1 + 2.0 * j2)
    assert float(style_cost(list(ts.values()), list(tg.values()), [1.0, 0.0])) == pytest.approx(j1)
    assert float(style_cost(ts["l1"], tg["l1"])) == pytest.approx(j1)          # one layer


def test_total_cost():
    assert float(total_cost(torch.tensor(2.0), torch.tensor(3.0))) == 10 * 2 + 40 * 3
    assert float(total_cost(2.0, 3.0, alpha=0.5, beta=0.0)) == 1.0


def test_bad_inputs():
    with pytest.raises(ConfigError, match=r"total_cost: expected `alpha` to be a finite number "
                                          r">= 0, received -1"):
        total_cost(1.0, 1.0, alpha=-1)
    with pytest.raises(ConfigError, match="expected `beta`"):
        total_cost(1.0, 1.0, beta=-0.5)
    with pytest.raises(ShapeError, match=r"same shape, received \(2, 3, 3\) and \(2, 3, 4\)"):
        content_cost(torch.zeros(2, 3, 3), torch.zeros(2, 3, 4))
    with pytest.raises(ShapeError, match=r"same batch and channels, received \(2, 3, 3\) and "
                                         r"\(3, 3, 3\)"):
        layer_style_cost(torch.zeros(2, 3, 3), torch.zeros(3, 3, 3))
    with pytest.raises(ShapeError, match=r"\(C, H, W\) or \(N, C, H, W\), received shape \(5,\)"):
        gram_matrix(torch.zeros(5))
    with pytest.raises(DTypeError, match="expected `a` to be a floating-point tensor"):
        gram_matrix(torch.zeros(2, 2, 2, dtype=torch.int64))
    with pytest.raises(DTypeError, match="received 'list'"):
        gram_matrix([[1.0]])
    with pytest.raises(ConfigError, match="same layers"):
        style_cost({"a": torch.zeros(1, 2, 2)}, {"b": torch.zeros(1, 2, 2)})
    with pytest.raises(ConfigError, match=r"expected 2 `weights` \(one per layer\), received 1"):
        style_cost([torch.zeros(1, 2, 2)] * 2, [torch.zeros(1, 2, 2)] * 2, [1.0])
    with pytest.raises(ConfigError, match=r"expected `weights\['a'\]` to be a finite number >= 0"):
        style_cost({"a": torch.zeros(1, 2, 2)}, {"a": torch.zeros(1, 2, 2)}, {"a": -1.0})

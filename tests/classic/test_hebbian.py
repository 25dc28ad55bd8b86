"""Oja, Kohonen, Instar, HebbRule: one update by hand, convergence, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA

from neuralab.classic import HebbRule, Instar, Kohonen, Oja
from neuralab.errors import ConfigError, DataError


def subspace_cosines(A, B):
    """Cosines of the principal angles between the row spaces of A and B."""
    qa, _ = np.linalg.qr(A.T)
    qb, _ = np.linalg.qr(B.T)
    return np.linalg.svd(qa.T @ qb, compute_uv=False)


def test_oja_one_update_by_hand():
    X = np.array([[1.0, 2.0, 0.0], [0.0, 1.0, -1.0]])
    oja = Oja(n_components=2, learning_rate=0.1, batch_size=2, center=False, max_iter=1,
              random_state=0, device="cpu")
    oja.partial_fit(X[:0].reshape(0, 3) if False else X)  # one epoch = one batch update
    rng = np.random.RandomState(0)
    W0, _ = np.linalg.qr(rng.standard_normal((3, 2)))
    dW = sum(np.outer(x - W0 @ (W0.T @ x), W0.T @ x) for x in X) / 2
    np.testing.assert_allclose(oja.components_.T, W0 + 0.1 * dW, rtol=1e-12)


def test_oja_converges_to_pca_subspace():
    X = load_digits().data
    oja = Oja(n_components=3, random_state=0, device="cpu").fit(X)
    pca = PCA(n_components=3).fit(X)
    cos = subspace_cosines(oja.components_, pca.components_)
    assert cos.min() > 0.999, cos
    np.testing.assert_allclose(oja.components_ @ oja.components_.T, np.eye(3), atol=1e-3)
    np.testing.assert_allclose(oja.mean_, X.mean(0))
    # reconstruction error equals PCA's (same subspace)
    err_oja = np.mean((oja.reconstruct(X) - X) ** 2)
    err_pca = np.mean((pca.inverse_transform(pca.transform(X)) - X) ** 2)
    assert err_oja < err_pca * 1.01
    assert oja.transform(X).shape == (len(X), 3)


def test_oja_minibatch_partial_fit_tracks_subspace():
    rng = np.random.RandomState(0)
    X = rng.randn(2000, 5) * [5.0, 3.0, 1.0, 0.5, 0.2]
    oja = Oja(n_components=2, batch_size=20, random_state=0, device="cpu")
    for chunk in np.array_split(X, 10):
        oja.partial_fit(chunk)
    cos = subspace_cosines(oja.components_, np.eye(5)[:2])
    assert cos.min() > 0.99


def test_kohonen_only_winner_moves_by_hand():
    X = np.array([[0.0, 0.0], [10.0, 10.0], [0.2, 0.0]])
    km = Kohonen(n_clusters=2, learning_rate=0.5, shuffle=False, random_state=0, device="cpu")
    km.partial_fit(X[:2])
    W = km.weight_.copy()
    x = np.array([1.0, 1.0])
    km.partial_fit(x[None])
    j = np.argmin(np.linalg.norm(W - x, axis=1))
    expected = W.copy()
    expected[j] += 0.5 * (x - W[j])
    np.testing.assert_allclose(km.weight_, expected)


def test_kohonen_dot_product_winner():
    km = Kohonen(n_clusters=2, distance="dot", learning_rate=0.5, shuffle=False, random_state=0,
                 device="cpu")
    X = np.array([[1.0, 0.0], [0.0, 1.0]])
    km.fit(X)
    W = km.weight_.copy()
    x = np.array([[0.8, 0.6]])
    km.partial_fit(x)
    j = np.argmax(W @ x[0])
    np.testing.assert_allclose(km.weight_[j], W[j] + 0.5 * (x[0] - W[j]))
    np.testing.assert_allclose(km.weight_[1 - j], W[1 - j])


def test_instar_only_winner_changes_by_hand():
    inst = Instar(n_outputs=2, n_unconditioned=1, learning_rate=0.5, device="cpu")
    inst.partial_fit(np.array([[0.0, 0.0, 0.0]]))  # nothing fires: weights unchanged
    np.testing.assert_array_equal(inst.weight_, [[1, 0, 0], [1, 0, 0]])
    inst.weight_ = np.array([[1.0, 0.2, 0.0], [1.0, 0.0, 0.1]])
    x = np.array([1.0, 1.0, 0.0])
    inst.partial_fit(x[None])  # both fire (1.2, 1.0 ≥ 0.5); winner = output 0
    np.testing.assert_allclose(inst.weight_[0], [1.0, 0.2 + 0.5 * (1 - 0.2), 0.0])
    np.testing.assert_allclose(inst.weight_[1], [1.0, 0.0, 0.1])  # NeuPy changed this row too


def test_instar_learns_conditioned_stimulus():
    X = np.array([[1, 1, 0, 1], [0, 1, 0, 1]] * 10, dtype=float)
    inst = Instar(learning_rate=0.5, device="cpu").fit(X)
    assert inst.predict([[0, 1, 0, 1]]).tolist() == [[1.0]]
    assert inst.predict([[0, 0, 1, 0]]).tolist() == [[0.0]]
    np.testing.assert_allclose(inst.weight_[0, 1:], [1, 0, 1], atol=1e-5)


@settings(max_examples=30, deadline=None)
@given(st.floats(0.01, 1.0), st.floats(0.0, 1.0), st.lists(st.integers(0, 1), min_size=3, max_size=3))
def test_hebb_one_update_by_hand(lr, decay, x):
    x = np.array(x, dtype=float)
    hebb = HebbRule(n_outputs=2, n_unconditioned=1, learning_rate=lr, decay_rate=decay,
                    device="cpu")
    hebb.partial_fit(np.array([[1.0, 1.0, 0.0]]))  # US + CS1: output fires
    W = hebb.weight_.copy()
    np.testing.assert_allclose(W, [[1, lr, 0], [1, lr, 0]])
    hebb.partial_fit(x[None])
    a = (W @ x >= 0.5).astype(float)
    expected = W.copy()
    expected[:, 1:] = (1 - decay) * W[:, 1:] + lr * np.outer(a, x[1:])
    np.testing.assert_allclose(hebb.weight_, expected, atol=1e-12)


def test_hebb_decay_forgets_unpaired_association():
    hebb = HebbRule(learning_rate=0.5, decay_rate=0.2, device="cpu")
    hebb.fit(np.array([[1.0, 1.0]] * 3))
    assert hebb.predict([[0.0, 1.0]]).tolist() == [[1.0]]
    hebb.partial_fit(np.array([[0.0, 0.0]] * 15))  # decay alone
    assert hebb.predict([[0.0, 1.0]]).tolist() == [[0.0]]
    assert hebb.weight_[0, 1] <= 0.5 / 0.2 + 1e-12  # bounded by η/γ


def test_bad_input():
    X = np.random.RandomState(0).randn(20, 4)
    for est in [Oja(), Kohonen(), Instar(), HebbRule()]:
        name = type(est).__name__
        with pytest.raises(Exception, match=f"This {name} instance is not fitted yet"):
            est.predict(X) if hasattr(est, "predict") else est.transform(X)
        with pytest.raises(ValueError, match="NaN"):
            est.fit(np.where(X > 1, np.nan, X))
        est.fit(X)
        with pytest.raises(ValueError, match=f"X has 3 features, but {name} is expecting 4"):
            est.predict(X[:, :3]) if hasattr(est, "predict") else est.transform(X[:, :3])
    with pytest.raises(ConfigError, match=r'Oja: expected `n_components` to be at most n_features=4, received 5'):
        Oja(n_components=5).fit(X)
    with pytest.raises(ConfigError, match=r'Oja: expected `learning_rate` to be a float in the range \(0\.0, inf\) or one of \'auto\', received \'fast\''):
        Oja(learning_rate="fast").fit(X)
    with pytest.raises(DataError, match=r"inverse_transform expects shape \(n_samples, 2\)"):
        Oja().fit(X).inverse_transform(np.zeros((1, 3)))
    with pytest.raises(ConfigError, match=r'Kohonen: expected `distance` to be one of \'dot\', \'euclid\', received \'cos\''):
        Kohonen(distance="cos").fit(X)
    with pytest.raises(ConfigError, match=r'HebbRule: expected `decay_rate` to be a float in the range \[0\.0, 1\.0\], received 2'):
        HebbRule(decay_rate=2).fit(X)
    with pytest.raises(DataError, match="more than n_unconditioned=4 features"):
        Instar(n_unconditioned=4).fit(X)


def test_oja_loss_curve_is_the_reconstruction_error():
    rng = np.random.RandomState(0)
    X = rng.randn(300, 4) * [3.0, 2.0, 0.3, 0.1]
    oja = Oja(n_components=2, max_iter=30, tol=0.0, random_state=0, device="cpu")
    with pytest.warns(Warning, match="still moved"):
        oja.fit(X)
    assert len(oja.loss_curve_) == oja.n_iter_ == 30
    assert oja.loss_curve_[-1] == pytest.approx(np.sum((oja.reconstruct(X) - X) ** 2, 1).mean(),
                                                rel=1e-9)
    pca_error = np.sum(X.var(0) * [0, 0, 1, 1]) * 299 / 300  # the two smallest variances
    assert oja.loss_curve_[0] > oja.loss_curve_[-1] and oja.loss_curve_[-1] < 1.5 * pca_error


def test_kohonen_loss_curve_and_init():
    X = np.array([[0.0, 0.0], [10.0, 10.0], [0.2, 0.0], [9.0, 10.0]])
    W0 = np.array([[1.0, 1.0], [8.0, 8.0]])
    km = Kohonen(n_clusters=2, learning_rate=0.5, shuffle=False, max_iter=3, init=W0,
                 device="cpu").fit(X)
    W = W0.copy()
    for _ in range(3):  # the winner-take-all rule by hand, from init
        for x in X:
            j = np.argmin(np.linalg.norm(W - x, axis=1))
            W[j] += 0.5 * (x - W[j])
    np.testing.assert_allclose(km.weight_, W)
    assert len(km.loss_curve_) == km.n_iter_ == 3
    assert km.loss_curve_[-1] == pytest.approx(np.linalg.norm(X[:, None] - W, axis=2).min(1).mean())
    assert km.loss_curve_[-1] < km.loss_curve_[0]


@pytest.mark.parametrize("cls", [Instar, HebbRule, Oja])
def test_init_array_is_the_starting_weights(cls):
    W0 = np.array([[1.0, 0.3, 0.0], [0.5, 0.0, 0.2]])
    if cls is Oja:
        X = np.array([[1.0, 2.0, 0.0], [0.0, 1.0, -1.0]])
        oja = Oja(n_components=2, init=W0, center=False, learning_rate=0.1, batch_size=2,
                  max_iter=1, device="cpu").partial_fit(X)  # one update from init, by hand:
        dW = sum(np.outer(x - W0.T @ (W0 @ x), W0 @ x) for x in X) / 2
        np.testing.assert_allclose(oja.components_.T, W0.T + 0.1 * dW, rtol=1e-12)
        return
    net = cls(n_outputs=2, init=W0, learning_rate=0.5, device="cpu")
    net.partial_fit(np.zeros((1, 3)))  # nothing fires: the weights are init (Hebb: decayed)
    decay = 1 - net.decay_rate if cls is HebbRule else 1.0
    np.testing.assert_allclose(net.weight_, np.c_[W0[:, :1], W0[:, 1:] * decay])
    from neuralab.errors import ShapeError
    with pytest.raises(ShapeError, match=rf"{cls.__name__}: expected `init` to be an array of "
                                         r"shape \(1, 3\) \(n_outputs, n_features\), received "
                                         r"an array of shape \(2, 3\)"):
        cls(init=W0).fit(np.ones((2, 3)))

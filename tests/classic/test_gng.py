"""GrowingNeuralGas: Fritzke's steps checked by hand, growth, topology, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from neuralab.classic import GrowingNeuralGas
from neuralab.errors import ConfigError


def ring(n=400, seed=0):
    rng = np.random.RandomState(seed)
    angle = rng.uniform(0, 2 * np.pi, n)
    radius = rng.uniform(0.8, 1.0, n)
    return np.c_[radius * np.cos(angle), radius * np.sin(angle)]


def test_one_step_by_hand():
    """Fresh graph of nodes a, b, c with edges a–c; one input x near a."""
    gng = GrowingNeuralGas(n_start_nodes=3, step=0.5, neighbour_step=0.1, error_decay_rate=0.9,
                           n_iter_before_neuron_added=1000, shuffle=False, device="cpu")
    gng.fit(np.zeros((3, 2)) + [[0, 0], [1, 0], [0, 1]])  # sets up the attributes
    gng.nodes_ = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 3.0]])
    gng.edges_ = np.array([[0, 2]])
    gng.edge_ages_ = np.array([4])
    gng.errors_ = np.array([1.0, 0.0, 0.0])
    gng.n_nodes_ = 3
    x = np.array([[0.5, 0.0]])
    gng.partial_fit(x)
    # s1 = node 0 (d² = 0.25), s2 = node 1 (d² = 2.25)
    np.testing.assert_allclose(gng.nodes_[0], [0.25, 0.0], atol=1e-6)  # w += 0.5 (x − w)
    np.testing.assert_allclose(gng.nodes_[2], [0.05, 2.7], atol=1e-6)  # neighbour: w += 0.1 (x − w)
    np.testing.assert_allclose(gng.nodes_[1], [2.0, 0.0])  # not a neighbour yet
    np.testing.assert_allclose(gng.errors_, [(1.0 + 0.25) * 0.9, 0.0, 0.0], atol=1e-6)
    edges = {tuple(e): a for e, a in zip(gng.edges_.tolist(), gng.edge_ages_.tolist())}
    assert edges == {(0, 2): 5, (0, 1): 0}  # aged edge, new s1–s2 edge of age 0


def test_min_distance_compares_squared_distances():
    gng = GrowingNeuralGas(n_start_nodes=2, min_distance_for_update=0.6, shuffle=False, device="cpu")
    gng.fit(np.array([[0.0, 0.0], [5.0, 5.0]]))
    gng.nodes_ = np.array([[0.0, 0.0], [5.0, 5.0]])
    gng.partial_fit([[0.5, 0.0]])  # distance 0.5 < 0.6 → no move (0.25 < 0.36)
    np.testing.assert_allclose(gng.nodes_[0], [0.0, 0.0])
    # NeuPy compared the distance 0.5 with 0.6² = 0.36 and would have moved it
    gng.partial_fit([[0.7, 0.0]])  # 0.7 > 0.6 → moves
    assert gng.nodes_[0, 0] > 0


def test_grows_to_max_nodes_and_learns_ring_topology():
    X = ring()
    gng = GrowingNeuralGas(max_nodes=20, n_iter_before_neuron_added=50, max_iter=8,
                           random_state=0, device="cpu").fit(X)
    assert gng.n_nodes_ == 20
    radii = np.linalg.norm(gng.nodes_, axis=1)
    assert np.all((radii > 0.7) & (radii < 1.05))  # nodes sit on the ring
    # a ring: every node has about two neighbours, and edges join nearby nodes
    degree = np.bincount(gng.edges_.ravel(), minlength=gng.n_nodes_)
    assert np.median(degree) == 2
    lengths = np.linalg.norm(gng.nodes_[gng.edges_[:, 0]] - gng.nodes_[gng.edges_[:, 1]], axis=1)
    assert lengths.max() < 0.8
    assert np.all(gng.edge_ages_ <= gng.max_edge_age)
    # quantization error far below the data variance
    assert -gng.score(X) < 0.05 * X.var(0).sum()
    assert gng.transform(X).shape == (len(X), 20)
    np.testing.assert_array_equal(gng.predict(X), gng.transform(X).argmin(1))


def test_fixed_seed_reproducible():
    X = ring(100)
    a = GrowingNeuralGas(max_nodes=8, n_iter_before_neuron_added=20, random_state=3, device="cpu").fit(X)
    b = GrowingNeuralGas(max_nodes=8, n_iter_before_neuron_added=20, random_state=3, device="cpu").fit(X)
    np.testing.assert_array_equal(a.nodes_, b.nodes_)
    np.testing.assert_array_equal(a.edges_, b.edges_)


def test_bad_input():
    with pytest.raises(Exception, match="This GrowingNeuralGas instance is not fitted yet"):
        GrowingNeuralGas().predict([[0, 1]])
    with pytest.raises(ValueError, match="NaN"):
        GrowingNeuralGas().fit([[0, np.nan], [1, 0]])
    gng = GrowingNeuralGas(max_iter=1, device="cpu").fit(ring(20))
    with pytest.raises(ValueError, match="X has 3 features, but GrowingNeuralGas is expecting 2"):
        gng.predict([[0, 1, 1]])
    with pytest.raises(ConfigError, match=r'GrowingNeuralGas: expected `n_start_nodes` to be an int in the range \[2, inf\), received 1'):
        GrowingNeuralGas(n_start_nodes=1).fit(ring(20))
    with pytest.raises(ConfigError, match=r'GrowingNeuralGas: expected `step` to be a float in the range \[0\.0, 1\.0\], received 2'):
        GrowingNeuralGas(step=2).fit(ring(20))
    with pytest.raises(ConfigError, match=r'GrowingNeuralGas: expected `max_nodes` to be at least n_start_nodes=3, received 2'):
        GrowingNeuralGas(n_start_nodes=3, max_nodes=2).fit(ring(20))
    with pytest.raises(ConfigError, match=r'GrowingNeuralGas: expected `max_edge_age` to be an int in the range \[1, inf\), received 0'):
        GrowingNeuralGas(max_edge_age=0).fit(ring(20))


def four_clusters():
    rng = np.random.RandomState(0)
    return np.repeat(rng.rand(4, 2) * 10, 25, axis=0) + rng.randn(100, 2) * 0.01


def _gng(**kw):
    return GrowingNeuralGas(n_start_nodes=2, max_nodes=4, n_iter_before_neuron_added=50,
                            neighbour_step=0.0, random_state=0, device="cpu", **kw)


def test_loss_curve_is_the_mean_squared_distance_to_the_nearest_node():
    X = four_clusters()
    gng = _gng(max_iter=5).fit(X)
    assert len(gng.loss_curve_) == gng.n_iter_ == 5
    d2 = ((X[:, None, :] - gng.nodes_[None]) ** 2).sum(-1).min(1)  # NumPy, final nodes
    assert gng.loss_curve_[-1] == pytest.approx(d2.mean(), rel=1e-4)
    assert gng.loss_curve_[-1] < 0.01 * gng.loss_curve_[0]  # measured 2e-4 vs 0.27
    gng.partial_fit(X)
    assert len(gng.loss_curve_) == gng.n_iter_ == 6


def test_early_stopping_when_no_node_moves_more_than_tol():
    X = four_clusters()
    gng = _gng(max_iter=60, tol=1e-2).fit(X)
    k = gng.n_iter_
    assert 2 < k < 60 and len(gng.loss_curve_) == k
    # the same run without tol, cut after k, k − 1 and k − 2 epochs (same seed, same order)
    at = {m: _gng(max_iter=m).fit(X) for m in (k - 2, k - 1, k)}
    np.testing.assert_array_equal(at[k].nodes_, gng.nodes_)
    assert at[k].n_nodes_ == at[k - 1].n_nodes_
    assert np.linalg.norm(at[k].nodes_ - at[k - 1].nodes_, axis=1).max() <= 1e-2
    earlier = at[k - 1].n_nodes_ != at[k - 2].n_nodes_ or (
        np.linalg.norm(at[k - 1].nodes_ - at[k - 2].nodes_, axis=1).max() > 1e-2)
    assert earlier  # epoch k − 1 did not meet the rule, so it did not stop there
    with pytest.raises(ConfigError, match=r"GrowingNeuralGas: expected `tol` to be a float in the "
                                          r"range \[0\.0, inf\) or None, received -1"):
        _gng(tol=-1).fit(X)

"""Discrete Hopfield network and BAM: recall, energy, the update rules, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from neuralab.classic import DiscreteBAM, DiscreteHopfieldNetwork
from neuralab.errors import ConfigError, DataError


def flip(X, fraction, rng):
    X = X.copy()
    n_flip = int(round(fraction * X.shape[1]))
    for row in X:
        idx = rng.choice(X.shape[1], n_flip, replace=False)
        row[idx] = 1 - row[idx]
    return X


@pytest.fixture
def patterns():
    rng = np.random.RandomState(0)
    return (rng.rand(4, 100) > 0.5).astype(float)  # 4 patterns, capacity 100/(2 ln 100) ≈ 10.9


def test_weights_are_hebbian_outer_products(patterns):
    net = DiscreteHopfieldNetwork(device="cpu").train(patterns)
    S = 2 * patterns - 1
    expected = sum(np.outer(s, s) for s in S) - len(S) * np.eye(100)
    np.testing.assert_array_equal(net.weight_, expected)
    assert net.n_memories_ == 4 and net.n_features_in_ == 100


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_recalls_every_pattern_from_20_percent_noise(patterns, mode):
    net = DiscreteHopfieldNetwork(mode=mode, random_state=0, device="cpu").train(patterns)
    rng = np.random.RandomState(1)
    for _ in range(5):
        noisy = flip(patterns, 0.2, rng)
        np.testing.assert_array_equal(net.predict(noisy), patterns)


def test_sync_iterates_to_fixed_point_not_one_step():
    """A case where one synchronous step is not enough (NeuPy stopped after one)."""
    rng = np.random.RandomState(3)
    P = (rng.rand(6, 64) > 0.5).astype(float)
    net = DiscreteHopfieldNetwork(check_limit=False, device="cpu").train(P)
    found = False
    for seed in range(200):
        noisy = flip(P[:1], 0.3, np.random.RandomState(seed))
        one = net.predict(noisy, n_times=1)
        full = net.predict(noisy)
        s = 2 * full - 1
        h = s @ net.weight_
        fixed_point = np.all((h == 0) | (np.sign(h) == s))  # sync mode may also end in a 2-cycle
        if fixed_point and not np.array_equal(one, full):
            # one step was not a fixed point: NeuPy would have returned `one`
            s1 = 2 * one - 1
            assert not np.all((s1 @ net.weight_ == 0) | (np.sign(s1 @ net.weight_) == s1))
            found = True
            break
    assert found


def test_energy_formula_and_async_descent(patterns):
    net = DiscreteHopfieldNetwork(mode="async", random_state=0, device="cpu").train(patterns)
    s = 2 * patterns - 1
    np.testing.assert_allclose(net.energy(patterns), [-0.5 * v @ net.weight_ @ v for v in s])
    noisy = flip(patterns, 0.3, np.random.RandomState(2))
    assert np.all(net.energy(net.predict(noisy)) <= net.energy(noisy))


def test_incremental_training_and_single_pattern(patterns):
    a = DiscreteHopfieldNetwork(device="cpu").train(patterns[:2]).train(patterns[2:])
    b = DiscreteHopfieldNetwork(device="cpu").train(patterns)
    np.testing.assert_array_equal(a.weight_, b.weight_)
    assert a.predict(patterns[0]).shape == (1, 100)


def test_bam_recalls_pairs_both_directions():
    rng = np.random.RandomState(0)
    X = (rng.rand(3, 60) > 0.5).astype(float)
    Y = (rng.rand(3, 30) > 0.5).astype(float)
    bam = DiscreteBAM(device="cpu").train(X, Y)
    np.testing.assert_array_equal(bam.weight_, (2 * X - 1).T @ (2 * Y - 1))
    np.testing.assert_array_equal(bam.predict(X), Y)
    np.testing.assert_array_equal(bam.predict_input(Y), X)
    noisy = flip(X, 0.1, np.random.RandomState(1))
    np.testing.assert_array_equal(bam.predict(noisy), Y)
    np.testing.assert_allclose(
        bam.energy(X, Y), [-(2 * x - 1) @ bam.weight_ @ (2 * y - 1) for x, y in zip(X, Y)]
    )


def test_bad_input(patterns):
    net = DiscreteHopfieldNetwork(device="cpu")
    with pytest.raises(Exception, match="not fitted"):
        net.predict(patterns)
    with pytest.raises(DataError, match=r"binary patterns with values in \{0, 1\}; received 0.5"):
        net.train([[0, 0.5, 1]])
    with pytest.raises(DataError, match="contains NaN"):
        net.train([[0, np.nan, 1]])
    with pytest.raises(DataError, match=r"12 patterns exceed the capacity 10.86"):
        net.train((np.random.RandomState(0).rand(12, 100) > 0.5).astype(float))
    net.train(patterns)
    with pytest.raises(DataError, match="X has 99 features, but DiscreteHopfieldNetwork is expecting 100"):
        net.predict(patterns[:, :99])
    with pytest.raises(DataError, match=r"requires binary X"):
        net.predict(patterns * 2)
    with pytest.raises(ConfigError, match=r'DiscreteHopfieldNetwork: expected `mode` to be one of \'async\', \'sync\', received \'fast\''):
        DiscreteHopfieldNetwork(mode="fast").train(patterns)
    with pytest.raises(ConfigError, match=r'DiscreteHopfieldNetwork: expected `n_times` to be an int in the range \[1, inf\), received 0'):
        DiscreteHopfieldNetwork(n_times=0).train(patterns)
    bam = DiscreteBAM(device="cpu")
    with pytest.raises(DataError, match="same number of patterns, received 2 and 3"):
        bam.train(np.ones((2, 4)), np.ones((3, 2)))
    with pytest.raises(DataError, match="binary Y"):
        bam.train(np.ones((2, 4)), np.full((2, 2), 3.0))
    bam.train(np.eye(4), np.eye(4)[:, :2])
    with pytest.raises(DataError, match="Y has 3 features, but DiscreteBAM is expecting 2"):
        bam.predict_input(np.ones((1, 3)))

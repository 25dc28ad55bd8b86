"""ART1: the Carpenter–Grossberg search, fast learning, vigilance, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from neuralab.classic import ART1
from neuralab.errors import ConfigError, DataError


def reference_art1(X, rho, L=2.0, max_epochs=100):
    """Plain-Python ART1 with the classic reset-and-search loop (independent reference)."""
    protos = []
    for _ in range(max_epochs):
        changed = False
        for inp in X:
            size_i = inp.sum()
            order = sorted(
                range(len(protos)),
                key=lambda j: -L * (inp * protos[j]).sum() / (L - 1 + protos[j].sum()),
            )
            for j in order:  # visit by decreasing choice T_j; reset on mismatch
                overlap = (inp * protos[j]).sum()
                if size_i == 0:
                    ok = protos[j].sum() == 0
                else:
                    ok = protos[j].sum() > 0 and overlap / size_i >= rho
                if ok:
                    new = inp * protos[j]
                    changed |= not np.array_equal(new, protos[j])
                    protos[j] = new
                    break
            else:
                protos.append(inp.copy())
                changed = True
        if not changed:
            break
    return np.array(protos)


@pytest.mark.parametrize("rho", [0.3, 0.6, 0.9])
def test_matches_reference_search(rho):
    X = (np.random.RandomState(0).rand(40, 12) < 0.4).astype(float)
    model = ART1(rho=rho, device="cpu").fit(X)
    np.testing.assert_array_equal(model.prototypes_, reference_art1(X, rho))
    L = 2.0
    np.testing.assert_allclose(
        model.weight_bottom_up_,
        L * model.prototypes_ / (L - 1 + model.prototypes_.sum(1, keepdims=True)),
    )


def test_identical_patterns_share_a_cluster():
    rng = np.random.RandomState(1)
    base = (rng.rand(8, 20) < 0.5).astype(float)
    X = base[rng.randint(0, 8, 80)]
    for rho in [0.2, 0.5, 0.8, 1.0]:
        labels = ART1(rho=rho, device="cpu").fit(X).labels_
        for row in base:
            same = np.all(X == row, axis=1)
            assert len(set(labels[same])) == 1


def test_rho_one_gives_one_cluster_per_distinct_pattern():
    X = (np.random.RandomState(2).rand(50, 10) < 0.5).astype(float)
    model = ART1(rho=1.0, device="cpu").fit(X)
    assert model.n_clusters_ == len(np.unique(X, axis=0))


def test_higher_rho_never_fewer_clusters():
    """Grid of rho on random binary patterns with a fixed number of ones.

    For fixed-size inputs no violation was found in 800 fits; for inputs of
    varying size ART1 is order dependent and an eroded prototype can make a
    *lower* vigilance create a few more categories (see the ART1 docstring).
    """
    rng = np.random.RandomState(0)
    for _ in range(2):
        X = np.zeros((40, 32))
        for row in X:
            row[rng.choice(32, 8, replace=False)] = 1
        counts = [ART1(rho=r, device="cpu").fit(X).n_clusters_ for r in np.linspace(0.05, 1, 14)]
        assert np.all(np.diff(counts) >= 0), counts
        assert counts[0] < counts[-1]


def test_partial_fit_predict_and_zero_pattern():
    X = np.array([[1, 1, 0, 0], [0, 0, 1, 1], [0, 0, 0, 0]], dtype=float)
    model = ART1(rho=0.9, device="cpu")
    model.partial_fit(X[:2])
    assert model.n_clusters_ == 2
    model.partial_fit(X[2:])
    assert model.n_clusters_ == 3 and model.prototypes_[2].sum() == 0
    np.testing.assert_array_equal(model.predict(X), [0, 1, 2])
    # an input that resonates with nothing is labelled -1 by predict (no learning)
    assert ART1(rho=1.0, device="cpu").fit(X[:1]).predict([[0, 1, 1, 0]]).tolist() == [-1]


def test_max_clusters_caps_categories():
    X = np.eye(6)
    model = ART1(rho=0.9, max_clusters=3, device="cpu").fit(X)
    assert model.n_clusters_ == 3
    assert list(model.labels_) == [0, 1, 2, -1, -1, -1]


def test_bad_input():
    with pytest.raises(Exception, match="This ART1 instance is not fitted yet"):
        ART1().predict([[0, 1]])
    with pytest.raises(DataError, match=r"requires binary X with values in \{0, 1\}; received 0.5 at index \(0, 1\)"):
        ART1().fit([[0, 0.5], [1, 0]])
    with pytest.raises(DataError, match="Negative values in data passed to ART1"):
        ART1().fit([[0, -1], [1, 0]])
    with pytest.raises(ValueError, match="NaN"):
        ART1().fit([[0, np.nan], [1, 0]])
    model = ART1(device="cpu").fit([[0, 1], [1, 0]])
    with pytest.raises(ValueError, match="X has 3 features, but ART1 is expecting 2 features"):
        model.predict([[0, 1, 1]])
    with pytest.raises(ConfigError, match=r'ART1: expected `rho` to be a float in the range \(0\.0, 1\.0\], received 0'):
        ART1(rho=0).fit([[0, 1]])
    with pytest.raises(ConfigError, match=r'ART1: expected `L` to be a float in the range \(1\.0, inf\), received 1'):
        ART1(L=1).fit([[0, 1]])
    with pytest.raises(ConfigError, match=r'ART1: expected `max_clusters` to be an int in the range \[1, inf\) or None, received 0'):
        ART1(max_clusters=0).fit([[0, 1]])

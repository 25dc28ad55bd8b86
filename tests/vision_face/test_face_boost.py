"""The stump search against brute force; AdaBoost against scikit-learn's SAMME."""

import numpy as np
import pytest
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import AdaBoostClassifier
from sklearn.tree import DecisionTreeClassifier

from neuralab.errors import DataError, NotFittedError, ShapeError
from neuralab.vision.face import AdaBoostStumps
from neuralab.vision.face._boost import StumpSearch, viola_jones_weights


def brute_force_stump(X, y, w):
    """(error, feature, threshold, polarity) by trying every midpoint of every feature."""
    best = (np.inf, None, None, None)
    for f in range(X.shape[1]):
        values = np.unique(X[:, f])
        cuts = np.r_[(values[:-1] + values[1:]) / 2, values[-1] + 1.0]
        for theta in cuts:
            for pol in (1.0, -1.0):
                h = (pol * X[:, f] < pol * theta).astype(int)
                err = float(np.sum(w * (h != y)))
                if err < best[0] - 1e-12:
                    best = (err, f, theta, pol)
    return best


class BruteStump(ClassifierMixin, BaseEstimator):
    """An exhaustive least-weighted-error stump, written independently of neuralab."""

    def fit(self, X, y, sample_weight=None):
        self.classes_ = np.unique(y)
        w = np.ones(len(y)) / len(y) if sample_weight is None else sample_weight / sample_weight.sum()
        _, self.f_, self.theta_, self.pol_ = brute_force_stump(X, (y == self.classes_[1]).astype(int), w)
        return self

    def predict(self, X):
        return self.classes_[(self.pol_ * X[:, self.f_] < self.pol_ * self.theta_).astype(int)]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_stump_search_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(40, 7)).round(1)      # rounding makes ties between values
    y = (X[:, 3] + 0.5 * rng.normal(size=40) > 0).astype(int)
    w = rng.random(40)
    w /= w.sum()
    f, theta, pol, err = StumpSearch(torch.as_tensor(X.T.copy()), torch.as_tensor(y)).best(
        torch.as_tensor(w))
    ref_err, ref_f, ref_theta, ref_pol = brute_force_stump(X, y, w)
    assert err == pytest.approx(ref_err, abs=1e-6)
    h = (pol * X[:, f] < pol * theta).astype(int)
    assert float(np.sum(w * (h != y))) == pytest.approx(ref_err, abs=1e-6)


def test_viola_jones_weights_give_each_class_half():
    w = viola_jones_weights(torch.tensor([1, 0, 0, 0]))
    assert w.tolist() == [0.5, 0.5 / 3, 0.5 / 3, 0.5 / 3]


def test_adaboost_equals_sklearn_samme_with_the_same_weak_learner():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 5))
    y = ((X[:, 0] > 0.3) ^ (X[:, 2] < -0.2)).astype(int)
    ours = AdaBoostStumps(n_estimators=8).fit(X, y)
    start = viola_jones_weights(torch.as_tensor(y)).numpy()
    ref = AdaBoostClassifier(BruteStump(), n_estimators=8, algorithm="SAMME").fit(
        X, y, sample_weight=start) if "algorithm" in AdaBoostClassifier().get_params() else \
        AdaBoostClassifier(BruteStump(), n_estimators=8).fit(X, y, sample_weight=start)
    assert [e.f_ for e in ref.estimators_] == ours.features_.tolist()
    np.testing.assert_allclose(ref.estimator_weights_[:len(ours.alphas_)], ours.alphas_, rtol=1e-6)
    np.testing.assert_allclose(ref.estimator_errors_[:len(ours.errors_)], ours.errors_, rtol=1e-6)
    np.testing.assert_array_equal(ref.predict(X), ours.predict(X))
    # sklearn (SAMME, two classes) sums ±α over both class columns, divided by Σα: 4·ours/Σα
    np.testing.assert_allclose(ref.decision_function(X), 4 * ours.decision_function(X) / ours.alphas_.sum(),
                               atol=1e-6)


def test_accuracy_is_comparable_to_sklearn_depth_one_trees():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 6))
    y = (X[:, 0] + X[:, 1] - X[:, 4] > 0).astype(int)
    Xt = rng.normal(size=(300, 6))
    yt = (Xt[:, 0] + Xt[:, 1] - Xt[:, 4] > 0).astype(int)
    ours = AdaBoostStumps(n_estimators=40, weights="uniform").fit(X, y).score(Xt, yt)
    ref = AdaBoostClassifier(DecisionTreeClassifier(max_depth=1), n_estimators=40).fit(X, y).score(Xt, yt)
    assert abs(ours - ref) < 0.05 and ours > 0.8


def test_adaboost_bad_input():
    with pytest.raises(DataError, match=r"two classes, received 1"):
        AdaBoostStumps().fit(np.zeros((4, 2)), np.ones(4))
    with pytest.raises(ShapeError, match=r"\(N, F\) feature values, received shape \(4,\)"):
        AdaBoostStumps().fit(np.zeros(4), np.r_[0, 1, 0, 1])
    with pytest.raises(NotFittedError, match="not fitted yet"):
        AdaBoostStumps().predict(np.zeros((1, 2)))

"""LVQ family: Kohonen's update rules on hand-built configurations, digits accuracy, errors."""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import train_test_split

from neuralab.classic import LVQ, LVQ2, LVQ3, LVQ21
from neuralab.errors import ConfigError, DataError

X0 = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0], [5.2, 5.1]])
Y0 = np.array([0, 0, 1, 1, 1])


def one_step(cls, prototypes, x, label, counts=(1, 2), **kw):
    """Set the prototypes (ordered by class), present one sample, return the new prototypes."""
    model = cls(prototypes_per_class=list(counts), learning_rate=0.1, max_iter=1,
                random_state=0, device="cpu", **kw).fit(X0, Y0)
    model.prototypes_ = np.asarray(prototypes, dtype=float)
    model.partial_fit(np.atleast_2d(x), [label])
    return model.prototypes_


def moved(p_old, p_new, x, alpha):
    return p_old + alpha * (np.asarray(x) - p_old)


# Prototype order is by class: counts=(1, 2) -> [class 0, class 1, class 1].


def test_lvq1_pulls_correct_and_pushes_wrong_winner():
    P = [[0.0, 0.0], [2.0, 0.0], [9.0, 9.0]]
    new = one_step(LVQ, P, [0.5, 0.0], 0)
    np.testing.assert_allclose(new[0], moved(np.array(P[0]), None, [0.5, 0.0], 0.1))
    np.testing.assert_allclose(new[1:], P[1:])
    new = one_step(LVQ, P, [0.5, 0.0], 1)
    np.testing.assert_allclose(new[0], moved(np.array(P[0]), None, [0.5, 0.0], -0.1))


def test_lvq2_updates_wrong_winner_and_correct_runner_up_in_window():
    P = [[1.15, 0.0], [0.9, 0.0], [9.0, 9.0]]  # x=1.0: winner class 1 (wrong), runner-up class 0
    new = one_step(LVQ2, P, [1.0, 0.0], 0)
    np.testing.assert_allclose(new[1], moved(np.array(P[1]), None, [1.0, 0.0], -0.1))
    np.testing.assert_allclose(new[0], moved(np.array(P[0]), None, [1.0, 0.0], 0.1))
    np.testing.assert_allclose(new[2], P[2])


def test_lvq2_uses_runner_up_prototype_not_runner_up_class():
    # Nearest two prototypes are both class 1 (wrong); the class-0 prototype is third.
    # NeuPy would update the class-0 prototype; Kohonen's rule does not fire, LVQ1 pushes m1.
    P = [[3.0, 0.0], [1.0, 0.0], [1.3, 0.0]]
    x = [1.1, 0.0]
    new = one_step(LVQ2, P, x, 0)
    np.testing.assert_allclose(new[0], P[0])
    np.testing.assert_allclose(new[1], moved(np.array(P[1]), None, x, -0.1))
    np.testing.assert_allclose(new[2], P[2])


def test_lvq21_symmetric_rule_and_window():
    P = [[0.9, 0.0], [1.15, 0.0], [9.0, 9.0]]  # winner class 0 (correct), runner-up class 1
    x = [1.0, 0.0]
    new = one_step(LVQ21, P, x, 0)
    np.testing.assert_allclose(new[0], moved(np.array(P[0]), None, x, 0.1))
    np.testing.assert_allclose(new[1], moved(np.array(P[1]), None, x, -0.1))
    # Outside the window (d1/d2 = 0.1/2.0 < (1-w)/(1+w)): only the LVQ1 pull.
    P = [[0.9, 0.0], [3.0, 0.0], [9.0, 9.0]]
    new = one_step(LVQ21, P, x, 0)
    np.testing.assert_allclose(new[0], moved(np.array(P[0]), None, x, 0.1))
    np.testing.assert_allclose(new[1], P[1])


def test_window_threshold_is_kohonens():
    # d1/d2 = 0.6 vs s = (1 - w)/(1 + w): fires for w = 0.3 (s=0.538), not for w = 0.2 (s=0.667)
    P = [[0.4, 0.0], [2.0, 0.0], [9.0, 9.0]]
    x = [1.0, 0.0]
    fired = one_step(LVQ21, P, x, 0, window=0.3)
    assert not np.allclose(fired[1], P[1])
    quiet = one_step(LVQ21, P, x, 0, window=0.2)
    np.testing.assert_allclose(quiet[1], P[1])


def test_lvq3_moves_both_correct_prototypes_toward_x():
    P = [[9.0, 9.0], [1.0, 0.0], [1.2, 0.0]]  # two nearest are class 1, x is class 1
    x = [1.1, 0.0]
    new = one_step(LVQ3, P, x, 1, epsilon=0.25)
    np.testing.assert_allclose(new[1], moved(np.array(P[1]), None, x, 0.25 * 0.1))
    np.testing.assert_allclose(new[2], moved(np.array(P[2]), None, x, 0.25 * 0.1))
    np.testing.assert_allclose(new[0], P[0])


def test_lvq3_never_pushes_correct_winner_away():
    x = [1.0, 0.0]
    for runner_up in ([1.15, 0.0], [5.0, 0.0]):  # inside and outside the window
        P = [[0.95, 0.0], runner_up, [9.0, 9.0]]
        new = one_step(LVQ3, P, x, 0)
        assert np.linalg.norm(new[0] - x) < np.linalg.norm(np.array(P[0]) - x)


def test_slowdown_rule_is_linear_to_the_floor():
    model = LVQ(learning_rate=0.1, n_updates_to_stepdrop=100, min_learning_rate=0.01)
    assert model._step_size(0) == pytest.approx(0.1)
    assert model._step_size(50) == pytest.approx(0.055)
    assert model._step_size(100) == pytest.approx(0.01)
    assert model._step_size(1000) == pytest.approx(0.01)
    fitted = LVQ(max_iter=3, random_state=0).fit(X0, Y0)
    assert fitted.n_updates_ == 15 and fitted.n_iter_ == 3


def test_prototype_allocation_and_predict_is_nearest_prototype():
    model = LVQ(n_subclasses=5, max_iter=2, random_state=0).fit(X0, ["a", "a", "b", "b", "b"])
    assert list(model.prototype_classes_) == ["a", "a", "a", "b", "b"]
    d = ((X0[:, None] - model.prototypes_[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(model.predict(X0), model.prototype_classes_[d.argmin(1)])


@pytest.mark.parametrize("cls", [LVQ, LVQ2, LVQ21, LVQ3])
def test_digits_accuracy(cls):
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    model = cls(n_subclasses=30, learning_rate=0.05, max_iter=4, n_updates_to_stepdrop=4 * len(Xtr),
                random_state=0).fit(Xtr, ytr)
    assert model.score(Xte, yte) >= 0.90


def test_partial_fit_with_announced_classes():
    model = LVQ(random_state=0)
    model.partial_fit(X0[:2], Y0[:2], classes=[0, 1])
    model.partial_fit(X0[2:], Y0[2:])
    assert model.n_iter_ == 2 and list(model.classes_) == [0, 1]
    with pytest.raises(DataError, match=r"y contains labels \[7\] not in the classes \[0, 1\]"):
        model.partial_fit(X0[:1], [7])


@pytest.mark.parametrize("cls", [LVQ, LVQ2, LVQ21, LVQ3])
def test_bad_input(cls):
    with pytest.raises(NotFittedError, match="is not fitted yet"):
        cls().predict(X0)
    name = cls.__name__
    with pytest.raises(ConfigError, match=rf"{name}: expected `n_subclasses` to be at least the "
                       r"number of classes \(2\), received 1"):
        cls(n_subclasses=1).fit(X0, Y0)
    with pytest.raises(ConfigError, match=rf"{name}: expected `prototypes_per_class` to be one "
                       r"positive integer per class \(2 classes\), received \[1, 1, 1\]"):
        cls(prototypes_per_class=[1, 1, 1]).fit(X0, Y0)
    with pytest.raises(ConfigError, match=rf"{name}: expected `learning_rate` to be a float in the "
                       r"range \(0\.0, inf\), received 0"):
        cls(learning_rate=0).fit(X0, Y0)
    model = cls(max_iter=1).fit(X0, Y0)
    with pytest.raises(ValueError, match=f"X has 3 features, but {cls.__name__} is expecting 2"):
        model.predict(np.ones((2, 3)))
    bad = X0.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        cls().fit(bad, Y0)
    with pytest.raises(ValueError, match="Unknown label type"):
        cls().fit(X0, np.linspace(0, 1, 5))
    if cls is not LVQ:
        with pytest.raises(ConfigError, match=rf"{name}: expected `window` to be a float in the range "
                           r"\(0\.0, 1\.0\), received 1.5"):
            cls(window=1.5).fit(X0, Y0)
    if cls is LVQ3:
        with pytest.raises(ConfigError, match=r"LVQ3: expected `epsilon` to be a float in the range "
                           r"\(0\.0, 1\.0\], received 0"):
            cls(epsilon=0).fit(X0, Y0)


def test_loss_curve_is_the_training_error_after_each_epoch():
    X, y = load_digits(return_X_y=True)
    X, y = X[:600], y[:600]
    model = LVQ(n_subclasses=20, learning_rate=0.05, max_iter=4, weight_init="mean",
                random_state=0, device="cpu").fit(X, y)
    assert len(model.loss_curve_) == model.n_iter_ == 4
    d2 = ((X[:, None, :] - model.prototypes_[None]) ** 2).sum(-1)  # NumPy nearest prototype
    error = np.mean(model.prototype_classes_[d2.argmin(1)] != y)
    assert model.loss_curve_[-1] == pytest.approx(error)
    assert model.loss_curve_[-1] < 0.1 and model.loss_curve_[-1] <= model.loss_curve_[0]
    model.partial_fit(X, y)
    assert len(model.loss_curve_) == 5


def test_init_array_is_the_starting_prototypes():
    start = np.array([[1.0, 1.0], [4.0, 4.0], [6.0, 6.0]])  # class 0, then two of class 1
    model = LVQ(prototypes_per_class=[1, 2], init=start, learning_rate=0.1, max_iter=1,
                shuffle=False, device="cpu").fit(X0, Y0)
    expected = start.copy()
    for x, label in zip(X0, Y0):  # Kohonen's LVQ1 by hand, in order
        i = np.argmin(((expected - x) ** 2).sum(1))
        sign = 1 if [0, 1, 1][i] == label else -1
        expected[i] += sign * 0.1 * (x - expected[i])
    np.testing.assert_allclose(model.prototypes_, expected, rtol=1e-6)
    from neuralab.errors import ShapeError
    with pytest.raises(ShapeError, match=r"LVQ2: expected `init` to be an array of shape \(3, 2\) "
                                         r"\(n_prototypes, n_features\), received an array of "
                                         r"shape \(2, 2\)"):
        LVQ2(prototypes_per_class=[1, 2], init=start[:2]).fit(X0, Y0)

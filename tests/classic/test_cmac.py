"""CMAC: Albus' tile coding and LMS rule checked by hand, sine fit, errors."""

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from neuralab.classic import CMAC
from neuralab.errors import ConfigError


def test_one_update_is_albus_lms_and_generalises_over_shared_tiles():
    # Single sample, weights start at 0: each of the C active weights gets α/C · y,
    # so the output there becomes α·y. An input j cells away shares C − j tiles.
    q, C, lr, y = 10, 4, 0.5, 2.0
    x0 = 0.305  # cell 3
    model = CMAC(q, associative_unit_size=C, learning_rate=lr, max_iter=1, batch_size=1).fit([[x0]], [y])
    assert model.predict([[x0]])[0] == pytest.approx(lr * y)
    for j in range(0, C + 2):
        shared = sum(
            (3 + k) // C == (3 + j + k) // C for k in range(C)
        )
        assert model.predict([[x0 + j / q]])[0] == pytest.approx(lr * y * shared / C), j
    assert model.weights_.shape == (C, 1) and len(model.cell_keys_) == C


def test_two_dimensional_tiles_need_both_coordinates_close():
    model = CMAC(10, associative_unit_size=2, learning_rate=1.0, max_iter=1, batch_size=1)
    model.fit([[0.05, 0.05]], [1.0])
    assert model.predict([[0.05, 0.05]])[0] == pytest.approx(1.0)
    assert model.predict([[0.05, 5.0]])[0] == 0.0
    assert model.predict([[5.0, 0.05]])[0] == 0.0


def test_minibatch_without_shared_tiles_equals_per_sample_rule():
    X = np.array([[0.0], [1.0], [2.0], [3.0]])  # 10 cells apart: no shared tiles
    y = np.array([1.0, -1.0, 0.5, 2.0])
    a = CMAC(10, associative_unit_size=3, learning_rate=0.3, max_iter=3, batch_size=4,
             shuffle=False).fit(X, y)
    b = CMAC(10, associative_unit_size=3, learning_rate=0.3, max_iter=3, batch_size=1,
             shuffle=False).fit(X, y)
    np.testing.assert_allclose(a.predict(X), b.predict(X))
    np.testing.assert_allclose(a.predict(X), y * (1 - (1 - 0.3) ** 3))


def test_fits_sine():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 2 * np.pi, size=(500, 1))
    xt = np.linspace(0.05, 2 * np.pi - 0.05, 300)[:, None]
    model = CMAC(40, associative_unit_size=4, random_state=0).fit(x, np.sin(x).ravel())
    assert np.mean((model.predict(xt) - np.sin(xt).ravel()) ** 2) < 1e-3
    assert model.loss_curve_[-1] < 0.1 * model.loss_curve_[0]
    assert len(model.loss_curve_) == model.n_iter_ == model.max_iter
    # the last entry is the training MSE of the final weights
    train_mse = np.mean((model.predict(x) - np.sin(x).ravel()) ** 2)
    assert model.loss_curve_[-1] == pytest.approx(train_mse, rel=1e-4)


def test_multi_output_and_fixed_seed():
    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, size=(200, 2))
    Y = np.stack([X.sum(1), X[:, 0] * X[:, 1]], 1)
    a = CMAC(8, associative_unit_size=3, max_iter=20, random_state=5).fit(X, Y)
    b = CMAC(8, associative_unit_size=3, max_iter=20, random_state=5).fit(X, Y)
    assert a.predict(X).shape == (200, 2)
    np.testing.assert_array_equal(a.weights_, b.weights_)
    assert np.mean((a.predict(X) - Y) ** 2) < 0.01


def test_bad_input():
    X, y = np.linspace(0, 1, 10)[:, None], np.linspace(0, 1, 10)
    with pytest.raises(NotFittedError, match="is not fitted yet"):
        CMAC().predict(X)
    with pytest.raises(ConfigError, match=r'CMAC: expected `quantization` to be a float in the range \(0\.0, inf\), received 0'):
        CMAC(0).fit(X, y)
    with pytest.raises(ConfigError, match=r'CMAC: expected `associative_unit_size` to be an int in the range \[1, inf\), received 1\.5'):
        CMAC(associative_unit_size=1.5).fit(X, y)
    with pytest.raises(ConfigError, match=r'CMAC: expected `learning_rate` to be a float in the range \(0\.0, 2\.0\), received 2\.5'):
        CMAC(learning_rate=2.5).fit(X, y)
    model = CMAC(max_iter=2).fit(X, y)
    with pytest.raises(ValueError, match="X has 2 features, but CMAC is expecting 1"):
        model.predict(np.ones((3, 2)))
    with pytest.raises(ValueError, match="Input X contains NaN"):
        model.predict([[np.nan]])
    with pytest.raises(ValueError, match="Input y contains NaN"):
        CMAC().fit(X, np.r_[y[:-1], np.nan])

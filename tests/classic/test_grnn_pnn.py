"""GRNN and PNN against float64 NumPy references of Specht's formulas."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import train_test_split

from neuralab.classic import GRNN, PNN
from neuralab.errors import ConfigError


def nadaraya_watson(Xq, X, Y, std, denom=2.0):
    d2 = ((Xq[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    K = np.exp(-d2 / (denom * std**2))
    return K @ Y / K.sum(1, keepdims=True)


def parzen_classes(Xq, X, y, std):
    d2 = ((Xq[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    K = np.exp(-d2 / (2 * std**2))
    classes = np.unique(y)
    f = np.stack([K[:, y == c].mean(1) for c in classes], 1)
    return f / f.sum(1, keepdims=True)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 40),
    m=st.integers(1, 15),
    d=st.integers(1, 5),
    k=st.integers(1, 3),
    std=st.floats(0.5, 3.0),
    seed=st.integers(0, 2**16),
)
def test_grnn_matches_reference_any_shape(n, m, d, k, std, seed):
    rng = np.random.default_rng(seed)
    X, Xq, Y = rng.normal(size=(n, d)), rng.normal(size=(m, d)), rng.normal(size=(n, k))
    pred = GRNN(std=std, device="cpu").fit(X, Y).predict(Xq)
    assert pred.shape == (m, k)
    np.testing.assert_allclose(pred, nadaraya_watson(Xq, X, Y, std), rtol=1e-4, atol=1e-5)


def test_grnn_1d_target_and_chunking_do_not_change_results():
    rng = np.random.default_rng(0)
    X, y, Xq = rng.normal(size=(300, 4)), rng.normal(size=300), rng.normal(size=(57, 4))
    full = GRNN(std=0.8).fit(X, y).predict(Xq)
    assert full.shape == (57,)
    for batch_size in (1, 7, 1000):
        chunked = GRNN(std=0.8, batch_size=batch_size).fit(X, y).predict(Xq)
        np.testing.assert_allclose(chunked, full, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(full, nadaraya_watson(Xq, X, y[:, None], 0.8)[:, 0], rtol=1e-4)


def test_neupy_kernel_is_sigma_squared_version():
    # NeuPy's exp(-d²/σ²) equals Specht's exp(-d²/(2σ'²)) with σ' = σ/√2.
    rng = np.random.default_rng(1)
    X, y, Xq = rng.normal(size=(50, 3)), rng.normal(size=(50, 1)), rng.normal(size=(10, 3))
    neupy = nadaraya_watson(Xq, X, y, 1.2, denom=1.0)
    ours = GRNN(std=1.2 / np.sqrt(2)).fit(X, y).predict(Xq)
    np.testing.assert_allclose(ours, neupy, rtol=1e-4)


def test_grnn_far_query_is_finite_and_takes_nearest_target():
    X = np.array([[0.0], [1.0], [2.0]])
    y = np.array([1.0, 2.0, 3.0])
    pred = GRNN(std=0.01).fit(X, y).predict([[1e4], [-50.0]])
    assert np.all(np.isfinite(pred))
    np.testing.assert_allclose(pred, [3.0, 1.0])


def test_grnn_fits_sine():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 2 * np.pi, size=(500, 1))
    xt = np.linspace(0.05, 2 * np.pi - 0.05, 300)[:, None]
    pred = GRNN(std=0.05).fit(x, np.sin(x).ravel()).predict(xt)
    assert np.mean((pred - np.sin(xt).ravel()) ** 2) < 1e-3


def test_pnn_probabilities_match_parzen_reference():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(60, 3))
    y = rng.choice(["a", "b", "c"], size=60, p=[0.5, 0.3, 0.2])
    Xq = rng.normal(size=(20, 3))
    model = PNN(std=0.9).fit(X, y)
    np.testing.assert_allclose(model.predict_proba(Xq), parzen_classes(Xq, X, y, 0.9), rtol=1e-4)
    assert list(model.classes_) == ["a", "b", "c"]
    np.testing.assert_array_equal(model.class_count_, [np.sum(y == c) for c in "abc"])
    expected = np.array(list("abc"))[parzen_classes(Xq, X, y, 0.9).argmax(1)]
    np.testing.assert_array_equal(model.predict(Xq), expected)


@settings(max_examples=25, deadline=None)
@given(
    counts=st.lists(st.integers(1, 30), min_size=1, max_size=5),
    m=st.integers(1, 12),
    std=st.floats(0.5, 3.0),
    batch_size=st.sampled_from(["auto", 1, 5]),
    seed=st.integers(0, 2**16),
)
def test_pnn_matches_parzen_reference_any_class_sizes(counts, m, std, batch_size, seed):
    # Equal-ish sizes take the padded class-major layout, unequal ones the
    # one-hot product (MAX_CLASS_PADDING); both must give Specht's densities.
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.repeat(np.arange(len(counts)) * 3 + 1, counts))
    X, Xq = rng.normal(size=(len(y), 3)), rng.normal(size=(m, 3))
    model = PNN(std=std, batch_size=batch_size, device="cpu").fit(X, y)
    proba = model.predict_proba(Xq)
    if len(counts) == 1:
        np.testing.assert_allclose(proba, 1.0)
    else:
        np.testing.assert_allclose(proba, parzen_classes(Xq, X, y, std), rtol=2e-4, atol=1e-6)


def test_pnn_groups_training_points_by_class_and_ignores_their_order():
    rng = np.random.default_rng(3)
    X, y, Xq = rng.normal(size=(90, 4)), rng.integers(0, 3, 90), rng.normal(size=(25, 4))
    a = PNN(std=1.1).fit(X, y)
    assert np.all(np.diff(a.y_fit_) >= 0)
    np.testing.assert_array_equal(a.X_fit_, X[np.argsort(y, kind="stable")])
    perm = rng.permutation(90)
    b = PNN(std=1.1).fit(X[perm], y[perm])
    np.testing.assert_allclose(a.predict_proba(Xq), b.predict_proba(Xq), rtol=1e-5, atol=1e-7)


def test_pnn_far_query_is_finite_and_takes_nearest_class():
    X = np.array([[0.0, 0.0], [5.0, 5.0]])
    model = PNN(std=0.1).fit(X, [0, 1])
    proba = model.predict_proba([[1e5, 1e5], [-300.0, 0.0]])
    assert np.all(np.isfinite(proba))
    np.testing.assert_array_equal(model.predict([[1e5, 1e5], [-300.0, 0.0]]), [1, 0])


def test_pnn_digits_accuracy():
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    assert PNN(std=4.0).fit(Xtr, ytr).score(Xte, yte) >= 0.97


@pytest.mark.parametrize("cls", [GRNN, PNN])
def test_bad_input(cls):
    X, y = np.random.default_rng(0).normal(size=(10, 3)), np.arange(10) % 2
    with pytest.raises(NotFittedError, match="is not fitted yet"):
        cls().predict(X)
    name = cls.__name__
    with pytest.raises(ConfigError, match=rf"{name}: expected `std` to be a float in the range "
                       r"\(0\.0, inf\), received 0"):
        cls(std=0).fit(X, y)
    with pytest.raises(ConfigError, match=r"received -1\.0"):
        cls(std=-1.0).fit(X, y)
    with pytest.raises(ConfigError, match=rf"{name}: expected `batch_size` to be an int in the range "
                       r"\[1, inf\) or one of 'auto', received 'big'"):
        cls(batch_size="big").fit(X, y)
    with pytest.raises(ConfigError, match=rf"{name}: expected `n_threads` to be an int in the range "
                       r"\[1, inf\) or None, received 0"):
        cls(n_threads=0).fit(X, y)
    model = cls().fit(X, y)
    with pytest.raises(ValueError, match=f"X has 2 features, but {cls.__name__} is expecting 3"):
        model.predict(X[:, :2])
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        model.predict(bad)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        cls().fit(bad, y)
    with pytest.raises(ValueError, match="requires y to be passed"):
        cls().fit(X, None)


def test_many_tiles_and_class_ranges_match_the_references(monkeypatch):
    """Tiles of 48 centers, chunks of 7 queries: every boundary case of the tiling."""
    import neuralab.classic._kernels as kernels

    monkeypatch.setattr(kernels, "TILE_COLUMNS", 48)
    rng = np.random.default_rng(3)
    X, Xq = rng.normal(size=(301, 4)), rng.normal(size=(30, 4))
    Y = rng.normal(size=(301, 2))
    y = np.repeat([0, 1, 2], [50, 200, 51])
    pred = GRNN(std=0.9, batch_size=7).fit(X, Y).predict(Xq)
    np.testing.assert_allclose(pred, nadaraya_watson(Xq, X, Y, 0.9), rtol=1e-4, atol=1e-5)
    proba = PNN(std=0.9, batch_size=7).fit(X, y).predict_proba(Xq)
    np.testing.assert_allclose(proba, parzen_classes(Xq, X, y, 0.9), rtol=2e-4, atol=1e-6)
    # two threads: whole-row chunks (few queries), then the queries split over two
    # Python threads (ROWS = 8 makes 30 queries "many"): the same numbers
    import torch

    before = torch.get_num_threads()
    for rows in (kernels.ROWS, 8):
        monkeypatch.setattr(kernels, "ROWS", rows)
        pred2 = GRNN(std=0.9, n_threads=2).fit(X, Y).predict(Xq)
        np.testing.assert_allclose(pred2, pred, rtol=1e-5, atol=1e-6)
        proba2 = PNN(std=0.9, n_threads=2).fit(X, y).predict_proba(Xq)
        np.testing.assert_allclose(proba2, proba, rtol=1e-5, atol=1e-7)
    assert torch.get_num_threads() == before


def test_std_changed_after_fit_is_used():
    rng = np.random.default_rng(4)
    X, y, Xq = rng.normal(size=(60, 2)), rng.normal(size=60), rng.normal(size=(5, 2))
    model = GRNN(std=0.5).fit(X, y)
    model.set_params(std=1.3)  # predict must not reuse the kernel matrix made for σ = 0.5
    np.testing.assert_allclose(model.predict(Xq), nadaraya_watson(Xq, X, y[:, None], 1.3).ravel(),
                               rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("cls", [GRNN, PNN])
def test_tiny_std_gives_config_error_or_finite_predictions(cls):
    X, y = np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 1.0]]), np.array([0, 1, 1])
    with pytest.raises(ConfigError, match=rf"{cls.__name__}: expected `std` to be at least .* "
                                          r"overflow float32\), received 1e-200"):
        cls(std=1e-200).fit(X, y)  # 1/σ² overflows even float64
    with pytest.raises(ConfigError, match=r"received 1e-18"):
        cls(std=1e-18).fit(X, y).predict(X)  # ‖x‖²/σ² overflows float32
    # σ = 1e-6: every kernel weight underflows to 0, yet predictions stay finite and
    # equal the nearest training point's target (the limit σ → 0)
    query = np.array([[0.1, 0.0], [2.9, 1.2], [0.8, 0.1]])
    out = cls(std=1e-6).fit(X, y).predict(query)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, [0, 1, 1])

"""SOFM: update rules against hand computations, metrics against NumPy, QE against MiniSom."""

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError

from neuralab.classic import SOFM
from neuralab.classic.sofm import grid_coordinates
from neuralab.errors import ConfigError, DataError

RNG = np.random.default_rng(0)
X_SMALL = RNG.normal(size=(40, 3))


def test_hexagon_grid_has_six_neighbours_at_unit_distance():
    pos = grid_coordinates((5, 6), "hexagon")
    d = cdist(pos, pos)
    interior = [r * 6 + c for r in range(1, 4) for c in range(1, 5)]
    for u in interior:
        assert np.sum(np.isclose(d[u], 1.0)) == 6
    assert d[d > 0].min() == pytest.approx(1.0)


def test_rect_neighbourhood_is_product_of_axis_gaussians():
    import torch

    som = SOFM((4, 5), std=1.3)
    pos = torch.as_tensor(grid_coordinates((4, 5)))
    H = som._neighbourhood(torch.cdist(pos, pos).square(), 1.3, None).numpy()
    c = 7  # unit (1, 2)
    gx = np.exp(-((np.arange(4) - 1) ** 2) / (2 * 1.3**2))
    gy = np.exp(-((np.arange(5) - 2) ** 2) / (2 * 1.3**2))
    np.testing.assert_allclose(H[c], np.outer(gx, gy).ravel(), rtol=1e-6)
    Hr = som._neighbourhood(torch.cdist(pos, pos).square(), 1.3, 1).numpy()
    assert np.count_nonzero(Hr[c]) == 5  # the unit and its 4 direct neighbours


def _fitted(grid=(3, 3), **kw):
    return SOFM(grid, max_iter=1, random_state=0, device="cpu", **kw).fit(X_SMALL)


def test_online_single_sample_is_kohonen_step():
    som = _fitted(std=1.0, learning_rate=0.3, batch_size=1)
    W0 = RNG.normal(size=(9, 3))
    som.cluster_centers_ = W0.copy()
    x = np.array([[0.5, -1.0, 2.0]])
    som.partial_fit(x)
    c = np.argmin(((W0 - x) ** 2).sum(1))
    pos = grid_coordinates((3, 3))
    h = np.exp(-((pos - pos[c]) ** 2).sum(1) / 2.0)
    np.testing.assert_allclose(som.cluster_centers_, W0 + 0.3 * h[:, None] * (x - W0), rtol=1e-5)


def test_minibatch_of_identical_samples_equals_sequential_steps():
    W0 = RNG.normal(size=(9, 3))
    x = np.array([[0.2, 0.1, -0.4]])
    a = _fitted(learning_rate=0.4, batch_size=5)
    a.cluster_centers_ = W0.copy()
    a.partial_fit(np.repeat(x, 5, 0))
    b = _fitted(learning_rate=0.4, batch_size=1)
    b.cluster_centers_ = W0.copy()
    for _ in range(5):
        b.partial_fit(x)
        b.n_iter_ -= 1  # keep the same epoch of the schedule
    np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_, rtol=1e-5, atol=1e-6)


def test_minibatch_step_is_exact_sequential_composition():
    # B distinct samples, BMUs found against the weights at the step's start,
    # then applied one after the other in row order (float64 reference).
    import torch

    rng = np.random.default_rng(5)
    som = SOFM((4, 5), learning_rate=0.7, std=1.2, batch_size=6)
    som.unit_coordinates_ = grid_coordinates((4, 5))
    W0, Xp = rng.normal(size=(20, 3)), rng.normal(scale=2.0, size=(15, 3))
    H = np.exp(-som._grid_sq() / (2 * 1.2**2))
    out = som._online_epoch(torch.tensor(Xp, dtype=torch.float32),
                            torch.tensor(W0, dtype=torch.float32),
                            torch.tensor(H, dtype=torch.float32), 0.7).numpy()
    W = W0.copy()
    for start in range(0, 15, 6):  # steps of 6, 6 and 3 samples
        xb = Xp[start:start + 6]
        bmus = cdist(xb, W).argmin(1)
        for x, c in zip(xb, bmus):
            W += 0.7 * H[c][:, None] * (x - W)
    np.testing.assert_allclose(out, W, rtol=1e-5, atol=1e-5)


def test_batch_epoch_is_kohonen_batch_map():
    som = _fitted(mode="batch", learning_rate=1.0, std=0.8)
    W0 = X_SMALL[[0, 5, 9, 13, 17, 21, 25, 29, 33]].copy()
    som.cluster_centers_ = W0.copy()
    som.partial_fit(X_SMALL)
    pos = grid_coordinates((3, 3))
    H = np.exp(-cdist(pos, pos, "sqeuclidean") / (2 * 0.8**2))
    bmu = np.argmin(cdist(X_SMALL, W0), 1)
    S = H[:, bmu]  # (U, n)
    expected = S @ X_SMALL / S.sum(1, keepdims=True)
    np.testing.assert_allclose(som.cluster_centers_, expected, rtol=1e-5)


def test_schedule_matches_neupy_and_minisom_asymptotic_decay():
    som = SOFM(learning_rate=0.5, std=3.0, learning_radius=4, reduce_step_after=5,
               reduce_std_after=5, reduce_radius_after=2)
    lr, std, radius = som._schedule(7)
    assert lr == pytest.approx(0.5 / (1 + 7 / 5))
    assert std == pytest.approx(3.0 / (1 + 7 / 5))
    assert radius == 1


def test_metrics_transform_and_umatrix_match_numpy():
    som = SOFM((4, 4), max_iter=5, random_state=1).fit(X_SMALL)
    W = som.cluster_centers_
    D = cdist(X_SMALL, W)
    np.testing.assert_allclose(som.transform(X_SMALL), D, rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(som.predict(X_SMALL), D.argmin(1))
    np.testing.assert_array_equal(som.labels_, D.argmin(1))
    assert som.quantization_error(X_SMALL) == pytest.approx(D.min(1).mean(), rel=1e-5)
    pos = som.unit_coordinates_
    top2 = np.argsort(D, 1)[:, :2]
    gap = np.linalg.norm(pos[top2[:, 0]] - pos[top2[:, 1]], axis=1)
    assert som.topographic_error(X_SMALL) == pytest.approx(np.mean(gap > 1.42))
    umat = np.zeros((4, 4))
    for r in range(4):
        for c in range(4):
            nb = [(r + i, c + j) for i in (-1, 0, 1) for j in (-1, 0, 1)
                  if (i or j) and 0 <= r + i < 4 and 0 <= c + j < 4]
            umat[r, c] = np.mean([np.linalg.norm(W[r * 4 + c] - W[a * 4 + b]) for a, b in nb])
    np.testing.assert_allclose(som.distance_map(), umat, rtol=1e-10)


@pytest.mark.parametrize("distance", ["dot_product", "cos"])
def test_bmu_under_other_distances(distance):
    som = SOFM((3, 3), distance=distance, max_iter=2, random_state=0).fit(np.abs(X_SMALL))
    W = som.cluster_centers_
    score = X_SMALL @ W.T
    if distance == "cos":
        score = score / np.linalg.norm(W, axis=1)
    np.testing.assert_array_equal(som.predict(X_SMALL), score.argmax(1))


def test_hexagon_topographic_error_uses_six_neighbours():
    som = SOFM((3, 4), grid_type="hexagon", max_iter=3, random_state=0).fit(X_SMALL)
    D = cdist(X_SMALL, som.cluster_centers_)
    top2 = np.argsort(D, 1)[:, :2]
    pos = som.unit_coordinates_
    gap = np.linalg.norm(pos[top2[:, 0]] - pos[top2[:, 1]], axis=1)
    assert som.topographic_error(X_SMALL) == pytest.approx(np.mean(gap > 1.0 + 1e-6))


def test_fixed_seed_gives_identical_weights_and_partial_fit_continues():
    a = SOFM((5, 5), max_iter=4, random_state=3).fit(X_SMALL)
    b = SOFM((5, 5), max_iter=4, random_state=3).fit(X_SMALL)
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)
    c = SOFM((5, 5), max_iter=4, random_state=3)
    c.partial_fit(X_SMALL)
    assert c.n_iter_ == 1
    c.partial_fit(X_SMALL)
    assert c.n_iter_ == 2


def test_pca_init_spans_leading_components():
    X = load_digits().data[:300]
    som = SOFM((6, 6), weight_init="pca", max_iter=1, random_state=0)
    W0 = som._init_weights(X, 36, (6, 6))
    centred = W0 - X.mean(0)
    _, _, vt = np.linalg.svd(X - X.mean(0), full_matrices=False)
    residual = centred - centred @ vt[:2].T @ vt[:2]
    assert np.abs(residual).max() < 1e-8


@pytest.mark.slow
def test_digits_quantization_error_no_worse_than_minisom():
    minisom = pytest.importorskip("minisom")
    X = load_digits().data
    # Same grid, sigma, learning rate, initialisation (data samples) and schedule
    # (MiniSom's asymptotic decay per epoch = reduce_*_after = epochs / 2), and
    # the same number of sample presentations (epochs × 1797, in shuffled order).
    grid, sigma, lr, epochs, seeds = (10, 10), 1.5, 0.5, 4, range(8)
    ours, theirs = [], []
    for seed in seeds:
        ms = minisom.MiniSom(*grid, X.shape[1], sigma=sigma, learning_rate=lr, random_seed=seed)
        ms.random_weights_init(X)
        ms.train(X, epochs, random_order=True, use_epochs=True)
        theirs.append(ms.quantization_error(X))
        som = SOFM(grid, std=sigma, learning_rate=lr, max_iter=epochs, device="cpu",
                   reduce_step_after=epochs / 2, reduce_std_after=epochs / 2, random_state=seed)
        ours.append(som.fit(X).quantization_error(X))
    # Both are random over seeds (about ±0.3 % here); "no worse" = our mean is not
    # above MiniSom's by more than two standard errors of the difference of means.
    se = np.sqrt(np.var(ours, ddof=1) / len(ours) + np.var(theirs, ddof=1) / len(theirs))
    assert np.mean(ours) <= np.mean(theirs) + 2 * se, (ours, theirs)


def test_bad_input():
    with pytest.raises(NotFittedError, match="is not fitted yet"):
        SOFM().transform(X_SMALL)
    with pytest.raises(ConfigError, match=r'SOFM: expected `features_grid` to be a tuple of 1 to 3 positive integers, received \(0, 3\)'):
        SOFM((0, 3)).fit(X_SMALL)
    with pytest.raises(ConfigError, match=r'SOFM: expected `features_grid` to be an instance of \'tuple\', an instance of \'list\' or an instance of \'int\', received \'big\''):
        SOFM("big").fit(X_SMALL)
    with pytest.raises(ConfigError, match=r'SOFM: expected `features_grid` to be a 2\-D grid \(rows, cols\) for grid_type=\'hexagon\', received \(2, 2, 2\)'):
        SOFM((2, 2, 2), grid_type="hexagon").fit(X_SMALL)
    with pytest.raises(ConfigError, match=r'SOFM: expected `distance` to be one of \'cos\', \'dot_product\', \'euclid\', received \'manhattan\''):
        SOFM(distance="manhattan").fit(X_SMALL)
    with pytest.raises(ConfigError, match=r'SOFM: expected `grid_type` to be one of \'hexagon\', \'rect\', received \'square\''):
        SOFM(grid_type="square").fit(X_SMALL)
    with pytest.raises(ConfigError, match=r'SOFM: expected `std` to be a float in the range \(0\.0, inf\), received 0'):
        SOFM(std=0).fit(X_SMALL)
    with pytest.raises(ConfigError, match=r'SOFM: expected `learning_rate` to be in \(0, 1\] for mode=\'online\', received 1\.5'):
        SOFM(learning_rate=1.5).fit(X_SMALL)
    with pytest.raises(DataError, match=r"weight_init='pca' on a 2-D grid needs .* shape \(40, 1\)"):
        SOFM(weight_init="pca").fit(X_SMALL[:, :1])
    som = SOFM((3, 3), max_iter=1).fit(X_SMALL)
    with pytest.raises(ValueError, match="X has 2 features, but SOFM is expecting 3"):
        som.predict(X_SMALL[:, :2])
    bad = X_SMALL.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        som.quantization_error(bad)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        SOFM().fit(bad)
    with pytest.raises(ConfigError, match="at least 2 units"):
        SOFM((1,), max_iter=1).fit(X_SMALL).topographic_error(X_SMALL)


def test_loss_curve_is_the_quantization_error_after_each_epoch():
    X = load_digits().data[:400]
    som = SOFM((5, 5), std=1.5, max_iter=6, reduce_step_after=3, reduce_std_after=3,
               random_state=0, device="cpu").fit(X)
    curve = list(som.loss_curve_)
    assert len(curve) == som.n_iter_ == 6
    D = cdist(X, som.cluster_centers_)  # NumPy/SciPy QE of the final weights
    assert curve[-1] == pytest.approx(D.min(1).mean(), rel=1e-5)
    assert curve[-1] < 0.85 * curve[0] and np.all(np.diff(curve[1:]) < 0.05 * curve[0])
    som.partial_fit(X)
    assert len(som.loss_curve_) == som.n_iter_ == 7 and som.loss_curve_[:6] == curve


@pytest.mark.parametrize("kw", [{"batch_size": 1}, {"batch_size": 8}, {"mode": "batch"}])
def test_cosine_distance_keeps_unit_norm_weights(kw):
    X = np.abs(X_SMALL) + 0.1
    som = SOFM((3, 3), distance="cos", max_iter=3, learning_rate=0.5, random_state=0,
               device="cpu", **kw).fit(X)
    np.testing.assert_allclose(np.linalg.norm(som.cluster_centers_, axis=1), 1.0, rtol=1e-5)
    # the BMU is then also the nearest unit vector to x / ‖x‖
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    np.testing.assert_array_equal(som.predict(X), cdist(Xn, som.cluster_centers_).argmin(1))


def test_init_array_is_the_starting_weights():
    W0 = X_SMALL[[1, 4, 7, 10, 13, 16, 19, 22, 25]] + 0.01
    som = SOFM((3, 3), mode="batch", learning_rate=1.0, std=0.8, max_iter=1, init=W0,
               random_state=0, device="cpu").fit(X_SMALL)
    pos = grid_coordinates((3, 3))
    H = np.exp(-cdist(pos, pos, "sqeuclidean") / (2 * 0.8**2))
    S = H[:, np.argmin(cdist(X_SMALL, W0), 1)]  # one batch-map step from W0, by hand
    np.testing.assert_allclose(som.cluster_centers_, S @ X_SMALL / S.sum(1, keepdims=True),
                               rtol=1e-5)
    assert som.init is W0 and np.all(W0 == X_SMALL[[1, 4, 7, 10, 13, 16, 19, 22, 25]] + 0.01)
    from neuralab.errors import ShapeError
    with pytest.raises(ShapeError, match=r"SOFM: expected `init` to be an array of shape \(9, 3\) "
                                         r"\(n_units, n_features\), received an array of shape \(4, 3\)"):
        SOFM((3, 3), init=W0[:4]).fit(X_SMALL)
    with pytest.raises(DataError, match=r"SOFM: `init` must be finite; received nan at index \(0, 0\)"):
        SOFM((3, 3), init=np.full((9, 3), np.nan)).fit(X_SMALL)

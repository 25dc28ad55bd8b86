"""Fréchet distance / FID against scipy.linalg.sqrtm and hand values; mode and class coverage."""

import math

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st

from neuralab.errors import DataError, ShapeError
from neuralab.generative import class_coverage, fid, frechet_distance, make_gaussian_ring, mode_coverage


def _reference(mu1, s1, mu2, s2):
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean.real))


@settings(max_examples=25, deadline=None)
@given(d=st.integers(1, 12), seed=st.integers(0, 10_000))
def test_frechet_distance_equals_scipy_sqrtm_closed_form(d, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(d, d + 2)), rng.normal(size=(d, d + 3))
    s1, s2 = a @ a.T / d + 1e-3 * np.eye(d), b @ b.T / d + 1e-3 * np.eye(d)   # SPD
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    want = _reference(mu1, s1, mu2, s2)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(want, rel=1e-6, abs=1e-8)


def test_frechet_distance_of_two_1d_gaussians_by_hand():
    # N(μ1, σ1²), N(μ2, σ2²): (μ1 − μ2)² + (σ1 − σ2)²
    assert frechet_distance([1.0], [[4.0]], [-2.0], [[9.0]]) == pytest.approx(9 + 1)
    assert frechet_distance([0.5], [[0.25]], [0.5], [[0.25]]) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.filterwarnings("ignore::scipy.linalg.LinAlgWarning")
def test_frechet_distance_symmetric_and_singular_covariances():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(6, 2))
    s1, s2 = a @ a.T, np.diag([1.0, 2, 3, 0, 0, 0])           # rank 2 and rank 3
    mu = np.zeros(6)
    assert frechet_distance(mu, s1, mu, s2) == pytest.approx(frechet_distance(mu, s2, mu, s1), rel=1e-6)
    assert frechet_distance(mu, s1, mu, s2) == pytest.approx(_reference(mu, s1, mu, s2), rel=1e-5)


def test_fid_of_a_set_with_itself_is_zero_and_matches_the_fitted_gaussians():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 5))
    y = rng.normal(size=(200, 5)) * 2 + 1
    assert fid(x, x) == pytest.approx(0.0, abs=1e-9)
    want = _reference(x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))
    assert fid(x, y) == pytest.approx(want, rel=1e-6)


def test_fid_errors():
    rng = np.random.default_rng(0)
    with pytest.raises(DataError, match=r"more samples than feature dimensions.*received 10 samples of 20"):
        fid(rng.normal(size=(10, 20)), rng.normal(size=(50, 20)))
    with pytest.raises(ShapeError, match="same width"):
        fid(rng.normal(size=(50, 3)), rng.normal(size=(50, 4)))
    with pytest.raises(DataError, match="finite"):
        fid(np.full((10, 2), np.nan), rng.normal(size=(10, 2)))
    with pytest.raises(ShapeError, match=r"sigma2.*\(2, 2\)"):
        frechet_distance([0, 0], np.eye(2), [0, 0], np.eye(3))


def test_mode_coverage_by_hand():
    x, modes = make_gaussian_ring(800, std=0.02, seed=0)
    r = mode_coverage(x, modes, 0.02)
    assert r["modes_covered"] == 8 and r["high_quality_fraction"] > 0.98   # 3σ holds 98.9 % in 2-D
    one_mode = np.repeat(modes[:1], 100, axis=0)
    r = mode_coverage(one_mode, modes, 0.02)
    assert r["modes_covered"] == 1 and r["counts"][0] == 100
    far = np.zeros((50, 2))                                  # the ring's centre: no mode within 3σ
    assert mode_coverage(far, modes, 0.02)["high_quality_fraction"] == 0.0
    with pytest.raises(ShapeError, match="2 coordinates"):
        mode_coverage(np.zeros((5, 3)), modes, 0.02)


def test_gaussian_ring_geometry():
    x, modes = make_gaussian_ring(4000, n_modes=8, radius=2.0, std=0.05, seed=3)
    assert np.allclose(np.linalg.norm(modes, axis=1), 2.0)
    d = np.linalg.norm(x[:, None] - modes[None], axis=2).min(1)
    assert np.sqrt((d ** 2).mean() / 2) == pytest.approx(0.05, rel=0.05)   # per-axis std


def test_class_coverage_by_hand():
    p = np.array([[0.95, 0.05, 0.0], [0.1, 0.85, 0.05], [0.0, 0.01, 0.99], [0.92, 0.08, 0.0]])
    r = class_coverage(p)
    assert r["confident_fraction"] == 0.75
    assert r["class_histogram"] == [2, 1, 1]
    freq = np.array([0.5, 0.25, 0.25])
    assert r["class_entropy"] == pytest.approx(-(freq * np.log(freq)).sum())
    assert r["max_entropy"] == pytest.approx(math.log(3))
    uniform = np.eye(10)
    assert class_coverage(uniform)["class_entropy"] == pytest.approx(math.log(10))
    with pytest.raises(DataError, match="summing to 1"):
        class_coverage(np.ones((3, 4)))

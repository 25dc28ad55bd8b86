"""Classic estimators where users are: Pipelines, cross-validation, both except clauses,
explicit threads, and the update rules a one-line bug would break (RBM's uneven batch,
GNG's insertion)."""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pytest
import sklearn.exceptions
import torch
from sklearn.datasets import load_digits
from sklearn.exceptions import DataConversionWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler

import neuralab.errors
from neuralab.classic import (
    CMAC,
    GRNN,
    LVQ,
    LVQ2,
    LVQ3,
    LVQ21,
    PNN,
    RBM,
    SOFM,
    GrowingNeuralGas,
    Oja,
)
from neuralab.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:300], y[:300]


def test_rbm_in_a_pipeline_under_cross_validation_gives_finite_scores(digits):
    """Test folds scaled by the training folds' MinMaxScaler fall slightly outside [0, 1].

    Before, every fold raised and cross_val_score reported NaN; now the scores are finite
    and as good as with scikit-learn's BernoulliRBM in the same pipeline (within 0.1 of its
    mean accuracy on these 300 digits, 3 folds).
    """
    from sklearn.neural_network import BernoulliRBM

    X, y = digits

    def pipeline(rbm):
        return Pipeline([("scale", MinMaxScaler()), ("rbm", rbm),
                         ("clf", LogisticRegression(max_iter=300))])

    ours = pipeline(RBM(n_components=32, n_iter=5, learning_rate=0.06, random_state=0,
                        device="cpu"))
    theirs = pipeline(BernoulliRBM(n_components=32, n_iter=5, learning_rate=0.06,
                                   random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataConversionWarning)
        scores = cross_val_score(ours, X, y, cv=3, error_score="raise")
        reference = cross_val_score(theirs, X, y, cv=3)
    assert np.isfinite(scores).all() and scores.mean() > reference.mean() - 0.1
    pipe = pipeline(RBM(n_components=16, n_iter=2, random_state=0, device="cpu"))
    grid = GridSearchCV(pipe, {"rbm__learning_rate": [0.01, 0.1]}, cv=2, error_score="raise")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataConversionWarning)
        grid.fit(X, y)
    assert np.isfinite(grid.cv_results_["mean_test_score"]).all()


def test_rbm_clips_data_outside_the_unit_interval_with_a_warning_but_fit_refuses_it():
    X = (np.random.RandomState(0).rand(30, 5) > 0.5).astype(float)
    rbm = RBM(n_components=3, n_iter=2, random_state=0, device="cpu").fit(X)
    shifted = X * 1.1 - 0.05  # [-0.05, 1.05]
    with pytest.warns(DataConversionWarning, match=r"values in \[-0.05, 1.05\].*clipped"):
        out = rbm.transform(shifted)
    np.testing.assert_allclose(out, rbm.transform(np.clip(shifted, 0, 1)))
    with pytest.warns(DataConversionWarning):
        assert np.isfinite(rbm.score_samples(shifted)).all()
    with pytest.raises(DataError, match="Negative values in data passed to RBM"):
        RBM(device="cpu").fit(shifted)


@pytest.mark.parametrize("make", [
    lambda: GRNN(device="cpu"), lambda: PNN(device="cpu"), lambda: LVQ(max_iter=1),
    lambda: SOFM((2, 2), max_iter=1), lambda: GrowingNeuralGas(max_iter=1, device="cpu"),
    lambda: CMAC(max_iter=1), lambda: Oja(n_components=1, max_iter=2, device="cpu"),
], ids=["GRNN", "PNN", "LVQ", "SOFM", "GNG", "CMAC", "Oja"])
def test_errors_are_caught_by_neuralab_and_sklearn_except_clauses(make):
    X = np.random.RandomState(0).rand(12, 3)
    y = np.arange(12) % 2
    model = make()
    for clause in (neuralab.errors.NeuralabError, neuralab.errors.NotFittedError,
                   sklearn.exceptions.NotFittedError, AttributeError, ValueError):
        with pytest.raises(clause, match="is not fitted yet"):
            model.predict(X) if hasattr(model, "predict") else model.transform(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = make().fit(X, y)
    act = fitted.predict if hasattr(fitted, "predict") else fitted.transform
    for clause in (neuralab.errors.DataError, ValueError):
        with pytest.raises(clause, match="X has 2 features, but .* is expecting 3"):
            act(X[:, :2])
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(neuralab.errors.DataError, match="Input X contains NaN"):
        act(bad)


@pytest.mark.parametrize("cls", [GRNN, PNN])
def test_kernel_networks_refuse_a_std_that_overflows_instead_of_predicting_nan(cls):
    X = np.random.RandomState(0).rand(20, 4) * 10
    y = np.arange(20) % 2
    with pytest.raises(ConfigError, match=rf"{cls.__name__}: expected `std` to be at least 1\.\d+e-17 "
                       r"for this data .*overflow float32\), received 1e-19"):
        cls(std=1e-19, device="cpu").fit(X, y)  # refused at fit, before any kernel is made
    model = cls(device="cpu").fit(X, y).set_params(std=1e-19)
    with pytest.raises(ConfigError, match=r"received 1e-19"):
        model.predict(X)
    with pytest.raises(ConfigError, match="received 1e-200"):
        cls(std=1e-200, device="cpu").fit(X, y).predict(X)
    ok = cls(std=1e-3, device="cpu").fit(X, y).predict(X)  # tiny but representable: finite
    assert np.isfinite(ok.astype(float)).all()
    np.testing.assert_allclose(ok, y)  # σ → 0 is nearest-neighbour prediction


def test_one_constructor_per_family():
    assert PNN.__init__ is GRNN.__init__
    lvq_params = [list(inspect.signature(c.__init__).parameters) for c in (LVQ, LVQ2, LVQ21, LVQ3)]
    assert [p for p in lvq_params[3] if p not in lvq_params[0]] == ["window", "epsilon"]
    assert lvq_params[1] == lvq_params[2] == [p for p in lvq_params[3] if p != "epsilon"]
    with pytest.raises(TypeError, match="window"):
        LVQ(window=0.2)  # LVQ1 has no window
    model = LVQ3(4, window=0.2, epsilon=0.3)
    assert (model.n_subclasses, model.window, model.epsilon) == (4, 0.2, 0.3)
    assert LVQ2(window=0.25).get_params()["window"] == 0.25


def test_thread_count_is_left_alone_unless_asked(monkeypatch):
    calls = []
    real = torch.set_num_threads
    monkeypatch.setattr(torch, "set_num_threads", lambda n: (calls.append(n), real(n)))
    X = np.random.RandomState(0).rand(40, 3)
    before = torch.get_num_threads()
    Oja(n_components=2, max_iter=3, device="cpu").fit(X)
    GrowingNeuralGas(max_iter=1, device="cpu").fit(X)
    assert calls == [] and torch.get_num_threads() == before
    seen = []
    original = GrowingNeuralGas._train_loop

    def spy(self, *args):
        seen.append(torch.get_num_threads())
        return original(self, *args)

    monkeypatch.setattr(GrowingNeuralGas, "_train_loop", spy)
    GrowingNeuralGas(max_iter=1, device="cpu", n_threads=before + 1).fit(X)
    assert seen == [before + 1] and torch.get_num_threads() == before
    with pytest.raises(ConfigError, match=r"GrowingNeuralGas: expected `n_threads` to be an int in "
                       r"the range \[1, inf\) or None, received 0"):
        GrowingNeuralGas(n_threads=0).fit(X)


def test_rbm_update_with_a_batch_shorter_than_the_chains_against_numpy():
    """partial_fit on 7 samples with 10 persistent chains, weights large enough that every
    probability is exactly 0 or 1 (so the sampled states are known): the documented rule
    divides the positive term by the batch (7) and the negative term by the chains (10)."""
    rng = np.random.RandomState(3)
    V, H, m, k, lr = 6, 4, 10, 7, 0.01
    S = rng.choice([-1.0, 1.0], (H, V))
    W = 200.0 * S  # pre-activations are odd multiples of 100: σ is 0 or 1 exactly
    bh = 100.0 * rng.choice([-1.0, 1.0], H)
    bv = 100.0 * rng.choice([-1.0, 1.0], V)
    chains = rng.randint(0, 2, (m, H)).astype(float)
    X = rng.randint(0, 2, (k, V)).astype(float)

    rbm = RBM(n_components=H, batch_size=m, learning_rate=lr, random_state=0, device="cpu")
    rbm.fit(np.zeros((2, V)))  # sets the attributes, then they are replaced by hand
    rbm.components_, rbm.intercept_hidden_, rbm.intercept_visible_ = W.copy(), bh.copy(), bv.copy()
    rbm.h_samples_ = chains.copy()
    rbm.partial_fit(X)

    def step(z):
        return (z > 0).astype(float)

    h_pos = step(X @ W.T + bh)
    v_neg = step(chains @ W + bv)
    h_neg = step(v_neg @ W.T + bh)
    dW = lr * (h_pos.T @ X / k - h_neg.T @ v_neg / m)
    dbh = lr * (h_pos.mean(0) - h_neg.mean(0))
    dbv = lr * (X.mean(0) - v_neg.mean(0))
    np.testing.assert_allclose(rbm.components_ - W, dW, atol=1e-4)
    np.testing.assert_allclose(rbm.intercept_hidden_ - bh, dbh, atol=1e-4)
    np.testing.assert_allclose(rbm.intercept_visible_ - bv, dbv, atol=1e-4)
    np.testing.assert_array_equal(rbm.h_samples_, h_neg)
    assert np.abs(h_neg.T @ v_neg).sum() > 0  # the negative term is not zero: 1/7 ≠ 1/10 shows


def test_gng_inserts_a_node_by_hand():
    """Nodes q=(5,0), f=(1,0), a=(0,0); edges a–f, f–q; errors 0, 3, 4. One input at (5.1, 0)
    (step 0: nothing moves) with λ = 1: r = (w_q + w_f)/2 = (3, 0) is inserted, the edge q–f is
    replaced by q–r and r–f, err_q and err_f are multiplied by α, err_r = the new err_q, then
    every error decays by d."""
    alpha, d = 0.5, 0.9
    gng = GrowingNeuralGas(n_start_nodes=2, step=0.0, neighbour_step=0.0, max_nodes=4,
                           n_iter_before_neuron_added=1, after_split_error_decay_rate=alpha,
                           error_decay_rate=d, shuffle=False, device="cpu")
    gng.fit(np.array([[0.0, 0.0], [1.0, 0.0]]))
    gng.nodes_ = np.array([[0.0, 0.0], [1.0, 0.0], [5.0, 0.0]])
    gng.edges_ = np.array([[0, 1], [1, 2]])
    gng.edge_ages_ = np.array([0, 0])
    gng.errors_ = np.array([0.0, 3.0, 4.0])
    gng.n_nodes_ = 3
    gng.partial_fit(np.array([[5.1, 0.0]]))
    assert gng.n_nodes_ == 4
    np.testing.assert_allclose(gng.nodes_[3], [3.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(gng.nodes_[:3], [[0, 0], [1, 0], [5, 0]], atol=1e-6)
    err_q = (4.0 + 0.1 ** 2) * alpha  # the winner q = 2 first gains d²(x, w_q) = 0.01
    np.testing.assert_allclose(gng.errors_, [0.0, 3.0 * alpha * d, err_q * d, err_q * d],
                               rtol=1e-6)
    edges = {tuple(e) for e in gng.edges_.tolist()}
    assert edges == {(0, 1), (2, 3), (1, 3)}
    ages = dict(zip(map(tuple, gng.edges_.tolist()), gng.edge_ages_.tolist()))
    assert ages[(2, 3)] == 0 and ages[(1, 3)] == 0

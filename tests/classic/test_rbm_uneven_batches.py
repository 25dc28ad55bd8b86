"""RBM: an epoch whose batches are uneven, against a NumPy transcription of the documented rule.

The rule (``RBM``'s docstring): for a mini-batch of ``n`` samples and ``m`` persistent
chains, ``W += η (h⁺ᵀ v⁺ / n − h⁻ᵀ v⁻ / m)`` (likewise the biases). With 25 samples
and ``batch_size=10`` the batches have 9, 8 and 8 samples while 10 chains run, so
scikit-learn's rule (both terms over the batch size) gives other weights.
"""

from __future__ import annotations

import numpy as np
import torch

from neuralab.classic import RBM


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def numpy_epoch(X, W, bh, bv, lr, sizes, chains, rs):
    """One epoch of PCD-1 with the uniforms drawn from ``rs`` as the estimator draws them."""
    W, bh, bv = W.copy(), bh.copy(), bv.copy()
    h_chain = np.zeros((chains, W.shape[0]))
    start = 0
    for n in sizes:
        v_pos = X[start:start + n]
        start += n
        u_v = rs.uniform(size=(1, chains, W.shape[1]))[0]
        u_h = rs.uniform(size=(1, chains, W.shape[0]))[0]
        h_pos = sigmoid(v_pos @ W.T + bh)
        v_neg = (sigmoid(h_chain @ W + bv) > u_v).astype(float)
        h_neg = sigmoid(v_neg @ W.T + bh)
        W += lr * (h_pos.T @ v_pos / n - h_neg.T @ v_neg / chains)
        bh += lr * (h_pos.sum(0) / n - h_neg.sum(0) / chains)
        bv += lr * (v_pos.sum(0) / n - v_neg.sum(0) / chains)
        h_chain = (h_neg > u_h).astype(float)
    return W, bh, bv, h_chain


def test_uneven_last_batches_follow_the_documented_rule(monkeypatch):
    import neuralab.classic.rbm as rbm_mod

    X = (np.random.RandomState(0).rand(25, 6) > 0.5).astype(float)
    W0 = np.random.RandomState(1).normal(0, 0.1, (4, 6))
    rs = np.random.RandomState(3)
    monkeypatch.setattr(rbm_mod, "_RANDOM_CHUNK", 1)  # draw uniforms batch by batch
    monkeypatch.setattr(rbm_mod, "torch_generator", lambda rs_, device: None)
    monkeypatch.setattr(rbm_mod.RBM, "_train_dtype", torch.float64)
    monkeypatch.setattr(
        rbm_mod.torch, "rand",
        lambda *shape, generator, device, dtype: torch.as_tensor(rs.uniform(size=shape[1:]), dtype=dtype)[None],
    )
    ours = RBM(n_components=4, batch_size=10, n_iter=1, learning_rate=0.1, random_state=rs, init=W0,
               device="cpu").fit(X)

    ref_rs = np.random.RandomState(3)
    ref_rs.normal(0, 0.01, (4, 6))           # the estimator draws its default weights first
    W, bh, bv, h = numpy_epoch(X, W0, np.zeros(4), np.zeros(6), 0.1, [9, 8, 8], 10, ref_rs)
    np.testing.assert_allclose(ours.components_, W, atol=1e-12)
    np.testing.assert_allclose(ours.intercept_hidden_, bh, atol=1e-12)
    np.testing.assert_allclose(ours.intercept_visible_, bv, atol=1e-12)
    np.testing.assert_array_equal(ours.h_samples_, h)

"""Losses against formulas, torch's own losses and scikit-learn."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import hinge_loss, log_loss, mean_absolute_error, mean_squared_error

from neuralab import losses, registry
from neuralab.errors import ConfigError, DTypeError



def _rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def test_registry_names_and_aliases():
    assert registry.losses.get("mse") is losses.mse
    assert registry.losses.get("l1") is losses.mae is registry.losses.get("MAE")
    assert registry.losses.get("sse") is losses.l2
    assert set(registry.losses.names()) >= {
        "mse", "mae", "l2", "huber", "hinge", "binary_crossentropy", "categorical_crossentropy",
        "sigmoid_crossentropy", "softmax_crossentropy", "nll"}
    with pytest.raises(ConfigError, match=r"unknown loss 'msqe'; expected one of: .*mse"):
        losses.get("msqe")
    with pytest.raises(DTypeError, match=r"expected a loss name, a config dict or a callable.*received int"):
        losses.get(3)


def test_regression_losses_match_sklearn():
    p, t = _rand(50, 3), _rand(50, 3, seed=1)
    assert float(losses.mse(p, t)) == pytest.approx(mean_squared_error(t.numpy(), p.numpy()), rel=1e-5)
    assert float(losses.mae(p, t)) == pytest.approx(mean_absolute_error(t.numpy(), p.numpy()), rel=1e-5)
    assert float(losses.l2(p, t)) == pytest.approx(float(((p - t) ** 2).sum()), rel=1e-6)  # a sum, by convention


def test_column_targets_do_not_broadcast():
    p = torch.tensor([[1.0], [2.0], [3.0]])
    t = torch.tensor([1.0, 2.0, 5.0])
    assert float(losses.mse(p, t)) == pytest.approx(4 / 3)


@pytest.mark.parametrize("delta", [0.5, 1.0, 2.5])
def test_huber_matches_formula(delta):
    p, t = 3 * _rand(200), _rand(200, seed=2)
    r = (p - t).abs().numpy()
    want = np.where(r <= delta, 0.5 * r ** 2, delta * (r - 0.5 * delta)).mean()
    assert float(losses.huber(p, t, delta=delta)) == pytest.approx(want, rel=1e-5)
    assert float(losses.huber(delta=delta)(p, t)) == pytest.approx(want, rel=1e-5)
    assert float(registry.losses.get({"class": "huber", "config": {"delta": delta}})(p, t)) == pytest.approx(want, rel=1e-5)
    with pytest.raises(ConfigError, match=r"huber: expected a positive number for `delta`, received -1"):
        losses.huber(delta=-1)


def test_hinge_matches_sklearn_for_pm1_and_01_targets():
    scores = _rand(100)
    t = (torch.rand(100, generator=torch.Generator().manual_seed(3)) > 0.5).float()
    want = hinge_loss(2 * t.numpy() - 1, scores.numpy())
    assert float(losses.hinge(scores, 2 * t - 1)) == pytest.approx(want, rel=1e-5)
    assert float(losses.hinge(scores, t)) == pytest.approx(want, rel=1e-5)


def test_binary_crossentropy_matches_sklearn_and_is_safe():
    p = torch.sigmoid(_rand(100))
    t = (torch.rand(100, generator=torch.Generator().manual_seed(4)) > 0.5).float()
    pd = p.double().numpy()
    assert float(losses.binary_crossentropy(p, t)) == pytest.approx(log_loss(t.numpy(), np.stack([1 - pd, pd], 1)),
                                                                    rel=1e-4)
    saturated = losses.binary_crossentropy(torch.tensor([0.0, 1.0]), torch.tensor([1.0, 0.0]))
    assert torch.isfinite(saturated) and 15.0 < float(saturated) <= -np.log(1e-7) + 1e-4  # clamped at eps = 1e-7
    logits = _rand(100)
    assert float(losses.sigmoid_crossentropy(logits, t)) == pytest.approx(
        log_loss(t.numpy(), np.stack([1 - torch.sigmoid(logits).double().numpy(),
                                      torch.sigmoid(logits).double().numpy()], 1)), rel=1e-4)
    big = torch.tensor([1000.0, -1000.0])
    assert torch.isfinite(losses.sigmoid_crossentropy(big, torch.tensor([0.0, 1.0])))


def test_categorical_losses_labels_onehot_logits():
    logits = _rand(64, 5)
    labels = torch.randint(0, 5, (64,), generator=torch.Generator().manual_seed(5))
    onehot = F.one_hot(labels, 5).float()
    probs = torch.softmax(logits, dim=1)
    want = log_loss(labels.numpy(), torch.softmax(logits.double(), dim=1).numpy(), labels=range(5))
    for value in (losses.categorical_crossentropy(probs, labels), losses.categorical_crossentropy(probs, onehot),
                  losses.softmax_crossentropy(logits, labels), losses.softmax_crossentropy(logits, onehot),
                  losses.nll(torch.log_softmax(logits, 1), labels)):
        assert float(value) == pytest.approx(want, rel=1e-4)
    zero = losses.categorical_crossentropy(torch.tensor([[1.0, 0.0]]), torch.tensor([1]))
    assert torch.isfinite(zero)


def test_categorical_crossentropy_with_spatial_labels():
    logits = _rand(2, 4, 3, 3)
    labels = torch.randint(0, 4, (2, 3, 3), generator=torch.Generator().manual_seed(6))
    want = float(F.cross_entropy(logits, labels))
    assert float(losses.softmax_crossentropy(logits, labels)) == pytest.approx(want, rel=1e-5)
    assert float(losses.categorical_crossentropy(torch.softmax(logits, 1), labels)) == pytest.approx(want, rel=1e-5)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 8), c=st.integers(2, 6), seed=st.integers(0, 10_000))
def test_probability_and_logit_forms_agree(n, c, seed):
    logits = _rand(n, c, seed=seed)
    labels = torch.randint(0, c, (n,), generator=torch.Generator().manual_seed(seed))
    a = losses.softmax_crossentropy(logits, labels)
    b = losses.categorical_crossentropy(torch.softmax(logits, 1), labels)
    assert a.shape == () and float(a) >= 0
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    z = logits[:, 0]
    t = (labels % 2).float()
    torch.testing.assert_close(losses.sigmoid_crossentropy(z, t), losses.binary_crossentropy(torch.sigmoid(z), t),
                               rtol=1e-4, atol=1e-5)


def test_gradients_of_mse_and_l2():
    p = _rand(10, 2).requires_grad_()
    t = _rand(10, 2, seed=9)
    losses.mse(p, t).backward()
    torch.testing.assert_close(p.grad, 2 * (p - t).detach() / p.numel())
    p.grad = None
    losses.l2(p, t).backward()
    torch.testing.assert_close(p.grad, 2 * (p - t).detach())


@pytest.mark.parametrize(
    "last, y, n_out, expected",
    [
        ("Softmax", torch.tensor([0, 1]), 2, "categorical_crossentropy"),
        ("LogSoftmax", torch.tensor([0, 1]), 2, "nll"),
        ("Sigmoid", torch.tensor([[0.0], [1.0]]), 1, "binary_crossentropy"),
        (None, torch.tensor([0, 3]), 4, "softmax_crossentropy"),
        ("Linear", torch.tensor([0, 1]), 1, "sigmoid_crossentropy"),
        (None, torch.tensor([[0.0, 1.0], [1.0, 0.0]]), 2, "softmax_crossentropy"),
        (None, torch.tensor([[0.5, 1.0], [1.0, 0.0]]), 2, "mse"),
    ],
)
def test_select(last, y, n_out, expected):
    assert losses.select(last, y, n_out) == expected

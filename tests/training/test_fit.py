"""fit / predict / evaluate on plain torch modules, against hand-written references."""

import copy
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import accuracy_score, log_loss
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from _datasets import Pairs

from neuralab import losses, regularizers, schedules
from neuralab.errors import ConfigError
from neuralab.training import evaluate, fit, predict


def _hand_sgd(net, x, y, lr, epochs, batch_size, seed, shuffle=True, penalty=None, clip=None):
    """The reference: a minimal PyTorch loop with fit's documented shuffling."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    n = x.shape[0]
    epoch_losses = []
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen) if shuffle else torch.arange(n)
        total = 0.0
        for i in range(0, n, batch_size):
            idx = order[i:i + batch_size]
            opt.zero_grad()
            loss = F.cross_entropy(net(x[idx]), y[idx])
            if penalty is not None:
                loss = loss + penalty(net)
            loss.backward()
            if clip is not None:
                clip(net.parameters())
            opt.step()
            total += float(loss.detach()) * len(idx)
        epoch_losses.append(total / n)
    return epoch_losses


@pytest.mark.parametrize("shuffle", [True, False])
def test_fit_equals_hand_written_loop(blobs, mlp, shuffle):
    x, y = blobs(200)
    net = mlp()
    ref = copy.deepcopy(net)
    h = fit(net, x, y, optimizer="sgd", lr=0.1, loss="softmax_crossentropy", epochs=3, batch_size=32,
            shuffle=shuffle, progress=False, seed=7)
    ref_losses = _hand_sgd(ref, x, y, 0.1, 3, 32, seed=7, shuffle=shuffle)
    for a, b in zip(net.parameters(), ref.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    np.testing.assert_allclose(h["loss"], ref_losses, rtol=1e-5)


def test_numpy_inputs_learn_blobs_and_evaluate_matches_sklearn(blobs, mlp):
    x, y = blobs(300)
    xn, yn = x.double().numpy(), y.numpy()
    net = mlp()
    h = fit(net, xn, yn, epochs=15, lr=0.02, metrics=["accuracy"], progress=False, seed=0)
    assert h["accuracy"][-1] > 0.95
    assert h["loss"][-1] < h["loss"][0]
    proba = torch.softmax(torch.from_numpy(predict(net, xn)), dim=1).numpy()
    result = evaluate(net, xn, yn, metrics=["accuracy", "top2"])
    assert result["accuracy"] == pytest.approx(accuracy_score(yn, proba.argmax(1)), abs=1e-6)
    assert result["loss"] == pytest.approx(log_loss(yn, proba, labels=[0, 1, 2]), rel=1e-4)
    assert result["top2"] >= result["accuracy"]


def test_one_hot_and_integer_labels_train_identically(blobs, mlp):
    x, y = blobs(120)
    a, b = mlp(), mlp()
    fit(a, x, y, optimizer="sgd", lr=0.1, epochs=2, progress=False, seed=1)
    fit(b, x, F.one_hot(y, 3).float(), optimizer="sgd", lr=0.1, epochs=2, progress=False, seed=1)
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_dataset_dataloader_and_tensordataset_match_arrays(blobs, mlp):
    x, y = blobs(96)
    nets = [mlp() for _ in range(4)]
    kw = dict(optimizer="sgd", lr=0.1, epochs=2, batch_size=16, shuffle=False, progress=False, seed=0)
    fit(nets[0], x, y, **kw)
    fit(nets[1], Pairs(x, y), **kw)
    fit(nets[2], DataLoader(Pairs(x, y), batch_size=16), **kw)
    fit(nets[3], TensorDataset(x, y), **kw)
    for other in nets[1:]:
        for p, q in zip(nets[0].parameters(), other.parameters()):
            torch.testing.assert_close(p, q, rtol=0, atol=1e-6)


def test_shuffled_dataset_is_reproducible_with_a_seed(blobs, mlp):
    x, y = blobs(64)
    a, b = mlp(), mlp()
    fit(a, Pairs(x, y), epochs=2, batch_size=8, progress=False, seed=5)
    fit(b, Pairs(x, y), epochs=2, batch_size=8, progress=False, seed=5)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)


def test_lazy_modules_are_built_before_the_optimizer(blobs):
    x, y = blobs(100)
    torch.manual_seed(0)
    net = nn.Sequential(nn.LazyLinear(16), nn.Tanh(), nn.LazyLinear(3))
    h = fit(net, x, y, epochs=10, lr=0.05, metrics=["accuracy"], progress=False, seed=0)
    assert net[0].weight.shape == (16, 2)
    assert h["accuracy"][-1] > 0.9


class _Deferred(nn.Module):
    """Creates its weights at the first forward and says so with a `built` flag."""

    def __init__(self, units):
        super().__init__()
        self.units, self.built = units, False

    def forward(self, x):
        if not self.built:
            self.linear = nn.Linear(x.shape[1], self.units)
            self.built = True
        return self.linear(x)


def test_module_with_built_flag(blobs):
    x, y = blobs(100)
    net = _Deferred(3)
    h = fit(net, x, y, epochs=10, lr=0.05, metrics=["accuracy"], progress=False, seed=0)
    assert net.built and h["accuracy"][-1] > 0.9


@pytest.mark.parametrize(
    "last, targets, expected",
    [
        (nn.Softmax(dim=1), "labels", "categorical_crossentropy"),
        (nn.Softmax(dim=1), "onehot", "categorical_crossentropy"),
        (nn.Sigmoid(), "binary", "binary_crossentropy"),
        (nn.Identity(), "labels", "softmax_crossentropy"),
        (nn.Identity(), "real", "mse"),
    ],
)
def test_auto_loss(last, targets, expected):
    torch.manual_seed(0)
    x = torch.randn(40, 4)
    out = 1 if targets == "binary" else 3
    net = nn.Sequential(nn.Linear(4, out), last)
    labels = torch.randint(0, 3, (40,))
    y = {
        "labels": labels,
        "onehot": F.one_hot(labels, 3).float(),
        "binary": torch.randint(0, 2, (40, 1)).float(),
        "real": torch.randn(40, 3),
    }[targets]
    got = evaluate(net, x, y)["loss"]
    with torch.no_grad():
        want = float(losses.get(expected)(net(x), y))
    assert got == pytest.approx(want, rel=1e-5)


def test_auto_loss_single_logit_with_labels_uses_sigmoid_crossentropy():
    torch.manual_seed(0)
    x = torch.randn(64, 2)
    y = (x[:, 0] > 0).long()
    net = nn.Linear(2, 1)
    h = fit(net, x, y, epochs=30, lr=0.1, metrics=["accuracy"], progress=False, seed=0)
    assert h["accuracy"][-1] > 0.95  # accuracy thresholds the logit at 0
    with torch.no_grad():
        want = float(F.binary_cross_entropy_with_logits(net(x).squeeze(1), y.float()))
    assert evaluate(net, x, y)["loss"] == pytest.approx(want, rel=1e-5)


def test_validation_split_holds_out_the_last_samples(blobs, mlp):
    x, y = blobs(100)
    net = mlp()
    h = fit(net, x, y, epochs=2, validation_split=0.2, metrics=["accuracy"], progress=False, seed=0)
    last = evaluate(net, x[80:], y[80:], metrics=["accuracy"])
    assert h["val_loss"][-1] == pytest.approx(last["loss"], rel=1e-6)
    assert h["val_accuracy"][-1] == pytest.approx(last["accuracy"])


def test_validation_data_pair(blobs, mlp):
    x, y = blobs(100)
    xv, yv = blobs(50, seed=1)
    net = mlp()
    h = fit(net, x, y, epochs=2, validation_data=(xv.numpy(), yv.numpy()), progress=False, seed=0)
    assert h["val_loss"][-1] == pytest.approx(evaluate(net, xv, yv)["loss"], rel=1e-6)


def test_lr_schedule_sets_the_rate_per_epoch(blobs, mlp):
    x, y = blobs(64)
    h = fit(mlp(), x, y, optimizer="sgd", lr=0.1, epochs=5, lr_schedule=schedules.step_decay(0.5, every=2),
            progress=False, seed=0)
    np.testing.assert_allclose(h["lr"], [0.1, 0.1, 0.05, 0.05, 0.025])
    net = mlp()
    opt = torch.optim.SGD(net.parameters(), lr=0.2)
    h2 = fit(net, x, y, optimizer=opt, epochs=3, lr_schedule=schedules.exponential_decay(0.5).as_torch(opt),
             progress=False, seed=0)
    np.testing.assert_allclose(h2["lr"], [0.2, 0.1, 0.05])


def test_l2_penalty_and_clipping_match_the_reference(blobs, mlp):
    x, y = blobs(64)
    net = mlp()
    ref = copy.deepcopy(net)
    fit(net, x, y, optimizer="sgd", lr=0.1, loss="softmax_crossentropy", epochs=2, batch_size=16,
        regularizers=[regularizers.l2(0.01)], clip_grad_value=0.05, progress=False, seed=3)

    def penalty(m):
        return 0.01 * sum((p ** 2).sum() for p in m.parameters() if p.dim() >= 2)

    _hand_sgd(ref, x, y, 0.1, 2, 16, seed=3, penalty=penalty,
              clip=lambda ps: torch.nn.utils.clip_grad_value_(list(ps), 0.05))
    for a, b in zip(net.parameters(), ref.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_clip_grad_norm_matches_the_reference(blobs, mlp):
    x, y = blobs(64)
    net = mlp()
    ref = copy.deepcopy(net)
    fit(net, x, y, optimizer="sgd", lr=0.5, loss="softmax_crossentropy", epochs=1, batch_size=16,
        clip_grad_norm=0.1, progress=False, seed=3)
    _hand_sgd(ref, x, y, 0.5, 1, 16, seed=3,
              clip=lambda ps: torch.nn.utils.clip_grad_norm_(list(ps), 0.1))
    for a, b in zip(net.parameters(), ref.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_maxnorm_keeps_row_norms_bounded(blobs):
    x, y = blobs(100)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 3))
    fit(net, x * 10, y, optimizer="sgd", lr=0.5, epochs=3, regularizers=["maxnorm"], progress=False, seed=0)
    for layer in (net[0], net[2]):
        assert float(layer.weight.detach().norm(dim=1).max()) <= 3.0 + 1e-5


def test_named_optimizers_and_predict(blobs, mlp):
    x, y = blobs(150)
    for name in ("momentum", "nesterov", "rmsprop", "adamax", "adagrad"):
        net = mlp()
        h = fit(net, x, y, optimizer=name, lr=0.02, epochs=8, metrics=["accuracy"], progress=False, seed=0)
        assert h["accuracy"][-1] > 0.9, name
    out = predict(net, x.numpy(), batch_size=7)
    assert isinstance(out, np.ndarray) and out.shape == (150, 3)
    with torch.no_grad():
        np.testing.assert_allclose(out, net(x).numpy(), rtol=1e-5, atol=1e-6)


def test_regression_with_mae_metric(mlp):
    torch.manual_seed(0)
    x = torch.rand(256, 2) * 2 - 1
    y = (x[:, :1] * 2 - x[:, 1:]).numpy()  # (N, 1)
    net = mlp(out=1)
    h = fit(net, x, y[:, 0], optimizer="adam", lr=0.02, epochs=30, metrics=["mae", "mse"], progress=False, seed=0)
    assert h["mse"][-1] < 0.01
    np.testing.assert_allclose(h["mse"], h["loss"], rtol=1e-6)  # (N,) targets against (N, 1) outputs


def test_levenberg_marquardt_full_batch():
    torch.manual_seed(0)
    x = torch.linspace(-2, 2, 60).unsqueeze(1)
    y = torch.sin(x)
    net = nn.Sequential(nn.Linear(1, 8), nn.Tanh(), nn.Linear(8, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # default batch_size: no warning
        h = fit(net, x, y, optimizer="lm", loss="mse", epochs=15, progress=False, seed=0)
    assert h["loss"][-1] < 1e-3 < h["loss"][0]
    assert len(h["optimizer"]) == 15 and "mu" in h["optimizer"][-1]
    with torch.no_grad():
        assert float(F.mse_loss(net(x), y)) == pytest.approx(h["loss"][-1], rel=1e-5)


def test_full_batch_optimizer_warns_about_batch_size_once():
    x = torch.linspace(-1, 1, 40).unsqueeze(1)
    net = nn.Linear(1, 1)
    with pytest.warns(UserWarning, match=r"full-batch optimizer: it uses all 40 training samples.*batch_size=8"):
        h = fit(net, x, 3 * x, optimizer="newton", loss="mse", epochs=1, batch_size=8, progress=False,
                optimizer_kwargs={"penalty_const": 0.0})
    assert h["loss"][-1] < 1e-8  # undamped Newton solves a linear least-squares problem in one step


def test_residual_optimizer_rejects_other_losses(blobs, mlp):
    x, y = blobs(30)
    with pytest.raises(ConfigError, match=r"fit: LevenbergMarquardt: expected `loss` to be a least-squares loss: 'l2' or "
                                          r"'mse'.*received 'softmax_crossentropy'"):
        fit(mlp(), x, y, optimizer="lm", epochs=1, progress=False)


def test_irprop_plus_trains_per_batch(blobs, mlp):
    x, y = blobs(150)
    h = fit(mlp(), x, y, optimizer="irprop+", epochs=10, batch_size=150, metrics=["accuracy"], progress=False,
            seed=0)
    assert h["accuracy"][-1] > 0.9


def test_bad_arguments_raise_config_errors(blobs, mlp):
    x, y = blobs(20)
    with pytest.raises(ConfigError, match=r"fit: expected `epochs` to be an integer >= 0, received 'ten'"):
        fit(mlp(), x, y, epochs="ten")
    with pytest.raises(ConfigError, match=r"fit: expected `batch_size` to be an integer >= 1, received 0"):
        fit(mlp(), x, y, batch_size=0)
    with pytest.raises(ConfigError, match=r"fit: expected `validation_split` to be a finite number >= 0 and < 1, received 1.5"):
        fit(mlp(), x, y, validation_split=1.5)
    with pytest.raises(ConfigError, match=r"expected device 'auto', 'cpu'"):
        fit(mlp(), x, y, device="tpu-ish")
    with pytest.raises(ConfigError, match=r"unknown metric 'f7'.*accuracy"):
        fit(mlp(), x, y, metrics=["f7"], progress=False)
    with pytest.raises(ConfigError, match=r"unknown loss 'cross'; expected one of: .*mse"):
        fit(mlp(), x, y, loss="cross", progress=False)

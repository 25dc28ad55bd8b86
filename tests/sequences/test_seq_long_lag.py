"""Long time lags: the unrolled recurrences equal torch's, gradients vanish in a SimpleRNN,
the LSTM solves the lag-100 task while the SimpleRNN does not, and the embedded Reber grammar."""

import numpy as np
import pytest
import torch

from neuralab import init
from neuralab import layers as L
from neuralab.errors import ConfigError, TrainingError
from neuralab.sequences import (
    GradientNormRecorder,
    hidden_gradient_norms,
    make_adding_problem,
    make_long_lag,
    next_symbol_accuracy,
    train_embedded_reber,
)
from neuralab.sequences._gradients import _unrolled
from neuralab.training import fit


@pytest.mark.parametrize("make", [lambda: L.SimpleRNN(5), lambda: L.SimpleRNN(5, activation="relu"),
                                  lambda: L.LSTM(5), lambda: L.GRU(5)])
def test_unrolled_recurrence_equals_the_fused_kernel(make):
    torch.manual_seed(0)
    layer = make()
    layer.return_sequences = True
    x = torch.randn(3, 7, 4)
    fused = layer(x)
    torch.testing.assert_close(_unrolled(layer, x, []), fused)


def test_gradient_norms_vanish_in_a_simple_rnn_but_not_in_an_lstm():
    X, y = make_long_lag(16, lag=60)
    torch.manual_seed(0)
    rnn = L.Input((60, 61)) >> L.SimpleRNN(32) >> L.Linear(2)
    lstm = L.Input((60, 61)) >> L.LSTM(32, forget_bias=3.0) >> L.Linear(2)
    g_rnn = hidden_gradient_norms(rnn, X, y)
    g_lstm = hidden_gradient_norms(lstm, X, y)
    assert g_rnn.shape == (60,)
    # the gradient at the loss is similar; 59 steps back the RNN's is ~1e-12 of it
    assert g_rnn[0] / g_rnn[-1] < 1e-8
    assert g_lstm[0] / g_lstm[-1] > 1e-2
    # reference for the last step: autograd through the fused layer's output h_T
    layer = next(m for m in rnn.modules() if isinstance(m, L.SimpleRNN))
    head = next(m for m in rnn.modules() if isinstance(m, L.Linear))
    h_t = layer(torch.from_numpy(X)).detach().requires_grad_(True)
    torch.nn.functional.cross_entropy(head(h_t), torch.from_numpy(y)).backward()
    assert g_rnn[-1] == pytest.approx(float(h_t.grad.norm(dim=1).mean()), rel=1e-4)
    assert all(p.grad is None for p in layer.parameters())  # the model is left untouched


def test_gradient_recorder_callback_and_errors():
    X, y = make_long_lag(16, lag=10)
    torch.manual_seed(0)
    net = L.Input((10, 11)) >> L.LSTM(8, forget_bias=3.0) >> L.Linear(2)
    rec = GradientNormRecorder(X[:8], y[:8], every=2)
    fit(net, X, y, loss="softmax_crossentropy", epochs=2, batch_size=16, progress=False, seed=0,
        callbacks=[rec])
    assert [e for e, _ in rec.norms] == [-1, 1]
    assert all(n.shape == (10,) for _, n in rec.norms)
    torch.testing.assert_close(torch.from_numpy(rec.norms[-1][1]),
                               torch.from_numpy(hidden_gradient_norms(net, X[:8], y[:8])))
    with pytest.raises(ConfigError, match=r"expected a one-layer, one-direction recurrent layer"):
        hidden_gradient_norms(L.Input((5, 3)) >> L.GRU(4, bidirectional=True), X[:, :5, :3], y)
    with pytest.raises(ConfigError, match=r"expected a model with a SimpleRNN, LSTM or GRU layer"):
        hidden_gradient_norms(torch.nn.Linear(3, 2), X[:, :5, :3], y)


def _train_long_lag(layer, steps, lag=100):
    X, y = map(torch.from_numpy, make_long_lag(16, lag))
    torch.manual_seed(0)
    net = torch.nn.Sequential(layer, torch.nn.Linear(32, 2))
    net(X)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(net(X), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return float((net(X).argmax(1) == y).float().mean())


def test_lstm_solves_lag_100_and_a_simple_rnn_does_not_on_the_same_budget():
    torch.manual_seed(0)
    assert _train_long_lag(L.LSTM(32, forget_bias=3.0), 40) == 1.0
    torch.manual_seed(0)
    assert _train_long_lag(L.SimpleRNN(32), 40) == 0.5


def test_clipping_turns_an_exploding_run_into_a_training_one():
    """A tanh RNN with large recurrent weights: ‖∂L/∂h_0‖ ≈ 1e4 ‖∂L/∂h_T‖. Plain SGD at lr 0.03
    overflows (TrainingError); clipping each gradient component to ±0.1 trains the same run."""
    X, y = make_adding_problem(512, 50, seed=0)

    def run(**clip):
        torch.manual_seed(0)
        net = L.Input((50, 2)) >> L.SimpleRNN(64, weight=init.Normal(0, 0.3)) >> L.Linear(1)
        return net, dict(loss="mse", epochs=4, batch_size=32, lr=0.03, optimizer="sgd",
                         progress=False, seed=0, **clip)

    net, kwargs = run()
    grads = hidden_gradient_norms(net, X[:32], y[:32], "mse")
    assert grads[0] / grads[-1] > 1e3  # the gradient explodes backwards in time
    with pytest.raises(TrainingError):
        fit(net, X, y, **kwargs)
    net, kwargs = run(clip_grad_value=0.1)
    losses = fit(net, X, y, **kwargs)["loss"]
    assert np.isfinite(losses).all() and losses[-1] < 0.5 * losses[0]
    net, kwargs = run(clip_grad_norm=1.0)
    assert np.isfinite(fit(net, X, y, **kwargs)["loss"]).all()


def test_lstm_learns_the_embedded_reber_grammar():
    run = train_embedded_reber("lstm", seed=0, max_presentations=6000)
    assert run.success, run
    assert run.presentations <= 6000 and run.test_accuracy == 1.0


def test_next_symbol_accuracy_counts_the_top_k_rule():
    legal = torch.tensor([[[1.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]])
    good = torch.tensor([[[0.6, 0.5, 0.4], [0.0, 0.9, 0.1], [9.0, 9.0, 9.0]]])
    assert next_symbol_accuracy(good, legal) == (True, 1.0)
    bad = torch.tensor([[[0.6, 0.3, 0.4], [0.0, 0.9, 0.1], [0.0, 0.0, 0.0]]])
    assert next_symbol_accuracy(bad, legal) == (False, 0.5)

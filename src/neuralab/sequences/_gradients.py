"""Long time lags: the tasks, and the gradient ‖∂L/∂h_t‖ that shows why plain RNNs fail them.

Backpropagation through time multiplies the gradient by the step Jacobian
``∂h_{t+1}/∂h_t`` once per step; for a SimpleRNN this is ``diag(f'(·)) U`` and
its norm usually stays below 1, so ``‖∂L/∂h_t‖`` shrinks geometrically with the
distance to the loss (the vanishing gradient). An LSTM's cell carries
``∂c_{t+1}/∂c_t = diag(f_t)``, close to 1 for an open forget gate, so the error
reaches far back. When the Jacobians are above 1 the gradient explodes instead:
``fit(clip_grad_norm=…)`` rescales it, ``fit(clip_grad_value=…)`` clamps it.

- :func:`make_long_lag`: Hochreiter & Schmidhuber's task 2 (1997, §5.2): remember
  the first symbol over ``lag`` steps.
- :func:`make_adding_problem`: sum the two marked numbers of a long sequence.
- :func:`hidden_gradient_norms`: ``‖∂L/∂h_t‖`` per step of a recurrent layer inside any model.
- :class:`GradientNormRecorder`: a ``fit`` callback recording those norms each epoch.

Exploding gradients, failing then fixed (``tests/sequences/test_seq_long_lag.py``)::

    X, y = make_adding_problem(512, 50)
    net = L.Input((50, 2)) >> L.SimpleRNN(64, weight=init.Normal(0, 0.3)) >> L.Linear(1)
    hidden_gradient_norms(net, X[:32], y[:32], "mse")   # ‖∂L/∂h_0‖ ≈ 10⁴ · ‖∂L/∂h_50‖
    fit(net, X, y, loss="mse", optimizer="sgd", lr=0.03, epochs=4)
    # TrainingError: the loss became NaN or infinite …
    fit(net, X, y, loss="mse", optimizer="sgd", lr=0.03, epochs=4, clip_grad_value=0.1)
    # trains: loss 1.93 → 0.61 (clip_grad_norm=1.0 also stays finite)

>>> X, y = make_long_lag(4, lag=10)
>>> X.shape, y.tolist()
((4, 10, 11), [0, 1, 0, 1])
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from .. import losses as _losses
from ..errors import ConfigError, DataError
from ..layers.recurrent import GRU, LSTM, SimpleRNN, _Recurrent
from ..training import Callback
from ..validation import check_bool, check_int

__all__ = ["make_long_lag", "make_adding_problem", "hidden_gradient_norms",
           "GradientNormRecorder"]


def make_long_lag(n_samples: int = 256, lag: int = 100, *, noisy: bool = False,
                  seed: int | None = 0):
    """Task 2 of Hochreiter & Schmidhuber (1997): the class is the first symbol, ``lag`` steps back.

    The alphabet has ``lag + 1`` symbols ``x, y, a_1 … a_{lag-1}``; a sequence is
    ``(x, a_1, …, a_{lag-1})`` (class 0) or ``(y, a_1, …, a_{lag-1})`` (class 1); the
    network must output the first symbol after reading the last one. With ``noisy``
    (task 2b) the ``a_i`` are drawn at random from the ``lag - 1`` distractors.

    Returns:
        ``(X, y)``: float32 one-hot ``(n, lag, lag + 1)`` and int64 classes (alternating
        0, 1 when not noisy, so both classes are balanced).
    """
    n_samples = check_int("make_long_lag", "n_samples", n_samples, low=1)
    lag = check_int("make_long_lag", "lag", lag, low=2)
    noisy = check_bool("make_long_lag", "noisy", noisy)
    rng = np.random.default_rng(seed)
    y = np.arange(n_samples) % 2
    X = np.zeros((n_samples, lag, lag + 1), dtype=np.float32)
    X[np.arange(n_samples), 0, y] = 1.0
    if noisy:
        symbols = rng.integers(2, lag + 1, size=(n_samples, lag - 1))
    else:
        symbols = np.broadcast_to(np.arange(2, lag + 1), (n_samples, lag - 1))
    rows = np.repeat(np.arange(n_samples), lag - 1)
    steps = np.tile(np.arange(1, lag), n_samples)
    X[rows, steps, symbols.reshape(-1)] = 1.0
    return X, y.astype(np.int64)


def make_adding_problem(n_samples: int = 1000, length: int = 100, *, seed: int | None = 0):
    """The adding problem: ``x_t = (u_t, m_t)`` with ``u_t ~ U(0, 1)`` and two markers ``m_t = 1``.

    The target is the sum of the two marked numbers (one in each half of the sequence);
    always predicting 1 gives a mean squared error of 1/6.

    Returns: float32 ``(n, length, 2)`` and float32 targets ``(n, 1)``.

    >>> X, y = make_adding_problem(3, 8)
    >>> X.shape, bool(((X[:, :, 0] * X[:, :, 1]).sum(1) == y[:, 0]).all())
    ((3, 8, 2), True)
    """
    n_samples = check_int("make_adding_problem", "n_samples", n_samples, low=1)
    length = check_int("make_adding_problem", "length", length, low=2)
    rng = np.random.default_rng(seed)
    values = rng.uniform(0, 1, (n_samples, length)).astype(np.float32)
    half = length // 2
    first = rng.integers(0, half, n_samples)
    second = rng.integers(half, length, n_samples)
    markers = np.zeros((n_samples, length), dtype=np.float32)
    markers[np.arange(n_samples), first] = 1.0
    markers[np.arange(n_samples), second] = 1.0
    X = np.stack([values, markers], -1)
    y = (values * markers).sum(1, keepdims=True).astype(np.float32)
    return X, y


# -- the unrolled recurrences (PyTorch's gate order and formulas) ------------------------------
def _unrolled(layer: _Recurrent, x: torch.Tensor, states: list) -> torch.Tensor:
    """Run ``layer``'s first (only) layer step by step, appending each ``h_t`` to ``states``."""
    cell = layer.cell
    w_ih, w_hh = cell.weight_ih_l0, cell.weight_hh_l0
    b_ih = getattr(cell, "bias_ih_l0", None)
    b_hh = getattr(cell, "bias_hh_l0", None)
    n, t_max = x.shape[0], x.shape[1]
    h = x.new_zeros(n, layer.n_units)
    c = x.new_zeros(n, layer.n_units)
    xw = x @ w_ih.T + (b_ih if b_ih is not None else 0)  # (N, T, G·H)
    outs = []
    for t in range(t_max):
        hw = h @ w_hh.T + (b_hh if b_hh is not None else 0)
        if isinstance(layer, LSTM):
            i, f, g, o = (xw[:, t] + hw).chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
        elif isinstance(layer, GRU):
            xr, xz, xn = xw[:, t].chunk(3, dim=1)
            hr, hz, hn = hw.chunk(3, dim=1)
            r = torch.sigmoid(xr + hr)
            z = torch.sigmoid(xz + hz)
            h = (1 - z) * torch.tanh(xn + r * hn) + z * h
        else:
            pre = xw[:, t] + hw
            h = torch.tanh(pre) if layer.activation == "tanh" else torch.relu(pre)
        h.retain_grad()
        states.append(h)
        outs.append(h)
    out = torch.stack(outs, 1)
    return out if layer.return_sequences else out[:, -1]


def _recurrent_layer(module: nn.Module, layer) -> _Recurrent:
    if layer is None:
        found = [m for m in module.modules() if isinstance(m, _Recurrent)]
        if not found:
            raise ConfigError("hidden_gradient_norms: expected a model with a SimpleRNN, LSTM or "
                              "GRU layer, received one without")
        layer = found[0]
    elif isinstance(layer, str):
        named = [m for m in module.modules() if getattr(m, "name", None) == layer]
        if not named:
            raise ConfigError(f"hidden_gradient_norms: no layer named {layer!r} in the model")
        layer = named[0]
    if not isinstance(layer, (SimpleRNN, LSTM, GRU)):
        raise ConfigError(f"hidden_gradient_norms: expected a SimpleRNN, LSTM or GRU layer, "
                          f"received {type(layer).__name__}")
    if layer.n_layers != 1 or layer.bidirectional:
        raise ConfigError(f"hidden_gradient_norms: expected a one-layer, one-direction recurrent "
                          f"layer, received n_layers={layer.n_layers}, "
                          f"bidirectional={layer.bidirectional}")
    return layer


def hidden_gradient_norms(module: nn.Module, x, y, loss: Any = "softmax_crossentropy", *,
                          layer=None) -> np.ndarray:
    """``‖∂L/∂h_t‖₂`` for every step ``t`` of a recurrent layer, averaged over the batch.

    The layer (the first SimpleRNN/LSTM/GRU of ``module``, or ``layer``: the layer or
    its name) is run step by step with its own weights so every ``h_t`` gets a gradient;
    the model's parameters receive no gradient (they are restored untouched).

    Args:
        module: the model (any ``nn.Module`` that calls the layer on full-length sequences).
        x: inputs ``(N, T, F)``; y: targets for ``loss``.
        loss: a loss name or callable ``loss(y_pred, y_true)`` (default softmax cross-entropy).

    Returns: float64 ``(T,)``; entry ``t`` is ``mean_i ‖∂L/∂h_t^{(i)}‖``.
    """
    layer = _recurrent_layer(module, layer)
    loss_fn = _losses.get(loss)
    x = torch.as_tensor(x)
    y = torch.as_tensor(y)
    if x.dim() != 3:
        raise DataError(f"hidden_gradient_norms: expected inputs (N, T, F), received shape "
                        f"{tuple(x.shape)}")
    states: list = []
    param = next(layer.parameters())
    x = x.to(param.device, param.dtype)

    def forward(inp, mask=None, *, lengths=None, initial_state=None):
        return _unrolled(layer, inp, states)

    grads = {p: p.grad for p in module.parameters()}
    was_training = module.training
    module.eval()
    layer.forward = forward  # instance attribute: nn.Module.__call__ picks it up
    try:
        with torch.enable_grad():
            out = module(x)
            value = loss_fn(out, y.to(out.device))
            hs = states[:]
            value.backward(inputs=hs)
    finally:
        del layer.forward
        module.train(was_training)
        for p, g in grads.items():
            p.grad = g
    norms = torch.stack([h.grad.norm(dim=1).mean() if h.grad is not None
                         else h.new_zeros(()) for h in hs])
    return norms.detach().double().cpu().numpy()


class GradientNormRecorder(Callback):
    """A ``fit`` callback: ``‖∂L/∂h_t‖`` per step on a fixed probe batch, every ``every`` epochs.

    After training, ``recorder.norms`` is a list of ``(epoch, norms (T,))`` and
    :meth:`plot` draws them (log scale) against the distance to the loss.

    Args:
        x, y: the probe batch.
        loss: the loss (default softmax cross-entropy).
        layer: the recurrent layer or its name (default: the first one).
        every: record every ``every`` epochs (default 1); the state before training is
            recorded too (epoch -1).
    """

    def __init__(self, x, y, loss: Any = "softmax_crossentropy", *, layer=None, every: int = 1):
        self.x, self.y, self.loss, self.layer = x, y, loss, layer
        self.every = check_int("GradientNormRecorder", "every", every, low=1)
        self.norms: list = []

    def _record(self, epoch: int):
        module = self.trainer.module
        self.norms.append((epoch, hidden_gradient_norms(module, self.x, self.y, self.loss,
                                                        layer=self.layer)))

    def on_train_begin(self, logs=None):
        self._record(-1)

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every == 0:
            self._record(epoch)

    def plot(self, path=None, ax=None, label: str = "", **kwargs):
        """Plot the recorded norms (``|∂L/∂h_t|`` vs ``t``) on a log scale; returns the axes."""
        return plot_gradient_norms([(f"{label} epoch {e + 1}".strip(), n) for e, n in self.norms],
                                   path=path, ax=ax, **kwargs)


def plot_gradient_norms(curves, path=None, ax=None, title: str = "‖∂L/∂h_t‖ per time step"):
    """Plot ``[(label, norms (T,)), …]`` on a log scale; save to ``path`` if given."""
    import matplotlib

    if ax is None:
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4))
    else:
        fig = ax.figure
    for label, norms in curves:
        norms = np.asarray(norms, dtype=float)
        ax.semilogy(np.arange(len(norms)), np.maximum(norms, 1e-30), label=label)
    ax.set_xlabel("time step t (the loss is at the last step)")
    ax.set_ylabel("‖∂L/∂h_t‖")
    ax.set_title(title)
    ax.legend(fontsize=8)
    if path is not None:
        fig.tight_layout()
        fig.savefig(path, dpi=100)
    return ax



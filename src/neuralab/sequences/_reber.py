"""The embedded Reber benchmark with Hochreiter & Schmidhuber's protocol (1997, §5.1).

A recurrent network reads an embedded Reber string one symbol at a time and
predicts, at every step, the set of symbols the grammar allows next. The step is
*predicted* when the ``k`` most active outputs are exactly the ``k`` legal next
symbols; training *succeeds* when every step of every training and every test
string is predicted. The hard step is the second-to-last one: the symbol to
predict (T or P) was seen right after the first B, an inner Reber string ago.

    >>> import torch
    >>> scores = torch.tensor([[[0.9, 0.8, 0.1], [0.2, 0.1, 0.7]]])
    >>> legal = torch.tensor([[[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]])
    >>> next_symbol_accuracy(scores, legal)
    (True, 1.0)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from .. import layers as L
from ..datasets import REBER_SYMBOLS, make_embedded_reber
from ..errors import ShapeError, format_shape
from ..validation import check_choice, check_int, check_number
from ._padding import MaskedLoss

__all__ = ["RECURRENT_CELLS", "NextSymbolPredictor", "next_symbol_accuracy", "ReberRun", "summarize_runs",
           "train_embedded_reber"]

#: Recurrent layer names accepted by the models of this chapter.
RECURRENT_CELLS = {"lstm": L.LSTM, "gru": L.GRU, "simple_rnn": L.SimpleRNN}


def next_symbol_accuracy(scores: torch.Tensor, legal: torch.Tensor, lengths=None):
    """Whether the ``k_t`` most active outputs are the ``k_t`` legal next symbols at every step.

    Args:
        scores: ``(N, T, C)`` outputs (logits or probabilities).
        legal: ``(N, T, C)`` multi-hot legal next symbols (all-zero rows are padding).
        lengths: optional ``(N,)`` lengths (default: rows of ``legal`` that are not all zero).

    Returns:
        ``(all_predicted, fraction_of_steps_predicted)``.
    """
    if scores.shape != legal.shape or scores.dim() != 3:
        raise ShapeError(f"next_symbol_accuracy: expected scores and legal symbols of the same "
                         f"shape (N, T, C), received {format_shape(tuple(scores.shape))} and "
                         f"{format_shape(tuple(legal.shape))}")
    k = legal.sum(-1)  # (N, T)
    if lengths is None:
        real = k > 0
    else:
        lengths = torch.as_tensor(lengths, device=scores.device)
        real = torch.arange(scores.shape[1], device=scores.device) < lengths.unsqueeze(1)
    order = scores.argsort(-1, descending=True)
    ranks = torch.empty_like(order)
    ranks.scatter_(-1, order, torch.arange(scores.shape[-1], device=scores.device)
                   .expand_as(order))
    ok = ((ranks < k.unsqueeze(-1)) == (legal > 0)).all(-1)
    hits = ok[real]
    return bool(hits.all()), float(hits.float().mean()) if hits.numel() else 0.0


class NextSymbolPredictor(nn.Module):
    """A recurrent layer and a linear read-out per step: ``(N, T, F)`` → logits ``(N, T, C)``.

    Args:
        n_symbols: input and output size (default 7, the Reber alphabet).
        cell: "lstm" (default), "gru" or "simple_rnn".
        n_units: recurrent units (default 64).
        **layer_kwargs: passed to the recurrent layer (e.g. ``forget_bias`` of an LSTM).
    """

    def __init__(self, n_symbols: int = len(REBER_SYMBOLS), cell: str = "lstm",
                 n_units: int = 64, **layer_kwargs):
        super().__init__()
        cell = check_choice("NextSymbolPredictor", "cell", cell, tuple(RECURRENT_CELLS))
        self.cell_name = cell
        self.rnn = RECURRENT_CELLS[cell](n_units, return_sequences=True, **layer_kwargs)
        self.rnn.build((None, n_symbols))
        self.readout = nn.Linear(n_units, n_symbols)

    def forward(self, x, lengths=None):
        return self.readout(self.rnn(x, lengths=lengths))


@dataclass
class ReberRun:
    """The outcome of one embedded-Reber training run."""

    cell: str
    seed: int
    success: bool
    presentations: int | None  # training sequences presented until success (None: never)
    train_accuracy: float  # fraction of steps predicted at the end
    test_accuracy: float
    curve: list = field(default_factory=list)  # (presentations, train step accuracy)


def _tensors(n, seed):
    X, Y, words = make_embedded_reber(n, seed=seed)
    lengths = torch.tensor([len(w) - 1 for w in words])
    return torch.from_numpy(X), torch.from_numpy(Y), lengths


def train_embedded_reber(cell: str = "lstm", *, seed: int = 0, n_units: int = 64,
                         lr: float = 0.02, batch_size: int = 8,
                         max_presentations: int = 20_000, check_every: int = 64,
                         n_train: int = 256, n_test: int = 256,
                         layer_kwargs: dict | None = None) -> ReberRun:
    """Train a :class:`NextSymbolPredictor` on embedded Reber strings until success.

    256 training and 256 separately generated test strings (the paper's protocol);
    Adam on the masked per-step sigmoid cross-entropy against the multi-hot legal next
    symbols, ``batch_size`` strings per step; every ``check_every`` presentations the
    whole training and test sets are checked with :func:`next_symbol_accuracy`.

    Args:
        cell: "lstm", "gru" or "simple_rnn".
        seed: seeds the strings, the initial weights and the order.
        n_units, lr, batch_size: the model and the optimizer.
        max_presentations: the budget of training strings presented.
        check_every: presentations between success checks (rounded up to whole batches).
        layer_kwargs: extra arguments of the recurrent layer (e.g. ``{"forget_bias": 0.0}``).

    Returns:
        A :class:`ReberRun`; ``presentations`` counts training strings seen until success.
    """
    owner = "train_embedded_reber"
    seed = check_int(owner, "seed", seed, low=0)
    lr = check_number(owner, "lr", lr, low=0.0, low_open=True)
    batch_size = check_int(owner, "batch_size", batch_size, low=1)
    max_presentations = check_int(owner, "max_presentations", max_presentations, low=1)
    check_every = check_int(owner, "check_every", check_every, low=1)
    Xtr, Ytr, Ltr = _tensors(check_int(owner, "n_train", n_train, low=1), 1_000_003 * seed + 1)
    Xte, Yte, Lte = _tensors(check_int(owner, "n_test", n_test, low=1), 1_000_003 * seed + 2)
    torch.manual_seed(seed)
    net = NextSymbolPredictor(Xtr.shape[-1], cell, check_int(owner, "n_units", n_units, low=1),
                              **(layer_kwargs or {}))
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    loss_fn = MaskedLoss("sigmoid_crossentropy", pad_value=0.0)
    gen = torch.Generator().manual_seed(seed)

    def evaluate(X, Y, lengths):
        net.eval()
        with torch.no_grad():
            result = next_symbol_accuracy(net(X, lengths), Y, lengths)
        net.train()
        return result

    presented, since_check, curve = 0, 0, []
    success, train_acc = False, 0.0
    n = Xtr.shape[0]
    while presented < max_presentations and not success:
        order = torch.randperm(n, generator=gen)
        for i in range(0, n, batch_size):
            idx = order[i:i + batch_size]
            lengths = Ltr[idx]
            t = int(lengths.max())
            loss = loss_fn(net(Xtr[idx, :t], lengths), Ytr[idx, :t])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            presented += len(idx)
            since_check += len(idx)
            if since_check >= check_every:
                since_check = 0
                ok, train_acc = evaluate(Xtr, Ytr, Ltr)
                curve.append((presented, train_acc))
                if ok and evaluate(Xte, Yte, Lte)[0]:
                    success = True
                    break
            if presented >= max_presentations:
                break
    _, train_acc = evaluate(Xtr, Ytr, Ltr)
    _, test_acc = evaluate(Xte, Yte, Lte)
    return ReberRun(net.cell_name, seed, success, presented if success else None,
                    train_acc, test_acc, curve)


def summarize_runs(runs: list[ReberRun]) -> dict:
    """``{"success_rate", "mean_presentations", "runs"}`` over runs of one cell."""
    wins = [r.presentations for r in runs if r.success]
    return {
        "success_rate": len(wins) / len(runs) if runs else 0.0,
        "mean_presentations": float(np.mean(wins)) if wins else None,
        "presentations": [r.presentations for r in runs],
        "test_accuracy": [round(r.test_accuracy, 4) for r in runs],
    }

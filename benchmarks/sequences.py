"""The sequences chapter's figures: embedded Reber, the long-lag task, LSTM training throughput.

- ``embedded_reber``: Hochreiter & Schmidhuber's protocol (1997, §5.1): 256 training and
  256 separately generated test strings; success = every step of every training and test
  string predicted (the k legal next symbols are the k most active outputs). Per cell
  (LSTM, GRU, SimpleRNN), over ``--seeds`` seeds on the same budget of presentations:
  the success rate and the mean presentations to success (the paper's best LSTM needed
  8,440; target here ≤ 5,000 with 10/10 successes).
- ``long_lag``: task 2a at lag 100 (remember the first symbol over 100 steps): accuracy
  after the same number of Adam steps, and ‖∂L/∂h_0‖ / ‖∂L/∂h_T‖ at initialisation.
- ``lstm_throughput``: one epoch of training on the same padded, variable-length batches:
  ``neuralab.training.fit`` on ``Input >> LSTM(mask_value=0) >> Linear`` with a
  ``MaskedLoss`` against a plain torch loop over ``nn.LSTM`` with packed sequences;
  ``ratio`` = neuralab sequences/s ÷ torch sequences/s (target ≥ 0.95).

    python benchmarks/sequences.py [--seeds 10] [--budget 12000] [--parts reber,lag,speed]

Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch
from torch import nn
from torch.nn.utils import rnn as rnn_utils

from neuralab import layers as L
from neuralab.datasets import make_embedded_reber
from neuralab.sequences import (
    MaskedLoss,
    hidden_gradient_norms,
    make_long_lag,
    summarize_runs,
    train_embedded_reber,
)
from neuralab.training import fit


def embedded_reber(seeds: int, budget: int) -> dict:
    out = {}
    for cell in ("lstm", "gru", "simple_rnn"):
        t0 = time.perf_counter()
        runs = [train_embedded_reber(cell, seed=s, max_presentations=budget) for s in range(seeds)]
        out[cell] = dict(summarize_runs(runs), seconds=round(time.perf_counter() - t0, 1))
    out["protocol"] = {"train_strings": 256, "test_strings": 256, "budget": budget,
                       "seeds": seeds, "n_units": 64, "optimizer": "adam lr=0.02, 8 strings/step"}
    return out


def long_lag(lag: int = 100, steps: int = 150) -> dict:
    X, y = map(torch.from_numpy, make_long_lag(16, lag))
    out = {"lag": lag, "adam_steps": steps}
    for name, make in (("lstm", lambda: L.LSTM(32, forget_bias=3.0)),
                       ("simple_rnn", lambda: L.SimpleRNN(32)),
                       ("gru", lambda: L.GRU(32))):
        torch.manual_seed(0)
        net = nn.Sequential(make(), nn.Linear(32, 2))
        net(X)
        g = hidden_gradient_norms(net, X, y)
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        solved_at = None
        for step in range(steps):
            loss = nn.functional.cross_entropy(net(X), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if solved_at is None and float(loss.detach()) < 0.1:
                solved_at = step + 1
        with torch.no_grad():
            acc = float((net(X).argmax(1) == y).float().mean())
        out[name] = {"accuracy": acc, "steps_to_loss_below_0.1": solved_at,
                     "grad_ratio_h0_to_hT_at_init": float(g[0] / g[-1])}
    return out


class _TorchTagger(nn.Module):
    def __init__(self, n_in, n_units, n_out):
        super().__init__()
        self.lstm = nn.LSTM(n_in, n_units, batch_first=True)
        self.head = nn.Linear(n_units, n_out)

    def forward(self, x, lengths):
        packed = rnn_utils.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = rnn_utils.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        return self.head(out)


def lstm_throughput(repeats: int = 3, n_units: int = 64, batch_size: int = 32) -> dict:
    X, Y, words = make_embedded_reber(1024, seed=0)
    lengths = torch.tensor([len(w) - 1 for w in words])
    X, Y = torch.from_numpy(X), torch.from_numpy(Y)
    batches = []
    for i in range(0, len(X), batch_size):
        t = int(lengths[i:i + batch_size].max())
        batches.append((X[i:i + batch_size, :t], Y[i:i + batch_size, :t], lengths[i:i + batch_size]))
    loss_fn = MaskedLoss("sigmoid_crossentropy", pad_value=0.0)
    ours, theirs = [], []
    for _ in range(repeats):
        torch.manual_seed(0)
        net = L.Input((None, 7)) >> L.LSTM(n_units, return_sequences=True, mask_value=0.0) \
            >> L.Linear(7)
        loader = [(x, y) for x, y, _ in batches]
        t0 = time.perf_counter()
        fit(net, torch.utils.data.DataLoader(loader, batch_size=None, shuffle=False),
            loss=loss_fn, epochs=1, lr=1e-3, progress=False, seed=0)
        ours.append(time.perf_counter() - t0)
        torch.manual_seed(0)
        ref = _TorchTagger(7, n_units, 7)
        opt = torch.optim.Adam(ref.parameters(), lr=1e-3)
        t0 = time.perf_counter()
        for x, y, lens in batches:
            out = ref(x, lens)
            keep = torch.arange(x.shape[1]) < lens.unsqueeze(1)
            loss = nn.functional.binary_cross_entropy_with_logits(out[keep], y[keep])
            opt.zero_grad()
            loss.backward()
            opt.step()
        theirs.append(time.perf_counter() - t0)
    a, b = statistics.median(ours), statistics.median(theirs)
    return {"sequences": len(X), "batch_size": batch_size, "n_units": n_units,
            "neuralab_fit_seconds": round(a, 3), "torch_packed_seconds": round(b, 3),
            "neuralab_sequences_per_s": round(len(X) / a, 1),
            "torch_sequences_per_s": round(len(X) / b, 1), "ratio": round(b / a, 3)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--budget", type=int, default=12_000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--parts", default="reber,lag,speed")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    parts = set(args.parts.split(","))
    result = {}
    if "speed" in parts:
        result["lstm_throughput"] = lstm_throughput()
    if "lag" in parts:
        result["long_lag"] = long_lag()
    if "reber" in parts:
        result["embedded_reber"] = embedded_reber(args.seeds, args.budget)
    print(json.dumps(result, indent=2, default=float))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()

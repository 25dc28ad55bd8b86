"""RBM benchmark: neuralab.classic.RBM vs scikit-learn's BernoulliRBM, side by side.

Two settings, both with 256 hidden units and the same arguments for both:

* ``batch10``: binarised digits (1,797 × 64), batch 10, 10 epochs: per-call
  overhead dominates (180 tiny CD steps per epoch);
* ``batch256``: the digits tiled to 20,000 samples, batch 256, 5 epochs.

Reported per setting: median seconds per epoch over ``repeats`` fits (the two
libraries alternate within each repeat, so both see the same machine load),
the speed-up ``sklearn / neuralab``, and the pseudo-likelihood of the fitted
models: exact (every feature flipped in turn, averaged over 600 samples) and
scikit-learn's one-random-bit estimate ``score_samples(X).mean()``.

Run alone: ``.venv/bin/python benchmarks/_classic_rbm.py [--repeats 3]`` prints JSON.
``benchmarks/classic.py`` calls :func:`run`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.neural_network import BernoulliRBM

from neuralab.classic import RBM
from neuralab.classic._base import resolve_device


def exact_pseudo_likelihood(model, X) -> float:
    """Mean over rows of Σ_i log P(v_i | v_-i) (every feature flipped in turn)."""
    W, bh, bv = model.components_, model.intercept_hidden_, model.intercept_visible_
    pre = X @ W.T + bh
    f = -(X @ bv) - np.logaddexp(0, pre).sum(1)
    total = np.zeros(len(X))
    for i in range(X.shape[1]):
        sign = 1 - 2 * X[:, i]  # +1 turns a 0 on, −1 turns a 1 off
        f_flip = -(X @ bv + sign * bv[i]) - np.logaddexp(0, pre + sign[:, None] * W[:, i]).sum(1)
        total -= np.logaddexp(0, -(f_flip - f))
    return float(total.mean())


def _time_fit(make, X, n_iter):
    t0 = time.perf_counter()
    model = make().fit(X)
    return (time.perf_counter() - t0) / n_iter, model


def _setting(X, batch_size, n_iter, repeats, device):
    args = dict(n_components=256, learning_rate=0.1, batch_size=batch_size, n_iter=n_iter)
    ours_t, ref_t, ours_m, ref_m = [], [], [], []
    # warm-up (first-call costs of torch kernels / BLAS)
    RBM(**{**args, "n_iter": 1}, random_state=0, device=device).fit(X[: 50 * batch_size])
    for r in range(repeats):
        pair = [
            ("ours", lambda: RBM(**args, random_state=r, device=device)),
            ("ref", lambda: BernoulliRBM(**args, random_state=r)),
        ]
        if r % 2:
            pair.reverse()
        for name, make in pair:
            t, m = _time_fit(make, X, n_iter)
            (ours_t if name == "ours" else ref_t).append(t)
            (ours_m if name == "ours" else ref_m).append(m)
    E = X[:: max(1, len(X) // 600)][:600]
    ours_pl = [exact_pseudo_likelihood(m, E) for m in ours_m]
    ref_pl = [exact_pseudo_likelihood(m, E) for m in ref_m]
    t_ours, t_ref = statistics.median(ours_t), statistics.median(ref_t)
    return {
        "n_samples": int(X.shape[0]),
        "batch_size": batch_size,
        "n_iter": n_iter,
        "repeats": repeats,
        "neuralab_s_per_epoch": t_ours,
        "sklearn_s_per_epoch": t_ref,
        "speedup": t_ref / t_ours,
        "neuralab_pseudo_likelihood": float(np.mean(ours_pl)),
        "sklearn_pseudo_likelihood": float(np.mean(ref_pl)),
        "pseudo_likelihood_diff": float(np.mean(ours_pl) - np.mean(ref_pl)),
        "neuralab_score_samples_mean": float(np.mean([m.score_samples(E).mean() for m in ours_m])),
        "sklearn_score_samples_mean": float(np.mean([m.score_samples(E).mean() for m in ref_m])),
    }


def run(repeats: int = 3, device: str = "auto") -> dict:
    """Both settings; returns a JSON-ready dict."""
    dev = str(resolve_device(device))
    X = (load_digits().data > 7).astype(np.float64)
    big = np.tile(X, (int(np.ceil(20000 / len(X))), 1))[:20000]
    result = {
        "device": dev,
        "batch10": _setting(X, 10, 10, repeats, dev),
        "batch256": _setting(big, 256, 5, repeats, dev),
    }
    result["targets"] = {
        "batch10_at_least_as_fast": result["batch10"]["speedup"] >= 1.0,
        "batch256_at_least_2x": result["batch256"]["speedup"] >= 2.0,
    }
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    print(json.dumps({"rbm": run(args.repeats, args.device)}, indent=2))


if __name__ == "__main__":
    main()

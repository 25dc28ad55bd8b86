"""``neuralab demo sequences``: the recurrent-network chapter end to end.

Writes into ``out_dir``:

- ``gradient_norms.png``: ‖∂L/∂h_t‖ per step on the lag-100 task, SimpleRNN beside LSTM;
- ``reber_curves.png``: share of embedded-Reber steps predicted vs sequences presented;
- ``samples.txt``: text sampled from the character language model at several temperatures;
- ``attention.png``: the date translator's attention weights for one date;
- ``embeddings.png``: a 2-D t-SNE map of SkipGram word vectors;

and returns the metrics (the CLI saves them as ``metrics.json``).
"""

from __future__ import annotations

import pathlib
import time

import numpy as np
import torch

from .. import layers as L
from ._bleu import bleu
from ._gradients import hidden_gradient_norms, make_long_lag, plot_gradient_norms
from ._lm import CharLanguageModel, perplexity, sample
from ._reber import train_embedded_reber
from ._seq2seq import Seq2Seq, date_vocabularies, make_dates
from ._skipgram import SkipGram
from ._text import Vocabulary, load_corpus, words

__all__ = ["run"]


def _long_lag(out_dir, quick, seed):
    lag = 20 if quick else 100
    X, y = map(torch.from_numpy, make_long_lag(16, lag))
    curves, results = [], {}
    for name, make in (("simple_rnn", lambda: L.SimpleRNN(32)),
                       ("lstm", lambda: L.LSTM(32, forget_bias=3.0))):
        torch.manual_seed(seed)
        net = torch.nn.Sequential(make(), torch.nn.Linear(32, 2))
        net(X)
        curves.append((f"{name} at initialisation", hidden_gradient_norms(net, X, y)))
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        steps = 10 if quick else 60
        for _ in range(steps):
            loss = torch.nn.functional.cross_entropy(net(X), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        curves.append((f"{name} after {steps} steps", hidden_gradient_norms(net, X, y)))
        with torch.no_grad():
            acc = float((net(X).argmax(1) == y).float().mean())
        results[name] = {"accuracy": acc, "steps": steps,
                         "grad_ratio_first_to_last": float(curves[-2][1][0] / curves[-2][1][-1])}
    plot_gradient_norms(curves, path=out_dir / "gradient_norms.png",
                        title=f"‖∂L/∂h_t‖ on the lag-{lag} task (loss at the last step)")
    return {"lag": lag, **results}


def _reber(out_dir, quick, seed):
    import matplotlib.pyplot as plt

    budget = 1000 if quick else 12_000
    cells = ("lstm",) if quick else ("lstm", "gru", "simple_rnn")
    fig, ax = plt.subplots(figsize=(7, 4))
    out = {}
    for cell in cells:
        run = train_embedded_reber(cell, seed=seed, max_presentations=budget,
                                   check_every=128 if quick else 64)
        out[cell] = {"success": run.success, "presentations": run.presentations,
                     "test_step_accuracy": round(run.test_accuracy, 4)}
        if run.curve:
            xs, ys = zip(*run.curve)
            ax.plot(xs, ys, label=cell)
    ax.set_xlabel("training strings presented")
    ax.set_ylabel("share of training steps predicted")
    ax.set_title("Embedded Reber grammar (Hochreiter & Schmidhuber 1997)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_dir / "reber_curves.png", dpi=100)
    plt.close(fig)
    return {"budget": budget, **out}


def _language_model(out_dir, quick, seed):
    text = load_corpus()
    vocab = Vocabulary(text)
    n_train = 6_000 if quick else 100_000
    train, val = text[:n_train], text[-20_000:]
    torch.manual_seed(seed)
    lm = CharLanguageModel(vocab, n_units=64 if quick else 256, embedding_size=32)
    t0 = time.perf_counter()
    lm.fit_text(train, seq_length=32 if quick else 64, epochs=1 if quick else 4,
                batch_size=32, lr=0.02 if quick else 0.005, seed=seed)
    seconds = time.perf_counter() - t0
    ppl = perplexity(lm, val)
    lines = []
    for tau in (0.3, 0.7, 1.0, 1.5):
        lines.append(f"--- temperature {tau} ---\n"
                     + sample(lm, "The ", 120 if quick else 400, temperature=tau, seed=seed))
    (out_dir / "samples.txt").write_text("\n\n".join(lines) + "\n", encoding="utf-8")
    return {"train_chars": n_train, "val_perplexity": round(ppl, 3),
            "train_seconds": round(seconds, 1)}


def _dates(out_dir, quick, seed):
    import matplotlib.pyplot as plt

    source, target = date_vocabularies()
    train = make_dates(200 if quick else 3000, seed=seed)
    seen = {s for s, _ in train}
    test = [p for p in make_dates(100 if quick else 1000, seed=seed + 1) if p[0] not in seen]
    torch.manual_seed(seed)
    model = Seq2Seq(source, target, n_units=32 if quick else 64, attention="additive")
    model.fit_pairs(train, epochs=1 if quick else 3, batch_size=32, lr=0.01, seed=seed)
    pred = model.translate_batch([s for s, _ in test])
    exact = float(np.mean([p == iso for p, (_, iso) in zip(pred, test)]))
    score = bleu([" ".join(p.split("-")) or "-" for p in pred],
                 [[" ".join(iso.split("-"))] for _, iso in test], max_order=2).score
    example = "tuesday 3 march 1987"
    out, weights = model.translate(example, return_attention=True)
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.imshow(weights, aspect="auto", cmap="viridis")
    ax.set_xticks(range(len(example)), list(example))
    ax.set_yticks(range(len(out) + 1), list(out) + ["</s>"])
    ax.set_xlabel("source characters")
    ax.set_ylabel("output characters")
    ax.set_title(f"attention: {example!r} → {out!r}")
    fig.tight_layout()
    fig.savefig(out_dir / "attention.png", dpi=100)
    plt.close(fig)
    beam = model.translate(example, width=4, length_penalty=0.7)
    return {"train_pairs": len(train), "test_pairs": len(test), "exact_match": round(exact, 4),
            "bleu2_on_fields": round(score, 4), "example": example, "greedy": out, "beam": beam}


def _skipgram(out_dir, quick, seed):
    import matplotlib.pyplot as plt
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    tokens = words(load_corpus(max_chars=30_000 if quick else None))
    sg = SkipGram(embedding_size=32 if quick else 64, window=4, min_count=5 if quick else 10,
                  seed=seed).fit(tokens, epochs=1 if quick else 3, batch_size=2048, lr=0.01)
    vocab = sg.vocabulary_
    queries = [w for w in ("list", "class", "int", "true", "module", "return") if w in vocab]
    similar = {w: [s for s, _ in sg.most_similar(w, 5)] for w in queries}
    n = min(len(vocab), 60 if quick else 150)
    vectors = sg.vectors_[:n].numpy()
    with threadpool_limits(1):  # OpenMP threads spin-wait on a busy machine (20x slower)
        xy = TSNE(2, perplexity=min(30, n - 1), init="pca", random_state=seed,
                  max_iter=250 if quick else 1000).fit_transform(vectors)
    fig, ax = plt.subplots(figsize=(9, 9))
    ax.scatter(xy[:, 0], xy[:, 1], s=4)
    for i in range(n):
        ax.annotate(vocab.symbols[i], xy[i], fontsize=7)
    ax.set_title(f"SkipGram vectors of the {n} most frequent words (t-SNE)")
    fig.tight_layout()
    fig.savefig(out_dir / "embeddings.png", dpi=100)
    plt.close(fig)
    return {"vocabulary": len(vocab), "tokens": len(tokens), "most_similar": similar,
            "final_loss": round(sg.losses_[-1], 4)}


def run(out_dir: pathlib.Path, *, quick: bool = False, seed: int = 0) -> dict:
    """Run the chapter; write the pictures into ``out_dir``; return the metrics."""
    import matplotlib

    matplotlib.use("Agg")
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics = {"quick": bool(quick), "seed": seed}
    for name, part in (("long_lag", _long_lag), ("embedded_reber", _reber),
                       ("language_model", _language_model), ("date_translation", _dates),
                       ("skipgram", _skipgram)):
        t0 = time.perf_counter()
        metrics[name] = part(out_dir, quick, seed)
        metrics[name]["seconds"] = round(time.perf_counter() - t0, 1)
    return metrics

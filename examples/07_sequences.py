"""Sequences: variable-length batches, an LSTM tagger, beam search, BLEU.

Run: .venv/bin/python examples/07_sequences.py
"""

import numpy as np
import torch

from neuralab import layers as L
from neuralab.datasets import make_embedded_reber
from neuralab.sequences import (
    MaskedLoss,
    bleu,
    beam_search,
    greedy_search,
    masked_accuracy,
    pad_sequences,
    sequence_loader,
)
from neuralab.training import fit

torch.manual_seed(0)

# 1. Ragged sequences → one padded batch; the layer reads only the real steps.
x, lengths = pad_sequences([np.ones((5, 3)), np.ones((2, 3))], return_lengths=True)
lstm = L.LSTM(4, return_sequences=True)
print("padded batch:", tuple(x.shape), "lengths:", lengths.tolist(),
      "padded steps are zero:", bool(lstm(x, lengths=lengths)[1, 2:].eq(0).all()))

# 2. Tag each step of ragged sequences (is x_t > 0?) with fit, a padding loader and a masked loss.
rng = np.random.default_rng(0)
xs = [rng.normal(size=(int(rng.integers(2, 9)), 1)).astype(np.float32) for _ in range(64)]
ys = [(s[:, 0] > 0).astype(np.int64) for s in xs]
net = L.Input((None, 1)) >> L.GRU(8, return_sequences=True, mask_value=0.0) >> L.Linear(2)
fit(net, sequence_loader(xs, ys, batch_size=16, seed=0), loss=MaskedLoss("softmax_crossentropy"),
    epochs=8, lr=0.05, progress=False, seed=0)
xb, yb = next(iter(sequence_loader(xs, ys, batch_size=64, shuffle=False)))
print(f"tagging accuracy on real steps: {float(masked_accuracy(net(xb), yb)):.3f}")

# 3. Next-symbol targets of the embedded Reber grammar: the legal next symbols per step.
X, Y, words = make_embedded_reber(2, seed=0)
print("embedded Reber string:", words[0], "targets per step:", Y[0, :len(words[0]) - 1].sum(1))

# 4. Beam search on a bigram model: width 1 is greedy; a wider beam finds a likelier output.
table = torch.log(torch.tensor([[0.1, 0.5, 0.4], [0.35, 0.35, 0.3], [0.9, 0.05, 0.05]]))
step = lambda tokens, state: (table[tokens], state)  # noqa: E731
print("greedy:", greedy_search(step, None, 0, max_length=3))
print("beam:  ", beam_search(step, None, 0, width=3, max_length=3)[0])

# 5. BLEU with clipped n-gram precisions and the brevity penalty (sacrebleu's corpus BLEU / 100).
score = bleu(["the cat sat on the mat"], [["the cat sat on a mat", "a cat sat on the mat"]])
print(f"BLEU: {score.score:.4f}")

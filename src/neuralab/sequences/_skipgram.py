"""Word embeddings: skip-gram with negative sampling (Mikolov et al., 2013).

Every word ``w`` has an input vector ``v_w`` and an output vector ``u_w``. For each
(center, context) pair within a window, and ``k`` negative words drawn from the
unigram distribution raised to 3/4, the loss is::

    −log σ(u_context · v_center) − Σ_{j=1..k} log σ(−u_{neg_j} · v_center)

Words that share contexts end with similar vectors; :meth:`SkipGram.most_similar`
ranks words by the cosine similarity ``v_a·v_b / (‖v_a‖ ‖v_b‖)``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import DataError, NotFittedError
from ..validation import check_int, check_number
from ._text import Vocabulary

__all__ = ["SkipGram", "skipgram_pairs"]


def skipgram_pairs(ids: np.ndarray, window: int, rng: np.random.Generator | None = None):
    """All (center, context) pairs with ``|offset| ≤ window`` (word2vec's random shrinking
    of the window to ``b ~ U{1..window}`` per center when ``rng`` is given).

    >>> skipgram_pairs(np.array([0, 1, 2]), 1).tolist()
    [[0, 1], [1, 0], [1, 2], [2, 1]]
    """
    ids = np.asarray(ids)
    n = len(ids)
    reach = np.full(n, window) if rng is None else rng.integers(1, window + 1, n)
    centers, contexts = [], []
    for off in range(-window, window + 1):
        if off == 0:
            continue
        pos = np.arange(max(0, -off), min(n, n - off))
        pos = pos[reach[pos] >= abs(off)]
        centers.append(pos)
        contexts.append(pos + off)
    c = np.concatenate(centers)
    o = np.concatenate(contexts)
    order = np.lexsort((o, c))
    return np.stack([ids[c[order]], ids[o[order]]], 1)


class SkipGram(nn.Module):
    """Skip-gram word vectors trained with negative sampling.

    Args:
        embedding_size: vector size (default 64).
        window: context words on each side (default 4).
        n_negatives: negative samples per pair (default 5).
        min_count: ignore rarer words (default 3).
        subsample: word2vec's frequent-word down-sampling threshold t (default 1e-3;
            0 disables): a word of frequency f is kept with probability min(1, √(t/f) + t/f).
        seed: seeds the initial vectors and all sampling.

    After :meth:`fit`: ``vocabulary_``, ``vectors_`` (the input vectors, ``(V, d)``).

    >>> text = ("cat dog cat dog pet " * 30 + "car bus car bus road " * 30).split()
    >>> sg = SkipGram(embedding_size=8, window=2, min_count=1, subsample=0).fit(text, epochs=20)
    >>> sg.most_similar("cat", 1)[0][0] in {"dog", "pet"}
    True
    """

    def __init__(self, embedding_size: int = 64, *, window: int = 4, n_negatives: int = 5,
                 min_count: int = 3, subsample: float = 1e-3, seed: int = 0):
        super().__init__()
        owner = "SkipGram"
        self.embedding_size = check_int(owner, "embedding_size", embedding_size, low=1)
        self.window = check_int(owner, "window", window, low=1)
        self.n_negatives = check_int(owner, "n_negatives", n_negatives, low=1)
        self.min_count = check_int(owner, "min_count", min_count, low=1)
        self.subsample = check_number(owner, "subsample", subsample, low=0.0)
        self.seed = check_int(owner, "seed", seed, low=0)
        self.vocabulary_ = None
        self.input_vectors = None
        self.output_vectors = None

    def loss(self, centers, contexts, negatives):
        """The negative-sampling loss, mean over pairs."""
        v = self.input_vectors(centers)  # (B, d)
        u = self.output_vectors(contexts)  # (B, d)
        un = self.output_vectors(negatives)  # (B, k, d)
        pos = F.logsigmoid((u * v).sum(-1))
        neg = F.logsigmoid(-(un @ v.unsqueeze(-1)).squeeze(-1)).sum(-1)
        return -(pos + neg).mean()

    def fit(self, words, *, epochs: int = 5, batch_size: int = 1024, lr: float = 0.01):
        """Learn vectors from a list of words (e.g. ``sequences.words(text)``); returns self."""
        if isinstance(words, str) or not isinstance(words, (list, tuple)) or not words:
            raise DataError("SkipGram.fit: expected a non-empty list of words, received "
                            f"{type(words).__name__}")
        odd = next((i for i, w in enumerate(words) if not isinstance(w, str)), None)
        if odd is not None:
            raise DataError(f"SkipGram.fit: expected a flat list of words (strings), received a "
                            f"{type(words[odd]).__name__} at position {odd}; join sentences first: "
                            "[w for sentence in sentences for w in sentence]")
        epochs = check_int("SkipGram.fit", "epochs", epochs, low=1)
        batch_size = check_int("SkipGram.fit", "batch_size", batch_size, low=1)
        lr = check_number("SkipGram.fit", "lr", lr, low=0.0, low_open=True)
        vocab = Vocabulary(words, min_count=self.min_count, by_frequency=True)
        if len(vocab) < 2:
            raise DataError(f"SkipGram.fit: expected at least 2 words seen >= min_count="
                            f"{self.min_count} times, received {len(vocab)}")
        self.vocabulary_ = vocab
        ids = np.array([vocab.index[w] for w in words if w in vocab.index], dtype=np.int64)
        counts = np.array([vocab.counts[w] for w in vocab.symbols], dtype=np.float64)
        freq = counts / counts.sum()
        noise = torch.from_numpy(counts ** 0.75 / (counts ** 0.75).sum())
        rng = np.random.default_rng(self.seed)
        gen = torch.Generator().manual_seed(self.seed)
        torch.manual_seed(self.seed)
        n, d = len(vocab), self.embedding_size
        self.input_vectors = nn.Embedding(n, d)
        self.output_vectors = nn.Embedding(n, d)
        nn.init.uniform_(self.input_vectors.weight, -0.5 / d, 0.5 / d)
        nn.init.zeros_(self.output_vectors.weight)
        opt = torch.optim.Adam(self.parameters(), lr=lr)
        self.losses_ = []
        for _ in range(epochs):
            kept = ids
            if self.subsample > 0:
                ratio = self.subsample / freq[ids]
                kept = ids[rng.random(len(ids)) < np.sqrt(ratio) + ratio]
            pairs = torch.from_numpy(skipgram_pairs(kept, self.window, rng))
            pairs = pairs[torch.randperm(len(pairs), generator=gen)]
            total = 0.0
            for i in range(0, len(pairs), batch_size):
                batch = pairs[i:i + batch_size]
                negatives = torch.multinomial(noise, len(batch) * self.n_negatives, True,
                                              generator=gen).reshape(len(batch), -1)
                loss = self.loss(batch[:, 0], batch[:, 1], negatives)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(batch)
            self.losses_.append(total / max(len(pairs), 1))
        return self

    @property
    def vectors_(self) -> torch.Tensor:
        self._check_fitted()
        return self.input_vectors.weight.detach()

    def _check_fitted(self):
        if self.vocabulary_ is None:
            raise NotFittedError("This SkipGram instance is not fitted yet. Call 'fit' with a "
                                 "list of words before using it.")

    def vector(self, word: str) -> torch.Tensor:
        """The vector of ``word`` (DataError for a word outside the vocabulary)."""
        self._check_fitted()
        if word not in self.vocabulary_:
            raise DataError(f"SkipGram: the word {word!r} is not in the vocabulary of "
                            f"{len(self.vocabulary_)} words (min_count={self.min_count})")
        return self.vectors_[self.vocabulary_.index[word]]

    def most_similar(self, word: str, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` words with the largest cosine similarity to ``word`` (itself excluded)."""
        k = check_int("SkipGram.most_similar", "k", k, low=1)
        query = self.vector(word)
        sims = F.cosine_similarity(self.vectors_, query.unsqueeze(0), dim=1)
        sims[self.vocabulary_.index[word]] = -2.0
        top = sims.topk(min(k, len(sims) - 1))
        return [(self.vocabulary_.symbols[i], float(s))
                for s, i in zip(top.values.tolist(), top.indices.tolist())]

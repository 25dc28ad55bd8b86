"""Character language models: embedding → LSTM/GRU → softmax over the next character.

The model reads ``x_1 … x_T`` and outputs ``p(x_{t+1} | x_≤t)`` at every step; it is
trained with the per-step cross-entropy on windows of the text. Its quality is the
perplexity on held-out text::

    PPL = exp(−(1/N) Σ_t log p(x_{t+1} | x_≤t))

(the effective number of equally likely next characters). :func:`sample` draws a
continuation with a temperature; :func:`beam_search` (from ``_decoding``) finds a likely one.

>>> lm = CharLanguageModel("abcab", n_units=8, embedding_size=4)
>>> lm(torch.tensor([[0, 1, 2]])).shape
torch.Size([1, 3, 3])
"""

from __future__ import annotations

import math


import torch
from torch import nn

from .. import layers as L
from ..errors import DataError, DTypeError
from ..validation import check_choice, check_int, check_number, check_type
from ._decoding import beam_search as _beam_search
from ._decoding import greedy_search, sample_next
from ._padding import MaskedLoss
from ._text import Vocabulary

__all__ = ["CharLanguageModel", "text_windows", "perplexity", "sample", "generate_beam"]

_CELLS = {"lstm": L.LSTM, "gru": L.GRU, "simple_rnn": L.SimpleRNN}


class CharLanguageModel(nn.Module):
    """A character-level recurrent language model.

    Args:
        vocabulary: a :class:`Vocabulary` or a text whose characters make one.
        embedding_size: size of the character vectors (default 32).
        n_units: recurrent units (default 128).
        cell: "lstm" (default), "gru" or "simple_rnn".
        n_layers: stacked recurrent layers (default 1); dropout: between them (default 0).

    Call: ``lm(x)`` with int64 ``x`` ``(N, T)`` → logits ``(N, T, V)``;
    ``lm.forward_with_state(x, state)`` also returns the state (batch-first tensors).
    """

    def __init__(self, vocabulary, *, embedding_size: int = 32, n_units: int = 128,
                 cell: str = "lstm", n_layers: int = 1, dropout: float = 0.0):
        super().__init__()
        owner = "CharLanguageModel"
        self.vocabulary = vocabulary if isinstance(vocabulary, Vocabulary) else Vocabulary(vocabulary)
        self.cell_name = check_choice(owner, "cell", cell, tuple(_CELLS))
        n_vocab = len(self.vocabulary)
        self.embedding = L.Embedding(n_vocab, check_int(owner, "embedding_size", embedding_size,
                                                        low=1))
        self.embedding.build((None,))
        self.rnn = _CELLS[self.cell_name](check_int(owner, "n_units", n_units, low=1),
                                         return_sequences=True, n_layers=n_layers, dropout=dropout)
        self.rnn.build((None, embedding_size))
        self.head = nn.Linear(n_units, n_vocab)

    def _check_tokens(self, x):
        if not isinstance(x, torch.Tensor):
            x = torch.as_tensor(x)
        if x.is_floating_point() or x.dtype == torch.bool:
            raise DTypeError(f"CharLanguageModel: expected integer symbol indices, received dtype "
                             f"{x.dtype}")
        if x.numel() and (int(x.min()) < 0 or int(x.max()) >= len(self.vocabulary)):
            raise DataError(f"CharLanguageModel: expected symbol indices in "
                            f"[0, {len(self.vocabulary)}), received values in "
                            f"[{int(x.min())}, {int(x.max())}]")
        return x

    def forward_with_state(self, x, state=None, lengths=None):
        """Logits ``(N, T, V)`` and the final state (a batch-first tensor or pair of them)."""
        x = self._check_tokens(x)
        if state is not None:  # batch-first (N, L, H) → the layer's (L, N, H)
            state = tuple(s.transpose(0, 1) for s in state) if isinstance(state, tuple) \
                else state.transpose(0, 1)
        out, new = self.rnn.forward_with_state(self.embedding(x), lengths=lengths,
                                               initial_state=state)
        new = tuple(s.transpose(0, 1) for s in new) if isinstance(new, tuple) \
            else new.transpose(0, 1)
        return self.head(out), new

    def forward(self, x, lengths=None):
        x = self._check_tokens(x)
        return self.head(self.rnn(self.embedding(x), lengths=lengths))

    def step(self, tokens, state):
        """One decoding step: ``tokens`` ``(B,)`` → log-probabilities ``(B, V)`` and the state."""
        logits, state = self.forward_with_state(tokens.reshape(-1, 1), state)
        return torch.log_softmax(logits[:, -1], -1), state

    def prime(self, prompt: str):
        """Read all of ``prompt`` but its last character: ``(state, last_index)``."""
        if not isinstance(prompt, str) or not prompt:
            raise DataError(f"CharLanguageModel: expected a non-empty prompt string, received "
                            f"{prompt!r}")
        ids = self.vocabulary.encode(prompt)
        state = None
        if len(ids) > 1:
            _, state = self.forward_with_state(ids[:-1].unsqueeze(0))
        return state, int(ids[-1])

    def fit_text(self, text: str, *, seq_length: int = 100, epochs: int = 5,
                 batch_size: int = 64, lr: float = 3e-3, step: int | None = None,
                 validation_text: str | None = None, **fit_kwargs):
        """Train on windows of ``text`` with ``neuralab.training.fit`` (per-step cross-entropy)."""
        from ..training import fit

        X, Y = text_windows(self.vocabulary.encode(text), seq_length, step)
        val = None
        if validation_text is not None:
            val = text_windows(self.vocabulary.encode(validation_text), seq_length)
        fit_kwargs.setdefault("progress", False)
        return fit(self, X, Y, loss=MaskedLoss("softmax_crossentropy"), epochs=epochs,
                   batch_size=batch_size, lr=lr, validation_data=val, **fit_kwargs)


def text_windows(ids: torch.Tensor, seq_length: int, step: int | None = None):
    """Inputs ``ids[s : s+T]`` and next-symbol targets ``ids[s+1 : s+T+1]`` for ``s = 0, step, …``.

    Returns int64 ``(n, T)`` and ``(n, T)`` (``step`` defaults to ``T``: no overlap).

    >>> x, y = text_windows(torch.arange(7), 3)
    >>> x.tolist(), y.tolist()
    ([[0, 1, 2], [3, 4, 5]], [[1, 2, 3], [4, 5, 6]])
    """
    seq_length = check_int("text_windows", "seq_length", seq_length, low=1)
    step = seq_length if step is None else check_int("text_windows", "step", step, low=1)
    ids = torch.as_tensor(ids)
    if ids.numel() < seq_length + 1:
        raise DataError(f"text_windows: expected at least seq_length + 1 = {seq_length + 1} "
                        f"symbols, received {ids.numel()}")
    starts = torch.arange(0, ids.numel() - seq_length, step)
    offsets = torch.arange(seq_length)
    idx = starts.unsqueeze(1) + offsets
    return ids[idx], ids[idx + 1]


@torch.no_grad()
def perplexity(model_or_logits, data, mask=None, *, seq_length: int = 200,
               batch_size: int = 16) -> float:
    """Perplexity ``exp(mean negative log-likelihood)`` of next-symbol predictions.

    Two forms:

    - ``perplexity(logits, targets, mask=None)``: logits ``(N, T, V)``, integer targets
      ``(N, T)`` (``-100`` or ``mask`` marks padding);
    - ``perplexity(model, text)``: a :class:`CharLanguageModel` on a string (or its
      indices), read as ``batch_size`` contiguous streams in chunks of ``seq_length``
      with the state carried over, so every symbol but the first is predicted from all
      the text before it in its stream.

    >>> round(perplexity(torch.zeros(1, 4, 5), torch.tensor([[0, 1, 2, 3]])), 6)   # uniform
    5.0
    """
    if isinstance(model_or_logits, torch.Tensor):
        nll = MaskedLoss("softmax_crossentropy")(model_or_logits, torch.as_tensor(data), mask)
        return float(torch.exp(nll))
    model = model_or_logits
    if not isinstance(model, CharLanguageModel):
        raise DTypeError(f"perplexity: expected logits or a CharLanguageModel, received "
                         f"{type(model).__name__}")
    seq_length = check_int("perplexity", "seq_length", seq_length, low=1)
    batch_size = check_int("perplexity", "batch_size", batch_size, low=1)
    ids = model.vocabulary.encode(data) if isinstance(data, str) else torch.as_tensor(data)
    if ids.numel() < 2:
        raise DataError(f"perplexity: expected a text of at least 2 symbols, received "
                        f"{ids.numel()}")
    streams = min(batch_size, ids.numel() - 1)
    per = (ids.numel() - 1) // streams
    used = ids[:streams * per + 1]
    x = used[:-1].reshape(streams, per)
    y = used[1:].reshape(streams, per)
    was_training = model.training
    model.eval()
    total, count, state = 0.0, 0, None
    for s in range(0, per, seq_length):
        logits, state = model.forward_with_state(x[:, s:s + seq_length], state)
        logp = torch.log_softmax(logits.double(), -1)
        total -= float(logp.gather(-1, y[:, s:s + seq_length].unsqueeze(-1)).sum())
        count += y[:, s:s + seq_length].numel()
    model.train(was_training)
    return math.exp(total / count)


@torch.no_grad()
def sample(model: CharLanguageModel, prompt: str, length: int = 200, *,
           temperature: float = 1.0, top_k: int | None = None, seed: int | None = None) -> str:
    """Continue ``prompt`` by ``length`` characters drawn from ``softmax(logits / temperature)``.

    Args:
        model: a :class:`CharLanguageModel`.
        prompt: a non-empty string of characters of the model's vocabulary.
        length: characters to generate (default 200).
        temperature: τ > 0 (default 1); small τ is nearly greedy, large τ nearly uniform.
        top_k: sample only among the k most likely characters (default: all).
        seed: seeds the draws (default: torch's global generator).

    Returns: ``prompt`` followed by the generated characters.
    """
    check_type("sample", "model", model, CharLanguageModel, "a CharLanguageModel")
    check_number("sample", "temperature", temperature, low=0.0, low_open=True)
    length = check_int("sample", "length", length, low=0)
    gen = None if seed is None else torch.Generator().manual_seed(check_int("sample", "seed",
                                                                            seed, low=0))
    was_training = model.training
    model.eval()
    state, last = model.prime(prompt)
    out = []
    token = torch.tensor([last])
    for _ in range(length):
        log_probs, state = model.step(token, state)
        token = sample_next(log_probs, temperature, top_k=top_k, generator=gen)
        out.append(int(token))
    model.train(was_training)
    return prompt + model.vocabulary.decode(out)


def generate_beam(model: CharLanguageModel, prompt: str, length: int = 40, *, width: int = 4,
                  length_penalty: float = 0.0, end: str | None = None) -> list[tuple[str, float]]:
    """Beam-search continuations of ``prompt`` (up to ``length`` characters, or until ``end``).

    Returns ``[(continuation, score), …]`` best first, scored by ``(1/T^α) Σ log p``.
    """
    check_type("generate_beam", "model", model, CharLanguageModel, "a CharLanguageModel")
    was_training = model.training
    model.eval()
    state, last = model.prime(prompt)
    end_id = None if end is None else int(model.vocabulary.encode(end)[0])
    if width == 1:
        tokens, score = greedy_search(model.step, state, last, max_length=length, end=end_id)
        hyps = [(tokens, score / (len(tokens) ** length_penalty))]
    else:
        hyps = _beam_search(model.step, state, last, width=width, max_length=length,
                            length_penalty=length_penalty, end=end_id)
    model.train(was_training)
    return [(model.vocabulary.decode(t), s) for t, s in hyps]



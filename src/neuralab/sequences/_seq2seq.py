"""Encoder–decoder translation with attention, and a generated translation task (dates).

The encoder (an embedding and a bidirectional LSTM) turns the source ``x_1 … x_S``
into annotations ``a_1 … a_S``. The decoder LSTM reads the previous target symbol
(the true one during training: *teacher forcing*; its own guess when decoding) and
its state ``s_t`` attends over the annotations::

    e_ti = score(s_t, a_i)        additive (Bahdanau): vᵀ tanh(W s_t + U a_i)
                                  dot (Luong):         s_tᵀ a_i   (sizes must agree)
    α_ti = softmax_i(e_ti)        padded source steps get α = 0
    c_t  = Σ_i α_ti a_i
    p(y_t | y_<t, x) = softmax(W_o [s_t; c_t])

>>> pairs = make_dates(2, seed=0)
>>> [len(iso) for _, iso in pairs]
[10, 10]
"""

from __future__ import annotations

import datetime
import math

import numpy as np
import torch
from torch import nn

from .. import layers as L
from ..errors import ConfigError, DataError, ShapeError, format_shape
from ..validation import check_choice, check_int
from ._decoding import beam_search, greedy_search
from ._padding import IGNORE_INDEX, MaskedLoss, pad_sequences
from ._text import Vocabulary

__all__ = ["Attention", "Seq2Seq", "make_dates", "DATE_FORMATS"]


class Attention(nn.Module):
    """Attention of queries over keys/values: ``(context, weights)``.

    Args:
        query_size, key_size: feature sizes of queries and keys.
        kind: "additive" (Bahdanau; default) or "dot" (Luong; needs
            ``query_size == key_size``).
        units: hidden size of the additive score (default ``key_size``).

    Call: ``attn(query, keys, values=None, mask=None)`` with query ``(N, Tq, Dq)`` (or
    ``(N, Dq)``), keys ``(N, Tk, Dk)``, values ``(N, Tk, Dv)`` (default: the keys), mask
    ``(N, Tk)`` True on real keys → context ``(N, Tq, Dv)``, weights ``(N, Tq, Tk)``.

    >>> attn = Attention(4, 4, kind="dot")
    >>> ctx, w = attn(torch.ones(1, 2, 4), torch.randn(1, 3, 4), mask=torch.tensor([[1, 1, 0]]))
    >>> ctx.shape, float(w[0, 0, 2]), round(float(w.sum(-1)[0, 0]), 6)
    (torch.Size([1, 2, 4]), 0.0, 1.0)
    """

    def __init__(self, query_size: int, key_size: int, *, kind: str = "additive",
                 units: int | None = None):
        super().__init__()
        self.kind = check_choice("Attention", "kind", kind, ("additive", "dot"))
        self.query_size = check_int("Attention", "query_size", query_size, low=1)
        self.key_size = check_int("Attention", "key_size", key_size, low=1)
        if self.kind == "dot" and query_size != key_size:
            raise ConfigError(f"Attention: dot-product attention needs query_size == key_size, "
                              f"received {query_size} and {key_size}; use kind='additive'")
        if self.kind == "additive":
            units = key_size if units is None else check_int("Attention", "units", units, low=1)
            self.w_query = nn.Linear(query_size, units, bias=False)
            self.w_key = nn.Linear(key_size, units)
            self.v = nn.Linear(units, 1, bias=False)

    def scores(self, query, keys):
        """Unnormalised scores ``e`` ``(N, Tq, Tk)``."""
        if self.kind == "dot":
            return query @ keys.transpose(1, 2)
        hidden = torch.tanh(self.w_query(query).unsqueeze(2) + self.w_key(keys).unsqueeze(1))
        return self.v(hidden).squeeze(-1)  # (N, Tq, Tk)

    def forward(self, query, keys, values=None, mask=None):
        single = query.dim() == 2
        if single:
            query = query.unsqueeze(1)
        if keys.dim() != 3 or query.shape[-1] != self.query_size or keys.shape[-1] != self.key_size:
            raise ShapeError(f"Attention: expected queries (N, Tq, {self.query_size}) and keys "
                             f"(N, Tk, {self.key_size}), received {format_shape(tuple(query.shape))}"
                             f" and {format_shape(tuple(keys.shape))}")
        values = keys if values is None else values
        e = self.scores(query, keys)
        if mask is not None:
            mask = torch.as_tensor(mask, device=e.device).bool()
            if tuple(mask.shape) != (keys.shape[0], keys.shape[1]):
                raise ShapeError(f"Attention: expected a mask of shape "
                                 f"({keys.shape[0]}, {keys.shape[1]}), received "
                                 f"{format_shape(tuple(mask.shape))}")
            e = e.masked_fill(~mask.unsqueeze(1), -math.inf)
        weights = torch.softmax(e, dim=-1)
        context = weights @ values
        if single:
            return context.squeeze(1), weights.squeeze(1)
        return context, weights


class Seq2Seq(nn.Module):
    """An encoder–decoder with attention over symbol sequences.

    Args:
        source_vocabulary, target_vocabulary: :class:`Vocabulary` objects; index 0 of
            each must be the padding symbol, the target one must hold ``start`` and ``end``.
        embedding_size: symbol vectors (default 32); n_units: LSTM units (default 64).
        attention: "additive" (default) or "dot".
        start, end: the target's start/end symbols (default "<s>", "</s>").

    Call: ``model(source, target_in)`` (int64 ``(N, S)`` padded with 0, ``(N, T)``)
    → logits ``(N, T, V)`` with teacher forcing. :meth:`translate` decodes (greedy or beam).
    """

    def __init__(self, source_vocabulary: Vocabulary, target_vocabulary: Vocabulary, *,
                 embedding_size: int = 32, n_units: int = 64, attention: str = "additive",
                 start: str = "<s>", end: str = "</s>"):
        super().__init__()
        owner = "Seq2Seq"
        for what, v in (("source_vocabulary", source_vocabulary),
                        ("target_vocabulary", target_vocabulary)):
            if not isinstance(v, Vocabulary):
                raise ConfigError(f"{owner}: expected `{what}` to be a Vocabulary, received "
                                  f"{type(v).__name__}")
        for s in (start, end):
            if s not in target_vocabulary:
                raise ConfigError(f"{owner}: the target vocabulary has no {s!r} symbol")
        self.source_vocabulary = source_vocabulary
        self.target_vocabulary = target_vocabulary
        self.start = target_vocabulary.index[start]
        self.end = target_vocabulary.index[end]
        embedding_size = check_int(owner, "embedding_size", embedding_size, low=1)
        n_units = check_int(owner, "n_units", n_units, low=1)
        self.n_units = n_units
        self.source_embedding = L.Embedding(len(source_vocabulary), embedding_size)
        self.source_embedding.build((None,))
        self.target_embedding = L.Embedding(len(target_vocabulary), embedding_size)
        self.target_embedding.build((None,))
        self.encoder = L.LSTM(n_units, return_sequences=True, bidirectional=True)
        self.encoder.build((None, embedding_size))
        self.bridge = nn.Linear(2 * n_units, n_units)
        self.decoder = L.LSTM(n_units, return_sequences=True)
        self.decoder.build((None, embedding_size))
        kind = check_choice(owner, "attention", attention, ("additive", "dot"))
        self.keys = nn.Linear(2 * n_units, n_units) if kind == "dot" else nn.Identity()
        self.attention = Attention(n_units, n_units if kind == "dot" else 2 * n_units, kind=kind)
        self.output = nn.Linear(n_units + 2 * n_units, len(target_vocabulary))

    # -- pieces ----------------------------------------------------------------------------------
    def encode(self, source):
        """Annotations ``(N, S, 2H)``, the source mask and the decoder's initial state."""
        source = torch.as_tensor(source)
        if source.dim() != 2 or source.is_floating_point():
            raise DataError(f"Seq2Seq: expected integer source indices (N, S), received "
                            f"{format_shape(tuple(source.shape))} of dtype {source.dtype}")
        mask = source != 0
        lengths = mask.sum(1)
        if int(lengths.min()) < 1:
            raise DataError("Seq2Seq: expected every source sequence to have at least one "
                            "symbol, received an empty (all-padding) one")
        annotations = self.encoder(self.source_embedding(source), lengths=lengths)  # (N, S, 2H)
        rows = torch.arange(source.shape[0], device=source.device)
        h = self.n_units
        # the forward direction ends at each sequence's last step, the backward one at step 0
        final = torch.cat([annotations[rows, lengths - 1, :h], annotations[:, 0, h:]], -1)
        h0 = torch.tanh(self.bridge(final))  # (N, H)
        state = (h0, torch.zeros_like(h0))
        return annotations, mask, state

    def _readout(self, s, annotations, mask):
        context, weights = self.attention(s, self.keys(annotations), annotations, mask)
        return self.output(torch.cat([s, context], -1)), weights

    def forward(self, source, target_in):
        annotations, mask, (h0, c0) = self.encode(source)
        s = self.decoder(self.target_embedding(torch.as_tensor(target_in)),
                         initial_state=(h0.unsqueeze(0), c0.unsqueeze(0)))
        logits, _ = self._readout(s, annotations, mask)
        return logits

    def _step(self, tokens, state):
        h, c, annotations, mask = state
        s, (h2, c2) = self.decoder.forward_with_state(
            self.target_embedding(tokens.reshape(-1, 1)),
            initial_state=(h.unsqueeze(0), c.unsqueeze(0)))
        logits, _ = self._readout(s, annotations, mask)
        return torch.log_softmax(logits[:, -1], -1), (h2[0], c2[0], annotations, mask)

    # -- data ------------------------------------------------------------------------------------
    def encode_sources(self, texts) -> torch.Tensor:
        """Source strings → int64 ``(N, S)`` padded with 0."""
        return pad_sequences([self.source_vocabulary.encode(t) for t in texts], value=0)

    def encode_targets(self, texts):
        """Target strings → ``(target_in, target_out)``: ``<s> y`` and ``y </s>`` (padded)."""
        ids = [self.target_vocabulary.encode(t) for t in texts]
        start, end = torch.tensor([self.start]), torch.tensor([self.end])
        t_in = pad_sequences([torch.cat([start, y]) for y in ids], value=0)
        t_out = pad_sequences([torch.cat([y, end]) for y in ids], value=IGNORE_INDEX)
        return t_in, t_out

    def fit_pairs(self, pairs, *, epochs: int = 10, batch_size: int = 64, lr: float = 3e-3,
                  validation_pairs=None, **fit_kwargs):
        """Train with teacher forcing on ``[(source, target), …]`` strings via ``fit``."""
        from ..training import fit

        src = self.encode_sources([s for s, _ in pairs])
        t_in, t_out = self.encode_targets([t for _, t in pairs])
        val = None
        if validation_pairs is not None:
            vs = self.encode_sources([s for s, _ in validation_pairs])
            vi, vo = self.encode_targets([t for _, t in validation_pairs])
            val = ((vs, vi), vo)
        fit_kwargs.setdefault("progress", False)
        return fit(self, (src, t_in), t_out, loss=MaskedLoss("softmax_crossentropy"),
                   epochs=epochs, batch_size=batch_size, lr=lr, validation_data=val,
                   **fit_kwargs)

    # -- decoding --------------------------------------------------------------------------------
    @torch.no_grad()
    def translate(self, text: str, *, width: int = 1, max_length: int = 30,
                  length_penalty: float = 0.0, return_attention: bool = False):
        """Decode one source string (greedy when ``width == 1``, else beam search).

        With ``return_attention`` also returns the attention weights ``(T_out, S)``.
        """
        was_training = self.training
        self.eval()
        annotations, mask, (h0, c0) = self.encode(self.encode_sources([text]))
        state = (h0, c0, annotations, mask)
        if width == 1:
            tokens, _ = greedy_search(self._step, state, self.start, max_length=max_length,
                                      end=self.end)
        else:
            tokens = beam_search(self._step, state, self.start, width=width,
                                 max_length=max_length, length_penalty=length_penalty,
                                 end=self.end)[0][0]
        if tokens and tokens[-1] == self.end:
            tokens = tokens[:-1]
        out = self.target_vocabulary.decode(tokens)
        self.train(was_training)
        if not return_attention:
            return out
        t_in = torch.tensor([[self.start] + tokens])
        s = self.decoder(self.target_embedding(t_in),
                         initial_state=(h0.unsqueeze(0), c0.unsqueeze(0)))
        _, weights = self._readout(s, annotations, mask)
        return out, weights[0].numpy()

    @torch.no_grad()
    def translate_batch(self, texts, *, max_length: int = 30) -> list[str]:
        """Greedy decoding of many sources at once."""
        was_training = self.training
        self.eval()
        annotations, mask, (h, c) = self.encode(self.encode_sources(texts))
        tokens = torch.full((len(texts),), self.start)
        out = []
        state = (h, c, annotations, mask)
        for _ in range(max_length):
            log_probs, state = self._step(tokens, state)
            tokens = log_probs.argmax(-1)
            out.append(tokens)
        self.train(was_training)
        seqs = torch.stack(out, 1).tolist()
        result = []
        for seq in seqs:
            if self.end in seq:
                seq = seq[:seq.index(self.end)]
            result.append(self.target_vocabulary.decode(seq))
        return result


# -- the date task -----------------------------------------------------------------------------------
_MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august",
           "september", "october", "november", "december"]
_DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def _ordinal(d: int) -> str:
    suffix = "th" if 11 <= d % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(d % 10, "th")
    return f"{d}{suffix}"


#: How :func:`make_dates` writes a date (``d`` is a ``datetime.date``).
DATE_FORMATS = (
    lambda d: f"{_DAYS[d.weekday()]} {d.day} {_MONTHS[d.month - 1]} {d.year}",
    lambda d: f"{_DAYS[d.weekday()][:3]} {d.day} {_MONTHS[d.month - 1][:3]} {d.year}",
    lambda d: f"{d.day} {_MONTHS[d.month - 1]} {d.year}",
    lambda d: f"{d.day} {_MONTHS[d.month - 1][:3]} {d.year}",
    lambda d: f"{_MONTHS[d.month - 1]} {d.day}, {d.year}",
    lambda d: f"{_MONTHS[d.month - 1][:3]} {_ordinal(d.day)} {d.year}",
    lambda d: f"the {_ordinal(d.day)} of {_MONTHS[d.month - 1]} {d.year}",
    lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}",
    lambda d: f"{d.day}/{d.month}/{d.year}",
    lambda d: f"{_DAYS[d.weekday()]}, {_MONTHS[d.month - 1]} {_ordinal(d.day)}, {d.year}",
)


def make_dates(n_samples: int = 10_000, *, seed: int | None = 0, first_year: int = 1900,
               last_year: int = 2099) -> list[tuple[str, str]]:
    """Human-readable dates and their ISO form: ``("tuesday 3 march 1987", "1987-03-03")``.

    Dates are uniform between 1 January ``first_year`` and 31 December ``last_year``;
    each is written in one of :data:`DATE_FORMATS` chosen at random (weekday names agree
    with the date; day-first numeric forms).
    """
    n_samples = check_int("make_dates", "n_samples", n_samples, low=1)
    first_year = check_int("make_dates", "first_year", first_year, low=1)
    last_year = check_int("make_dates", "last_year", last_year, low=first_year, high=9999)
    rng = np.random.default_rng(seed)
    lo = datetime.date(first_year, 1, 1).toordinal()
    hi = datetime.date(last_year, 12, 31).toordinal()
    days = rng.integers(lo, hi + 1, n_samples)
    forms = rng.integers(0, len(DATE_FORMATS), n_samples)
    out = []
    for o, f in zip(days.tolist(), forms.tolist()):
        d = datetime.date.fromordinal(o)
        out.append((DATE_FORMATS[f](d), d.isoformat()))
    return out


def date_vocabularies() -> tuple[Vocabulary, Vocabulary]:
    """The source (every character of :data:`DATE_FORMATS`) and target (digits, "-") vocabularies."""
    chars = set("0123456789 ,./")
    for name in _MONTHS + _DAYS + ["the of st nd rd th"]:
        chars |= set(name)
    source = Vocabulary(sorted(chars), extra=["<pad>"])
    target = Vocabulary("0123456789-", extra=["<pad>", "<s>", "</s>"])
    return source, target

"""Decoding a sequence model: greedy search, beam search with length normalisation, sampling.

The searches work on a *step function* ``step(tokens, state) -> (log_probs, state)``:
``tokens`` ``(B,)`` are the last symbols of ``B`` hypotheses, ``log_probs`` ``(B, V)``
the log-probabilities of the next symbol, and ``state`` any nesting of tuples/lists/dicts
of tensors whose first axis is the hypothesis (so a beam can reorder it).

Beam search keeps the ``width`` most likely partial hypotheses per step and scores a
finished hypothesis ``y_1 … y_T`` with CS230's normalised log-likelihood::

    score = (1 / T^α) Σ_{t=1..T} log p(y_t | x, y_<t)        (α = length_penalty)

α = 0 is the plain log-likelihood (it prefers short outputs); α = 1 the per-symbol mean.

>>> import torch
>>> table = torch.log(torch.tensor([[0.1, 0.6, 0.3], [0.5, 0.2, 0.3], [0.4, 0.4, 0.2]]))
>>> step = lambda tokens, state: (table[tokens], state)   # a bigram model
>>> greedy_search(step, None, start=0, max_length=3)[0]
[1, 0, 1]
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch

from ..errors import ConfigError, DTypeError
from ..validation import check_int, check_number, expected

__all__ = ["greedy_search", "beam_search", "sample_next", "select_state"]


def select_state(state: Any, index: torch.Tensor) -> Any:
    """``state`` with its first axis indexed by ``index`` (recursively through containers)."""
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return state.index_select(0, index.to(state.device))
    if isinstance(state, tuple):
        return tuple(select_state(s, index) for s in state)
    if isinstance(state, list):
        return [select_state(s, index) for s in state]
    if isinstance(state, dict):
        return {k: select_state(v, index) for k, v in state.items()}
    return state


def _check_common(owner, step, max_length, end):
    if not callable(step):
        raise expected(owner, "step", "a function step(tokens, state) -> (log_probs, state)",
                       type(step).__name__, error=DTypeError)
    max_length = check_int(owner, "max_length", max_length, low=1)
    end = check_int(owner, "end", end, low=0, allow_none=True)
    return max_length, end


def _step(owner: str, step: Callable, tokens: torch.Tensor, state: Any):
    """``step(tokens, state)`` checked: a pair ``(log_probs (B, V), state)`` for B = len(tokens)."""
    out = step(tokens, state)
    if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[0], torch.Tensor)):
        raise ConfigError(f"{owner}: expected the step function to return a pair (log_probs, state), "
                          f"received {type(out).__name__}"
                          + (f" of length {len(out)}" if isinstance(out, (tuple, list)) else ""))
    log_probs, state = out
    if log_probs.dim() != 2 or log_probs.shape[0] != len(tokens):
        raise ConfigError(f"{owner}: the step function must return log-probabilities of shape "
                          f"({len(tokens)}, V), returned {tuple(log_probs.shape)}")
    return log_probs, state


@torch.no_grad()
def greedy_search(step: Callable, state: Any, start: int, *, max_length: int = 20,
                  end: int | None = None) -> tuple[list, float]:
    """Pick the most likely next symbol at every step; returns ``(tokens, Σ log p)``.

    Stops after ``end`` (included in the tokens) or ``max_length`` symbols.
    """
    max_length, end = _check_common("greedy_search", step, max_length, end)
    token = torch.tensor([check_int("greedy_search", "start", start, low=0)])
    tokens, total = [], 0.0
    for _ in range(max_length):
        log_probs, state = _step("greedy_search", step, token, state)
        value, token = log_probs[0].max(-1)
        token = token.reshape(1)
        tokens.append(int(token))
        total += float(value)
        if end is not None and tokens[-1] == end:
            break
    return tokens, total


def _normalized(total: float, length: int, alpha: float) -> float:
    return total / (length ** alpha) if alpha else total


@torch.no_grad()
def beam_search(step: Callable, state: Any, start: int, *, width: int = 4, max_length: int = 20,
                length_penalty: float = 0.0, end: int | None = None,
                n_best: int | None = None) -> list[tuple[list, float]]:
    """Beam search: the ``n_best`` (default ``width``) hypotheses by normalised score.

    Args:
        step: the step function (see the module docstring).
        state: the initial state for one hypothesis (first axis of size 1), or None.
        start: the symbol fed first (e.g. a start-of-sequence token).
        width: the beam width B ≥ 1 (B = 1 is greedy search).
        max_length: at most this many symbols per hypothesis.
        length_penalty: α ≥ 0 in ``(1/T^α) Σ log p`` (default 0).
        end: the end-of-sequence symbol (a hypothesis that emits it is finished).

    Returns:
        ``[(tokens, score), …]`` best first; tokens include ``end`` when emitted.
    """
    owner = "beam_search"
    width = check_int(owner, "width", width, low=1)
    max_length, end = _check_common(owner, step, max_length, end)
    alpha = check_number(owner, "length_penalty", length_penalty, low=0.0)
    n_best = width if n_best is None else check_int(owner, "n_best", n_best, low=1)
    live_tokens: list[list] = [[]]
    live_scores = torch.zeros(1, dtype=torch.float64)
    last = torch.tensor([check_int(owner, "start", start, low=0)])
    finished: list[tuple[list, float]] = []
    for t in range(max_length):
        log_probs, state = _step(owner, step, last, state)
        cand = live_scores.unsqueeze(1) + log_probs.double().cpu()  # (B, V)
        n_vocab = cand.shape[1]
        k = min(width, cand.numel())
        scores, flat = cand.reshape(-1).topk(k)
        beams = torch.div(flat, n_vocab, rounding_mode="floor")
        symbols = flat % n_vocab
        keep, keep_scores, keep_beams, next_symbols = [], [], [], []
        for s, b, v in zip(scores.tolist(), beams.tolist(), symbols.tolist()):
            tokens = live_tokens[b] + [v]
            if s == -math.inf:
                continue
            if (end is not None and v == end) or t == max_length - 1:
                finished.append((tokens, _normalized(s, len(tokens), alpha)))
            else:
                keep.append(tokens)
                keep_scores.append(s)
                keep_beams.append(b)
                next_symbols.append(v)
        if not keep:
            break
        index = torch.tensor(keep_beams)
        state = select_state(state, index)
        live_tokens = keep
        live_scores = torch.tensor(keep_scores, dtype=torch.float64)
        last = torch.tensor(next_symbols)
    finished.sort(key=lambda h: -h[1])
    return finished[:n_best]


def sample_next(logits: torch.Tensor, temperature: float = 1.0, *, top_k: int | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw one symbol per row from ``softmax(logits / τ)`` (τ = temperature > 0).

    τ → 0 approaches argmax (greedy), τ = 1 samples the model's distribution, τ > 1
    flattens it. ``top_k`` keeps only the k most likely symbols.
    """
    temperature = check_number("sample", "temperature", temperature, low=0.0, low_open=True)
    z = logits.double() / temperature
    if top_k is not None:
        top_k = check_int("sample", "top_k", top_k, low=1)
        kth = z.topk(min(top_k, z.shape[-1]), dim=-1).values[..., -1:]
        z = z.masked_fill(z < kth, -math.inf)
    probs = torch.softmax(z, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)

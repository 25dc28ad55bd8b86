"""BLEU (Papineni et al., 2002): clipped n-gram precisions and a brevity penalty.

For a corpus of hypotheses with references::

    p_n  = Σ_sentences Σ_g min(count_hyp(g), max_ref count_ref(g)) / Σ_sentences #n-grams(hyp)
    BP   = 1 if c > r else exp(1 − r / c)       c = hypothesis length, r = closest reference length
    BLEU = BP · exp((1/N) Σ_{n=1..N} log p_n)

Counts are summed over the corpus before dividing (corpus BLEU), which is what
sacrebleu reports (×100). Smoothing for zero counts (Chen & Cherry, 2014):
"none"; "floor" (p_n = ε / total, ε = 0.1); "add-k" (k = 1 added to the counts
and totals of n ≥ 2); "exp" (the k-th zero precision becomes 1 / (2^k · total)).

>>> round(bleu(["the cat sat on the mat"], [["the cat sat on the mat"]]).score, 6)
1.0
>>> b = bleu(["the cat"], [["the cat sat on the mat"]], max_order=2)
>>> round(b.brevity_penalty, 4), b.precisions
(0.1353, [1.0, 1.0])
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

from ..errors import DataError
from ..validation import check_bool, check_choice, check_int, check_number

__all__ = ["BleuScore", "bleu", "corpus_bleu", "sentence_bleu"]

_SMOOTHING = ("none", "floor", "add-k", "exp")
_DEFAULT_SMOOTH = {"none": None, "floor": 0.1, "add-k": 1.0, "exp": None}


@dataclass
class BleuScore:
    """A BLEU result: ``score`` in [0, 1] (``float(b)`` gives it; sacrebleu shows 100·score)."""

    score: float
    precisions: list = field(default_factory=list)  # p_1 … p_N after smoothing, in [0, 1]
    brevity_penalty: float = 1.0
    hyp_length: int = 0
    ref_length: int = 0
    matches: list = field(default_factory=list)
    totals: list = field(default_factory=list)

    def __float__(self):
        return float(self.score)


def _tokens(text, owner: str, what: str) -> list:
    if isinstance(text, str):
        return text.split()
    if isinstance(text, (list, tuple)) and all(isinstance(t, str) for t in text):
        return list(text)
    raise DataError(f"{owner}: expected {what} to be a string or a list of token strings, "
                    f"received {type(text).__name__}")


def _ngrams(tokens: list, n: int) -> Counter:
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def _closest(hyp_len: int, ref_lens: list) -> int:
    return min(ref_lens, key=lambda r: (abs(r - hyp_len), r))


def _statistics(hypotheses, references, max_order: int, owner: str):
    if isinstance(hypotheses, str) or not isinstance(hypotheses, (list, tuple)):
        raise DataError(f"{owner}: expected a list of hypotheses, received "
                        f"{type(hypotheses).__name__}")
    if not hypotheses:
        raise DataError(f"{owner}: expected at least one hypothesis, received none")
    if not isinstance(references, (list, tuple)) or len(references) != len(hypotheses):
        n = len(references) if isinstance(references, (list, tuple)) else type(references).__name__
        raise DataError(f"{owner}: expected one list of references per hypothesis "
                        f"({len(hypotheses)}), received {n}")
    matches = [0] * max_order
    totals = [0] * max_order
    hyp_len = ref_len = 0
    for i, (hyp, refs) in enumerate(zip(hypotheses, references)):
        hyp = _tokens(hyp, owner, f"hypothesis {i}")
        if isinstance(refs, str):
            refs = [refs]
        if not isinstance(refs, (list, tuple)) or not refs:
            raise DataError(f"{owner}: expected at least one reference for hypothesis {i}, "
                            f"received {refs!r}")
        refs = [_tokens(r, owner, f"reference of hypothesis {i}") for r in refs]
        hyp_len += len(hyp)
        ref_len += _closest(len(hyp), [len(r) for r in refs])
        for n in range(1, max_order + 1):
            counts = _ngrams(hyp, n)
            best: Counter = Counter()
            for r in refs:
                best |= _ngrams(r, n)  # the maximum count of each n-gram over the references
            matches[n - 1] += sum(min(c, best[g]) for g, c in counts.items())
            totals[n - 1] += max(len(hyp) - n + 1, 0)
    return matches, totals, hyp_len, ref_len


def _score(matches, totals, hyp_len, ref_len, max_order, smoothing, smooth_value,
           effective_order) -> BleuScore:
    bp = 1.0 if hyp_len > ref_len else (math.exp(1 - ref_len / hyp_len) if hyp_len else 0.0)
    precisions = [0.0] * max_order
    result = BleuScore(0.0, precisions, bp, hyp_len, ref_len, list(matches), list(totals))
    if not any(matches):
        return result
    m = [float(v) for v in matches]
    t = [float(v) for v in totals]
    order = max_order
    zeros = 0
    for n in range(max_order):
        if smoothing == "add-k" and n > 0:
            m[n] += smooth_value
            t[n] += smooth_value
        if t[n] == 0:  # hypotheses too short for this order
            break
        if effective_order:
            order = n + 1
        if m[n] > 0:
            precisions[n] = m[n] / t[n]
        elif smoothing == "exp":
            zeros += 1
            precisions[n] = 1.0 / (2 ** zeros * t[n])
        elif smoothing == "floor":
            precisions[n] = smooth_value / t[n]
    if any(p == 0.0 for p in precisions[:order]):
        return result
    result.score = bp * math.exp(sum(math.log(p) for p in precisions[:order]) / order)
    return result


def bleu(hypotheses: Sequence, references: Sequence, *, max_order: int = 4,
         smoothing: str = "none", smooth_value: float | None = None,
         effective_order: bool = False) -> BleuScore:
    """Corpus BLEU of ``hypotheses`` against ``references``.

    Args:
        hypotheses: a list of sentences (strings, split on whitespace, or token lists).
        references: one entry per hypothesis: a list of reference sentences (or one string).
        max_order: the largest n-gram order N (default 4).
        smoothing: "none" (default), "floor", "add-k" or "exp".
        smooth_value: ε for "floor" (default 0.1), k for "add-k" (default 1).
        effective_order: average only over the orders with n-grams (for short sentences).

    Returns:
        A :class:`BleuScore` (``.score`` in [0, 1]; sacrebleu's number is 100× it).

    Raises:
        DataError: no hypotheses, a hypothesis without references, mismatched lengths.
    """
    owner = "bleu"
    max_order = check_int(owner, "max_order", max_order, low=1)
    smoothing = check_choice(owner, "smoothing", smoothing, _SMOOTHING)
    effective_order = check_bool(owner, "effective_order", effective_order)
    if smooth_value is None:
        smooth_value = _DEFAULT_SMOOTH[smoothing]
    else:
        smooth_value = check_number(owner, "smooth_value", smooth_value, low=0.0, low_open=True)
    stats = _statistics(hypotheses, references, max_order, owner)
    return _score(*stats, max_order, smoothing, smooth_value, effective_order)


corpus_bleu = bleu


def sentence_bleu(hypothesis, references, *, max_order: int = 4, smoothing: str = "exp",
                  smooth_value: float | None = None, effective_order: bool = True) -> BleuScore:
    """BLEU of one sentence against its references ("exp" smoothing and effective order by default).

    >>> round(sentence_bleu("the cat sat", ["the cat sat on the mat"]).score, 4)
    0.3679
    """
    if isinstance(references, str):
        references = [references]
    return bleu([hypothesis], [references], max_order=max_order, smoothing=smoothing,
                smooth_value=smooth_value, effective_order=effective_order)

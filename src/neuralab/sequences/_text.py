"""Text that ships offline, and vocabularies that turn it into integer tokens.

- :func:`load_corpus`: Python's own help texts (``pydoc_data.topics``, ~465k characters).
- :class:`Vocabulary`: symbols ↔ indices for characters or words; unknown symbols
  raise a DataError naming the first one (or map to ``unknown`` when given).

>>> v = Vocabulary("hello")
>>> v.symbols, v.encode("hole").tolist(), v.decode([3, 2])
(['e', 'h', 'l', 'o'], [1, 3, 2, 0], 'ol')
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Iterable, Sequence

import torch

from ..errors import ConfigError, DataError, DTypeError
from ..validation import check_int, expected

__all__ = ["load_corpus", "Vocabulary", "words"]


def load_corpus(name: str = "pydoc_topics", *, max_chars: int | None = None) -> str:
    """A text corpus that needs no network.

    Args:
        name: "pydoc_topics": the help topics of the Python standard library
            (``pydoc_data.topics``), joined in sorted topic order with blank lines.
        max_chars: keep only the first ``max_chars`` characters (default: all).
    """
    if name != "pydoc_topics":
        raise ConfigError(f"load_corpus: expected `name` to be one of 'pydoc_topics', received "
                          f"{name!r}")
    from pydoc_data import topics

    text = "\n\n".join(topics.topics[k].strip() for k in sorted(topics.topics))
    if max_chars is not None:
        text = text[:check_int("load_corpus", "max_chars", max_chars, low=1)]
    return text


def words(text: str, *, lower: bool = True) -> list[str]:
    """Split ``text`` into words: runs of letters/digits/underscores (lower-cased by default)."""
    return re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text.lower() if lower else text)


class Vocabulary:
    """An ordered set of symbols (characters or words) and their indices.

    Args:
        symbols: the text (a string: its characters) or a sequence of symbols; the
            vocabulary holds its distinct symbols sorted (or by decreasing frequency with
            ``by_frequency``).
        min_count: drop symbols seen fewer times (default 1).
        unknown: a symbol that stands for every symbol outside the vocabulary (added
            first); default None: unknown symbols raise a DataError.
        extra: symbols added in front (e.g. ``["<pad>", "<s>", "</s>"]``).
    """

    def __init__(self, symbols: Iterable, *, min_count: int = 1, by_frequency: bool = False,
                 unknown: str | None = None, extra: Sequence[str] = ()):
        min_count = check_int("Vocabulary", "min_count", min_count, low=1)
        counts = Counter(symbols)
        kept = [s for s, c in counts.items() if c >= min_count]
        kept.sort(key=(lambda s: (-counts[s], s)) if by_frequency else None)
        front = list(extra) + ([unknown] if unknown is not None else [])
        self.symbols = front + [s for s in kept if s not in front]
        if not self.symbols:
            raise DataError("Vocabulary: expected at least one symbol, received none")
        self.index = {s: i for i, s in enumerate(self.symbols)}
        self.unknown = unknown
        self.counts = counts

    def __len__(self) -> int:
        return len(self.symbols)

    def __contains__(self, symbol) -> bool:
        return symbol in self.index

    def encode(self, text: Iterable) -> torch.Tensor:
        """Indices (int64 ``(T,)``) of the symbols of ``text``."""
        out = []
        unk = self.index.get(self.unknown) if self.unknown is not None else None
        for pos, s in enumerate(text):
            i = self.index.get(s, unk)
            if i is None:
                shown = "".join(self.symbols[:40]) if all(len(x) == 1 for x in self.symbols) \
                    else ", ".join(map(repr, self.symbols[:10]))
                raise DataError(f"Vocabulary: symbol {s!r} at position {pos} is not in the "
                                f"vocabulary of {len(self)} symbols ({shown!r}…)")
            out.append(i)
        return torch.tensor(out, dtype=torch.int64)

    def decode(self, indices, *, join: str = "") -> str:
        """The symbols of ``indices`` joined by ``join`` (characters: "", words: " ")."""
        if isinstance(indices, str):
            raise expected("Vocabulary.decode", "indices", "integer indices (encode turns text into them)",
                           indices, error=DTypeError)
        indices = torch.as_tensor(indices).reshape(-1).tolist()
        for i in indices:
            if isinstance(i, float) or not 0 <= i < len(self):
                raise DataError(f"Vocabulary: expected indices in [0, {len(self)}), received {i}")
        return join.join(self.symbols[i] for i in indices)

    def __repr__(self):
        return f"Vocabulary({len(self)} symbols)"

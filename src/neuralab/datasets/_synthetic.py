"""Generated data sets: spirals, the Reber grammar, shapes with bounding boxes."""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError, DataError
from ..validation import check_int, check_number

__all__ = ["make_spirals", "make_reber", "is_reber", "REBER_SYMBOLS",
           "is_valid_reber", "reber_next_symbols", "make_embedded_reber",
           "make_reber_classification"]


def _check_count(owner, name, value, minimum=1):
    return check_int(owner, name, value, low=minimum)


def make_spirals(n_samples: int = 300, n_classes: int = 2, noise: float = 0.1,
                 turns: float = 1.5, seed: int | None = 0):
    """``n_classes`` interleaved spiral arms in the plane.

    Arm ``k`` is ``r (cos θ, sin θ)`` with ``r ∈ [0, 1]``,
    ``θ = 2π·turns·r + 2πk/n_classes`` plus Gaussian noise of std ``noise``.

    Returns ``(X, y)``: float32 ``(n_samples, 2)`` and int64 labels.

    >>> X, y = make_spirals(100, 3)
    >>> X.shape, sorted(set(y.tolist()))
    ((100, 2), [0, 1, 2])
    """
    n_samples = _check_count("make_spirals", "n_samples", n_samples)
    n_classes = _check_count("make_spirals", "n_classes", n_classes, 2)
    noise = check_number("make_spirals", "noise", noise, low=0.0)
    turns = check_number("make_spirals", "turns", turns)
    rng = np.random.default_rng(seed)
    y = np.arange(n_samples) % n_classes
    r = rng.uniform(0.05, 1.0, n_samples)
    theta = 2 * np.pi * turns * r + 2 * np.pi * y / n_classes
    X = np.stack([r * np.cos(theta), r * np.sin(theta)], 1)
    X += rng.normal(0, noise, X.shape) * r[:, None]
    return X.astype(np.float32), y.astype(np.int64)


REBER_SYMBOLS = "BTSXPVE"
# transitions of the Reber grammar: state -> [(symbol, next state)]
_REBER = {
    0: [("T", 1), ("P", 2)],
    1: [("S", 1), ("X", 3)],
    2: [("T", 2), ("V", 4)],
    3: [("X", 2), ("S", 5)],
    4: [("P", 3), ("V", 5)],
}


def _reber_string(rng) -> str:
    out, state = ["B"], 0
    while state != 5:
        symbol, state = _REBER[state][rng.integers(2)]
        out.append(symbol)
    out.append("E")
    return "".join(out)


def is_reber(word: str) -> bool:
    """True when ``word`` is a string of the Reber grammar (``B…E``).

    >>> is_reber("BTXSE"), is_reber("BTXE")
    (True, False)
    """
    if len(word) < 2 or word[0] != "B" or word[-1] != "E":
        return False
    state = 0
    for symbol in word[1:-1]:
        moves = dict(_REBER.get(state, []))
        if symbol not in moves:
            return False
        state = moves[symbol]
    return state == 5


def make_reber(n_samples: int = 200, invalid_fraction: float = 0.5, max_length: int = 20,
               seed: int | None = 0):
    """Reber-grammar strings and corrupted ones, as one-hot sequences.

    Valid strings are sampled from the grammar; invalid ones are valid strings
    with one symbol replaced so that the grammar rejects them.

    Returns ``(X, y, words)``: float32 ``(n, max_length, 7)`` one-hot sequences
    (zero-padded at the end), int64 labels (1 = grammatical) and the strings.
    """
    n_samples = _check_count("make_reber", "n_samples", n_samples)
    if not 0 <= invalid_fraction <= 1:
        raise ConfigError(
            f"make_reber: `invalid_fraction` must be in [0, 1], received {invalid_fraction!r}")
    rng = np.random.default_rng(seed)
    words, labels = [], []
    while len(words) < n_samples:
        word = _reber_string(rng)
        if len(word) > max_length:
            continue
        if rng.random() < invalid_fraction:
            corrupted = word
            while is_reber(corrupted):  # a replacement the grammar accepts is drawn again
                chars = list(word)
                chars[int(rng.integers(1, len(chars) - 1))] = REBER_SYMBOLS[int(rng.integers(1, 6))]
                corrupted = "".join(chars)
            word = corrupted
        words.append(word)
        labels.append(int(is_reber(word)))
    X = np.zeros((n_samples, max_length, len(REBER_SYMBOLS)), dtype=np.float32)
    for i, word in enumerate(words):
        for t, symbol in enumerate(word):
            X[i, t, REBER_SYMBOLS.index(symbol)] = 1.0
    return X, np.asarray(labels, dtype=np.int64), words


# -- the embedded Reber grammar and next-symbol targets (Hochreiter & Schmidhuber 1997, §5.1) --
def _reber_moves(word: str, embedded: bool):
    """The legal next symbols after each prefix ``word[:t+1]``, or None once the word is illegal."""
    sets = []
    if embedded:
        # B, then T|P (the symbol to remember), an inner Reber string, the same symbol, E
        if len(word) < 1 or word[0] != "B":
            return None
        sets.append("TP")
        if len(word) < 2:
            return sets
        key = word[1]
        if key not in "TP":
            return None
        sets.append("B")
        if len(word) < 3:
            return sets
        inner_end = word.find("E", 2)
        inner = word[2:] if inner_end < 0 else word[2:inner_end + 1]
        inner_sets = _reber_moves(inner, False)
        if inner_sets is None:
            return None
        sets.extend(inner_sets)
        if inner_end < 0:
            return sets
        if inner_sets and inner_sets[-1] != "":
            return None
        sets[-1] = key  # after the inner E the remembered symbol comes back
        rest = word[inner_end + 1:]
        if not rest:
            return sets
        if rest[0] != key:
            return None
        sets.append("E")
        if len(rest) == 1:
            return sets
        if rest[1:] != "E":
            return None
        sets.append("")
        return sets
    if not word:
        return sets
    if word[0] != "B":
        return None
    state = 0
    sets.append("".join(s for s, _ in _REBER[0]))
    for symbol in word[1:]:
        if state == 5:
            if symbol != "E":
                return None
            state = 6
            sets.append("")
            continue
        if state == 6:
            return None
        moves = dict(_REBER[state])
        if symbol not in moves:
            return None
        state = moves[symbol]
        sets.append("E" if state == 5 else "".join(s for s, _ in _REBER[state]))
    return sets


def is_valid_reber(word: str, embedded: bool = False) -> bool:
    """True when ``word`` is a complete string of the Reber grammar (or of the embedded one).

    The embedded grammar wraps a Reber string ``w`` as ``B T w T E`` or ``B P w P E``:
    predicting the second-to-last symbol needs a memory of the second one.

    Args:
        word: a string over ``"BTSXPVE"``.
        embedded: check against the embedded grammar (default False: the plain one).

    >>> is_valid_reber("BTXSE"), is_valid_reber("BTBTXSETE", embedded=True)
    (True, True)
    >>> is_valid_reber("BTBTXSEPE", embedded=True)
    False
    """
    if not isinstance(word, str):
        raise DataError(f"is_valid_reber: expected `word` to be a string, received "
                        f"{type(word).__name__}")
    sets = _reber_moves(word, bool(embedded))
    return bool(sets) and sets[-1] == "" and len(sets) == len(word)


def reber_next_symbols(word: str, embedded: bool = False) -> np.ndarray:
    """The legal next symbols after each prefix of ``word``, as multi-hot rows.

    Row ``t`` marks every symbol that may follow ``word[:t+1]``; there is one row
    per input symbol except the final ``E``. These are the targets of the
    next-symbol prediction task.

    Returns: float32 ``(len(word) - 1, 7)`` over :data:`REBER_SYMBOLS`.

    >>> reber_next_symbols("BTXSE").astype(int)[0].tolist()   # after B: T or P
    [0, 1, 0, 0, 1, 0, 0]
    """
    sets = _reber_moves(word, bool(embedded)) if isinstance(word, str) else None
    if not sets or sets[-1] != "" or len(sets) != len(word):
        raise DataError(
            f"reber_next_symbols: expected a complete {'embedded ' if embedded else ''}Reber "
            f"string, received {word!r}")
    out = np.zeros((len(word) - 1, len(REBER_SYMBOLS)), dtype=np.float32)
    for t, legal in enumerate(sets[:-1]):
        for s in legal:
            out[t, REBER_SYMBOLS.index(s)] = 1.0
    return out


def _embedded_string(rng) -> str:
    key = "TP"[int(rng.integers(2))]
    return "B" + key + _reber_string(rng) + key + "E"


def _encode_words(owner, words, length, output):
    if output == "index":
        X = np.full((len(words), length), -1, dtype=np.int64)
        for i, w in enumerate(words):
            X[i, :len(w)] = [REBER_SYMBOLS.index(s) for s in w]
        return X
    X = np.zeros((len(words), length, len(REBER_SYMBOLS)), dtype=np.float32)
    for i, w in enumerate(words):
        X[i, np.arange(len(w)), [REBER_SYMBOLS.index(s) for s in w]] = 1.0
    return X


def _check_output(owner, output):
    if output not in ("onehot", "index"):
        raise ConfigError(f"{owner}: expected `output` to be one of 'onehot', 'index', "
                          f"received {output!r}")
    return output


def make_embedded_reber(n_samples: int = 256, *, embedded: bool = True, output: str = "onehot",
                        max_length: int | None = None, seed: int | None = 0):
    """Strings of the embedded Reber grammar as a next-symbol prediction task.

    The inputs are each string but its final ``E``; the target at step ``t`` is
    the set of symbols the grammar allows after the first ``t + 1`` symbols
    (:func:`reber_next_symbols`). Sequences are padded at the end to the longest
    one: one-hot inputs with zero rows, index inputs with -1, targets with zero rows.
    Hochreiter & Schmidhuber's benchmark (1997, §5.1) uses 256 training and 256
    test strings; success means the legal next symbols are always the most active outputs.

    Args:
        n_samples: number of strings (default 256).
        embedded: the embedded grammar (default True) or the plain Reber grammar.
        output: "onehot" (float32 ``(n, T, 7)``) or "index" (int64 ``(n, T)``).
        max_length: longest string kept (strings are resampled), default no limit.
        seed: NumPy seed.

    Returns:
        ``(X, Y, words)``: inputs, float32 multi-hot targets ``(n, T, 7)`` and the strings;
        the length of sequence ``i`` is ``len(words[i]) - 1``.

    >>> X, Y, words = make_embedded_reber(4, seed=0)
    >>> X.shape[0], Y.shape[2], all(is_valid_reber(w, embedded=True) for w in words)
    (4, 7, True)
    """
    owner = "make_embedded_reber"
    n_samples = _check_count(owner, "n_samples", n_samples)
    output = _check_output(owner, output)
    shortest = 9 if embedded else 5
    if max_length is not None:
        max_length = _check_count(owner, "max_length", max_length, shortest)
    rng = np.random.default_rng(seed)
    words = []
    while len(words) < n_samples:
        word = _embedded_string(rng) if embedded else _reber_string(rng)
        if max_length is None or len(word) <= max_length:
            words.append(word)
    length = max(len(w) for w in words) - 1
    X = _encode_words(owner, [w[:-1] for w in words], length, output)
    Y = np.zeros((n_samples, length, len(REBER_SYMBOLS)), dtype=np.float32)
    for i, w in enumerate(words):
        Y[i, :len(w) - 1] = reber_next_symbols(w, embedded)
    return X, Y, words


def make_reber_classification(n_samples: int = 200, *, embedded: bool = False,
                              invalid_fraction: float = 0.5, output: str = "onehot",
                              max_length: int | None = None, seed: int | None = 0):
    """Grammatical and corrupted Reber strings labelled 1/0 (sequence classification).

    A corrupted string is a grammatical one with one inner symbol replaced so the
    grammar rejects it (for the embedded grammar this includes swapping the
    remembered T/P at the end, which only a long memory detects).

    Args:
        n_samples: number of strings (default 200).
        embedded: use the embedded grammar (default False).
        invalid_fraction: share of corrupted strings in [0, 1] (default 0.5).
        output: "onehot" (float32 ``(n, T, 7)``, zero-padded) or "index" (int64, -1-padded).
        max_length: longest string kept, default no limit.
        seed: NumPy seed.

    Returns: ``(X, y, words)`` with int64 labels (1 = grammatical).

    >>> X, y, words = make_reber_classification(50, invalid_fraction=1.0, seed=0)
    >>> int(y.sum()), X.shape[2]
    (0, 7)
    """
    owner = "make_reber_classification"
    n_samples = _check_count(owner, "n_samples", n_samples)
    output = _check_output(owner, output)
    if (isinstance(invalid_fraction, bool) or not isinstance(invalid_fraction, (int, float))
            or not 0 <= invalid_fraction <= 1):
        raise ConfigError(f"{owner}: expected `invalid_fraction` to be a number in [0, 1], "
                          f"received {invalid_fraction!r}")
    shortest = 9 if embedded else 5
    if max_length is not None:
        max_length = _check_count(owner, "max_length", max_length, shortest)
    rng = np.random.default_rng(seed)
    words, labels = [], []
    while len(words) < n_samples:
        word = _embedded_string(rng) if embedded else _reber_string(rng)
        if max_length is not None and len(word) > max_length:
            continue
        if rng.random() < invalid_fraction:
            chars = list(word)
            while is_valid_reber("".join(chars), embedded):
                chars = list(word)
                if embedded and rng.random() < 0.5:
                    chars[-2] = "P" if chars[-2] == "T" else "T"
                else:
                    pos = int(rng.integers(1, len(chars) - 1))
                    chars[pos] = REBER_SYMBOLS[int(rng.integers(1, 6))]
            word = "".join(chars)
        words.append(word)
        labels.append(int(is_valid_reber(word, embedded)))
    length = max(len(w) for w in words)
    return _encode_words(owner, words, length, output), np.asarray(labels, np.int64), words

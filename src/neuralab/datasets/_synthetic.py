"""Generated data sets: spirals, the Reber grammar, shapes with bounding boxes."""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError

__all__ = ["make_spirals", "make_reber", "is_reber", "REBER_SYMBOLS", "make_shapes"]


def _check_count(owner, name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"{owner}: `{name}` must be an int >= {minimum}, received {value!r}")
    return int(value)


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
            chars = list(word)
            pos = int(rng.integers(1, len(chars) - 1))
            chars[pos] = REBER_SYMBOLS[int(rng.integers(1, 6))]
            word = "".join(chars)
        words.append(word)
        labels.append(int(is_reber(word)))
    X = np.zeros((n_samples, max_length, len(REBER_SYMBOLS)), dtype=np.float32)
    for i, word in enumerate(words):
        for t, symbol in enumerate(word):
            X[i, t, REBER_SYMBOLS.index(symbol)] = 1.0
    return X, np.asarray(labels, dtype=np.int64), words


def make_shapes(n_samples: int = 100, size: int = 32, max_shapes: int = 3,
                seed: int | None = 0):
    """Grey images with squares (class 0), discs (1) and triangles (2), and their boxes.

    Returns ``(images, targets)``: float32 ``(n, 1, size, size)`` and a list of
    dicts with ``"boxes"`` (``(k, 4)`` as x1, y1, x2, y2 in pixels) and ``"labels"``.
    """
    n_samples = _check_count("make_shapes", "n_samples", n_samples)
    size = _check_count("make_shapes", "size", size, 8)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    images = np.zeros((n_samples, 1, size, size), dtype=np.float32)
    targets = []
    for i in range(n_samples):
        boxes, labels = [], []
        for _ in range(int(rng.integers(1, max_shapes + 1))):
            side = int(rng.integers(size // 6, size // 2))
            x1, y1 = (int(v) for v in rng.integers(0, size - side, 2))
            kind = int(rng.integers(3))
            cx, cy = x1 + side / 2 - 0.5, y1 + side / 2 - 0.5
            if kind == 0:
                mask = (xx >= x1) & (xx < x1 + side) & (yy >= y1) & (yy < y1 + side)
            elif kind == 1:
                mask = (xx - cx) ** 2 + (yy - cy) ** 2 <= (side / 2) ** 2
            else:
                rel = (yy - y1 + 0.5) / side
                mask = (yy >= y1) & (yy < y1 + side) & (np.abs(xx - cx) <= rel * side / 2)
            images[i, 0][mask] = rng.uniform(0.5, 1.0)
            boxes.append([x1, y1, x1 + side, y1 + side])
            labels.append(kind)
        targets.append({"boxes": np.asarray(boxes, dtype=np.float32),
                        "labels": np.asarray(labels, dtype=np.int64)})
    return images, targets

"""Digits: scikit-learn's bundled 8×8 handwritten digits with a fixed split, and
NeuPy's discrete digits (ten 6×4 binary patterns and noisy copies of them, for
Hopfield networks, BAM and ART)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..validation import check_bool, check_choice, check_int, check_number, check_probability

__all__ = ["Split", "load_digits", "make_digits", "DIGIT_SHAPE"]

#: (rows, columns) of a discrete digit
DIGIT_SHAPE = (6, 4)

# the ten discrete digits, drawn on a 6×4 grid ("#" = 1)
_DIGIT_ROWS = (
    (".##.", "#..#", "#..#", "#..#", "#..#", ".##."),  # 0
    ("..#.", ".##.", "..#.", "..#.", "..#.", ".###"),  # 1
    (".##.", "#..#", "...#", "..#.", ".#..", "####"),  # 2
    ("###.", "...#", ".##.", "...#", "...#", "###."),  # 3
    ("#..#", "#..#", "####", "...#", "...#", "...#"),  # 4
    ("####", "#...", "###.", "...#", "...#", "###."),  # 5
    (".##.", "#...", "###.", "#..#", "#..#", ".##."),  # 6
    ("####", "...#", "..#.", ".#..", ".#..", ".#.."),  # 7
    (".##.", "#..#", ".##.", "#..#", "#..#", ".##."),  # 8
    (".##.", "#..#", ".###", "...#", "...#", ".##."),  # 9
)

NOISE_MODES = ("flip", "remove")


def _discrete_digits() -> tuple[np.ndarray, np.ndarray]:
    data = np.array([[c == "#" for row in rows for c in row] for rows in _DIGIT_ROWS],
                    dtype=np.float32)
    return data, np.arange(10, dtype=np.int64)


def make_digits(n_samples: int = 100, noise_level: float = 0.1, mode: str = "flip",
                seed: int | None = 0) -> tuple[np.ndarray, np.ndarray]:
    """Noisy copies of NeuPy's ten discrete digits (6×4 binary images, flattened).

    Each sample is a digit drawn uniformly at random; then every pixel is
    flipped with probability ``noise_level`` (``mode="flip"``), or every lit
    pixel is switched off with that probability (``mode="remove"``).

    Args:
        n_samples: number of images (default 100).
        noise_level: probability in [0, 1] that a pixel is corrupted (default 0.1).
        mode: "flip" (default) or "remove".
        seed: NumPy seed (default 0).

    Returns:
        ``(X, y)``: float32 ``(n_samples, 24)`` of 0/1 (reshape rows to
        :data:`DIGIT_SHAPE`) and int64 labels ``(n_samples,)``.

    >>> X, y = make_digits(5, noise_level=0.0)
    >>> X.shape, bool((X == load_digits(discrete=True)[0][y]).all())
    ((5, 24), True)
    """
    owner = "make_digits"
    n_samples = check_int(owner, "n_samples", n_samples, low=1)
    noise_level = check_probability(owner, "noise_level", noise_level)
    mode = check_choice(owner, "mode", mode, NOISE_MODES)
    rng = np.random.default_rng(seed)
    patterns, _ = _discrete_digits()
    y = rng.integers(0, 10, n_samples).astype(np.int64)
    X = patterns[y].copy()
    hit = rng.random(X.shape) < noise_level
    if mode == "flip":
        X[hit] = 1.0 - X[hit]
    else:
        X[hit] = 0.0
    return X, y


class Split(NamedTuple):
    """A train/test split: ``x_train, y_train, x_test, y_test`` (NumPy arrays)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def _resize(images: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of (N, 1, 8, 8) images to (N, 1, size, size)."""
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy(images)
    out = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False)
    return out.numpy()


def load_digits(size: int = 8, test_size: float = 0.2, seed: int = 0, flat: bool = False,
                dtype=np.float32, discrete: bool = False):
    """The digits data set (1,797 images of 10 classes), scaled to [0, 1].

    With ``discrete=True`` it returns instead NeuPy's ten discrete digits as
    ``(X, y)``: float32 ``(10, 24)`` binary patterns (6×4 images, flattened;
    :data:`DIGIT_SHAPE`) and their labels 0–9 (see :func:`make_digits` for
    noisy copies); the other arguments are then ignored.

    Args:
        size: image side; 8 keeps the originals, a larger value (e.g. 32 for
            LeNet-5) resizes them bilinearly.
        test_size: fraction held out for testing (stratified, fixed by ``seed``).
        seed: seed of the split (default 0: the split every neuralab figure uses).
        flat: return ``(N, size·size)`` vectors instead of ``(N, 1, size, size)`` images.

    Returns:
        :class:`Split` with float images and int64 labels.

    >>> split = load_digits(size=32)
    >>> split.x_train.shape, split.x_test.shape
    ((1437, 1, 32, 32), (360, 1, 32, 32))
    >>> X, y = load_digits(discrete=True)
    >>> X.reshape(10, *DIGIT_SHAPE)[1].astype(int)
    array([[0, 0, 1, 0],
           [0, 1, 1, 0],
           [0, 0, 1, 0],
           [0, 0, 1, 0],
           [0, 0, 1, 0],
           [0, 1, 1, 1]])
    """
    flat = check_bool("load_digits", "flat", flat)
    if check_bool("load_digits", "discrete", discrete):
        return _discrete_digits()
    from sklearn.datasets import load_digits as sk_load
    from sklearn.model_selection import train_test_split

    size = check_int("load_digits", "size", size, low=1)
    check_number("load_digits", "test_size", test_size, low=0.0, high=1.0, low_open=True, high_open=True)
    data = sk_load()
    images = (data.images / 16.0).astype(np.float32)[:, None]  # (N, 1, 8, 8)
    if size != 8:
        images = _resize(images, size)
    if flat:
        images = images.reshape(len(images), -1)
    labels = data.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(images, labels, test_size=test_size,
                                              random_state=seed, stratify=labels)
    return Split(x_tr.astype(dtype), y_tr, x_te.astype(dtype), y_te)

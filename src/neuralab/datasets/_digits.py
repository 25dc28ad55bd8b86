"""scikit-learn's bundled 8×8 digits as image tensors with a fixed split."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..errors import ConfigError

__all__ = ["Split", "load_digits"]


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
                dtype=np.float32) -> Split:
    """The digits data set (1,797 images of 10 classes), scaled to [0, 1].

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
    """
    from sklearn.datasets import load_digits as sk_load
    from sklearn.model_selection import train_test_split

    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ConfigError(f"load_digits: `size` must be a positive int, received {size!r}")
    if not 0 < test_size < 1:
        raise ConfigError(f"load_digits: `test_size` must be in (0, 1), received {test_size!r}")
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

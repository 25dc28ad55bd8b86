"""Pictures of a generator: sample grids (per epoch, as a callback) and latent strips."""

from __future__ import annotations

import math
import numbers
import os

import numpy as np
import torch

from ..errors import DataError, ShapeError
from ..training import Callback
from ..validation import check_int, expected

__all__ = ["sample_grid", "save_image", "SampleGrids"]


def sample_grid(images, *, nrow: int | None = None, padding: int = 1, value_range=(-1.0, 1.0),
                pad_value: float = 1.0) -> np.ndarray:
    """Tile a batch of images into one picture, row by row (like torchvision's ``make_grid``).

    Pixel values are mapped from ``value_range`` to [0, 1] (and clipped); images are
    separated by ``padding`` pixels of ``pad_value``.

    Args:
        images: ``(N, C, H, W)`` with C = 1 (grey) or 3 (RGB), or ``(N, H, W)``.
        nrow: images per row (default ``⌈√N⌉``).
        padding: pixels between images and around the grid (default 1).
        value_range: ``(low, high)`` of the input (default (−1, 1), a tanh generator's),
            or None to stretch each grid to its own min..max.
        pad_value: colour of the padding in [0, 1] (default 1, white).

    Returns: a float array in [0, 1], ``(H', W')`` for grey images, ``(H', W', 3)`` for RGB,
    with ``H' = rows·(H + padding) + padding``, ``W' = nrow·(W + padding) + padding``.

    >>> import torch
    >>> sample_grid(torch.zeros(6, 1, 8, 8), nrow=3).shape     # 2 rows of 3
    (19, 28)
    """
    x = images.detach().cpu().float().numpy() if isinstance(images, torch.Tensor) else np.asarray(
        images, dtype=np.float32)
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or x.shape[1] not in (1, 3) or x.shape[0] == 0:
        raise ShapeError(f"sample_grid: expected images (N, C, H, W) with N >= 1 and C = 1 or 3, "
                         f"received shape {tuple(x.shape)}")
    if not np.isfinite(x).all():
        raise DataError(f"sample_grid: expected finite pixel values, received {int((~np.isfinite(x)).sum())} "
                        "NaN/inf (did the generator diverge?)")
    n, c, h, w = x.shape
    nrow = check_int("sample_grid", "nrow", math.ceil(math.sqrt(n)) if nrow is None else nrow, low=1)
    padding = check_int("sample_grid", "padding", padding, low=0)
    if value_range is None:
        lo, hi = float(x.min()), float(x.max())
        hi = hi if hi > lo else lo + 1.0
    else:
        if not (isinstance(value_range, (tuple, list)) and len(value_range) == 2
                and all(isinstance(v, numbers.Real) and math.isfinite(v) for v in value_range)
                and value_range[0] < value_range[1]):
            raise expected("sample_grid", "value_range", "a pair (low, high) with low < high or None",
                           value_range)
        lo, hi = float(value_range[0]), float(value_range[1])
    x = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    ncol = min(nrow, n)
    rows = math.ceil(n / ncol)
    grid = np.full((c, rows * (h + padding) + padding, ncol * (w + padding) + padding), pad_value,
                   dtype=np.float32)
    for i in range(n):
        r, q = divmod(i, ncol)
        top, left = padding + r * (h + padding), padding + q * (w + padding)
        grid[:, top:top + h, left:left + w] = x[i]
    return grid[0] if c == 1 else grid.transpose(1, 2, 0)


def save_image(path, picture: np.ndarray, *, scale: int = 4) -> str:
    """Write a [0, 1] picture (``(H, W)`` grey or ``(H, W, 3)``) as a PNG, each pixel ``scale``×``scale``."""
    import matplotlib.image

    scale = check_int("save_image", "scale", scale, low=1)
    pic = np.repeat(np.repeat(np.asarray(picture), scale, axis=0), scale, axis=1)
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if pic.ndim == 2:
        matplotlib.image.imsave(path, pic, cmap="gray", vmin=0.0, vmax=1.0, format="png")
    else:
        matplotlib.image.imsave(path, np.clip(pic, 0, 1), format="png")
    return path


class SampleGrids(Callback):
    """Callback: after every ``every`` epochs, write a grid of samples to ``folder/epoch_NNN.png``.

    The same latent vectors (``seed``) every epoch, so the pictures show one set of
    samples evolving; conditional GANs draw ``n`` samples cycling through the classes.

    Args:
        gan: the :class:`GAN` being trained.
        folder: where the PNG files go.
        n: samples per grid (default 64). every: epochs between grids (default 1).
        nrow: images per row (default ``⌈√n⌉``; ``n_classes`` for a conditional GAN).
        seed: seed of the latent vectors (default 0).

    Attributes: paths: the files written so far.
    """

    def __init__(self, gan, folder, *, n: int = 64, every: int = 1, nrow: int | None = None,
                 seed: int = 0, scale: int = 4):
        self.gan = gan
        self.folder = os.fspath(folder)
        self.n = check_int("SampleGrids", "n", n, low=1)
        self.every = check_int("SampleGrids", "every", every, low=1)
        self.nrow = nrow if nrow is not None else gan.n_classes
        self.seed = check_int("SampleGrids", "seed", seed, low=0)
        self.scale = scale
        self.paths: list[str] = []

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        trainer = self.trainer
        if trainer is not None and not getattr(trainer, "is_main", True):
            return
        images = self.gan.sample(self.n, seed=self.seed)
        path = os.path.join(self.folder, f"epoch_{epoch + 1:03d}.png")
        self.paths.append(save_image(path, sample_grid(images, nrow=self.nrow), scale=self.scale))

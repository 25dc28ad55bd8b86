"""Toy data with known modes, to measure mode coverage."""

from __future__ import annotations

import math

import numpy as np

from ..validation import check_int, check_number

__all__ = ["make_gaussian_ring"]


def make_gaussian_ring(n: int = 1000, *, n_modes: int = 8, radius: float = 2.0, std: float = 0.02,
                       seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Points from a ring of Gaussians: the mixture GAN papers use to count covered modes.

    Mode k sits at ``radius·(cos 2πk/K, sin 2πk/K)``; each sample picks a mode uniformly
    and adds isotropic noise of standard deviation ``std`` (Metz et al., 2017: K = 8,
    radius 2, std 0.02).

    Args:
        n: number of points (default 1000).
        n_modes: K (default 8). radius: ring radius (default 2). std: noise std (default 0.02).
        seed: NumPy seed (default 0).

    Returns: ``(points (n, 2) float32, modes (K, 2) float32)``.

    >>> x, modes = make_gaussian_ring(100)
    >>> x.shape, modes.shape
    ((100, 2), (8, 2))
    """
    n = check_int("make_gaussian_ring", "n", n, low=1)
    n_modes = check_int("make_gaussian_ring", "n_modes", n_modes, low=1)
    radius = check_number("make_gaussian_ring", "radius", radius, low=0.0, low_open=True)
    std = check_number("make_gaussian_ring", "std", std, low=0.0)
    angles = 2 * math.pi * np.arange(n_modes) / n_modes
    modes = radius * np.stack([np.cos(angles), np.sin(angles)], 1)
    rng = np.random.default_rng(seed)
    k = rng.integers(0, n_modes, size=n)
    x = modes[k] + std * rng.standard_normal((n, 2))
    return x.astype(np.float32), modes.astype(np.float32)

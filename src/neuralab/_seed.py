"""Reproducible runs: one call seeds every random number generator neuralab uses."""

from __future__ import annotations

import random

import numpy as np
import torch

from .validation import check_int

__all__ = ["set_seed"]


def set_seed(seed: int) -> int:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and every CUDA device).

    Call it before building a model: weights are drawn when layers are built, so
    the same seed then gives bitwise-equal weights and, with ``fit(seed=...)`` or
    the same seed again, bitwise-equal training.

    >>> import torch
    >>> _ = set_seed(0); a = torch.rand(2)
    >>> _ = set_seed(0); b = torch.rand(2)
    >>> bool((a == b).all())
    True
    """
    seed = check_int("set_seed", "seed", seed, low=0, high=2**63 - 1)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return seed

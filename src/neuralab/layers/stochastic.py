"""Layers that add noise in training and do nothing in evaluation.

>>> import torch
>>> from neuralab import layers as L
>>> drop = L.Dropout(0.5).eval()
>>> torch.equal(drop(torch.ones(2, 3)), torch.ones(2, 3))
True
"""

from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F

from .. import registry
from ..errors import ConfigError
from .base import Layer, positive_int

__all__ = ["Dropout", "GaussianNoise", "DropBlock"]

_MAX = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}


def _probability(owner, value, name="p"):
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not 0 <= value < 1):
        raise ConfigError(
            f"{owner}: `{name}` must be a probability in [0, 1), received {value!r}"
        )
    return float(value)


@registry.layers.register("Dropout")
class Dropout(Layer):
    """Inverted dropout: in training each entry is zeroed with probability ``p``
    and the rest are scaled by ``1/(1 - p)``; identity in evaluation.

    Args: p (0.5), a probability in [0, 1). Shape: any → same.
    """

    _config_keys = ("p",)

    def __init__(self, p: float = 0.5, *, name=None):
        super().__init__(name)
        self.p = _probability("Dropout", p)

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"


@registry.layers.register("GaussianNoise")
class GaussianNoise(Layer):
    """Adds ``N(mean, std²)`` noise in training; identity in evaluation.

    Args: mean (0), std (1; NeuPy's defaults were swapped: mean 1, std 0).
    Shape: any → same.
    """

    _config_keys = ("mean", "std")

    def __init__(self, mean: float = 0.0, std: float = 1.0, *, name=None):
        super().__init__(name)
        for key, value in (("mean", mean), ("std", std)):
            if (isinstance(value, bool) or not isinstance(value, numbers.Real)
                    or not math.isfinite(value)):
                raise ConfigError(f"GaussianNoise: `{key}` must be a finite number, "
                                  f"received {value!r}")
        if std < 0:
            raise ConfigError(f"GaussianNoise: `std` must be non-negative, received {std!r}")
        self.mean, self.std = float(mean), float(std)

    def forward(self, x):
        if not self.training or (self.std == 0 and self.mean == 0):
            return x
        return x + torch.randn_like(x) * self.std + self.mean


@registry.layers.register("DropBlock")
class DropBlock(Layer):
    """DropBlock (Ghiasi et al., 2018): drops contiguous ``block_size`` squares of
    each feature map in training, then rescales by ``count / kept``.

    Block centres are drawn with rate
    ``γ = p / block_size^n · Π I_i / Π (I_i - block_size + 1)`` so that about a
    fraction ``p`` of the units is dropped.

    Args: p (0.1, the fraction to drop, in [0, 1)), block_size (7; clipped to the map).
    Shape: ``(C, L)``, ``(C, H, W)`` or ``(C, D, H, W)`` → same.
    """

    _config_keys = ("p", "block_size")

    def __init__(self, p: float = 0.1, block_size: int = 7, *, name=None):
        super().__init__(name)
        self.p = _probability("DropBlock", p)
        self.block_size = positive_int("DropBlock", "block_size", block_size)

    def output_shape_for(self, input_shape):
        self._check_rank(input_shape, (2, 3, 4), "an input (C, L), (C, H, W) or (C, D, H, W)")
        return tuple(input_shape)

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        spatial = x.shape[2:]
        n = len(spatial)
        bs = min(self.block_size, *spatial)
        valid = 1
        total = 1
        for size in spatial:
            valid *= size - bs + 1
            total *= size
        gamma = self.p / bs**n * total / valid
        centres = (torch.rand(x.shape, device=x.device, dtype=x.dtype) < gamma).to(x.dtype)
        left = (bs - 1) // 2
        right = bs - 1 - left
        pad = tuple(v for _ in range(n) for v in (left, right))
        dropped = _MAX[n](F.pad(centres, pad), bs, stride=1)
        keep = 1.0 - dropped
        scale = keep.numel() / keep.sum().clamp_min(1.0)
        return x * keep * scale

"""Normalization layers: BatchNorm, GroupNorm, LocalResponseNorm.

They normalise over the channel/feature axis, axis 0 of the per-sample shape
(axis 1 of a batch), so a ``(C, H, W)`` image is normalised per channel and a
``(F,)`` vector per feature.
"""

from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F
from torch import nn

from .. import registry
from ..errors import ConfigError, DataError, ShapeError, format_shape
from ..validation import check_bool
from .base import Layer, positive_int

__all__ = ["BatchNorm", "GroupNorm", "LocalResponseNorm"]


def _real(owner, name, value, low=None, high=None, low_open=False):
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value <= high
    if not ok:
        bounds = ""
        if low is not None or high is not None:
            lb = "(" if low_open else "["
            bounds = f" in {lb}{low if low is not None else '-inf'}, {high if high is not None else 'inf'}]"
        raise ConfigError(f"{owner}: `{name}` must be a finite number{bounds}, received {value!r}")
    return float(value)


def _channels(layer, input_shape):
    if not isinstance(input_shape, tuple) or len(input_shape) < 1 or input_shape[0] is None:
        raise ShapeError(
            f"layer '{layer.name}' ({type(layer).__name__}) expects an input whose first axis "
            f"(channels or features) is known, received {format_shape(input_shape)}"
        )
    return input_shape[0]


@registry.layers.register("BatchNorm")
class BatchNorm(Layer):
    """Batch normalisation (Ioffe & Szegedy, 2015).

    ``y = γ (x - μ_B) / √(σ²_B + ε) + β`` with batch statistics in training and
    running averages (``r ← (1 - momentum) r + momentum · stat``) in evaluation.

    Args: momentum (0.1), epsilon (1e-5), affine (True: learn γ and β).
    Shape: any ``(C, ...)`` → same.
    """

    _config_keys = ("momentum", "epsilon", "affine")
    fresh_output = True

    def __init__(self, momentum: float = 0.1, epsilon: float = 1e-5, affine: bool = True,
                 *, name=None):
        super().__init__(name)
        self.momentum = _real("BatchNorm", "momentum", momentum, 0, 1)
        self.epsilon = _real("BatchNorm", "epsilon", epsilon, 0, low_open=True)
        self.affine = check_bool("BatchNorm", "affine", affine)
        self.gamma = self.beta = None

    def _build(self, input_shape):
        c = _channels(self, input_shape)
        if self.affine:
            self.gamma = nn.Parameter(torch.empty(c))
            self.beta = nn.Parameter(torch.empty(c))
        self.register_buffer("running_mean", torch.zeros(c))
        self.register_buffer("running_var", torch.ones(c))

    def reset_parameters(self):
        if self.gamma is not None:
            nn.init.ones_(self.gamma)
            nn.init.zeros_(self.beta)
        if hasattr(self, "running_mean"):
            self.running_mean.zero_()
            self.running_var.fill_(1.0)

    def forward(self, x):
        return F.batch_norm(x, self.running_mean, self.running_var, self.gamma, self.beta,
                            self.training, self.momentum, self.epsilon)

    def explain_failure(self, args):
        x = args[0] if args and isinstance(args[0], torch.Tensor) else None
        if self.training and x is not None and x.dim() >= 2 and x.numel() == x.shape[1]:
            return DataError(
                f"layer '{self.name}' (BatchNorm): expected more than one value per channel to "
                f"compute batch statistics in training mode, received a batch of shape "
                f"{tuple(x.shape)}; use a batch of at least 2 samples, or call net.eval() to "
                "normalise with the running statistics")
        return super().explain_failure(args)


@registry.layers.register("GroupNorm")
class GroupNorm(Layer):
    """Group normalisation (Wu & He, 2018): statistics over groups of channels per sample.

    Args: n_groups (required), epsilon (1e-5), affine (True).
    Shape: ``(C, ...)`` → same; ``C`` must be divisible by ``n_groups``.
    """

    _config_keys = ("n_groups", "epsilon", "affine")
    fresh_output = True

    def __init__(self, n_groups: int, epsilon: float = 1e-5, affine: bool = True, *, name=None):
        super().__init__(name)
        self.n_groups = positive_int("GroupNorm", "n_groups", n_groups)
        self.epsilon = _real("GroupNorm", "epsilon", epsilon, 0, low_open=True)
        self.affine = check_bool("GroupNorm", "affine", affine)
        self.gamma = self.beta = None

    def output_shape_for(self, input_shape):
        c = _channels(self, input_shape)
        if c % self.n_groups:
            raise ShapeError(
                f"layer '{self.name}' (GroupNorm) needs channels divisible by n_groups="
                f"{self.n_groups}, received {c} channels (input {format_shape(input_shape)})"
            )
        return tuple(input_shape)

    def _build(self, input_shape):
        if self.affine:
            self.gamma = nn.Parameter(torch.ones(input_shape[0]))
            self.beta = nn.Parameter(torch.zeros(input_shape[0]))

    def reset_parameters(self):
        if self.gamma is not None:
            nn.init.ones_(self.gamma)
            nn.init.zeros_(self.beta)

    def forward(self, x):
        return F.group_norm(x, self.n_groups, self.gamma, self.beta, self.epsilon)


@registry.layers.register("LocalResponseNorm")
class LocalResponseNorm(Layer):
    """Local response normalisation across channels (AlexNet, Krizhevsky et al. 2012).

    ``b_c = a_c / (k + α/n · Σ_{c' ∈ window(c)} a_{c'}²)^β`` over ``size`` neighbouring
    channels (PyTorch's convention: α is divided by the window size).

    Args: size (5), alpha (1e-4), beta (0.75), k (2.0).
    Shape: ``(C, ...)`` with at least one more axis → same.
    """

    _config_keys = ("size", "alpha", "beta", "k")

    def __init__(self, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0,
                 *, name=None):
        super().__init__(name)
        self.size = positive_int("LocalResponseNorm", "size", size)
        self.alpha = _real("LocalResponseNorm", "alpha", alpha, 0)
        self.beta = _real("LocalResponseNorm", "beta", beta, 0)
        self.k = _real("LocalResponseNorm", "k", k, 0)

    def output_shape_for(self, input_shape):
        self._check_rank(input_shape, (2, 3, 4), "an input (C, L), (C, H, W) or (C, D, H, W)")
        return tuple(input_shape)

    def forward(self, x):
        return F.local_response_norm(x, self.size, self.alpha, self.beta, self.k)

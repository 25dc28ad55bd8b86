"""Structural layers: Input, Identity, Reshape, Transpose, Embedding.

>>> import torch
>>> from neuralab import layers as L
>>> L.Reshape()(torch.zeros(2, 3, 4, 4)).shape       # flatten
torch.Size([2, 48])
>>> L.Transpose((1, 0))(torch.zeros(2, 3, 5)).shape
torch.Size([2, 5, 3])
"""

from __future__ import annotations

import numbers

import torch
import torch.nn.functional as F
from torch import nn

from .. import init as initializers
from .. import registry
from ..errors import ConfigError, DataError, DTypeError, ShapeError, format_shape
from .base import Layer, init_param, positive_int, shapes_match

__all__ = ["Input", "Identity", "Reshape", "Transpose", "Embedding"]

_DTYPES = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16,
           "bfloat16": torch.bfloat16, "int64": torch.int64, "int32": torch.int32,
           "long": torch.int64, "float": torch.float32}


def _shape(owner, shape):
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)) or not shape:
        raise ConfigError(
            f"{owner}: `shape` must be a non-empty tuple of positive ints (None for an axis "
            f"of any length), received {shape!r}"
        )
    out = []
    for s in shape:
        if s is None:
            out.append(None)
        elif isinstance(s, numbers.Integral) and not isinstance(s, bool) and s > 0:
            out.append(int(s))
        else:
            raise ConfigError(
                f"{owner}: `shape` must be a tuple of positive ints (None for an axis of "
                f"any length), received {shape!r}"
            )
    return tuple(out)


@registry.layers.register("Input")
class Input(Layer):
    """The entry of a network: fixes the per-sample input shape (no batch axis).

    Args: shape — e.g. ``(1, 32, 32)`` for one-channel images, ``(None, 10)``
    for sequences of any length with 10 features; dtype (optional, e.g. "int64"
    for token indices).
    """

    _config_keys = ("shape", "dtype")

    def __init__(self, shape, dtype: str | None = None, *, name=None):
        super().__init__(name)
        self.shape = _shape("Input", shape)
        if dtype is not None and dtype not in _DTYPES:
            raise ConfigError(f"Input: unknown dtype {dtype!r}; expected one of: "
                              f"{', '.join(sorted(_DTYPES))}")
        self.dtype = dtype
        self.build(self.shape)

    def output_shape_for(self, input_shape):
        if not shapes_match(self.shape, input_shape):
            raise ShapeError(
                f"input '{self.name}' expects samples of shape {format_shape(self.shape)}, "
                f"received {format_shape(input_shape)}"
            )
        return self.shape

    @property
    def torch_dtype(self):
        return None if self.dtype is None else _DTYPES[self.dtype]

    def forward(self, x):
        if isinstance(x, torch.Tensor) and not shapes_match(self.shape, tuple(x.shape[1:])):
            raise ShapeError(
                f"input '{self.name}' expects samples of shape {format_shape(self.shape)}, "
                f"received a batch of shape {tuple(x.shape)}, i.e. samples of shape "
                f"{format_shape(tuple(x.shape[1:]))}"
            )
        return x

    def extra_repr(self):
        return format_shape(self.shape) + ("" if self.dtype is None else f", dtype={self.dtype!r}")


@registry.layers.register("Identity")
class Identity(Layer):
    """Passes its input through unchanged (the shortcut of a residual block)."""

    def forward(self, x):
        return x


@registry.layers.register("Reshape")
class Reshape(Layer):
    """Reshapes each sample to ``shape``; ``Reshape()`` flattens to ``(Π S,)``.

    One entry of ``shape`` may be -1 (inferred). Shape: ``(*S)`` → ``shape``.
    """

    _config_keys = ("shape",)

    def __init__(self, shape=None, *, name=None):
        super().__init__(name)
        if shape is not None:
            if isinstance(shape, numbers.Integral):
                shape = (shape,)
            ok = isinstance(shape, (tuple, list)) and shape and all(
                isinstance(s, numbers.Integral) and not isinstance(s, bool) and (s > 0 or s == -1)
                for s in shape) and sum(1 for s in shape if s == -1) <= 1
            if not ok:
                raise ConfigError(
                    f"Reshape: `shape` must be a tuple of positive ints with at most one -1, "
                    f"received {shape!r}"
                )
            shape = tuple(int(s) for s in shape)
        self.shape = shape

    def output_shape_for(self, input_shape):
        if None in input_shape:
            if self.shape is None:
                return (None,)
            return tuple(None if s == -1 else s for s in self.shape)
        total = 1
        for s in input_shape:
            total *= s
        if self.shape is None:
            return (total,)
        known = 1
        for s in self.shape:
            if s != -1:
                known *= s
        if -1 in self.shape:
            if total % known:
                raise ShapeError(
                    f"layer '{self.name}' (Reshape) cannot reshape {format_shape(input_shape)} "
                    f"({total} values) to {format_shape(self.shape)}"
                )
            return tuple(total // known if s == -1 else s for s in self.shape)
        if known != total:
            raise ShapeError(
                f"layer '{self.name}' (Reshape) cannot reshape {format_shape(input_shape)} "
                f"({total} values) to {format_shape(self.shape)} ({known} values)"
            )
        return self.shape

    def forward(self, x):
        if self.shape is None:
            return x.flatten(1)
        return x.reshape((x.shape[0],) + self.shape)

    def extra_repr(self):
        return "" if self.shape is None else format_shape(self.shape)


@registry.layers.register("Transpose")
class Transpose(Layer):
    """Permutes the axes of each sample (the batch axis stays first).

    Args: perm — a permutation of ``range(len(sample shape))``, e.g. ``(1, 0)``
    turns ``(T, F)`` into ``(F, T)``.
    """

    _config_keys = ("perm",)

    def __init__(self, perm, *, name=None):
        super().__init__(name)
        if not isinstance(perm, (tuple, list)) or sorted(perm) != list(range(len(perm))):
            raise ConfigError(
                f"Transpose: `perm` must be a permutation of 0..n-1, received {perm!r}"
            )
        self.perm = tuple(int(p) for p in perm)
        self._full = (0,) + tuple(p + 1 for p in self.perm)

    def output_shape_for(self, input_shape):
        if len(input_shape) != len(self.perm):
            raise ShapeError(
                f"layer '{self.name}' (Transpose {self.perm}) expects an input with "
                f"{len(self.perm)} axes, received {format_shape(input_shape)}"
            )
        return tuple(input_shape[p] for p in self.perm)

    def forward(self, x):
        return x.permute(self._full)

    def extra_repr(self):
        return str(self.perm)


@registry.layers.register("Embedding")
class Embedding(Layer):
    """Looks up a learned vector for each integer index: ``y[t] = W[x[t]]``.

    Args: input_size (vocabulary size), output_size (vector size),
    weight (initializer, default N(0, 1)).
    Shape: integer ``(*S)`` → ``(*S, output_size)``.
    """

    _config_keys = ("input_size", "output_size")

    def __init__(self, input_size: int, output_size: int, *, weight=None, name=None):
        super().__init__(name)
        self.input_size = positive_int("Embedding", "input_size", input_size)
        self.output_size = positive_int("Embedding", "output_size", output_size)
        self._init_specs = {"weight": weight}
        self.weight_init = init_param(weight, initializers.Normal(0.0, 1.0))
        self.weight = None

    def output_shape_for(self, input_shape):
        return tuple(input_shape) + (self.output_size,)

    def _build(self, input_shape):
        self.weight = nn.Parameter(torch.empty(self.input_size, self.output_size))

    def reset_parameters(self):
        if self.weight is not None:
            self.weight_init(self.weight)

    takes_integers = True

    def forward(self, x):
        if x.is_floating_point() or x.is_complex():
            raise DTypeError(
                f"layer '{self.name}' (Embedding) expects integer indices in "
                f"[0, {self.input_size}), received a tensor of dtype {x.dtype}"
            )
        if x.device.type != "cpu":  # a bad index is a device-side assert there: check first
            self._check_indices(x)
            return F.embedding(x, self.weight)
        try:  # on the CPU torch refuses a bad index itself: explain it only then
            return F.embedding(x, self.weight)
        except IndexError:
            self._check_indices(x)
            raise

    def _check_indices(self, x):
        if x.numel() == 0:
            return
        low, high = (int(v) for v in torch.aminmax(x))
        if low < 0 or high >= self.input_size:
            bad = high if high >= self.input_size else low
            fix = (f"enlarge input_size to at least {high + 1} or map unknown tokens to a reserved index"
                   if bad >= 0 else "indices count from 0 (a padding of -1 is no index: pad with 0 "
                   "or a reserved index)")
            raise DataError(
                f"layer '{self.name}' (Embedding): expected indices in [0, {self.input_size}) for its "
                f"vocabulary of {self.input_size}, received index {bad} (indices range over "
                f"[{low}, {high}]); {fix}")

    def extra_repr(self):
        return f"{self.input_size}, {self.output_size}"

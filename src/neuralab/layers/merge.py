"""Layers that merge several inputs: Elementwise, Concatenate, GatedAverage.

>>> import torch
>>> from neuralab import layers as L
>>> L.Elementwise("add")(torch.ones(1, 2), torch.ones(1, 2))
tensor([[2., 2.]])
"""

from __future__ import annotations

import functools

import torch

from .. import registry
from ..errors import ConfigError, ShapeError, format_shape
from .base import Layer, shapes_match

__all__ = ["Elementwise", "Concatenate", "GatedAverage"]


def _as_list(layer, input_shape, minimum=2):
    if not isinstance(input_shape, list) or len(input_shape) < minimum:
        n = len(input_shape) if isinstance(input_shape, list) else 1
        raise ShapeError(
            f"layer '{layer.name}' ({type(layer).__name__}) merges at least {minimum} inputs, "
            f"received {n}: {format_shape(input_shape)}"
        )
    return input_shape


def _merge_dims(shapes):
    out = []
    for dims in zip(*shapes):
        known = [d for d in dims if d is not None]
        out.append(known[0] if known else None)
    return tuple(out)


_MERGES = {
    "add": lambda xs: functools.reduce(torch.add, xs),
    "multiply": lambda xs: functools.reduce(torch.mul, xs),
    "average": lambda xs: functools.reduce(torch.add, xs) / len(xs),
    "max": lambda xs: functools.reduce(torch.maximum, xs),
    "min": lambda xs: functools.reduce(torch.minimum, xs),
    "subtract": lambda xs: xs[0] - functools.reduce(torch.add, xs[1:]),
}


@registry.layers.register("Elementwise")
class Elementwise(Layer):
    """Combines inputs of the same shape entry by entry.

    Args: merge — "add" (default), "multiply", "average", "max", "min" or
    "subtract" (the first minus the rest).
    Shape: n × ``(*S)`` → ``(*S)``.
    """

    n_inputs = None
    _config_keys = ("merge",)

    def __init__(self, merge: str = "add", *, name=None):
        super().__init__(name)
        if merge not in _MERGES:
            raise ConfigError(
                f"Elementwise: unknown merge {merge!r}; expected one of: "
                f"{', '.join(map(repr, _MERGES))}"
            )
        self.merge = merge
        self._fn = _MERGES[merge]

    def output_shape_for(self, input_shape):
        shapes = _as_list(self, input_shape)
        first = shapes[0]
        for other in shapes[1:]:
            if not shapes_match(first, other):
                raise ShapeError(
                    f"layer '{self.name}' (Elementwise {self.merge!r}) needs inputs of equal "
                    f"shapes, received {format_shape(shapes)}"
                )
        return _merge_dims(shapes)

    fresh_output = True

    def forward(self, *xs):
        return self._fn(xs)

    def supports_inplace(self, target):
        return self.merge == "add"

    def forward_inplace(self, target, *xs):
        out = xs[target]
        for k, x in enumerate(xs):
            if k != target:
                out = out.add_(x)
        return out

    def extra_repr(self):
        return repr(self.merge)


@registry.layers.register("Concatenate")
class Concatenate(Layer):
    """Joins inputs along ``axis`` (counted with the batch axis like ``torch.cat``;
    default 1, the channels of an image or the features of a vector).

    Shape: ``(C_1, *S)``, ``(C_2, *S)`` … → ``(Σ C_i, *S)`` for axis 1.
    """

    n_inputs = None
    _config_keys = ("axis",)

    def __init__(self, axis: int = 1, *, name=None):
        super().__init__(name)
        if isinstance(axis, bool) or not isinstance(axis, int) or axis == 0:
            raise ConfigError(
                f"Concatenate: `axis` must be a non-zero int (axis 0 is the batch), "
                f"received {axis!r}"
            )
        self.axis = axis

    def _sample_axis(self, rank):
        axis = self.axis - 1 if self.axis > 0 else rank + self.axis
        if not 0 <= axis < rank:
            raise ShapeError(
                f"layer '{self.name}' (Concatenate) has axis={self.axis} but its inputs have "
                f"{rank} axes besides the batch"
            )
        return axis

    def output_shape_for(self, input_shape):
        shapes = _as_list(self, input_shape)
        rank = len(shapes[0])
        axis = self._sample_axis(rank)
        for s in shapes:
            rest_ok = len(s) == rank and shapes_match(
                shapes[0][:axis] + shapes[0][axis + 1:], s[:axis] + s[axis + 1:])
            if not rest_ok:
                raise ShapeError(
                    f"layer '{self.name}' (Concatenate axis={self.axis}) needs inputs that "
                    f"agree on every other axis, received {format_shape(shapes)}"
                )
        merged = list(_merge_dims([s[:axis] + (0,) + s[axis + 1:] for s in shapes]))
        sizes = [s[axis] for s in shapes]
        merged[axis] = None if None in sizes else sum(sizes)
        return tuple(merged)

    def forward(self, *xs):
        return torch.cat(xs, dim=self.axis)

    def extra_repr(self):
        return "" if self.axis == 1 else f"axis={self.axis}"


@registry.layers.register("GatedAverage")
class GatedAverage(Layer):
    """Weighted average of n inputs by a gate: ``y = Σ_i g_i · x_i``.

    The first input is the gate ``g``, shaped ``(n,)`` (usually a softmax); the
    other n inputs share one shape. Used by the mixture of experts.

    Shape: ``(n,)``, n × ``(*S)`` → ``(*S)``.
    """

    n_inputs = None

    def output_shape_for(self, input_shape):
        shapes = _as_list(self, input_shape, minimum=3)
        gate, experts = shapes[0], shapes[1:]
        if len(gate) != 1 or (gate[0] is not None and gate[0] != len(experts)):
            raise ShapeError(
                f"layer '{self.name}' (GatedAverage) expects its first input to be a gate of "
                f"shape ({len(experts)},) for {len(experts)} experts, received "
                f"{format_shape(gate)}"
            )
        for s in experts[1:]:
            if not shapes_match(experts[0], s):
                raise ShapeError(
                    f"layer '{self.name}' (GatedAverage) needs experts of equal shapes, "
                    f"received {format_shape(experts)}"
                )
        return _merge_dims(experts)

    def forward(self, gate, *xs):
        stacked = torch.stack(xs, dim=1)  # (N, n, *S)
        weights = gate.reshape(gate.shape + (1,) * (stacked.dim() - 2))
        return (stacked * weights).sum(dim=1)

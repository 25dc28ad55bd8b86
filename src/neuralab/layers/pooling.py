"""Pooling and upsampling layers (1-D, 2-D or 3-D by the input's rank).

Pooling windows follow the convolution arithmetic with ``F`` = pool size and
``S`` = stride (default: the pool size): ``O = ⌊(I - F + P_start + P_end)/S⌋ + 1``.
Max pooling pads with -∞; average pooling averages only real entries (padding
is not counted).

>>> import torch
>>> from neuralab import layers as L
>>> L.MaxPooling(2)(torch.arange(16.).view(1, 1, 4, 4))
tensor([[[[ 5.,  7.],
          [13., 15.]]]])
"""

from __future__ import annotations

import numbers

import torch
import torch.nn.functional as F

from .. import arithmetic
from .. import registry
from ..errors import ConfigError, ShapeError, format_shape
from .base import Layer, as_tuple
from .conv import axis_paddings, padding_pairs, spatial_output_shape, validate_padding

__all__ = ["MaxPooling", "AveragePooling", "AdaptiveAveragePooling", "Upscale", "GlobalPooling"]

_MAX = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
_AVG = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


class _Pooling(Layer):
    _config_keys = ("size", "stride", "padding")

    def __init__(self, size=2, stride=None, padding="valid", *, name=None):
        super().__init__(name)
        owner = type(self).__name__
        as_tuple(owner, "size", size)
        if stride is not None:
            as_tuple(owner, "stride", stride)
        self.size = tuple(size) if isinstance(size, (list, tuple)) else size
        self.stride = tuple(stride) if isinstance(stride, (list, tuple)) else stride
        self.padding = validate_padding(owner, padding)
        self.rank = None

    def _geometry(self, input_shape):
        self._check_rank(input_shape, (2, 3, 4), "an input (C, L), (C, H, W) or (C, D, H, W)")
        n = len(input_shape) - 1
        owner = f"layer '{self.name}' ({type(self).__name__})"
        k = as_tuple(owner, "size", self.size, n)
        s = k if self.stride is None else as_tuple(owner, "stride", self.stride, n)
        return n, k, s, axis_paddings(self.padding, n, owner)

    def output_shape_for(self, input_shape):
        n, k, s, pads = self._geometry(input_shape)
        return spatial_output_shape(self, input_shape, input_shape[0], k, s, (1,) * n, pads,
                                    arithmetic.output_size)

    def _build(self, input_shape):
        n, k, s, pads = self._geometry(input_shape)
        self.rank, self._k, self._s, self._pads = n, k, s, pads
        self._pairs = padding_pairs(input_shape[1:], k, s, (1,) * n, pads)

    def _pad_pairs(self, x):
        if self._pairs is not None:
            return self._pairs
        return padding_pairs(x.shape[2:], self._k, self._s, (1,) * self.rank, self._pads)

    def kernel_geometry(self):
        if self.rank is None:
            return None
        return [(k, s, 1) for k, s in zip(self._k, self._s)]

    def extra_repr(self):
        parts = [str(self.size)]
        if self.stride is not None:
            parts.append(f"stride={self.stride}")
        if self.padding != "valid":
            parts.append(f"padding={self.padding!r}")
        return ", ".join(parts)


@registry.layers.register("MaxPooling")
class MaxPooling(_Pooling):
    """Maximum over each ``size`` window, moved by ``stride`` (default: ``size``).

    Args: size (default 2), stride (default size), padding (like Convolution).
    Shape: ``(C, *I)`` → ``(C, *O)``.
    """

    def forward(self, x):
        pairs = self._pad_pairs(x)
        if not any(a or b for a, b in pairs):
            return _MAX[self.rank](x, self._k, self._s)
        if all(a == b and 2 * a <= k for (a, b), k in zip(pairs, self._k)):
            # torch pads with -inf itself when the padding is symmetric and at most F/2
            return _MAX[self.rank](x, self._k, self._s, tuple(a for a, _ in pairs))
        pre = tuple(v for a, b in reversed(pairs) for v in (a, b))
        return _MAX[self.rank](F.pad(x, pre, value=float("-inf")), self._k, self._s)


@registry.layers.register("AveragePooling")
class AveragePooling(_Pooling):
    """Mean over each ``size`` window; padded positions are not counted.

    Args: size (default 2), stride (default size), padding (like Convolution).
    Shape: ``(C, *I)`` → ``(C, *O)``.
    """

    def forward(self, x):
        pairs = self._pad_pairs(x)
        if not any(a or b for a, b in pairs):
            return _AVG[self.rank](x, self._k, self._s)
        flat = tuple(v for a, b in reversed(pairs) for v in (a, b))
        ones = torch.ones((1, 1) + tuple(x.shape[2:]), dtype=x.dtype, device=x.device)
        # mean over the padded window divided by the fraction of real entries in it
        means = _AVG[self.rank](F.pad(x, flat), self._k, self._s)
        fraction = _AVG[self.rank](F.pad(ones, flat), self._k, self._s)
        return means / fraction


@registry.layers.register("Upscale")
class Upscale(Layer):
    """Nearest-neighbour upsampling: each entry repeated ``scale`` times per spatial axis.

    Shape: ``(C, *I)`` → ``(C, *(I·scale))``.
    """

    _config_keys = ("scale",)

    def __init__(self, scale=2, *, name=None):
        super().__init__(name)
        as_tuple("Upscale", "scale", scale)
        self.scale = tuple(scale) if isinstance(scale, (list, tuple)) else scale
        self.rank = None

    def output_shape_for(self, input_shape):
        self._check_rank(input_shape, (2, 3, 4), "an input (C, L), (C, H, W) or (C, D, H, W)")
        n = len(input_shape) - 1
        s = as_tuple(f"layer '{self.name}' (Upscale)", "scale", self.scale, n)
        return (input_shape[0],) + tuple(None if i is None else i * f
                                         for i, f in zip(input_shape[1:], s))

    def _build(self, input_shape):
        self.rank = len(input_shape) - 1
        self._s = as_tuple("Upscale", "scale", self.scale, self.rank)

    def forward(self, x):
        for axis, f in enumerate(self._s):
            if f > 1:
                x = x.repeat_interleave(f, dim=axis + 2)
        return x

    def extra_repr(self):
        return str(self.scale)


@registry.layers.register("GlobalPooling")
class GlobalPooling(Layer):
    """Mean (``"avg"``) or maximum (``"max"``) over all spatial axes.

    Shape: ``(C, *I)`` → ``(C,)``.
    """

    _config_keys = ("function",)
    FUNCTIONS = ("avg", "max")

    def __init__(self, function: str = "avg", *, name=None):
        super().__init__(name)
        if function not in self.FUNCTIONS:
            raise ConfigError(
                f"GlobalPooling: unknown function {function!r}; expected one of: 'avg', 'max'"
            )
        self.function = function

    def output_shape_for(self, input_shape):
        self._check_rank(input_shape, (2, 3, 4), "an input (C, L), (C, H, W) or (C, D, H, W)")
        return (input_shape[0],)

    def forward(self, x):
        dims = tuple(range(2, x.dim()))
        if self.function == "avg":
            return x.mean(dim=dims)
        return x.amax(dim=dims)

    def extra_repr(self):
        return "" if self.function == "avg" else repr(self.function)


@registry.layers.register("AdaptiveAveragePooling")
class AdaptiveAveragePooling(Layer):
    """Average pooling to a fixed output size, whatever the input size (PyTorch's adaptive pooling).

    Output cell ``i`` of an axis of input size ``I`` and output size ``O``
    averages inputs ``⌊i·I/O⌋ … ⌈(i+1)·I/O⌉ - 1``; an input smaller than the
    output is repeated. AlexNet and VGG use it so their classifier has the same
    size for every input size (``(6, 6)`` and ``(7, 7)``, as in torchvision).

    Args: output_size — an int or one int per spatial axis.
    Shape: ``(C, *I)`` → ``(C, *output_size)``.

    """

    _config_keys = ("output_size",)
    _FUNCS = {1: F.adaptive_avg_pool1d, 2: F.adaptive_avg_pool2d, 3: F.adaptive_avg_pool3d}

    def __init__(self, output_size, *, name=None):
        super().__init__(name)
        values = output_size if isinstance(output_size, (tuple, list)) else (output_size,)
        if not values or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool)
                                 and v > 0 for v in values):
            raise ConfigError(f"AdaptiveAveragePooling: `output_size` must be a positive int or "
                              f"a tuple of positive ints, received {output_size!r}")
        self.output_size = (tuple(int(v) for v in values)
                            if isinstance(output_size, (tuple, list)) else int(output_size))

    def output_shape_for(self, input_shape):
        self._check_rank(input_shape, (2, 3, 4), "an input (C, L), (C, H, W) or (C, D, H, W)")
        n = len(input_shape) - 1
        size = self.output_size
        size = size if isinstance(size, tuple) else (size,) * n
        if len(size) != n:
            raise ShapeError(f"layer '{self.name}' (AdaptiveAveragePooling) has output_size "
                             f"{size} but its input {format_shape(input_shape)} has {n} "
                             "spatial axes")
        return (input_shape[0],) + size

    def _build(self, input_shape):
        self._size = self.output_shape_for(input_shape)[1:]
        self._fn = self._FUNCS[len(self._size)]

    def forward(self, x):
        return self._fn(x, self._size)

    def extra_repr(self):
        return str(self.output_size)

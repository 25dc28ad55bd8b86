"""Convolution and its transpose, 1-D, 2-D or 3-D by the input's rank.

Input ``(C, L)``, ``(C, H, W)`` or ``(C, D, H, W)``; output ``(K, O...)`` with,
per spatial axis, ``O = ⌊(I - F' + P_start + P_end) / S⌋ + 1`` and
``F' = d (F - 1) + 1`` (:func:`neuralab.arithmetic.output_size`). Padding
modes follow CS230: "valid" (none), "same" (``O = ⌈I/S⌉``, the extra pixel at
the end when the total is odd), "full" (``F' - 1`` on both sides), an int, or a
tuple giving per axis an int or a ``(start, end)`` pair.

>>> import torch
>>> from neuralab import layers as L
>>> conv = L.Convolution(6, 5)
>>> conv(torch.zeros(2, 1, 32, 32)).shape
torch.Size([2, 6, 28, 28])
>>> sum(p.numel() for p in conv.parameters())      # (5·5·1 + 1)·6
156
"""

from __future__ import annotations

import numbers

import torch
import torch.nn.functional as F
from torch import nn

from .. import arithmetic
from .. import init as initializers
from .. import registry
from ..errors import ConfigError, ShapeError, format_shape
from ..validation import check_choice
from .base import Layer, as_tuple, init_param, positive_int

__all__ = ["Convolution", "Deconvolution", "validate_padding", "axis_paddings", "padding_pairs",
           "spatial_output_shape", "PADDING_MODES"]

#: What fills the padded border: zeros, a mirror image without the edge ("reflect",
#: CS230's mirror padding), copies of the edge ("replicate") or the opposite side ("circular").
PADDING_MODES = ("zeros", "reflect", "replicate", "circular")

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def validate_padding(owner: str, padding):
    """Check a padding argument at construction; returns it in a JSON-friendly form."""
    allowed = (
        "'valid', 'same', 'full', a non-negative int, or a tuple with one int or "
        "(start, end) pair per spatial axis"
    )
    if isinstance(padding, str):
        if padding.lower() not in arithmetic.PADDING_MODES:
            raise ConfigError(
                f"{owner}: unknown padding mode {padding!r}; expected one of: {allowed}"
            )
        return padding.lower()
    if _pad_int(padding):
        return int(padding)
    if isinstance(padding, (tuple, list)) and padding:
        out = []
        for p in padding:
            if _pad_int(p):
                out.append(int(p))
            elif isinstance(p, (tuple, list)) and len(p) == 2 and all(map(_pad_int, p)):
                out.append((int(p[0]), int(p[1])))
            else:
                raise ConfigError(f"{owner}: invalid padding {padding!r}; expected {allowed}")
        return tuple(out)
    raise ConfigError(f"{owner}: invalid padding {padding!r}; expected {allowed}")


def _pad_int(value) -> bool:
    """A non-negative integer padding (not a bool)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 0


def axis_paddings(padding, n: int, owner: str):
    """Per-axis padding specs (a mode string, an int or a pair) for ``n`` axes."""
    if not isinstance(padding, tuple):
        return [padding] * n
    if len(padding) == n:
        return list(padding)
    raise ShapeError(f"{owner}: padding {padding} gives {len(padding)} axes but the input has {n} "
                     "spatial axes")


def fpad_tuple(pairs) -> tuple:
    """Per-axis (start, end) pairs as ``F.pad``'s tuple (last axis first)."""
    return tuple(v for a, b in reversed(pairs) for v in (a, b))


def symmetric_or_pad(pairs):
    """Split per-axis (start, end) pairs into torch's symmetric padding and an F.pad tuple."""
    if all(a == b for a, b in pairs):
        return tuple(a for a, _ in pairs), None
    return (0,) * len(pairs), fpad_tuple(pairs)


def padding_pairs(sizes, k, s, d, pads):
    """Per-axis ``(P_start, P_end)`` for spatial ``sizes``; None when "same" meets an
    axis of unknown size (the padding is then computed from each batch)."""
    if any(p == "same" and size is None for size, p in zip(sizes, pads)):
        return None
    return [arithmetic.padding(size, k_i, s_i, p_i, d_i)
            for size, k_i, s_i, p_i, d_i in zip(sizes, k, s, pads, d)]


def spatial_output_shape(layer, input_shape, leading, k, s, d, pads, size_fn):
    """``(leading, O_1, …)`` with ``O_i = size_fn(I_i, F_i, S_i, P_i, d_i)``; a filter that
    does not fit becomes a ShapeError naming ``layer`` and its input."""
    out = [leading]
    for axis, (size, k_i, s_i, p_i, d_i) in enumerate(zip(input_shape[1:], k, s, pads, d)):
        try:
            out.append(size_fn(size, k_i, s_i, p_i, d_i))
        except ShapeError as exc:
            raise ShapeError(
                f"layer '{layer.name}' ({type(layer).__name__}) cannot take input "
                f"{format_shape(input_shape)}: {exc}"
            ) from None
    return tuple(out)


class _ConvBase(Layer):
    fresh_output = True
    _config_keys = ("filters", "kernel_size", "stride", "padding", "dilation", "groups")
    default_weight = "he_normal"

    def __init__(self, filters, kernel_size, stride=1, padding="valid", dilation=1, groups=1,
                 *, weight=None, bias=0.0, name=None):
        super().__init__(name)
        owner = type(self).__name__
        self.filters = positive_int(owner, "filters", filters)
        self.kernel_size = _scalar_or_tuple(as_tuple(owner, "kernel_size", kernel_size), kernel_size)
        self.stride = _scalar_or_tuple(as_tuple(owner, "stride", stride), stride)
        self.dilation = _scalar_or_tuple(as_tuple(owner, "dilation", dilation), dilation)
        self.groups = positive_int(owner, "groups", groups)
        if self.filters % self.groups:
            raise ConfigError(
                f"{owner}: `filters` ({filters}) must be divisible by `groups` ({groups})"
            )
        self.padding = validate_padding(owner, padding)
        self.weight_init = init_param(weight, self.default_weight)
        self.bias_init = None if bias is None else initializers.get(bias)
        self._init_specs = {"weight": weight, "bias": bias}
        self.weight = None
        self.bias = None
        self.rank = None

    def get_config(self):
        config = super().get_config()
        if isinstance(self.padding, tuple):
            config["padding"] = [list(p) if isinstance(p, tuple) else p for p in self.padding]
        return config

    def _geometry(self, input_shape):
        self._check_rank(input_shape, (2, 3, 4), "an input (C, L), (C, H, W) or (C, D, H, W)")
        n = len(input_shape) - 1
        owner = f"layer '{self.name}' ({type(self).__name__})"
        k = as_tuple(owner, "kernel_size", self.kernel_size, n)
        s = as_tuple(owner, "stride", self.stride, n)
        d = as_tuple(owner, "dilation", self.dilation, n)
        pads = axis_paddings(self.padding, n, owner)
        if input_shape[0] is None:
            raise ShapeError(f"{owner} needs a known number of channels, received "
                             f"{format_shape(input_shape)}")
        if input_shape[0] % self.groups:
            raise ShapeError(
                f"{owner}: input channels ({input_shape[0]}) must be divisible by groups "
                f"({self.groups})"
            )
        return n, k, s, d, pads

    def _spatial_output(self, input_shape, size_fn):
        n, k, s, d, pads = self._geometry(input_shape)
        return spatial_output_shape(self, input_shape, self.filters, k, s, d, pads, size_fn)

    def _build_geometry(self, input_shape):
        """Fix rank, kernel, stride, dilation and padding specs for ``input_shape``."""
        n, k, s, d, pads = self._geometry(input_shape)
        self.rank, self._k, self._stride, self._dilation, self._pads = n, k, s, d, pads
        return n, k, s, d, pads

    def kernel_geometry(self):
        if self.rank is None:
            return None
        return list(zip(self._k, self._stride, self._dilation))

    def reset_parameters(self):
        if self.weight is not None:
            self.weight_init(self.weight)
        if self.bias is not None:
            self.bias_init(self.bias)

    def extra_repr(self):
        parts = [str(self.filters), f"kernel_size={self.kernel_size}"]
        for key, default in (("stride", 1), ("padding", "valid"), ("dilation", 1), ("groups", 1)):
            if getattr(self, key) != default:
                parts.append(f"{key}={getattr(self, key)!r}")
        return ", ".join(parts)


def _scalar_or_tuple(values: tuple, original):
    return values[0] if not isinstance(original, (list, tuple)) else values


@registry.layers.register("Convolution")
class Convolution(_ConvBase):
    """Convolution (cross-correlation, as in every DL library) of ``filters`` kernels.

    Args:
        filters: number of output channels K.
        kernel_size: F, an int or one int per spatial axis.
        stride: S (default 1). dilation: d (default 1). groups: channel groups (default 1).
        padding: "valid" (default), "same", "full", an int or per-axis ints/(start, end) pairs.
        padding_mode: what fills the border: "zeros" (default), "reflect" (mirror
            padding: ``[a b c]`` padded by 2 reads ``c b [a b c] b a``), "replicate" or
            "circular". Equal to ``F.pad(x, pads, mode)`` then a valid convolution;
            shapes and the summary do not depend on it.
        weight: initializer (default He normal). bias: initializer (default 0), None for no bias.

    Shape: ``(C, *I)`` → ``(K, *O)``, ``O = ⌊(I - F' + P_start + P_end)/S⌋ + 1``.
    Parameters: ``(Π F · C/groups + 1) · K``.

    >>> import torch
    >>> mirror = Convolution(1, 3, padding="same", padding_mode="reflect", bias=None, weight=1.0)
    >>> mirror(torch.tensor([[[1.0, 2.0, 3.0]]])).tolist()   # pads to [2, 1, 2, 3, 2]
    [[[5.0, 6.0, 7.0]]]
    """

    _config_keys = _ConvBase._config_keys + ("padding_mode",)

    def __init__(self, filters, kernel_size, stride=1, padding="valid", dilation=1, groups=1,
                 *, padding_mode="zeros", weight=None, bias=0.0, name=None):
        super().__init__(filters, kernel_size, stride, padding, dilation, groups, weight=weight,
                         bias=bias, name=name)
        self.padding_mode = check_choice(type(self).__name__, "padding_mode", padding_mode, PADDING_MODES)

    def output_shape_for(self, input_shape):
        return self._spatial_output(input_shape, arithmetic.output_size)

    def _build(self, input_shape):
        n, k, s, d, pads = self._build_geometry(input_shape)
        pairs = padding_pairs(input_shape[1:], k, s, d, pads)
        self._static = pairs is not None
        if self._static:
            self._check_border(input_shape, pairs)
            self._torch_padding, self._pre_pad = self._paddings(pairs)
        self.weight = nn.Parameter(torch.empty(self.filters, input_shape[0] // self.groups, *k))
        if self.bias_init is not None:
            self.bias = nn.Parameter(torch.empty(self.filters))

    def forward(self, x):
        if self._static:
            padding, pre_pad = self._torch_padding, self._pre_pad
        else:
            pairs = padding_pairs(x.shape[2:], self._k, self._stride, self._dilation, self._pads)
            padding, pre_pad = self._paddings(pairs)
        if pre_pad is not None:
            x = F.pad(x, pre_pad, mode=self._pad_mode)
        return _CONV[self.rank](x, self.weight, self.bias, self._stride, padding,
                                self._dilation, self.groups)

    @property
    def _pad_mode(self) -> str:
        return "constant" if self.padding_mode == "zeros" else self.padding_mode

    def _paddings(self, pairs):
        """``(torch conv padding, F.pad tuple or None)``: a non-zero border is always padded first."""
        if self.padding_mode == "zeros":
            return symmetric_or_pad(pairs)
        flat = fpad_tuple(pairs)
        return (0,) * len(pairs), (flat if any(flat) else None)

    def _check_border(self, input_shape, pairs) -> None:
        if self.padding_mode not in ("reflect", "circular"):
            return
        limit = (lambda size: size - 1) if self.padding_mode == "reflect" else (lambda size: size)
        for size, (a, b) in zip(input_shape[1:], pairs):
            if size is not None and max(a, b) > limit(size):
                raise ShapeError(
                    f"layer '{self.name}' (Convolution): padding_mode={self.padding_mode!r} can pad "
                    f"at most {limit(size)} on an axis of size {size}, received padding ({a}, {b}) "
                    f"for input {format_shape(input_shape)}")

    def extra_repr(self):
        text = super().extra_repr()
        return text + (f", padding_mode={self.padding_mode!r}" if self.padding_mode != "zeros" else "")


@registry.layers.register("Deconvolution")
class Deconvolution(_ConvBase):
    """Transposed convolution: the gradient of :class:`Convolution` with respect to its input.

    Per axis ``O = (I - 1)·S + F' - P_start - P_end (+ extra)``
    (:func:`neuralab.arithmetic.transposed_output_size`): "valid" crops nothing,
    "same" gives ``O = I·S``, "full" undoes a full convolution.
    Weight shape ``(C, K/groups, *F)``; parameters ``(Π F · C/groups)·K + K``.
    """

    def output_shape_for(self, input_shape):
        return self._spatial_output(input_shape, arithmetic.transposed_output_size)

    def _build(self, input_shape):
        n, k, s, d, pads = self._build_geometry(input_shape)
        crops = [arithmetic.transposed_padding(k[i], s[i], pads[i], d[i]) for i in range(n)]
        self._sym = tuple(min(a, b) for a, b, _ in crops)
        self._extra = tuple(e for _, _, e in crops)
        self._crop = [(a - m, b - m) for (a, b, _), m in zip(crops, self._sym)]
        self._needs_crop = any(a or b for a, b in self._crop)
        self.weight = nn.Parameter(torch.empty(input_shape[0], self.filters // self.groups, *k))
        if self.bias_init is not None:
            self.bias = nn.Parameter(torch.empty(self.filters))

    def forward(self, x):
        y = _CONV_T[self.rank](x, self.weight, self.bias, self._stride, self._sym, self._extra,
                               self.groups, self._dilation)
        if self._needs_crop:
            for i, (a, b) in enumerate(self._crop):
                if a or b:
                    y = y.narrow(i + 2, a, y.shape[i + 2] - a - b)
        return y

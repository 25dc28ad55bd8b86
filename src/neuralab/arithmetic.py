"""CNN arithmetic from Stanford CS230's cheat sheet, as plain functions.

The convolution and pooling layers, the graph's summary and the CLI's
``neuralab calc`` all use these functions, so the numbers a user computes by
hand, the shapes the graph predicts and the shapes PyTorch produces agree.

Notation (per spatial axis): input size ``I``, filter size ``F``, stride ``S``,
dilation ``d``; the effective filter size is ``F' = d (F - 1) + 1``.

- Output size: ``O = ⌊(I - F' + P_start + P_end) / S⌋ + 1``.
- "valid" padding: ``P_start = P_end = 0``.
- "same" padding (CS230): ``P_start = ⌊(S⌈I/S⌉ - I + F' - S) / 2⌋``,
  ``P_end = ⌈(S⌈I/S⌉ - I + F' - S) / 2⌉`` so that ``O = ⌈I/S⌉``.
- "full" padding: ``P_start = P_end = F' - 1``; with stride 1, ``O = I + F' - 1``.
- Receptive field of layer k: ``R_k = 1 + Σ_{j=1..k} (F_j - 1) Π_{i=0..j-1} S_i``
  with ``S_0 = 1``.
- Parameters: CONV ``(F·F·C + 1)·K``, FC ``(N_in + 1)·N_out``.

>>> output_size(32, 5, 1, "valid")
28
>>> padding(7, 3, 2, "same")
(1, 1)
>>> output_size(7, 3, 2, "same")
4
>>> receptive_field([(3, 1), (3, 1)])
5
>>> conv_parameters(5, 3, 6)
456
"""

from __future__ import annotations

import math
import numbers
from typing import Iterable, Sequence

from .errors import ConfigError, ShapeError
from .validation import check_bool, check_int, expected

__all__ = [
    "PADDING_MODES",
    "effective_kernel",
    "padding",
    "output_size",
    "transposed_padding",
    "transposed_output_size",
    "receptive_field",
    "receptive_field_step",
    "conv_parameters",
    "dense_parameters",
    "count_parameters",
]

PADDING_MODES = ("valid", "same", "full")


def _positive_int(name: str, value) -> int:
    return check_int("arithmetic", name, value, low=1)


def effective_kernel(F: int, dilation: int = 1) -> int:
    """Size a dilated filter spans: ``d (F - 1) + 1``.

    >>> effective_kernel(3, 2)
    5
    """
    F = _positive_int("kernel_size", F)
    dilation = _positive_int("dilation", dilation)
    return dilation * (F - 1) + 1


def padding(I: int | None, F: int, S: int = 1, mode="same", dilation: int = 1) -> tuple[int, int]:
    """Padding ``(P_start, P_end)`` along one axis.

    Args:
        I: input size (needed for "same"; may be None for the other modes).
        F: filter size. S: stride. dilation: filter dilation.
        mode: "valid", "same", "full", an int (both sides) or a pair (start, end).

    >>> padding(8, 3, 1, "same"), padding(8, 3, 1, "full"), padding(8, 3, 1, 2)
    ((1, 1), (2, 2), (2, 2))
    >>> padding(8, 4, 1, "same")
    (1, 2)
    """
    Fe = effective_kernel(F, dilation)
    S = _positive_int("stride", S)
    if isinstance(mode, str):
        key = mode.lower()
        if key == "valid":
            return (0, 0)
        if key == "full":
            return (Fe - 1, Fe - 1)
        if key == "same":
            if I is None:
                raise ShapeError("'same' padding needs a known input size, received None")
            total = max(S * math.ceil(I / S) - I + Fe - S, 0)
            return (total // 2, total - total // 2)
        raise ConfigError(
            f"unknown padding mode {mode!r}; expected one of: 'valid', 'same', 'full', "
            "a non-negative int, or a (start, end) pair"
        )
    if isinstance(mode, numbers.Integral) and not isinstance(mode, bool):
        if mode < 0:
            raise ConfigError(f"padding must be non-negative, received {mode}")
        return (int(mode), int(mode))
    if isinstance(mode, (tuple, list)) and len(mode) == 2 and all(
        isinstance(p, numbers.Integral) and not isinstance(p, bool) and p >= 0 for p in mode
    ):
        return (int(mode[0]), int(mode[1]))
    raise ConfigError(
        f"invalid padding {mode!r}; expected one of: 'valid', 'same', 'full', "
        "a non-negative int, or a (start, end) pair of non-negative ints"
    )


def output_size(I: int | None, F: int, S: int = 1, padding_mode="valid", dilation: int = 1):
    """Output size along one axis: ``⌊(I - F' + P_start + P_end) / S⌋ + 1``.

    Returns None when ``I`` is None (an axis of unknown length). Raises
    ShapeError when the filter does not fit in the padded input.

    >>> output_size(32, 5), output_size(32, 5, 2, "same"), output_size(32, 5, 1, "full")
    (28, 16, 36)
    """
    if I is None:
        if isinstance(padding_mode, str) and padding_mode.lower() == "same":
            return None
        padding(None, F, S, padding_mode, dilation)  # validates arguments
        return None
    I = _positive_int("input_size", I)
    ps, pe = padding(I, F, S, padding_mode, dilation)
    Fe = effective_kernel(F, dilation)
    span = I + ps + pe - Fe
    if span < 0:
        raise ShapeError(
            f"a filter of effective size {Fe} does not fit an input of size {I} "
            f"with padding ({ps}, {pe}): the output would be empty"
        )
    return span // _positive_int("stride", S) + 1


def transposed_padding(F: int, S: int = 1, mode="valid", dilation: int = 1) -> tuple[int, int, int]:
    """Cropping ``(P_start, P_end, extra)`` of a transposed convolution.

    The transpose of a convolution maps ``I`` to
    ``(I - 1) S + F' - P_start - P_end + extra``. "valid" crops nothing,
    "same" gives ``O = I·S``, "full" inverts a full convolution
    (``O = I - F' + 1`` at stride 1).
    """
    Fe = effective_kernel(F, dilation)
    S = _positive_int("stride", S)
    if isinstance(mode, str) and mode.lower() == "same":
        total = Fe - S
        if total >= 0:
            return (total // 2, total - total // 2, 0)
        return (0, 0, -total)
    if isinstance(mode, str) and mode.lower() == "full":
        return (Fe - 1, Fe - 1, 0)
    ps, pe = padding(None, F, S, mode, dilation)
    return (ps, pe, 0)


def transposed_output_size(I: int | None, F: int, S: int = 1, padding_mode="valid", dilation=1):
    """Output size of a transposed convolution along one axis.

    >>> transposed_output_size(4, 3, 2, "valid"), transposed_output_size(4, 3, 2, "same")
    (9, 8)
    """
    ps, pe, extra = transposed_padding(F, S, padding_mode, dilation)
    if I is None:
        return None
    out = (I - 1) * S + effective_kernel(F, dilation) - ps - pe + extra
    if out < 1:
        raise ShapeError(
            f"a transposed convolution (filter {F}, stride {S}, padding {padding_mode!r}) "
            f"of an input of size {I} would have an empty output ({out})"
        )
    return out


def receptive_field_step(rf: int, jump: int, F: int, S: int = 1, dilation: int = 1):
    """One layer of the receptive-field recursion.

    Given the receptive field ``rf`` and the cumulative stride ``jump`` (the
    product of the previous strides) before a layer with filter ``F`` and
    stride ``S``, return ``(rf + (F' - 1)·jump, jump·S)``.
    """
    Fe = effective_kernel(F, dilation)
    return rf + (Fe - 1) * jump, jump * _positive_int("stride", S)


def receptive_field(layers: Iterable) -> int:
    """CS230's ``R_k = 1 + Σ (F_j - 1) Π_{i<j} S_i`` over a stack of layers.

    Each item is a pair ``(F, S)``, a triple ``(F, S, dilation)``, or an object
    with a ``kernel_geometry()`` method returning such a triple per axis (or
    None for a layer that does not change the geometry, such as an
    activation). For objects, the first spatial axis is used.

    >>> receptive_field([(5, 1), (2, 2), (5, 1), (2, 2)])   # LeNet-5's convs and pools
    16
    """
    rf, jump = 1, 1
    for item in layers:
        if hasattr(item, "kernel_geometry"):
            geometry = item.kernel_geometry()
            if geometry is None:
                continue
            item = geometry[0]
        if isinstance(item, (str, bytes)) or not hasattr(item, "__len__") or len(item) not in (2, 3):
            raise expected("receptive_field", "layers", "a list of (F, S) or (F, S, dilation) items", item)
        F, S, *rest = item
        rf, jump = receptive_field_step(rf, jump, F, S, rest[0] if rest else 1)
    return rf


def _prod(values: Sequence[int]) -> int:
    out = 1
    for v in values:
        out *= v
    return out


def conv_parameters(F, C: int, K: int, bias: bool = True, dims: int = 2, groups: int = 1) -> int:
    """Parameters of a convolution: ``(F·F·C/groups + 1)·K`` (CS230).

    ``F`` is an int (square/cubic filter over ``dims`` axes) or a tuple of sizes.

    >>> conv_parameters(3, 64, 128), conv_parameters((3, 3), 64, 128, bias=False)
    (73856, 73728)
    """
    dims = check_int("conv_parameters", "dims", dims, low=1, high=3)
    kernel = (F,) * dims if isinstance(F, numbers.Integral) else tuple(F)
    kernel = tuple(_positive_int("kernel_size", f) for f in kernel)
    C, K = _positive_int("channels", C), _positive_int("filters", K)
    groups = _positive_int("groups", groups)
    return (_prod(kernel) * C // groups + (1 if check_bool("conv_parameters", "bias", bias) else 0)) * K


def dense_parameters(n_in: int, n_out: int, bias: bool = True) -> int:
    """Parameters of a fully-connected layer: ``(N_in + 1)·N_out``.

    >>> dense_parameters(400, 120)
    48120
    """
    n_in, n_out = _positive_int("n_in", n_in), _positive_int("n_out", n_out)
    return (n_in + (1 if check_bool("dense_parameters", "bias", bias) else 0)) * n_out


def count_parameters(module, trainable_only: bool = False) -> int:
    """Number of scalar parameters of a module (anything with ``parameters()``).

    Parameters shared between layers are counted once.
    """
    seen, total = set(), 0
    for p in module.parameters():
        if id(p) in seen or (trainable_only and not p.requires_grad):
            continue
        seen.add(id(p))
        total += p.numel()
    return total

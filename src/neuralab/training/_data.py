"""Turning user data (arrays, tensors, Datasets, DataLoaders) into validated tensors.

Everything here raises :class:`~neuralab.errors.DataError` with the expected
and the received value, before any training step runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset

from ..errors import DataError, format_shape
from . import _ragged
from ._structure import canonical, input_names, map_leaves, output_names

__all__ = ["Arrays", "Stream", "to_tensor", "prepare", "split_validation", "stream_batch"]


@dataclass
class Arrays:
    """In-memory data: ``x`` a tuple of input tensors ``(N, ...)`` (one per module input)
    and ``y`` None or a tuple of target tensors (one per output)."""

    x: tuple
    y: tuple | None
    steps: bool = False  # y holds per-step labels of padded sequences (IGNORE_INDEX on padding)

    @property
    def n(self) -> int:
        return int(self.x[0].shape[0])

    def to(self, device) -> "Arrays":
        return Arrays(tuple(t.to(device) for t in self.x), map_leaves(lambda t: t.to(device), self.y),
                      self.steps)

    def take(self, idx) -> tuple:
        """The batch ``(x, y)`` at sample indices ``idx`` (a tensor of indices or a slice)."""
        if isinstance(idx, slice):
            return tuple(t[idx] for t in self.x), map_leaves(lambda t: t[idx], self.y)
        return (tuple(t.index_select(0, idx) for t in self.x),
                map_leaves(lambda t: t.index_select(0, idx), self.y))


@dataclass
class Stream:
    """Data read batch by batch: a Dataset (we build the loader) or a user's DataLoader."""

    dataset: Dataset | None = None
    loader: DataLoader | None = None

    def __len__(self) -> int:
        src = self.dataset if self.dataset is not None else self.loader.dataset
        try:
            return len(src)
        except TypeError:  # an IterableDataset without __len__
            return -1


def _describe(a: Any) -> str:
    if isinstance(a, (np.ndarray, torch.Tensor)):
        return f"an array of dtype {a.dtype} and shape {format_shape(tuple(a.shape))}"
    return f"a {type(a).__name__}"


def to_tensor(a: Any, what: str) -> torch.Tensor:
    """Convert NumPy arrays, tensors, lists or scalars to a tensor; strings/objects raise DataError."""
    if isinstance(a, torch.Tensor):
        t = a
    else:
        if isinstance(a, (str, bytes)):
            raise DataError(f"{what}: expected an array of numbers, received the string {a!r}")
        try:
            arr = np.asarray(a)
        except (ValueError, TypeError) as exc:
            raise DataError(f"{what}: expected an array of numbers, received {_describe(a)} ({exc})") from None
        if arr.dtype.kind in "USO":
            bad = _first_non_number(arr)
            raise DataError(
                f"{what}: expected an array of numbers, received {_describe(arr)}"
                + (f" containing {bad[0]!r}" if bad else "")
            )
        if arr.dtype.kind not in "biuf":
            raise DataError(f"{what}: expected an array of numbers, received {_describe(arr)}")
        t = torch.from_numpy(np.ascontiguousarray(arr))
    if t.is_complex():
        raise DataError(f"{what}: expected real numbers, received complex dtype {t.dtype}")
    if t.dim() == 0:
        raise DataError(f"{what}: expected an array with a sample axis (N, ...), received a scalar")
    return t


def _first_non_number(arr: np.ndarray) -> tuple:
    """``(value,)`` for the first element that is not a number, or ``()``."""
    for v in arr.reshape(-1)[:10000]:
        if not isinstance(v, (int, float, np.number, bool, np.bool_)):
            try:
                float(v)
            except (TypeError, ValueError):
                return (v.item() if isinstance(v, np.generic) else v,)
    return ()


def check_finite(t: torch.Tensor, what: str) -> None:
    """DataError if a floating tensor holds NaN or ±inf, naming the first bad sample."""
    if not t.is_floating_point() or t.numel() == 0:
        return
    # fast path: any NaN/inf makes the sum non-finite; a finite sum proves all values are finite
    if bool(torch.isfinite(t.sum(dtype=torch.float64))):
        return
    bad = ~torch.isfinite(t)
    if bool(bad.any()):
        count = int(bad.sum())
        first = int(bad.reshape(t.shape[0], -1).any(dim=1).nonzero()[0, 0])
        raise DataError(
            f"{what}: expected finite numbers, received {count} NaN/inf value(s) "
            f"(first in sample {first})"
        )


def cast_x(x: torch.Tensor, dtype: torch.dtype, keep_ints: bool) -> torch.Tensor:
    """Inputs: floats, bools and small ints become ``dtype``; int64/int32 stay when ``keep_ints``."""
    if x.is_floating_point():
        return x if x.dtype == dtype else x.to(dtype)
    if keep_ints and x.dtype in (torch.int64, torch.int32, torch.int16):
        return x.long()
    return x.to(dtype)


def cast_y(y: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Targets: integers/bools become int64 class labels; floats become ``dtype``."""
    if y.is_floating_point():
        return y if y.dtype == dtype else y.to(dtype)
    if y.dtype == torch.bool:
        return y.to(dtype)
    return y.long()


def module_dtype(module: nn.Module) -> torch.dtype:
    for p in module.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.get_default_dtype()


def wants_int_inputs(module: nn.Module) -> bool:
    """True when the module starts from an embedding (integer token inputs)."""
    return any("Embedding" in type(m).__name__ for m in module.modules())


def _names(names: list[str] | None, k: int, what: str) -> str:
    return what if k == 0 and (names is None or len(names) == 1) else f"{what}[{names[k] if names else k}]"


def _convert_x(items: tuple, module: nn.Module, what: str) -> tuple:
    names = input_names(module)
    dtype, keep_ints = module_dtype(module), wants_int_inputs(module)
    out = []
    for k, item in enumerate(items):
        label = _names(names, k, what)
        t = cast_x(to_tensor(item, label), dtype, keep_ints)
        if t.shape[0] == 0:
            raise DataError(
                f"{label}: empty dataset: expected at least one sample, received {label} of shape "
                f"{format_shape(tuple(t.shape))}"
            )
        check_finite(t, label)
        out.append(t)
    _same_length(out, [_names(names, k, what) for k in range(len(out))])
    return tuple(out)


def _same_length(tensors: list, labels: list[str]) -> None:
    lengths = [int(t.shape[0]) for t in tensors]
    if len(set(lengths)) > 1:
        raise DataError(
            "inputs must have the same number of samples (axis 0): received "
            + ", ".join(f"{lab} with {n}" for lab, n in zip(labels, lengths))
        )


def prepare(x, y, module: nn.Module, what: str = "x") -> Arrays | Stream:
    """Validate and convert training/evaluation data.

    - arrays/tensors/lists, or tuples/lists/dicts of them for several inputs or
      outputs: converted, lengths compared, checked for NaN/inf and emptiness →
      :class:`Arrays` (kept on the CPU, moved once by the caller);
    - a ``TensorDataset``: its tensors are the inputs then the targets;
    - another Dataset or a DataLoader (``y`` must be None) → :class:`Stream`.
    """
    ydesc = "y" if what == "x" else what.replace("x", "y", 1)
    if isinstance(x, DataLoader) or (isinstance(x, Dataset) and not isinstance(x, TensorDataset)):
        if y is not None:
            raise DataError(
                f"{what} is a {type(x).__name__} that yields (input, target) pairs: expected "
                f"{ydesc}=None, received {_describe(y)}"
            )
        stream = Stream(loader=x) if isinstance(x, DataLoader) else Stream(dataset=x)
        if len(stream) == 0:
            raise DataError(f"{what}: empty dataset: expected at least one sample, received 0")
        return stream
    if isinstance(x, TensorDataset):
        if y is not None:
            raise DataError(f"{what}: a TensorDataset holds the targets itself: expected {ydesc}=None, "
                            f"received {_describe(y)}")
        x, y = _split_tensor_dataset(x, module, what)
    steps = False
    names_in = input_names(module)
    if isinstance(x, list) and (names_in is None or len(names_in) == 1) and _ragged.is_ragged(x):
        lengths = [len(v) for v in x]
        x = _ragged.pad_ragged(x, what, 0.0)
        if isinstance(y, list) and _ragged.is_ragged(y):
            y, steps = _ragged.pad_step_targets(y, lengths, ydesc), True
    xs = _convert_x(canonical(x, input_names(module), what, "input"), module, what)
    ys = None
    if y is not None:
        names = output_names(module)
        dtype = module_dtype(module)
        ys = tuple(cast_y(to_tensor(item, _names(names, k, ydesc)), dtype)
                   for k, item in enumerate(canonical(y, names, ydesc, "output")))
        for k, yt in enumerate(ys):
            label = _names(names, k, ydesc)
            if yt.shape[0] != xs[0].shape[0]:
                raise DataError(
                    f"{what} and {label} must have the same number of samples (axis 0): received "
                    f"{what} with {xs[0].shape[0]} samples {format_shape(tuple(xs[0].shape))} and "
                    f"{label} with {yt.shape[0]} samples {format_shape(tuple(yt.shape))}"
                )
            check_finite(yt, label)
    return Arrays(xs, ys, steps)


def _split_tensor_dataset(ds: TensorDataset, module: nn.Module, what: str):
    tensors = list(ds.tensors)
    names_in = input_names(module)
    n_in = len(names_in) if names_in else 1
    if len(tensors) == n_in:
        return (tensors[0] if n_in == 1 else tuple(tensors)), None
    if len(tensors) > n_in:
        x = tensors[0] if n_in == 1 else tuple(tensors[:n_in])
        rest = tensors[n_in:]
        return x, (rest[0] if len(rest) == 1 else tuple(rest))
    raise DataError(
        f"{what}: a TensorDataset must hold the {n_in} input tensor(s) then the targets; received "
        f"{len(tensors)} tensors"
    )


def split_validation(data: Arrays | Stream, fraction: float) -> tuple[Arrays | Stream, Arrays | Stream]:
    """Hold out the last ``fraction`` of the samples (before any shuffling), as Keras does."""
    if isinstance(data, Stream):
        if data.dataset is None or len(data) < 0:
            raise DataError(
                "validation_split needs a dataset with a length; received a DataLoader or an "
                "iterable dataset: pass validation_data= instead"
            )
        n = len(data)
        n_val = int(n * fraction)
        if n_val < 1 or n_val >= n:
            raise DataError(
                f"validation_split={fraction} leaves {n_val} validation and {n - n_val} training "
                f"samples out of {n}; expected at least one of each"
            )
        return (
            Stream(dataset=Subset(data.dataset, range(n - n_val))),
            Stream(dataset=Subset(data.dataset, range(n - n_val, n))),
        )
    n = data.n
    n_val = int(n * fraction)
    if n_val < 1 or n_val >= n:
        raise DataError(
            f"validation_split={fraction} leaves {n_val} validation and {n - n_val} training "
            f"samples out of {n}; expected at least one of each"
        )
    cut = n - n_val
    return (Arrays(*data.take(slice(0, cut)), data.steps), Arrays(*data.take(slice(cut, n)), data.steps))


def stream_batch(batch, module: nn.Module, device, dtype, keep_ints: bool):
    """Unpack one batch of a Stream into ``(x, y)``: tuples of tensors on ``device`` (y may be None).

    A batch is ``(inputs, targets)``, ``(inputs,)`` or bare inputs; inputs and
    targets may each be one tensor or a tuple/list/dict (several inputs/outputs).
    """
    if isinstance(batch, (tuple, list)):
        if len(batch) == 2:
            xb, yb = batch
        elif len(batch) == 1:
            xb, yb = batch[0], None
        else:
            raise DataError(
                f"expected each batch to be (inputs, targets), received a sequence of {len(batch)} items"
            )
    else:
        xb, yb = batch, None
    xs = tuple(cast_x(to_tensor(t, "x batch"), dtype, keep_ints).to(device, non_blocking=True)
               for t in canonical(xb, input_names(module), "x batch", "input"))
    ys = None
    if yb is not None:
        ys = tuple(cast_y(to_tensor(t, "y batch"), dtype).to(device, non_blocking=True)
                   for t in canonical(yb, output_names(module), "y batch", "output"))
    return xs, ys

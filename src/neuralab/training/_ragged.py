"""Ragged lists of sequences in ``fit``: pad them, and leave the padded steps out of the loss.

``fit(model, [seq_1, seq_2, …], y)`` with sequences of different lengths ``(T_i, F)``
pads the inputs at the end with 0 to ``(N, T_max, F)`` (give the recurrent layer
``mask_value=0.0`` so it stops at each sequence's end). Targets may be one per
sequence (``(N,)`` or ``(N, …)``), or a ragged list with one integer label per
step: those are padded with :data:`IGNORE_INDEX` and the loss and metrics are
computed over the real steps only.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from ..errors import DataError, format_shape

__all__ = ["IGNORE_INDEX", "is_ragged", "pad_ragged", "steps_only"]

#: The label of padded steps (PyTorch's ``ignore_index`` convention).
IGNORE_INDEX = -100


def _length(item: Any) -> int | None:
    if isinstance(item, (np.ndarray, torch.Tensor)):
        return int(item.shape[0]) if item.ndim >= 1 else None
    if isinstance(item, (list, tuple)):
        return len(item)
    return None


def is_ragged(value: Any) -> bool:
    """A list/tuple of at least two sequences whose first axes differ in length."""
    if not isinstance(value, (list, tuple)) or len(value) < 2:
        return False
    lengths = [_length(v) for v in value]
    return None not in lengths and len(set(lengths)) > 1


def pad_ragged(items: list, what: str, value: float) -> torch.Tensor:
    """``(N, T_max, …)``: each sequence padded at the end with ``value``."""
    seqs = []
    for i, item in enumerate(items):
        try:
            arr = np.asarray(item)
        except (ValueError, TypeError) as exc:
            raise DataError(f"{what}[{i}]: expected an array of numbers, received {type(item).__name__} "
                            f"({exc})") from None
        if arr.dtype.kind not in "biuf":
            raise DataError(f"{what}[{i}]: expected an array of numbers, received dtype {arr.dtype}")
        if arr.shape[0] == 0:
            raise DataError(f"{what}[{i}]: expected a sequence of at least one step, received an empty one")
        seqs.append(arr)
    trailing = {a.shape[1:] for a in seqs}
    if len(trailing) > 1:
        shapes = sorted(format_shape(s) for s in trailing)
        raise DataError(f"{what}: a ragged list of sequences must agree on every axis but the first; "
                        f"received steps of shapes {', '.join(shapes)}")
    t_max = max(a.shape[0] for a in seqs)
    dtype = np.result_type(*[a.dtype for a in seqs])
    out = np.full((len(seqs), t_max) + seqs[0].shape[1:], value, dtype=dtype)
    for i, a in enumerate(seqs):
        out[i, :a.shape[0]] = a
    return torch.from_numpy(out)


def pad_step_targets(y: list, x_lengths: list[int], what: str) -> torch.Tensor:
    """Per-step integer labels padded with IGNORE_INDEX; each must match its sequence's length."""
    for i, (yi, n) in enumerate(zip(y, x_lengths)):
        if _length(yi) != n:
            raise DataError(f"{what}[{i}]: expected one target per step ({n}), received {_length(yi)}")
    padded = pad_ragged(y, what, IGNORE_INDEX)
    if padded.is_floating_point():
        raise DataError(f"{what}: ragged per-step targets must be integer class labels (padded with "
                        f"{IGNORE_INDEX}); for real-valued steps use neuralab.sequences.sequence_loader "
                        "with a MaskedLoss")
    return padded.long()


def steps_only(fn: Callable) -> Callable:
    """A loss or metric over the real steps: ``fn(out[valid], y[valid])`` with ``valid = y != -100``.

    ``out`` is ``(N, T, C)`` (a recurrent layer with ``return_sequences=True``), ``y`` ``(N, T)``.
    """
    def on_real_steps(y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
        valid = y_true != IGNORE_INDEX
        return fn(y_pred[valid], y_true[valid])

    on_real_steps.__name__ = getattr(fn, "__name__", "loss")
    on_real_steps.steps_of = fn
    return on_real_steps

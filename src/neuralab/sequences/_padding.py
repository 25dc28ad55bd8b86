"""Variable-length batches: padding, masks, masked losses and metrics, a padding DataLoader.

Sequences of different lengths are padded at the end to a common length ``T``;
a boolean mask ``(N, T)`` (True on real steps) or the lengths ``(N,)`` say which
steps are real. Recurrent layers take either (``layer(x, lengths=...)``), losses
and metrics skip the padded steps:

    loss = Σ_i Σ_{t < T_i} ℓ(ŷ_it, y_it) / Σ_i T_i        (a mean over real steps)

>>> import torch
>>> x, lengths = pad_sequences([[1, 2, 3], [4]], return_lengths=True)
>>> x.tolist(), lengths.tolist()
([[1, 2, 3], [4, 0, 0]], [3, 1])
>>> lengths_to_mask(lengths).int().tolist()
[[1, 1, 1], [1, 0, 0]]
"""

from __future__ import annotations

import numbers
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from .. import losses as _losses
from ..errors import ConfigError, DataError, DTypeError, ShapeError, format_shape
from ..validation import check_choice, check_int, check_type

__all__ = [
    "IGNORE_INDEX",
    "pad_sequences",
    "lengths_to_mask",
    "MaskedLoss",
    "masked_loss",
    "masked_accuracy",
    "SequenceDataset",
    "pad_collate",
    "sequence_loader",
]

#: The padding value of integer targets that losses and metrics skip (PyTorch's default).
IGNORE_INDEX = -100


def _as_tensor(seq: Any, i: int, owner: str) -> torch.Tensor:
    if isinstance(seq, torch.Tensor):
        t = seq
    else:
        try:
            arr = np.asarray(seq)
        except ValueError as exc:  # ragged inner lists
            raise ShapeError(f"{owner}: sequence {i} is ragged inside ({exc})") from None
        if arr.dtype == object or arr.dtype.kind in "USV":
            raise DTypeError(f"{owner}: expected sequences of numbers, received sequence {i} "
                             f"of dtype {arr.dtype}")
        t = torch.from_numpy(np.ascontiguousarray(arr))
    if t.dim() == 0:
        raise ShapeError(f"{owner}: expected sequence {i} to be a sequence (T,) or (T, F), "
                         f"received a scalar")
    return t


def _as_sequences(owner: str, sequences) -> list[torch.Tensor]:
    """A non-empty list of ``(T_i, *F)`` tensors, ``T_i >= 1``, with one feature shape ``F``."""
    if isinstance(sequences, (torch.Tensor, np.ndarray)) and sequences.ndim >= 2:
        sequences = list(sequences)
    if not isinstance(sequences, (list, tuple)) or not sequences:
        raise DataError(f"{owner}: expected a non-empty list of sequences, received "
                        f"{sequences!r}"[:200])
    tensors = [_as_tensor(s, i, owner) for i, s in enumerate(sequences)]
    feature = tuple(tensors[0].shape[1:])
    for i, t in enumerate(tensors):
        if tuple(t.shape[1:]) != feature:
            raise ShapeError(
                f"{owner}: expected every sequence to have features of shape "
                f"{format_shape(feature) if feature else '()'} like sequence 0, received sequence "
                f"{i} of shape {format_shape(tuple(t.shape))}")
        if t.shape[0] < 1:
            raise DataError(f"{owner}: expected sequences of length >= 1, received sequence {i} "
                            f"of length 0")
    return tensors

def pad_sequences(sequences: Sequence, *, max_length: int | None = None, padding: str = "post",
                  truncating: str = "post", value: float = 0, dtype: torch.dtype | None = None,
                  return_lengths: bool = False):
    """Pad a list of sequences ``(T_i, *F)`` to one tensor ``(N, T, *F)``.

    Args:
        sequences: a list of arrays, tensors or lists, each ``(T_i,)`` (tokens) or
            ``(T_i, *F)``; every one must have the same feature shape ``F`` and ``T_i ≥ 1``.
        max_length: the padded length ``T`` (default: the longest sequence).
        padding: "post" (default; pad at the end, what recurrent layers expect) or "pre".
        truncating: for sequences longer than ``max_length``: "post" cuts the end
            (default), "pre" cuts the start, "error" raises a DataError.
        value: the padding value (default 0; use :data:`IGNORE_INDEX` for targets).
        dtype: the result's dtype (default: promoted from the sequences).
        return_lengths: also return the int64 lengths ``(N,)`` after truncation.

    Returns:
        The padded tensor, or ``(padded, lengths)``.

    Raises:
        DataError: no sequences, an empty sequence or (with truncating="error") one too long.
        ShapeError: sequences whose feature shapes differ.

    >>> pad_sequences([[1, 2], [3]], padding="pre", value=-1).tolist()
    [[1, 2], [-1, 3]]
    """
    owner = "pad_sequences"
    padding = check_choice(owner, "padding", padding, ("post", "pre"))
    truncating = check_choice(owner, "truncating", truncating, ("post", "pre", "error"))
    max_length = check_int(owner, "max_length", max_length, low=1, allow_none=True)
    check_type(owner, "value", value, numbers.Number, "a number (the padding value)")
    tensors = _as_sequences(owner, sequences)
    feature = tuple(tensors[0].shape[1:])
    longest = max(int(t.shape[0]) for t in tensors)
    length = longest if max_length is None else max_length
    if truncating == "error" and longest > length:
        i = next(i for i, t in enumerate(tensors) if t.shape[0] > length)
        raise DataError(f"{owner}: expected sequences of length <= max_length={length}, "
                        f"received sequence {i} of length {int(tensors[i].shape[0])}")
    if dtype is None:
        dtype = tensors[0].dtype
        for t in tensors[1:]:
            dtype = torch.promote_types(dtype, t.dtype)
    out = torch.full((len(tensors), length) + feature, value, dtype=dtype)
    lengths = torch.empty(len(tensors), dtype=torch.int64)
    for i, t in enumerate(tensors):
        if t.shape[0] > length:
            t = t[:length] if truncating == "post" else t[-length:]
        n = int(t.shape[0])
        lengths[i] = n
        if padding == "post":
            out[i, :n] = t
        else:
            out[i, length - n:] = t
    return (out, lengths) if return_lengths else out


def lengths_to_mask(lengths, max_length: int | None = None) -> torch.Tensor:
    """Boolean mask ``(N, T)``: ``mask[i, t] = t < lengths[i]``.

    Raises DataError for lengths ≤ 0 or longer than ``max_length``.

    >>> lengths_to_mask([2, 1], max_length=3).tolist()
    [[True, True, False], [True, False, False]]
    """
    lengths = torch.as_tensor(lengths)
    if lengths.dim() != 1 or lengths.is_floating_point() or lengths.dtype == torch.bool:
        raise DataError(f"lengths_to_mask: expected a 1-D integer `lengths`, received dtype "
                        f"{lengths.dtype} and shape {format_shape(tuple(lengths.shape))}")
    if lengths.numel() == 0:
        raise DataError("lengths_to_mask: expected at least one length, received none")
    hi = int(lengths.max())
    t = hi if max_length is None else check_int("lengths_to_mask", "max_length", max_length,
                                                low=1)
    if int(lengths.min()) < 1 or hi > t:
        raise DataError(f"lengths_to_mask: expected lengths in [1, {t}], received lengths in "
                        f"[{int(lengths.min())}, {hi}]")
    return torch.arange(t, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)


def _step_mask(y_pred: torch.Tensor, y_true: torch.Tensor, mask, ignore_index: int,
               pad_value, owner: str) -> torch.Tensor:
    """The boolean ``(N, T)`` mask of real steps of a sequence output ``(N, T, *)``."""
    n, t = y_pred.shape[0], y_pred.shape[1]
    if mask is not None:
        mask = torch.as_tensor(mask, device=y_pred.device)
        if tuple(mask.shape) != (n, t):
            raise ShapeError(f"{owner}: expected a mask of shape ({n}, {t}) for an output of "
                             f"shape {format_shape(tuple(y_pred.shape))}, received "
                             f"{format_shape(tuple(mask.shape))}")
        return mask.bool()
    if tuple(y_true.shape[:2]) != (n, t):
        raise ShapeError(f"{owner}: expected targets with (N, T) = ({n}, {t}) first like the "
                         f"output {format_shape(tuple(y_pred.shape))}, received "
                         f"{format_shape(tuple(y_true.shape))}")
    if not y_true.is_floating_point():
        if y_true.dim() == 2:
            return y_true != ignore_index
        return (y_true != ignore_index).flatten(2).all(2)
    if pad_value is None:
        raise ConfigError(f"{owner}: float targets need `pad_value` (the value of padded target "
                          f"steps) or an explicit mask; integer targets are padded with "
                          f"ignore_index={ignore_index}")
    if y_true.dim() == 2:
        return y_true != pad_value
    return (y_true != pad_value).flatten(2).any(2)


class MaskedLoss:
    """A per-step loss over sequence outputs ``(N, T, C)`` that skips padded steps.

    ``L = Σ_{real (i, t)} ℓ(ŷ_it, y_it) / #real steps``: the loss of the real steps,
    as if every sequence had been run alone and the step losses averaged over all
    real steps (token-level mean).

    Args:
        loss: a name from :mod:`neuralab.losses` or a callable ``loss(y_pred, y_true)``
            applied to the real steps gathered as a batch ``(M, C)``/``(M,)``
            (default "softmax_crossentropy").
        ignore_index: integer targets equal to this are padding (default -100).
        pad_value: float targets whose every entry equals this are padding
            (default None: float targets then need an explicit mask).

    Call: ``loss(y_pred, y_true, mask=None)``, ``y_pred`` ``(N, T, *)``, ``y_true``
    ``(N, T)`` labels or ``(N, T, *)`` targets; ``mask`` ``(N, T)`` overrides the rule.
    Usable as ``fit(..., loss=MaskedLoss(...))``.

    >>> logits = torch.zeros(1, 3, 4)
    >>> round(float(MaskedLoss()(logits, torch.tensor([[1, 2, IGNORE_INDEX]]))), 5)   # ln 4
    1.38629
    """

    def __init__(self, loss: Any = "softmax_crossentropy", *, ignore_index: int = IGNORE_INDEX,
                 pad_value: float | None = None):
        self.loss = _losses.get(loss)
        self.loss_name = loss if isinstance(loss, str) else _losses.name_of(self.loss)
        self.ignore_index = check_int("MaskedLoss", "ignore_index", ignore_index)
        if pad_value is not None and (isinstance(pad_value, bool)
                                      or not isinstance(pad_value, numbers.Real)):
            raise ConfigError(f"MaskedLoss: expected `pad_value` to be a number or None, "
                              f"received {pad_value!r}")
        self.pad_value = pad_value

    def __call__(self, y_pred: torch.Tensor, y_true: torch.Tensor, mask=None) -> torch.Tensor:
        if y_pred.dim() < 2:
            raise ShapeError(f"MaskedLoss: expected a sequence output (N, T, ...), received "
                             f"{format_shape(tuple(y_pred.shape))}")
        keep = _step_mask(y_pred, y_true, mask, self.ignore_index, self.pad_value, "MaskedLoss")
        if not bool(keep.any()):
            raise DataError("MaskedLoss: every step of the batch is padding; expected at least "
                            "one real step")
        return self.loss(y_pred[keep], y_true[keep])

    def __repr__(self):
        return f"MaskedLoss({self.loss_name!r}, ignore_index={self.ignore_index})"


def masked_loss(loss: Any = "softmax_crossentropy", **kwargs) -> MaskedLoss:
    """``MaskedLoss(loss, **kwargs)``: a loss for padded sequence batches."""
    return MaskedLoss(loss, **kwargs)


def masked_accuracy(y_pred: torch.Tensor, y_true: torch.Tensor, mask=None, *,
                    ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """The fraction of real steps whose argmax over the last axis matches the label.

    ``y_pred`` ``(N, T, C)``; ``y_true`` ``(N, T)`` labels (``ignore_index`` on padding)
    or ``(N, T, C)`` one-hot rows (all-zero rows are padding).

    >>> p = torch.tensor([[[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]]])
    >>> float(masked_accuracy(p, torch.tensor([[0, 0, -100]])))
    0.5
    """
    pad = None if not y_true.is_floating_point() else 0.0
    keep = _step_mask(y_pred, y_true, mask, ignore_index, pad, "masked_accuracy")
    labels = y_true if not y_true.is_floating_point() else y_true.argmax(-1)
    hits = (y_pred.argmax(-1) == labels) & keep
    return hits.sum().to(torch.float32) / keep.sum().clamp_min(1)


class SequenceDataset(Dataset):
    """A Dataset of ragged sequences (and optional ragged or fixed targets) for padded batches.

    Use with :func:`pad_collate` (or :func:`sequence_loader`), which pads each batch.

    Args:
        sequences: a list of ``(T_i, *F)`` arrays/tensors/lists.
        targets: None, a list of per-sequence targets (``(T_i, ...)`` for per-step
            targets, scalars/vectors for per-sequence ones) of the same length.
    """

    def __init__(self, sequences: Sequence, targets: Sequence | None = None):
        self.sequences = _as_sequences("SequenceDataset", sequences)
        self.targets = None
        if targets is not None:
            if len(targets) != len(self.sequences):
                raise DataError(f"SequenceDataset: expected {len(self.sequences)} targets (one "
                                f"per sequence), received {len(targets)}")
            self.targets = [torch.as_tensor(np.asarray(t)) if not isinstance(t, torch.Tensor)
                            else t for t in targets]

    def __len__(self):
        return len(self.sequences)

    def __getitem__(self, i):
        if self.targets is None:
            return self.sequences[i]
        return self.sequences[i], self.targets[i]


def pad_collate(batch, *, value: float = 0, target_value: float = IGNORE_INDEX,
                with_lengths: bool = False):
    """Collate ``[(x_i, y_i), …]`` (or ``[x_i, …]``) into padded tensors.

    Inputs are padded with ``value``; targets with a time axis (``y_i.dim() >= 1`` and
    ``len(y_i) == len(x_i)``) are padded with ``target_value`` (float targets with 0).
    Returns ``(x, y)`` (or ``x``); with ``with_lengths`` ``((x, lengths), y)``.
    """
    if isinstance(batch[0], (tuple, list)):
        xs = [b[0] for b in batch]
        ys = [b[1] for b in batch]
    else:
        xs, ys = list(batch), None
    x, lengths = pad_sequences(xs, value=value, return_lengths=True)
    xo = (x, lengths) if with_lengths else x
    if ys is None:
        return xo
    per_step = all(y.dim() >= 1 and y.shape[0] == xi.shape[0] for y, xi in zip(ys, xs))
    if per_step:
        fill = 0.0 if ys[0].is_floating_point() else target_value
        y = pad_sequences(ys, value=fill)
    else:
        y = torch.stack(ys)
    return xo, y


def sequence_loader(sequences: Sequence, targets: Sequence | None = None, *,
                    batch_size: int = 32, shuffle: bool = True, value: float = 0,
                    target_value: float = IGNORE_INDEX, seed: int | None = None,
                    with_lengths: bool = False, collate: Callable | None = None) -> DataLoader:
    """A DataLoader over ragged sequences that pads each batch (see :func:`pad_collate`).

    Pass it to ``fit`` with a :class:`MaskedLoss` for per-step targets:
    ``fit(net, sequence_loader(xs, ys), loss=MaskedLoss("softmax_crossentropy"))``.

    >>> loader = sequence_loader([[[1.0]], [[2.0], [3.0]]], [0, 1], batch_size=2, shuffle=False)
    >>> x, y = next(iter(loader)); x.shape, y.tolist()
    (torch.Size([2, 2, 1]), [0, 1])
    """
    batch_size = check_int("sequence_loader", "batch_size", batch_size, low=1)
    dataset = SequenceDataset(sequences, targets)
    gen = None
    if seed is not None:
        gen = torch.Generator().manual_seed(check_int("sequence_loader", "seed", seed, low=0))

    def _collate(batch):
        return pad_collate(batch, value=value, target_value=target_value,
                           with_lengths=with_lengths)

    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=gen,
                      collate_fn=collate or _collate)

"""Metrics: ``metric(y_pred, y_true) -> 0-d tensor`` (a mean over the batch).

Registered in :data:`neuralab.registry.metrics`; ``fit``/``evaluate`` average
them over an epoch weighted by batch size (so the result is exact for any
batch split).

- ``accuracy``: for an output ``(N, C, *)`` with ``C > 1``, the fraction of
  samples whose ``argmax`` matches the label (integer labels or one-hot rows);
  for a single output, the fraction where ``y_pred > threshold`` equals
  ``y_true >= 0.5`` (threshold 0.5 for probabilities; ``fit`` uses 0 for logits).
- ``top_k`` (``top5``, ``top_3`` …): the label is among the ``k`` largest outputs.
- ``mse``, ``mae``: as the losses.

    >>> import torch
    >>> p = torch.tensor([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]])
    >>> float(accuracy(p, torch.tensor([1, 2])))
    0.5
    >>> float(top_k(p, torch.tensor([1, 2]), k=2))
    0.5
    >>> get("top3")[0]
    'top3'
"""

from __future__ import annotations

import functools
import re
from typing import Any, Callable

import torch

from .. import losses as _losses
from .. import registry
from ..errors import ConfigError

__all__ = ["accuracy", "top_k", "mse", "mae", "get"]


def _labels(y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
    if y_true.dim() == y_pred.dim() - 1:
        return y_true.long()
    return y_true.argmax(dim=1)


@registry.metrics.register("accuracy", "acc")
def accuracy(y_pred: torch.Tensor, y_true: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Classification accuracy in [0, 1] (see the module docstring for the two cases).

    Args:
        y_pred: ``(N, C, *)`` scores/probabilities, or ``(N,)``/``(N, 1)`` for a binary output.
        y_true: labels ``(N, *)``, one-hot ``(N, C, *)`` or binary targets.
        threshold: decision threshold of a single output (default 0.5).
    """
    if y_pred.dim() >= 2 and y_pred.shape[1] > 1:
        return (y_pred.argmax(dim=1) == _labels(y_pred, y_true)).float().mean()
    pred = y_pred.reshape(-1) > threshold
    true = y_true.reshape(-1) >= 0.5
    return (pred == true).float().mean()


@registry.metrics.register("top_k", "top_k_accuracy")
def top_k(y_pred: torch.Tensor, y_true: torch.Tensor, k: int = 5) -> torch.Tensor:
    """Fraction of samples whose label is among the ``k`` largest of ``y_pred`` ``(N, C)``.

    Args:
        k: how many top classes count (default 5; capped at C).
    """
    k = min(int(k), y_pred.shape[1])
    top = y_pred.topk(k, dim=1).indices  # (N, k, *)
    return (top == _labels(y_pred, y_true).unsqueeze(1)).any(dim=1).float().mean()


@registry.metrics.register("mse")
def mse(y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
    """Mean squared error (the :func:`neuralab.losses.mse` loss)."""
    return _losses.mse(y_pred, y_true)


@registry.metrics.register("mae")
def mae(y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
    """Mean absolute error (the :func:`neuralab.losses.mae` loss)."""
    return _losses.mae(y_pred, y_true)


_TOPK = re.compile(r"^top[_\-]?(\d+)(?:[_\-]?accuracy)?$")


def get(spec: Any) -> tuple[str, Callable]:
    """Resolve a metric spec to ``(name, function)``.

    Accepts a registered name (``"accuracy"``, ``"mse"``), ``"topK"`` for any K
    (``"top5"``, ``"top_3"``), or a callable (named after its ``__name__``).
    """
    if isinstance(spec, str):
        m = _TOPK.match(spec.strip().lower())
        if m:
            k = int(m.group(1))
            if k < 1:
                raise ConfigError(f"metric {spec!r}: expected k >= 1, received {k}")
            fn = functools.partial(top_k, k=k)
            return f"top{k}", fn
        try:
            return spec, registry.metrics.get(spec)
        except ConfigError:
            raise ConfigError(
                f"unknown metric {spec!r}; expected one of: "
                f"{', '.join(registry.metrics.names())}, or topK such as 'top5'"
            ) from None
    if callable(spec):
        return getattr(spec, "__name__", type(spec).__name__), spec
    raise ConfigError(
        f"expected a metric name or a callable metric(y_pred, y_true), received {type(spec).__name__}"
    )

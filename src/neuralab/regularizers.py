"""Weight regularizers: penalties added to the loss and projections after a step.

A regularizer acts on the *weights* of a module: every parameter with two or
more dimensions (dense matrices, convolution kernels). Biases and normalisation
scales (1-D parameters) are left alone, as Keras' ``kernel_regularizer`` does.

- :class:`L1` (``l1``): adds ``λ Σ |w|`` to the loss.
- :class:`L2` (``l2``): adds ``λ Σ w²`` to the loss (no ½; weight decay with
  SGD at learning rate η is then ``w ← w − 2ηλw``).
- :class:`MaxNorm` (``maxnorm``): after every optimizer step, rescales each
  output unit's incoming weight vector ``w_j`` (a row of the weight along axis 0,
  i.e. ``weight[j]``) to ``‖w_j‖₂ ≤ c``: ``w_j ← w_j · min(1, c / ‖w_j‖₂)``.

``fit(..., regularizers=[l2(1e-4), maxnorm(3.0)])`` uses them; they work in a
plain torch loop too::

    >>> import torch
    >>> from torch import nn
    >>> net = nn.Linear(3, 2)
    >>> with torch.no_grad():
    ...     _ = net.weight.fill_(1.0)
    >>> round(l2(0.1).penalty(net).item(), 6)   # 0.1 * 6 weights * 1²
    0.6
    >>> maxnorm(1.0).apply(net)
    >>> net.weight.detach().norm(dim=1).round(decimals=4).tolist()
    [1.0, 1.0]
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn

from . import registry
from .errors import ConfigError
from .validation import check_number

__all__ = ["Regularizer", "L1", "L2", "MaxNorm", "l1", "l2", "maxnorm", "weights_of"]


def weights_of(module: nn.Module) -> list[torch.Tensor]:
    """The parameters a regularizer acts on: trainable tensors with ``ndim >= 2``."""
    return [p for p in module.parameters() if p.requires_grad and p.dim() >= 2]


def _check_number(owner: str, name: str, value, *, positive: bool) -> float:
    return check_number(owner, name, value, low=0.0, low_open=positive)


class Regularizer:
    """Base class: ``penalty(module)`` adds to the loss, ``apply(module)`` runs after a step."""

    def penalty(self, module: nn.Module) -> torch.Tensor | None:  # pragma: no cover - default
        """A scalar tensor added to the loss, or ``None`` if the regularizer has no penalty."""
        return None

    def apply(self, module: nn.Module) -> None:
        """Modify the weights in place after an optimizer step (default: nothing)."""

    def get_config(self) -> dict:
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


@registry.regularizers.register("l1")
class L1(Regularizer):
    """L1 penalty ``λ Σ |w|`` over the weights (``ndim >= 2``).

    Args:
        coef: λ >= 0 (default 0.01).
    """

    def __init__(self, coef: float = 0.01):
        self.coef = _check_number("l1", "coef", coef, positive=False)

    def penalty(self, module: nn.Module) -> torch.Tensor | None:
        ws = weights_of(module)
        if not ws:
            return None
        return self.coef * sum(w.abs().sum() for w in ws)

    def get_config(self) -> dict:
        return {"coef": self.coef}


@registry.regularizers.register("l2")
class L2(Regularizer):
    """L2 penalty ``λ Σ w²`` over the weights (``ndim >= 2``).

    Args:
        coef: λ >= 0 (default 0.01).
    """

    def __init__(self, coef: float = 0.01):
        self.coef = _check_number("l2", "coef", coef, positive=False)

    def penalty(self, module: nn.Module) -> torch.Tensor | None:
        ws = weights_of(module)
        if not ws:
            return None
        return self.coef * sum(w.pow(2).sum() for w in ws)

    def get_config(self) -> dict:
        return {"coef": self.coef}


@registry.regularizers.register("maxnorm", "max_norm")
class MaxNorm(Regularizer):
    """Max-norm constraint, applied after each optimizer step.

    ``w_j ← w_j · min(1, c / ‖w_j‖₂)`` for every output unit ``j`` (``weight[j]``
    flattened: a dense layer's row, a convolution filter).

    Args:
        max_value: c > 0 (default 3.0).
    """

    def __init__(self, max_value: float = 3.0):
        self.max_value = _check_number("maxnorm", "max_value", max_value, positive=True)

    def penalty(self, module: nn.Module) -> None:
        return None

    @torch.no_grad()
    def apply(self, module: nn.Module) -> None:
        for w in weights_of(module):
            norms = w.reshape(w.shape[0], -1).norm(dim=1)  # (out,)
            scale = (self.max_value / norms.clamp_min(1e-12)).clamp_max(1.0)
            w.mul_(scale.reshape((-1,) + (1,) * (w.dim() - 1)))

    def get_config(self) -> dict:
        return {"max_value": self.max_value}


l1 = L1
l2 = L2
maxnorm = MaxNorm


def resolve(specs) -> list[Regularizer]:
    """Turn ``None``, one spec or a list of specs (objects, names, configs) into regularizers."""
    if specs is None:
        return []
    if isinstance(specs, (Regularizer, str, dict)) or not isinstance(specs, Iterable):
        specs = [specs]
    out = []
    for spec in specs:
        obj = registry.regularizers.get(spec)
        if not (hasattr(obj, "penalty") and hasattr(obj, "apply")):
            raise ConfigError(
                "expected a regularizer (an object with penalty(module) and apply(module), "
                f"or one of: {', '.join(registry.regularizers.names())}); received {obj!r}"
            )
        out.append(obj)
    return out

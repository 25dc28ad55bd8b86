"""Flat-vector views of a list of parameters (shared by every optimizer here).

Second-order methods work on one vector ``θ ∈ R^P`` made of all parameters
concatenated in order. Reading it is torch's
:func:`~torch.nn.utils.parameters_to_vector`. Writing it back is an in-place copy
(:func:`set_flat_`), not torch's ``vector_to_parameters``: that one rebinds each
parameter's ``.data`` to a view of the vector, so the parameters would then
alias the vector (an optimizer keeps such vectors as "last good" points and
trial points; a later in-place update of the parameters would corrupt them).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch.nn.utils import parameters_to_vector

__all__ = ["numel", "get_flat", "set_flat_", "flat_grad", "all_finite"]


def numel(params: Sequence[torch.Tensor]) -> int:
    """Total number of scalars in ``params``."""
    return sum(p.numel() for p in params)


def get_flat(params: Sequence[torch.Tensor]) -> torch.Tensor:
    """A detached copy of the parameters as one vector (``parameters_to_vector`` copies)."""
    with torch.no_grad():
        return parameters_to_vector(params)


@torch.no_grad()
def set_flat_(params: Sequence[torch.Tensor], vec: torch.Tensor) -> None:
    """Write ``vec`` into the parameters in place (one fused copy; no aliasing, see above)."""
    pieces = torch.split(vec, [p.numel() for p in params])
    torch._foreach_copy_(list(params), [v.view(p.shape) for p, v in zip(params, pieces)])


def flat_grad(grads: Sequence[torch.Tensor | None], params: Sequence[torch.Tensor]) -> torch.Tensor:
    """Gradients as one vector, with zeros for parameters the objective does not use."""
    return parameters_to_vector([torch.zeros_like(p) if g is None else g for g, p in zip(grads, params)])


def all_finite(t: torch.Tensor) -> bool:
    """True when every entry of ``t`` is finite."""
    return bool(torch.isfinite(t).all())

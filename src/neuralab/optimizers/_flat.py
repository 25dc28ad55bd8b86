"""Flat-vector views of a list of parameters (shared by every optimizer here).

Second-order methods work on one vector ``θ ∈ R^P`` made of all parameters
concatenated in order; these helpers convert between that vector and the list
of tensors, without changing dtype or device.
"""

from __future__ import annotations

from typing import Sequence

import torch

__all__ = ["numel", "flatten", "unflatten", "get_flat", "set_flat_", "flat_grad", "all_finite"]


def numel(params: Sequence[torch.Tensor]) -> int:
    """Total number of scalars in ``params``."""
    return sum(p.numel() for p in params)


def flatten(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """Concatenate tensors into one 1-D tensor (shares no memory with the inputs)."""
    return torch.cat([t.reshape(-1) for t in tensors])


def unflatten(vec: torch.Tensor, like: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Split a flat vector into views shaped like ``like`` (inverse of :func:`flatten`)."""
    out, offset = [], 0
    for p in like:
        n = p.numel()
        out.append(vec[offset : offset + n].view(p.shape))
        offset += n
    return out


def get_flat(params: Sequence[torch.Tensor]) -> torch.Tensor:
    """A detached copy of the parameters as one vector (``torch.cat`` always copies)."""
    return torch.cat([p.detach().reshape(-1) for p in params])


@torch.no_grad()
def set_flat_(params: Sequence[torch.Tensor], vec: torch.Tensor) -> None:
    """Write ``vec`` into the parameters in place (one fused copy for all of them)."""
    pieces = torch.split(vec, [p.numel() for p in params])
    torch._foreach_copy_(list(params), [v.view(p.shape) for p, v in zip(params, pieces)])


def flat_grad(grads: Sequence[torch.Tensor | None], params: Sequence[torch.Tensor]) -> torch.Tensor:
    """Concatenate gradients, with zeros for parameters the objective does not use."""
    return torch.cat(
        [
            (torch.zeros_like(p) if g is None else g).reshape(-1)
            for g, p in zip(grads, params)
        ]
    )


def all_finite(t: torch.Tensor) -> bool:
    """True when every entry of ``t`` is finite."""
    return bool(torch.isfinite(t).all())

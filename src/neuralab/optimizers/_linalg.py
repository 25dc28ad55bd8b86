"""Symmetric solves with a fallback that never crashes, and LM's damping diagonal.

:func:`solve_spd` factorises by Cholesky; when the matrix is not numerically
positive definite a growing jitter is added, and as a last resort the
pseudo-inverse (via ``eigh``) is used. :func:`damping_diagonal` is the ``D`` of
``(A + mu·D)``: the identity (Levenberg) or ``diag(A)`` (Marquardt).
"""

from __future__ import annotations

import logging

import torch

from ..validation import check_choice

logger = logging.getLogger(__name__)

__all__ = ["DAMPING_MODES", "check_damping", "damping_diagonal", "solve_spd"]

DAMPING_MODES = ("identity", "marquardt")


def check_damping(mode: str, owner: str = "LevenbergMarquardt") -> str:
    """Validate a damping mode name."""
    return check_choice(owner, "damping", mode, DAMPING_MODES)


def damping_diagonal(diag_A: torch.Tensor, mode: str) -> torch.Tensor:
    """The diagonal ``D`` of the damping term for ``mode`` from ``diag(A)`` (length P).

    >>> damping_diagonal(torch.tensor([4.0, 0.0]), "marquardt")
    tensor([4.0000e+00, 4.0000e-12])
    """
    if mode == "identity":
        return torch.ones_like(diag_A)
    d = diag_A.abs()
    floor = d.max().clamp_min(torch.finfo(d.dtype).tiny) * 1e-12
    return d.clamp_min(floor)


def solve_spd(A: torch.Tensor, b: torch.Tensor, max_jitter: int = 6) -> tuple[torch.Tensor, str]:
    """Solve ``A x = b`` for symmetric ``A`` that should be positive definite.

    Returns ``(x, method)`` where method is "cholesky", "cholesky+jitter" or "pinv".
    """
    L, info = torch.linalg.cholesky_ex(A)
    if int(info) == 0:
        x = torch.cholesky_solve(b.unsqueeze(-1), L).squeeze(-1)
        if torch.isfinite(x).all():
            return x, "cholesky"
    scale = A.diagonal().abs().mean()
    if not torch.isfinite(scale) or scale <= 0:
        scale = torch.ones((), dtype=A.dtype, device=A.device)
    eps = torch.finfo(A.dtype).eps
    for k in range(max_jitter):
        jitter = float(scale) * eps * 10.0 ** (2 * k + 1)
        Aj = A.clone()
        Aj.diagonal().add_(jitter)
        L, info = torch.linalg.cholesky_ex(Aj)
        if int(info) == 0:
            x = torch.cholesky_solve(b.unsqueeze(-1), L).squeeze(-1)
            if torch.isfinite(x).all():
                logger.debug("Cholesky needed jitter %.3g", jitter)
                return x, "cholesky+jitter"
    logger.debug("falling back to the pseudo-inverse")
    finite_A = torch.nan_to_num(A, nan=0.0, posinf=0.0, neginf=0.0)
    w, V = torch.linalg.eigh(finite_A)
    cutoff = w.abs().max() * A.shape[0] * eps
    inv_w = torch.where(w.abs() > cutoff, 1.0 / w, torch.zeros_like(w))
    x = V @ (inv_w * (V.T @ b))
    return x, "pinv"

"""Damped least squares from matrix-vector products only (Golub–Kahan bidiagonalization).

Levenberg–Marquardt's step solves ``min_z ‖A z − b‖² + mu·‖z‖²``, i.e.
``(AᵀA + mu·I) z = Aᵀb``. When neither AᵀA (P×P) nor AAᵀ (m×m) fits in memory,
:class:`DampedLeastSquares` builds the Krylov space that CG on these normal
equations (CGLS) and LSQR explore, from products ``A v`` and ``Aᵀ u`` alone
(Golub & Kahan 1965; Paige & Saunders 1982):

    β₁u₁ = b,   α₁v₁ = Aᵀu₁,
    β_{k+1}u_{k+1} = A v_k − α_k u_k,   α_{k+1}v_{k+1} = Aᵀu_{k+1} − β_{k+1}v_k,

so that ``A V_k = U_{k+1} B_k`` with B_k lower bidiagonal ((k+1)×k). The
space does not depend on mu: ``z = V_k y`` with y the solution of the small
problem ``min ‖B_k y − β₁e₁‖² + mu‖y‖²``, solved afresh for every mu an LM
step tries, without a single new product. The normal-equation residual of
the full problem is ``α_{k+1}·|(β₁e₁ − B_k y)_{k+1}|`` (exact arithmetic),
which decides when the space is large enough. U and V are fully
re-orthogonalised (k is small: memory k·(m + P) numbers).

    >>> A = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=torch.float64)
    >>> b = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    >>> solver = DampedLeastSquares(lambda v: A @ v, lambda u: A.T @ u, b, max_iter=5, tol=1e-12)
    >>> z = solver.solve(0.1)
    >>> torch.allclose(z, torch.linalg.solve(A.T @ A + 0.1 * torch.eye(2, dtype=A.dtype), A.T @ b))
    True
"""

from __future__ import annotations

from typing import Callable

import torch

__all__ = ["DampedLeastSquares"]


def _orthogonalise(w: torch.Tensor, basis: list[torch.Tensor]) -> tuple[torch.Tensor, float, bool]:
    """``(w ⟂ basis, its norm, breakdown)``: classical Gram–Schmidt twice.

    Breakdown: what is left is rounding noise of ``w`` (w lay in the span already).
    """
    raw = float(w.norm())
    if basis:
        Q = torch.stack(basis)  # (k, n)
        for _ in range(2):
            w = w - Q.T @ (Q @ w)
    norm = float(w.norm())
    return w, norm, not norm > 100 * torch.finfo(w.dtype).eps * raw


class DampedLeastSquares:
    """``min_z ‖A z − b‖² + mu‖z‖²`` for any mu from one Golub–Kahan basis.

    Args:
        matvec: ``v ↦ A v`` (length n → length m).
        rmatvec: ``u ↦ Aᵀu`` (length m → length n).
        b: right-hand side (m,).
        max_iter: largest basis (products of each kind) kept.
        tol: stop extending when ``‖Aᵀ(b − Az) − mu·z‖ ≤ tol·‖Aᵀb‖``.

    Attributes:
        iterations: basis size k (number of ``A v`` products so far).
        gradient: ``Aᵀb`` (the first ``rmatvec``).
    """

    def __init__(self, matvec: Callable, rmatvec: Callable, b: torch.Tensor, max_iter: int,
                 tol: float):
        self.matvec, self.rmatvec, self.max_iter, self.tol = matvec, rmatvec, max_iter, tol
        self.beta1 = float(b.norm())
        self.U: list[torch.Tensor] = []
        self.V: list[torch.Tensor] = []
        self.alphas: list[float] = []  # α_1 … α_{k+1}
        self.betas: list[float] = []  # β_2 … β_{k+1}
        self.exhausted = self.beta1 == 0.0
        self.gradient = torch.zeros(0)
        if self.exhausted:
            return
        self.U.append(b / self.beta1)
        self.gradient = rmatvec(b)
        alpha = float(self.gradient.norm()) / self.beta1  # α₁v₁ = Aᵀu₁ = Aᵀb/β₁
        self.alphas.append(alpha)
        self.V.append(self.gradient / (alpha * self.beta1) if alpha > 0 else self.gradient)
        self.exhausted = alpha == 0.0
        self._scale = self.beta1 * alpha  # ‖Aᵀb‖

    @property
    def iterations(self) -> int:
        return len(self.betas)

    def _extend(self) -> None:
        k = len(self.betas)  # V holds v_1 … v_{k+1}, U holds u_1 … u_{k+1}
        v = self.V[k]
        p, beta, breakdown = _orthogonalise(self.matvec(v), self.U)
        if breakdown:  # A v_k lies in span(U) already: the space is invariant, z is exact
            self.betas.append(0.0)
            self.alphas.append(0.0)
            self.exhausted = True
            return
        self.betas.append(beta)
        u = p / beta
        self.U.append(u)
        q, alpha_next, breakdown = _orthogonalise(self.rmatvec(u), self.V)
        self.alphas.append(0.0 if breakdown else alpha_next)
        if breakdown:
            self.exhausted = True
            return
        self.V.append(q / alpha_next)

    def _small_solve(self, mu: float) -> tuple[torch.Tensor, float]:
        """``(y, normal-equation residual)`` for the current basis (float64)."""
        k = len(self.betas)
        B = torch.zeros(k + 1 + k, k, dtype=torch.float64)
        idx = torch.arange(k)
        B[idx, idx] = torch.tensor(self.alphas[:k], dtype=torch.float64)
        B[idx + 1, idx] = torch.tensor(self.betas[:k], dtype=torch.float64)
        B[k + 1 + idx, idx] = mu**0.5
        rhs = torch.zeros(2 * k + 1, dtype=torch.float64)
        rhs[0] = self.beta1
        y = torch.linalg.lstsq(B, rhs.unsqueeze(1), driver="gelsd").solution.squeeze(1)
        t_last = float(-self.betas[k - 1] * y[k - 1]) if k else self.beta1  # (β₁e₁ − B y)_{k+1}
        return y, abs(self.alphas[k] * t_last)

    def solve(self, mu: float) -> torch.Tensor:
        """z for this mu, extending the basis until the residual test passes (or max_iter)."""
        if self.beta1 == 0.0 or not self.alphas or self.alphas[0] == 0.0:
            return torch.zeros_like(self.gradient)
        if not self.betas:
            self._extend()
        while True:
            y, residual = self._small_solve(mu)
            if (self.exhausted or residual <= self.tol * self._scale
                    or len(self.betas) >= self.max_iter):
                break
            self._extend()
        V = torch.stack(self.V[: len(y)])  # (k, n)
        return V.T @ y.to(device=V.device, dtype=V.dtype)

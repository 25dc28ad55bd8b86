"""Line searches along a direction d from θ: strong Wolfe (cubic interpolation) and Armijo.

Both take ``phi(t) -> (f, dphi, g)`` — the loss at θ + t·d, its derivative
``gᵀd`` and the flat gradient g there —, ``start = (f0, d0, g0)`` (the same at
t = 0; d0 < 0) and the first trial step t0, and return ``(t, f, g, evaluations)``
for the accepted step. A non-finite f counts as "too far".

Strong Wolfe conditions (Nocedal & Wright, Algorithms 3.5/3.6):
    f(t) ≤ f(0) + c1·t·φ'(0)     and     |φ'(t)| ≤ c2·|φ'(0)|
With c2 → 0 the search is exact; on a quadratic the cubic interpolation through
two points (values and slopes) lands on the exact minimiser.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

__all__ = ["strong_wolfe", "armijo"]

Phi = Callable[[float], "tuple[float, float, torch.Tensor]"]


def _cubic_min(a, fa, da, b, fb, db) -> float | None:
    """Minimiser of the cubic through (a, fa, da) and (b, fb, db), or None."""
    if a == b:
        return None
    d1 = da + db - 3.0 * (fa - fb) / (a - b)
    disc = d1 * d1 - da * db
    if disc < 0 or not math.isfinite(disc):
        return None
    d2 = math.copysign(math.sqrt(disc), b - a)
    denom = db - da + 2.0 * d2
    if denom == 0:
        return None
    t = b - (b - a) * (db + d2 - d1) / denom
    return t if math.isfinite(t) else None


Start = "tuple[float, float, torch.Tensor]"  # (f0, d0, g0): φ(0), φ'(0), the gradient at t = 0


def strong_wolfe(phi: Phi, start: Start, t0: float = 1.0, *, c1: float = 1e-4, c2: float = 0.9,
                 max_evals: int = 30, t_max: float = 1e10):
    """Find t satisfying the strong Wolfe conditions (d0 = φ'(0) must be < 0)."""
    f0, d0, g0 = start
    evals = 0
    t_prev, f_prev, d_prev, g_prev = 0.0, f0, d0, g0
    t = t0
    best = (0.0, f0, g0)

    def zoom(lo, hi):
        nonlocal evals
        (t_lo, f_lo, d_lo, g_lo), (t_hi, f_hi, d_hi, _) = lo, hi
        while evals < max_evals:
            width = abs(t_hi - t_lo)
            lo_end, hi_end = min(t_lo, t_hi), max(t_lo, t_hi)
            t = None
            if math.isfinite(f_hi):
                t = _cubic_min(t_lo, f_lo, d_lo, t_hi, f_hi, d_hi)
            if t is None or not (lo_end + 0.01 * width <= t <= hi_end - 0.01 * width):
                t = 0.5 * (t_lo + t_hi)
            f, d, g = phi(t)
            evals += 1
            if not math.isfinite(f) or f > f0 + c1 * t * d0 or f >= f_lo:
                t_hi, f_hi, d_hi = t, f, d
            else:
                if abs(d) <= -c2 * d0:
                    return t, f, g
                if d * (t_hi - t_lo) >= 0:
                    t_hi, f_hi, d_hi = t_lo, f_lo, d_lo
                t_lo, f_lo, d_lo, g_lo = t, f, d, g
            if abs(t_hi - t_lo) <= 1e-14 * max(abs(t_hi), abs(t_lo), 1e-300):
                break
        return t_lo, f_lo, g_lo

    while evals < max_evals:
        f, d, g = phi(t)
        evals += 1
        if not math.isfinite(f) or f > f0 + c1 * t * d0 or (evals > 1 and f >= f_prev):
            t, f, g = zoom((t_prev, f_prev, d_prev, g_prev), (t, f, d, g))
            return t, f, g, evals
        if abs(d) <= -c2 * d0:
            return t, f, g, evals
        if d >= 0:
            t, f, g = zoom((t, f, d, g), (t_prev, f_prev, d_prev, g_prev))
            return t, f, g, evals
        if f < best[1]:
            best = (t, f, g)
        # extrapolate: cubic step clamped to [2t, 10t]
        t_next = _cubic_min(t_prev, f_prev, d_prev, t, f, d)
        lo, hi = 2.0 * t, min(10.0 * t, t_max)
        t_next = hi if t_next is None else min(max(t_next, lo), hi)
        t_prev, f_prev, d_prev, g_prev = t, f, d, g
        if t_next <= t:
            break
        t = t_next
    return best[0], best[1], best[2], evals


def armijo(phi: Phi, start: Start, t0: float = 1.0, *, c1: float = 1e-4, shrink: float = 0.5,
           max_evals: int = 30):
    """Backtracking until f(t) ≤ f(0) + c1·t·φ'(0), with safeguarded quadratic interpolation."""
    f0, d0, g0 = start
    t = t0
    for evals in range(1, max_evals + 1):
        f, d, g = phi(t)
        if math.isfinite(f) and f <= f0 + c1 * t * d0:
            return t, f, g, evals
        if math.isfinite(f):
            denom = 2.0 * (f - f0 - d0 * t)
            t_new = -d0 * t * t / denom if denom > 0 else shrink * t
            t = min(max(t_new, 0.1 * t), shrink * t)
        else:
            t = 0.1 * t
    return 0.0, f0, g0, max_evals

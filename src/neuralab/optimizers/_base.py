"""What every full-batch optimizer here shares: one flat parameter vector,
the last good parameters, non-finite detection, ``last_info``, the memory
preflight and a line search that falls back instead of stalling."""

from __future__ import annotations

import math
import warnings

import torch
from torch.optim import Optimizer

from ..errors import ConfigError, TrainingError
from ..validation import check_choice, check_number, expected
from ._flat import all_finite, get_flat, numel, set_flat_
from ._linesearch import _cubic_min
from ._memory import preflight

__all__ = ["FullBatchOptimizer", "LineSearchOptimizer", "check_lr", "check_line_search",
           "check_wolfe", "LINE_SEARCHES"]


def check_lr(owner: str, lr, default: float = 1.0) -> float:
    """``lr`` (None → ``default``) as a positive finite float."""
    return default if lr is None else check_number(owner, "lr", lr, low=0.0, low_open=True)


def check_memory_limit(owner: str, memory_limit) -> float | None:
    """Bytes a method may plan to hold (None: half of the memory available at construction)."""
    return check_number(owner, "memory_limit", memory_limit, low=0.0, low_open=True,
                        allow_none=True)


class FullBatchOptimizer(Optimizer):
    """Base of the second-order / line-search optimizers (one parameter group).

    ``step(closure)`` evaluates the objective through ``closure`` (no
    ``backward`` inside it). Subclasses implement ``_step(closure)`` returning
    the objective after the step as a 0-d tensor.
    """

    full_batch = True
    objective = "loss"

    def __init__(self, params, defaults: dict):
        super().__init__(params, defaults)
        name = type(self).__name__
        if len(self.param_groups) != 1:
            raise expected(name, "params", "one parameter group",
                           f"{len(self.param_groups)} groups")
        self._params = [p for p in self.param_groups[0]["params"] if p.requires_grad]
        if not self._params:
            raise ConfigError(f"{name}: expected parameters that require grad, received none")
        dtypes = {p.dtype for p in self._params}
        if len(dtypes) != 1:
            raise expected(name, "params", "parameters of one dtype",
                           sorted(str(d) for d in dtypes))
        self.last_info: dict[str, float] = {}
        self._last_good: torch.Tensor | None = None

    # -- helpers -------------------------------------------------------------
    @property
    def n_params(self) -> int:
        return numel(self._params)

    def _preflight(self, matrices, extra=()) -> int:
        """Raise ConfigError when the P×P matrices of this method would not fit in memory."""
        group = self.param_groups[0]
        return preflight(type(self).__name__, self.n_params, self._params[0].element_size(),
                         matrices, extra, group.get("memory_limit"))

    def _flat(self) -> torch.Tensor:
        return get_flat(self._params)

    def _set(self, vec: torch.Tensor) -> None:
        set_flat_(self._params, vec)

    def _guard_start(self, value: torch.Tensor, what: str) -> None:
        """Raise TrainingError (restoring the last good parameters) on non-finite input."""
        x = self._flat()
        if not all_finite(x):
            self._fail("the parameters contain NaN or inf")
        if not all_finite(value):
            self._fail(f"the {what} is {float(value.reshape(-1)[0]) if value.numel() else value} "
                       "at the current parameters")

    def _fail(self, reason: str):
        restored = ""
        if self._last_good is not None:
            self._set(self._last_good)
            restored = "; the parameters were restored to their last finite values"
        raise TrainingError(f"{type(self).__name__}: {reason}{restored}")

    def _finish(self, x: torch.Tensor, value: torch.Tensor, what: str) -> torch.Tensor:
        """Check the new parameters and objective, remember them as good."""
        if not all_finite(x) or not all_finite(value):
            bad = "parameters" if not all_finite(x) else what
            self._fail(f"the step produced a non-finite {bad}")
        self._last_good = x.clone()
        return value

    @torch.no_grad()
    def step(self, closure=None):  # noqa: D102 - documented in subclasses
        if closure is None or not callable(closure):
            raise ConfigError(
                f"{type(self).__name__}.step needs a closure: a callable with no arguments "
                f"returning the {'residual vector' if self.objective == 'residuals' else 'loss'} "
                "at the current parameters (without calling backward)"
            )
        if self._last_good is None:
            x = self._flat()
            if all_finite(x):
                self._last_good = x
        try:
            return self._step(closure)
        except RuntimeError as exc:
            # a closure that calls backward(): its graph is gone when we differentiate, or
            # it ran under our no_grad evaluation, where backward() has nothing to follow
            if not any(m in str(exc) for m in ("backward through the graph a second time",
                                               "does not require grad and does not have a grad_fn")):
                raise
            raise ConfigError(
                f"{type(self).__name__}.step: expected a closure that returns the "
                f"{'residual vector' if self.objective == 'residuals' else 'loss'} without calling "
                "backward() (this optimizer differentiates it itself, unlike torch.optim.LBFGS); "
                "received one that calls backward()"
            ) from None

    def _step(self, closure):  # pragma: no cover - abstract
        raise NotImplementedError


LINE_SEARCHES = ("strong_wolfe", "armijo")


def check_line_search(name: str, owner: str) -> str:
    return check_choice(owner, "line_search", name, LINE_SEARCHES)


def check_wolfe(owner: str, c1, c2) -> tuple[float, float]:
    """Line-search constants in (0, 1) (a tiny c2, below c1, asks for an exact search)."""
    c1 = check_number(owner, "c1", c1, low=0.0, high=1.0, low_open=True, high_open=True)
    c2 = check_number(owner, "c2", c2, low=0.0, high=1.0, low_open=True, high_open=True)
    return c1, c2


# the fallback backtracks from the failed trial step by this factor, at most this many times
_FALLBACK_SHRINK, _FALLBACK_TRIES = 0.3, 80
def project_off(N: torch.Tensor | None, A: torch.Tensor) -> torch.Tensor:
    """``(I − NᵀN) A``: A of shape (P,) or (P, k) without its components along the rows of N
    (orthonormal kink normals, (k_N, P); None: A unchanged)."""
    return A if N is None else A - N.T @ (N @ A)


# at most this many active kinks (their normals are a (k, P) matrix)
_MAX_KINKS = 32


class LineSearchOptimizer(FullBatchOptimizer):
    """Full-batch optimizer that moves along a direction with a line search.

    Each step evaluates the closure afresh at its start (as torch.optim.LBFGS
    does), so a closure whose data changed between steps is handled correctly.

    When the line search finds no step that lowers the loss (it returns step
    0, or a step too small to change it) while the gradient is not negligible, the point usually sits on a kink of the
    loss (a ReLU unit exactly at 0: autograd's gradient is the one of one
    side, and along the direction the loss rises at once). The search then
    falls back, in order, to: steepest descent −g; −m, the smallest element of
    the convex hull of g and the gradients a hair along the directions that
    failed (the other sides of the kink: a descent direction of every side
    when the kink is convex); and −g⁺, the other side's gradient. Each is
    backtracked until the loss falls. A ``RuntimeWarning`` says so once per optimizer; ``last_info``
    has ``"fallback"`` (0 none, 1 −g, 2 −g⁺, 3 −m, −1 nothing lowered the loss).

    Kinks (active-manifold identification, as in the VU / "partly smooth" view of
    nonsmooth optimisation, Lewis 2002): on a ReLU network a unit whose
    pre-activation is 0 at a training point makes a kink, and at a V-shaped one (the
    loss rises on both sides) every smooth model points across it, so the method
    zigzags or stalls there. When a line search stops where the slope along d is
    still steep (strong Wolfe's curvature condition fails, or Armijo cut the step),
    the segment is bisected on the sign of φ' down to √eps·(1 + ‖θ‖); a gradient jump
    that is the same over one and over sixteen such widths is a kink (a smooth
    gradient changes 16× more), and when the loss rises on both sides along the jump
    too, the jump's direction n joins the active kinks (at most 32). While active,
    the method works on the kinks' intersection: gradients and directions lose their
    components along the normals (Newton's Hessian becomes P H P), so steps move
    along the kink instead of across it; for the first layer of a network the kinks
    are hyperplanes in parameter space and the steps stay on them exactly. At the
    start of each step every active kink is checked again (the gradients at
    θ ± 2√eps·(1 + ‖θ‖)·n) and dropped when it is no longer a V. On smooth losses
    nothing is found and nothing changes, except the bisection's evaluations after
    a cut step. NeuPy's overfit problem (Relu(20) → Sigmoid, 10 points) in 200
    steps: Newton 4 → 6 of 10 seeds below 1e-3, Polak–Ribière CG 5 → 6.
    """

    def _loss_and_grad(self, closure):
        from ._derivatives import loss_and_grad

        return loss_and_grad(closure, self._params, type(self).__name__)

    def _start(self, closure):
        """``(x, f, g)`` at the current point."""
        x = self._flat()
        f, g = self._loss_and_grad(closure)
        self._guard_start(f, "loss")
        if not all_finite(g):
            self._fail("the gradient contains NaN or inf")
        self._review_kinks(closure, x, g)
        return x, f, self._project(g)

    def _phi(self, closure, x0, direction):
        def phi(t):
            self._set(x0 + t * direction)
            f, g = self._loss_and_grad(closure)
            fv = float(f)
            return fv, float(g @ direction) if math.isfinite(fv) else math.nan, self._project(g)

        return phi

    def _search(self, closure, x0, f0, g0, direction, t0):
        """Line search from x0 along direction; leaves the parameters at the new point.

        Returns ``(t, f, g, d)``: the step, the loss and gradient there and the
        direction finally used (``x = x0 + t·d``; d differs from ``direction``
        only after a fallback).
        """
        from ._linesearch import armijo, strong_wolfe

        group = self.param_groups[0]
        if self._kinks() is not None:  # move along the active kinks
            direction = self._project(direction)
            if not float(g0 @ direction) < 0:
                direction = -g0
        phi = self._phi(closure, x0, direction)
        d0 = float(g0 @ direction)
        if group["line_search"] == "armijo":
            t, f, g, _ = armijo(phi, (float(f0), d0, g0), t0, c1=group["c1"])
        else:
            t, f, g, _ = strong_wolfe(phi, (float(f0), d0, g0), t0, c1=group["c1"],
                                      c2=group["c2"])
        used, kind = direction, 0
        # no decrease (a zero step, or one so small the loss did not change) is a stall
        if not f < float(f0) and self._gradient_matters(f0, g0):
            t, f, g, used, kind = self._fallback(closure, x0, float(f0), g0, direction, t0)
        self._fallback_kind = kind
        steep = not abs(float(g @ used)) <= group["c2"] * abs(float(g0 @ used))
        if steep or (group["line_search"] == "armijo" and t < t0):
            # the search stopped where the slope is still steep: perhaps at a kink
            t, f, g = self._kink_on_line(closure, x0, f0, g0, used, t, f, g, t0)
        x = x0 + t * used
        self._set(x)
        return t, torch.as_tensor(f, dtype=x0.dtype), g, used

    # -- kinks: the hyperplanes where a piece of a piecewise-smooth loss meets another -----
    def _kinks(self):
        return self.state[self._params[0]].get("kinks")

    def _take_kink_change(self) -> bool:
        """Whether the active kinks changed since the last call."""
        changed = self.__dict__.get("_kinks_changed", False)
        self._kinks_changed = False
        return changed

    def _project(self, v: torch.Tensor) -> torch.Tensor:
        """v without its components along the active kink normals."""
        return project_off(self._kinks(), v)

    def _hair(self, x: torch.Tensor) -> float:
        return math.sqrt(torch.finfo(x.dtype).eps) * (1.0 + float(x.norm()))

    def _grad_at(self, closure, x):
        self._set(x)
        return self._loss_and_grad(closure)[1]

    def _one_sided(self, closure, x, n, s):
        """Whether the loss rises on both sides of x along the unit n at ±s (a V-shaped valley)."""
        return (float(self._grad_at(closure, x - s * n) @ n) < 0
                < float(self._grad_at(closure, x + s * n) @ n))

    def _add_kink(self, normal: torch.Tensor) -> bool:
        N = self._kinks()
        n = self._project(normal)
        if float(n.norm()) <= 0.1 * float(normal.norm()):
            return False
        if N is not None and len(N) >= min(_MAX_KINKS, max(1, self.n_params // 2)):
            return False
        n = n / n.norm()
        state = self.state[self._params[0]]
        state["kinks"] = n.unsqueeze(0) if N is None else torch.cat([N, n.unsqueeze(0)])
        self._kinks_changed = True
        return True

    def _kink_on_line(self, closure, x0, f0, g0, d, t, f, g, t0):
        """Look for a V-shaped kink where the search along d stopped; ``(t, f, g)`` to accept.

        A bracket [a, b] with φ'(a) < 0 < φ'(b) is narrowed on the sign of φ' (cubic
        interpolation and bisection in turn) down to a hair, or until |φ'| falls below a
        tenth of its ends' (a smooth minimum: its point is returned if better); a kink, not a smooth minimum, when the gradient jump across it is the same
        over a hair and over 16 hairs (a smooth gradient changes 16× more). Its normal
        (the jump) joins the active kinks when the loss rises on both sides along it too.
        The better end of the bracket is returned when it beats (t, f).
        """
        dn = float(d.norm())
        if not self.param_groups[0].get("kinks", True) or not 0 < dn < math.inf:
            return t, f, g

        def at(s):
            self._set(x0 + s * d)
            fs, gs = self._loss_and_grad(closure)
            return float(fs), float(gs @ d), gs

        slope = float(g @ d)
        if slope > 0:
            lo, hi = (0.0, float(f0), float(g0 @ d), None), (t, f, slope, None)
        else:
            b = t0 if t < t0 else 2.0 * max(t, 1e-300)
            fb, db, gb = at(b)
            if not (math.isfinite(fb) and db > 0):
                return t, f, g
            lo, hi = (t, f, slope, None), (b, fb, db, gb)
        hair = self._hair(x0) / dn
        flat = 0.1 * min(abs(lo[2]), abs(hi[2]))  # |φ'| this small: a smooth minimum
        for it in range(60):
            width = hi[0] - lo[0]
            if width <= hair:
                break
            # the cubic's minimiser and bisection in turn: few trials on a smooth line,
            # a guaranteed halving at a kink
            m = _cubic_min(lo[0], lo[1], lo[2], hi[0], hi[1], hi[2]) \
                if it % 2 == 0 and math.isfinite(hi[1]) else None
            if m is None or not lo[0] + 0.05 * width <= m <= hi[0] - 0.05 * width:
                m = 0.5 * (lo[0] + hi[0])
            fm, dm, gm = at(m)
            if math.isfinite(fm) and abs(dm) <= flat:  # not a kink
                return (m, fm, self._project(gm)) if fm < f else (t, f, g)
            if not math.isfinite(fm):
                hi = (m, fm, math.inf, gm)
            elif dm < 0:
                lo = (m, fm, dm, gm)
            else:
                hi = (m, fm, dm, gm)
        else:
            return t, f, g
        ga = lo[3] if lo[3] is not None else self._grad_at(closure, x0 + lo[0] * d)
        gb = hi[3] if hi[3] is not None else self._grad_at(closure, x0 + hi[0] * d)
        mid = 0.5 * (lo[0] + hi[0])
        wide = self._grad_at(closure, x0 + (mid + 8 * hair) * d) - self._grad_at(
            closure, x0 + (mid - 8 * hair) * d)
        jump = gb - ga
        size = float(jump.norm())
        if size > 0 and float((wide - jump).norm()) <= 0.5 * size:
            n = jump / size
            if float(ga @ n) < 0 < float(gb @ n):
                self._add_kink(jump)
        best = min((lo, hi), key=lambda e: e[1])
        if math.isfinite(best[1]) and best[1] < f:
            gbest = ga if best is lo else gb
            return best[0], best[1], self._project(gbest)
        return t, f, g

    def _review_kinks(self, closure, x, g):
        """Keep the active kinks that are still V-shaped valleys at x; drop the others."""
        N = self._kinks()
        if N is None:
            return
        s = 2 * self._hair(x)
        keep = [n for n in N if self._one_sided(closure, x, n, s)]
        self._set(x)
        state = self.state[self._params[0]]
        if len(keep) == len(N):
            return
        self._kinks_changed = True
        if not keep:
            state.pop("kinks")
            return
        Q, _ = torch.linalg.qr(torch.stack(keep).T)
        state["kinks"] = Q.T.contiguous()

    @staticmethod
    def _gradient_matters(f0, g0) -> bool:
        """Whether ‖g‖ is above the rounding noise of the loss (a stall, not convergence)."""
        tol = math.sqrt(torch.finfo(g0.dtype).eps) * max(1.0, abs(float(f0)))
        return float(g0.norm()) > tol

    def _fallback(self, closure, x0, f0, g0, direction, t0):
        gnorm = float(g0.norm())
        x_norm = float(x0.norm())
        if not 0.0 < float(direction.norm()) < math.inf:  # an underflowed (or broken) direction
            direction = -g0
        # start where the failed search first tried to go, but never below 1% of ‖θ‖: after
        # a kink the previous (tiny) step is a poor guess
        step_length = max(t0 * float(direction.norm()), 1e-2 * (1.0 + x_norm))

        def side_gradient(u):
            """The gradient a hair along u: the other side of a kink u crosses."""
            self._set(x0 + (1e-7 * (1.0 + x_norm) / float(u.norm())) * u)
            return self._loss_and_grad(closure)[1]

        def decrease(u):
            norm = float(u.norm())
            if norm == 0.0 or not math.isfinite(norm):
                return None
            phi, t = self._phi(closure, x0, u), step_length / norm
            smallest = 1e-13 * (1.0 + x_norm) / norm  # moves below this are rounding
            for _ in range(_FALLBACK_TRIES):
                f, _, g = phi(t)
                if math.isfinite(f) and f < f0:
                    return t, f, g
                if t < smallest:
                    break
                t *= _FALLBACK_SHRINK
            return None

        sides = [g0, side_gradient(direction)]
        attempts = []
        if float(torch.linalg.vector_norm(direction / direction.norm() + g0 / gnorm)) > 1e-12:
            attempts.append((1, lambda: -g0))
        attempts.append((3, lambda: -_min_norm_point(sides)))
        attempts.append((2, lambda: -sides[1]))
        names = {1: "steepest descent", 2: "the gradient of the other side",
                 3: "the smallest subgradient"}
        for kind, make in attempts:
            u = make()
            found = decrease(u)
            if found is not None:
                self._warn_once(
                    "fallback", f"the line search found no step that lowers the loss "
                    f"(gradient norm {gnorm:.3g}), probably at a kink of the loss (e.g. a ReLU "
                    f"unit at 0); fell back to {names[kind]}")
                t, f, g = found
                return t, f, g, u, kind
            if kind == 1:  # −g failed too: it crosses a kink; its other side joins the hull
                sides.append(side_gradient(u))
        self._warn_once(
            "stuck", f"no step lowers the loss although the gradient norm is {gnorm:.3g} "
            "(neither along the search direction nor along the fallbacks); the parameters did "
            "not move")
        return 0.0, f0, g0, direction, -1

    def _warn_once(self, key: str, message: str) -> None:
        warned = self.__dict__.setdefault("_warned", set())
        if key not in warned:
            warned.add(key)
            warnings.warn(f"{type(self).__name__}: {message}. (Shown once per optimizer.)",
                          RuntimeWarning, stacklevel=4)


def _min_norm_point(vectors, iterations: int = 100) -> torch.Tensor:
    """The point of smallest norm in the convex hull of a few vectors (Frank–Wolfe).

    Its negative descends on every piece whose gradient is among ``vectors``
    (for m the minimiser, ``m·v ≥ ‖m‖²`` for each v).
    """
    V = torch.stack(vectors)  # (k, P)
    K = V @ V.T  # (k, k)
    lam = torch.zeros(len(vectors), dtype=V.dtype, device=V.device)
    lam[int(K.diagonal().argmin())] = 1.0
    for _ in range(iterations):
        grad = K @ lam
        i = int(grad.argmin())
        e = torch.zeros_like(lam)
        e[i] = 1.0
        u = e - lam
        curvature = float(u @ K @ u)
        if curvature <= 0:
            break
        gamma = min(1.0, max(0.0, -float(u @ grad) / curvature))
        if gamma == 0.0:
            break
        lam += gamma * u
    return lam @ V

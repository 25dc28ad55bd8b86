"""Levenberg–Marquardt for least-squares objectives."""

from __future__ import annotations

import math

import torch

from ..validation import check_choice, check_int, check_number
from ._base import FullBatchOptimizer, check_lr, check_memory_limit
from ._closures import check_least_squares_loss
from ._derivatives import check_residuals, residual_normal_equations
from ._flat import all_finite
from ._linalg import DAMPING_MODES, damping_diagonal, solve_spd

__all__ = ["LevenbergMarquardt", "check_least_squares_loss"]


class LevenbergMarquardt(FullBatchOptimizer):
    r"""Levenberg–Marquardt: damped Gauss–Newton steps with an adaptive damping ``mu``.

    For residuals ``r(θ)`` (length m) with Jacobian ``J = ∂r/∂θ`` (m, P) the step
    ``δ`` solves the damped normal equations

        (JᵀJ + mu·D) δ = −Jᵀr,      D = I ("identity", Levenberg) or diag(JᵀJ) ("marquardt")

    by Cholesky (jitter, then pseudo-inverse if the system is singular). When
    m < P and J is held, the equivalent m×m system (J D⁻¹Jᵀ + mu·I) y = r,
    δ = −D⁻¹Jᵀy is solved instead. The trial point ``θ + lr·δ`` is accepted only
    when the loss ``mean(r²)`` falls; then ``mu *= mu_decrease``, otherwise
    ``mu *= mu_increase`` and the step is retried (Marquardt 1963), up to
    ``max_attempts`` times. If no attempt lowers the loss the parameters stay.

    The closure returns the residual vector at the current parameters (no
    ``backward``). A plain closure is differentiated with batched autograd; a
    :class:`~neuralab.optimizers.ResidualClosure` gets per-sample Jacobians:
    from its linear layers with one forward and one backward pass when every
    trained parameter is a linear weight or bias (MLPs), otherwise from
    ``torch.func`` (``vmap`` of ``grad``/``jacrev``, or ``jacfwd`` when a sample
    has more residuals than the model has parameters); see ResidualClosure's
    ``jacobian`` option. When J (m×P) would exceed ``memory_budget`` bytes the
    samples are processed in chunks whose J fits the budget, accumulating JᵀJ
    and Jᵀr without ever holding J (JᵀJ itself, P×P, is always held; for
    P > 1024 only its lower triangle is computed, then mirrored). Memory ≈
    budget + 3·P² numbers (JᵀJ, the damped copy, its Cholesky factor); it is
    checked at construction against ``memory_limit``, and a network whose P×P
    matrices do not fit gets a :class:`~neuralab.errors.ConfigError` with the
    estimate and the methods that scale, before anything is allocated.

    Losses and targets: LM minimises ``Σ r²``, so the loss must be a sum of
    squares (mse, sse/l2; ``check_least_squares_loss`` says which names). For
    classification, give the network a probability output (a softmax layer)
    and either one-hot targets or integer class labels: with a
    :class:`~neuralab.optimizers.ResidualClosure` and its default residual,
    labels ``(N,)`` for an output ``(N, C)`` are one-hot encoded inside
    (r = p − onehot(y), the Brier score, which is what NeuPy's users trained
    with mse on one-hot targets).

    Damping schedule: Marquardt's ×``mu_increase`` / ×``mu_decrease``. On the
    1-10-1 sin(x) fit (30 seeds) "identity" needs a median of 12 steps and
    "marquardt" 19, and the initial mu (1e-3 … 1) hardly matters; mu_decrease=0.3
    saves about 15% of the steps there (10 instead of 12), the defaults are
    the classic ones (MATLAB's trainlm).

    Args:
        params: parameters (one group, one dtype).
        lr: multiplier of the step (default 1.0).
        mu: initial damping (default 0.01).
        mu_increase: factor applied to mu after a rejected step (default 10).
        mu_decrease: factor applied to mu after an accepted step (default 0.1).
        mu_min, mu_max: bounds of mu (defaults 1e-20, 1e10).
        max_attempts: trial steps per ``step`` call (default 10).
        damping: "identity" (default) or "marquardt".
        memory_budget: bytes allowed for one chunk of J (default 1 GiB).
        memory_limit: bytes the method may hold in all (default None: half of the
            memory available at construction).

    Attributes:
        last_info: ``{"mu", "loss", "attempts", "accepted", "chunks"}`` after each step.

    Example:
        >>> import torch
        >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
        <torch._C.Generator ...>
        >>> x = torch.linspace(0, 1, 20, dtype=torch.float64).unsqueeze(1)
        >>> net = torch.nn.Linear(1, 1).double()
        >>> opt = LevenbergMarquardt(net.parameters())
        >>> for _ in range(5):
        ...     loss = opt.step(lambda: (net(x) - (3 * x + 1)).reshape(-1))
        >>> float(loss) < 1e-12
        True
    """

    objective = "residuals"

    def __init__(
        self,
        params,
        lr: float | None = None,
        mu: float = 0.01,
        mu_increase: float = 10.0,
        mu_decrease: float = 0.1,
        mu_min: float = 1e-20,
        mu_max: float = 1e10,
        max_attempts: int = 10,
        damping: str = "identity",
        memory_budget: float = 2**30,
        memory_limit: float | None = None,
    ):
        owner = "LevenbergMarquardt"
        defaults = dict(
            lr=check_lr(owner, lr),
            mu=check_number(owner, "mu", mu, low=0.0),
            mu_increase=check_number(owner, "mu_increase", mu_increase, low=1.0, low_open=True),
            mu_decrease=check_number(owner, "mu_decrease", mu_decrease, low=0.0, high=1.0,
                                     low_open=True, high_open=True),
            mu_min=check_number(owner, "mu_min", mu_min, low=0.0),
            mu_max=check_number(owner, "mu_max", mu_max, low=0.0, low_open=True),
            max_attempts=check_int(owner, "max_attempts", max_attempts, low=1),
            damping=check_choice(owner, "damping", damping, DAMPING_MODES),
            memory_budget=check_number(owner, "memory_budget", memory_budget, low=0.0,
                                       low_open=True),
            memory_limit=check_memory_limit(owner, memory_limit),
        )
        super().__init__(params, defaults)
        # the Jacobian chunks are bounded by memory_budget on their own
        self._preflight([("matrices (JᵀJ, JᵀJ + mu·D, Cholesky factor)", 3)])

    def _step(self, closure):
        """One LM step (see the class docstring); returns the loss mean(r²) after it."""
        group = self.param_groups[0]
        params = self._params
        with torch.enable_grad():
            ne = residual_normal_equations(closure, params, group["memory_budget"])
        ref = params[0]
        x0 = self._flat()
        loss0 = ne.sse / max(1, ne.n_residuals)
        if not all_finite(x0):
            self._fail("the parameters contain NaN or inf")
        if not math.isfinite(loss0):
            self._fail(f"the loss is {loss0} at the current parameters")
        mu = max(group["mu"], group["mu_min"])
        lr = group["lr"]
        d = damping_diagonal(ne.JtJ, group["damping"])
        use_dual = ne.J is not None and ne.n_residuals < x0.numel()
        if use_dual:  # m < P: solve the m×m system (J D⁻¹Jᵀ + mu·I) y = r, δ = −D⁻¹Jᵀy
            JDt = ne.J.T * (1.0 / d).unsqueeze(1)  # (P, m): D⁻¹Jᵀ
            K = ne.J @ JDt  # (m, m)
        accepted, new_loss, attempts = False, loss0, 0
        for attempts in range(1, group["max_attempts"] + 1):
            if use_dual:
                Km = K.clone()
                Km.diagonal().add_(mu)
                y, _ = solve_spd(Km, ne.r)
                x_try = x0.sub(JDt @ y, alpha=lr)  # δ = −D⁻¹Jᵀy
            else:
                A = ne.JtJ.clone()
                A.diagonal().add_(d, alpha=mu)
                delta, _ = solve_spd(A, ne.Jtr)  # δ = −delta
                x_try = x0.sub(delta, alpha=lr)
            self._set(x_try)
            r = check_residuals(closure())
            trial = float(r.pow(2).mean()) if r.numel() else 0.0
            if trial < loss0:  # finite and lower (NaN fails the comparison)
                accepted, new_loss = True, trial
                mu = max(mu * group["mu_decrease"], group["mu_min"])
                break
            mu = min(mu * group["mu_increase"], group["mu_max"])
        if accepted:
            if not all_finite(x_try):  # a parameter the residuals do not use went non-finite
                self._fail("the step produced non-finite parameters")
            self._last_good = x_try
        else:
            self._set(x0)
            self._last_good = x0
        group["mu"] = mu
        self.last_info = {
            "mu": float(mu), "loss": float(new_loss), "attempts": float(attempts),
            "accepted": float(accepted), "chunks": float(ne.chunks),
        }
        return torch.tensor(new_loss, dtype=ref.dtype, device=ref.device)

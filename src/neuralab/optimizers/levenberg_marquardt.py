"""Levenberg–Marquardt for least-squares objectives, at any size.

Three solvers give the same step; the optimizer picks the one that fits
(:func:`choose_solver`): the P×P normal equations ("normal"), the m×m dual
system when there are fewer residuals than parameters ("dual"), or a
Jacobian-free Krylov solve from J·v and Jᵀ·u products ("matrix_free").
"""

from __future__ import annotations

import math

import torch

from ..validation import check_bool, check_choice, check_int, check_number
from ._base import (FullBatchOptimizer, LineSearchOptimizer, check_lr, check_memory_limit,
                    project_off)
from ._closures import ResidualClosure, check_least_squares_loss
from ._derivatives import (
    _outputs_per_sample,
    check_residuals,
    jacobian_chunks,
    jacobian_column_norms,
    jacobian_products,
    residual_normal_equations,
)
from ._flat import all_finite
from ._krylov import DampedLeastSquares
from ._linalg import DAMPING_MODES, damping_diagonal, solve_spd
from ._memory import preflight, resolve_limit

__all__ = ["LevenbergMarquardt", "check_least_squares_loss", "choose_solver", "LM_SOLVERS"]

LM_SOLVERS = ("auto", "normal", "dual", "matrix_free")

# a rejected trial is searched for a kink when it raised the loss by less than this fraction
# of it: the first trial of a step at once, or after the second trial failed too (a larger
# rise is a step too long for the model, the ordinary reason for a rejection)
_KINK_RISE_FIRST, _KINK_RISE_SECOND = 0.03, 1.0


def solver_plans(n_residuals: int, n_params: int, itemsize: int, memory_budget: float,
                 max_cg: int) -> dict:
    """``{solver: [(what, bytes), …]}``: what each LM solver holds at its peak."""
    m, P, s = n_residuals, n_params, itemsize
    return {
        "normal": [(f"3 × {P:,}×{P:,} matrices (JᵀJ, JᵀJ + mu·D, Cholesky factor)", 3 * P * P * s),
                   ("a Jacobian chunk", min(m * P * s, memory_budget))],
        "dual": [(f"the Jacobian ({m:,}×{P:,})", m * P * s),
                 (f"3 × {m:,}×{m:,} matrices (JJᵀ, JJᵀ + mu·I, Cholesky factor)", 3 * m * m * s)],
        "matrix_free": [(f"a Krylov basis of {max_cg + 2} vectors of {P:,} + {m:,} numbers",
                         (max_cg + 2) * (m + P) * s)],
    }


def choose_solver(n_residuals: int, n_params: int, itemsize: int = 4,
                  memory_budget: float = 2**30, memory_limit: float | None = None,
                  max_cg: int = 50) -> str:
    """The LM solver for m residuals and P parameters: "dual", "normal" or "matrix_free".

    "dual" (m×m) when m < P, J (m×P) fits in ``memory_budget`` and J plus three
    m×m matrices fit in ``memory_limit``; else "normal" (P×P) when three P×P
    matrices and a Jacobian chunk fit; else "matrix_free" (memory O(m + P)).
    ``memory_limit`` None is half of the memory available now.

    >>> choose_solver(1_000, 31), choose_solver(4, 13)
    ('normal', 'dual')
    >>> choose_solver(14_370, 61_706, memory_limit=4e9)  # LeNet-5 on digits
    'matrix_free'
    """
    m, P, s = n_residuals, n_params, itemsize
    allowed, _ = resolve_limit(memory_limit)
    plans = solver_plans(m, P, s, memory_budget, max_cg)
    total = {name: sum(b for _, b in plan) for name, plan in plans.items()}
    if m < P and m * P * s <= memory_budget and total["dual"] <= allowed:
        return "dual"
    if total["normal"] <= allowed:
        return "normal"
    return "matrix_free"


class _KinkSet(LineSearchOptimizer):
    """The line-search family's kinks (bisection of a gradient jump, the active set of
    normals, their projection) kept for LM's parameters; LM calls its methods with
    the loss closure ``mean(r²)``."""


class LevenbergMarquardt(FullBatchOptimizer):
    r"""Levenberg–Marquardt: damped Gauss–Newton steps with an adaptive damping ``mu``.

    For residuals ``r(θ)`` (length m) with Jacobian ``J = ∂r/∂θ`` (m, P) the step
    ``δ`` solves the damped normal equations

        (JᵀJ + mu·D) δ = −Jᵀr,      D = I ("identity", Levenberg) or diag(JᵀJ) ("marquardt")

    The trial point ``θ + lr·δ`` is accepted only when the loss ``mean(r²)``
    falls; then ``mu *= mu_decrease``, otherwise ``mu *= mu_increase`` and the
    step is retried (Marquardt 1963), up to ``max_attempts`` times. If no
    attempt lowers the loss the parameters stay.

    Solvers (``solver="auto"`` picks by size and memory at every step, so the
    user never needs to know P; :func:`choose_solver` is the rule):

    - "normal": JᵀJ (P×P) accumulated over chunks of J that fit
      ``memory_budget`` (J is never held whole; for P > 1024 only the lower
      triangle is computed, then mirrored), solved by Cholesky (jitter, then
      pseudo-inverse if singular). Memory ≈ 3·P² numbers + one chunk.
    - "dual" (m < P): the equivalent m×m system (J D⁻¹Jᵀ + mu·I) y = r,
      δ = −D⁻¹Jᵀy (the push-through identity), when J fits ``memory_budget``.
      Memory ≈ m·P + 3·m² numbers.
    - "matrix_free": no matrix at all. The step minimises
      ‖J S z + r‖² + mu‖z‖², δ = S z, S = D^(-1/2), over the Golub–Kahan Krylov
      space of J S (the space CG on the normal equations explores; see
      ``_krylov``), built from products J·v and Jᵀ·u (double backward through
      the residuals' graph) until the normal-equation residual is below
      ``cg_tol``·‖Jᵀr‖ or ``max_cg`` products were taken. The space does not
      depend on mu, so the retries of a step cost no products. Memory ≈
      (max_cg + 2)·(m + P) numbers plus the graph of one forward pass ("marquardt"
      damping also computes diag(JᵀJ) from chunks of J).

    The closure returns the residual vector at the current parameters (no
    ``backward``). A plain closure is differentiated with batched autograd; a
    :class:`~neuralab.optimizers.ResidualClosure` gets per-sample Jacobians:
    from its linear layers with one forward and one backward pass when every
    trained parameter is a linear weight or bias (MLPs), otherwise from
    ``torch.func`` (``vmap`` of ``grad``/``jacrev``, or ``jacfwd`` when a sample
    has more residuals than the model has parameters); see ResidualClosure's
    ``jacobian`` option. Memory is checked against ``memory_limit`` before
    anything is allocated: at construction (for the matrix-free floor, or the
    solver asked for) and at each step, when m is known; a plan that cannot
    fit gets a :class:`~neuralab.errors.ConfigError` with the estimate.

    Losses and targets: LM minimises ``Σ r²``, so the loss must be a sum of
    squares (mse, sse/l2; ``check_least_squares_loss`` says which names). For
    classification, give the network a probability output (a softmax layer)
    and either one-hot targets or integer class labels: with a
    :class:`~neuralab.optimizers.ResidualClosure` and its default residual,
    labels ``(N,)`` for an output ``(N, C)`` are one-hot encoded inside
    (r = p − onehot(y), the Brier score, which is what NeuPy's users trained
    with mse on one-hot targets).

    Kinks (``kinks=True``, the default): on a ReLU network a unit whose
    pre-activation is 0 at a training point puts a kink in the loss, and at a
    V-shaped one every Gauss–Newton step, of any damping, crosses it and raises
    the loss, so plain LM creeps towards the kink and then drives mu to
    ``mu_max`` and stops. A step's first rejected trial is therefore searched
    for a kink with the line-search methods' machinery (see
    :class:`~neuralab.optimizers._base.LineSearchOptimizer`: the segment is
    narrowed on the slope's sign; a gradient jump that does not shrink with the
    interval is a kink, kept when the loss rises on both sides along it) when it
    raised the loss by less than 3%, or, when the second trial is rejected too,
    by less than 100% (a larger rise is a step too long for the model, the
    ordinary reason for a rejection). A kink found joins an active set of
    normals N (at most 32, each dropped again at the start of a step when it is
    no longer a V); the point beside it is accepted when it lowers the loss, mu
    returns to its initial value, and the following steps are Gauss–Newton steps
    on the kinks' intersection: J becomes J(I − NᵀN) in every solver, so the
    steps move along the kinks instead of across them. On smooth losses nothing
    is found and the steps are Marquardt's, bit for bit. Costs: a search takes
    2–32 loss-and-gradient evaluations (median 5 on the problem below; about 3
    searches in 10 runs of the 1-10-1 sin fit), each active kink 2 per step for
    its review. NeuPy's overfit problem (Relu(20) → Sigmoid, 10 points, MSE <
    1e-3; seeds 0–29): 12 of 30 in 50 and in 200 steps without, 19 and 25 with.
    The kinks live in the optimizer object, not in ``state_dict``.

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
        solver: "auto" (default), "normal", "dual" or "matrix_free" (see above).
        max_cg: largest Krylov basis of the matrix-free solver (default 50).
        cg_tol: its relative tolerance on the normal equations (default 1e-3).
        memory_budget: bytes allowed for one chunk of J (default 1 GiB); the
            dual solver needs all of J within it.
        memory_limit: bytes the method may hold in all (default None: half of the
            memory available when the plan is made).
        kinks: look for kinks after rejected trials and step along them (default
            True; see "Kinks" above). False is Marquardt's plain algorithm.

    Attributes:
        last_info: ``{"mu", "loss", "attempts", "accepted", "chunks", "cg_iterations",
            "kinks", "kink_found"}`` after each step: ``kinks`` the number of active
            kinks, ``kink_found`` 1.0 when the step found a new one.
        solver_used: the solver of the last step ("normal", "dual" or "matrix_free").

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
        solver: str = "auto",
        max_cg: int = 50,
        cg_tol: float = 1e-3,
        memory_budget: float = 2**30,
        memory_limit: float | None = None,
        kinks: bool = True,
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
            solver=check_choice(owner, "solver", solver, LM_SOLVERS),
            max_cg=check_int(owner, "max_cg", max_cg, low=1),
            cg_tol=check_number(owner, "cg_tol", cg_tol, low=0.0),
            memory_budget=check_number(owner, "memory_budget", memory_budget, low=0.0,
                                       low_open=True),
            memory_limit=check_memory_limit(owner, memory_limit),
            kinks=check_bool(owner, "kinks", kinks),
        )
        super().__init__(params, defaults)
        self.solver_used: str | None = None
        self._kink_set = _KinkSet(self._params, {})
        # m is not known yet: check what the solver needs for the parameters alone
        self._plan(0, "matrix_free" if solver == "auto" else solver)

    def _plan(self, n_residuals: int, solver: str) -> str:
        """Raise ConfigError (MemoryPlanError) unless ``solver`` fits; return it."""
        group = self.param_groups[0]
        P, s = self.n_params, self._params[0].element_size()
        plan = solver_plans(n_residuals, P, s, group["memory_budget"], group["max_cg"])[solver]
        if solver == "normal":  # the P×P matrices, plus J's chunks once m is known
            plan = plan[:1] + (plan[1:] if n_residuals else [])
        if solver == "dual" and n_residuals and n_residuals * P * s > group["memory_budget"]:
            plan = plan + [("(J must fit memory_budget, "
                            f"{group['memory_budget'] / 1e9:.2f} GB)", math.inf)]
        remedy = ("Even the matrix-free solver does not fit: use fewer samples per step or a "
                  "smaller network" if solver == "matrix_free" else
                  "Use solver='auto' (picks the solver that fits)")
        preflight(f"LevenbergMarquardt(solver={solver!r})", P, s, [], plan,
                  group["memory_limit"], remedy=remedy)
        return solver

    def _n_residuals(self, closure) -> int:
        if isinstance(closure, ResidualClosure) and closure.can_split_samples():
            return _outputs_per_sample(closure) * closure.n_samples
        return check_residuals(closure()).numel()

    def _choose(self, closure) -> str:
        group = self.param_groups[0]
        m = self._n_residuals(closure)
        solver = group["solver"]
        planned = self.__dict__.setdefault("_planned", {})  # plan once per residual count
        if (m, solver) not in planned:
            pick = solver if solver != "auto" else choose_solver(
                m, self.n_params, self._params[0].element_size(), group["memory_budget"],
                group["memory_limit"], group["max_cg"])
            planned[(m, solver)] = self._plan(m, pick)
        return planned[(m, solver)]

    # each system returns (loss0, solve(mu) -> δ with (JᵀJ + mu·D) δ = Jᵀr, chunks, solver state);
    # with active kink normals N, J is J(I − NᵀN) and δ lies on the kinks' intersection
    def _normal_system(self, closure, group, N):
        ne = residual_normal_equations(closure, self._params, group["memory_budget"])
        ne.J = ne.r = None  # the P×P system is all this solver needs
        JtJ, Jtr = ne.JtJ, project_off(N, ne.Jtr)
        if N is not None:  # (I − NᵀN) JᵀJ (I − NᵀN), in place: only (k, P) temporaries
            JtJ.addmm_(N.T, N @ JtJ, alpha=-1.0)
            JtJ.addmm_(JtJ @ N.T, N, alpha=-1.0)
        d = damping_diagonal(JtJ.diagonal(), group["damping"])

        def solve(mu):
            A = JtJ.clone()
            A.diagonal().add_(d, alpha=mu)
            return project_off(N, solve_spd(A, Jtr)[0])

        return ne.sse / max(1, ne.n_residuals), solve, ne.chunks, None

    def _dual_system(self, closure, group, N):
        (make,) = jacobian_chunks(closure, self._params, math.inf)
        Jt, r = make()  # (P, m), (m,)
        dtype = self._params[0].dtype
        Jt, r = Jt.to(dtype), r.to(dtype)
        if N is not None:
            Jt = Jt.addmm(N.T, N @ Jt, alpha=-1.0)  # (I − NᵀN) Jᵀ
        if group["damping"] == "identity":
            JDt = Jt
        else:
            JDt = Jt / damping_diagonal(Jt.pow(2).sum(1), group["damping"]).unsqueeze(1)
        K = Jt.T @ JDt  # (m, m): J D⁻¹Jᵀ

        def solve(mu):
            Km = K.clone()
            Km.diagonal().add_(mu)
            return project_off(N, JDt @ solve_spd(Km, r)[0])

        return float(r @ r) / max(1, r.numel()), solve, 1, None

    def _matrix_free_system(self, closure, group, N):
        scale, chunks = None, 0
        if group["damping"] != "identity":
            diag, _ = jacobian_column_norms(closure, self._params, group["memory_budget"])
            scale = damping_diagonal(diag, group["damping"]).rsqrt()  # S = D^(-1/2)
            chunks = 1
        r, jv, jtu = jacobian_products(closure, self._params)
        if N is not None:
            jv0, jtu0 = jv, jtu
            jv, jtu = (lambda v: jv0(project_off(N, v))), (lambda u: project_off(N, jtu0(u)))
        if scale is None:
            krylov = DampedLeastSquares(jv, jtu, r, group["max_cg"], group["cg_tol"])
        else:
            krylov = DampedLeastSquares(lambda v: jv(scale * v), lambda u: scale * jtu(u), r,
                                        group["max_cg"], group["cg_tol"])

        def solve(mu):
            z = krylov.solve(mu)
            return project_off(N, z if scale is None else scale * z)

        return float(r @ r) / max(1, r.numel()), solve, chunks, krylov

    def _system(self, closure, group, solver):
        with torch.enable_grad():
            return getattr(self, f"_{solver}_system")(closure, group, self._kink_set._kinks())

    def _kink_on_trial(self, closure, x0, loss0, x_trial, trial):
        """Search the segment x0 → x_trial (a rejected trial) for a V-shaped kink.

        Returns ``(x, f, found)``: the point beside the kink and its loss (``x`` None
        when nothing lowers the loss below ``loss0``), and whether a new kink joined
        the active set.
        """
        kinks = self._kink_set

        def loss():  # the loss LM minimises, as the line-search machinery expects it
            return closure().pow(2).mean()

        before = 0 if kinks._kinks() is None else len(kinks._kinks())
        d = x_trial - x0
        kinks._set(x0)
        f0, g0 = kinks._loss_and_grad(loss)
        kinks._set(x_trial)
        _, g = kinks._loss_and_grad(loss)
        t, f, _ = kinks._kink_on_line(loss, x0, f0, g0, d, 1.0, trial, g, 1.0)
        found = (0 if kinks._kinks() is None else len(kinks._kinks())) > before
        self._set(x0)
        return (x0 + t * d if found and 0 < t and f < loss0 else None), f, found

    def _step(self, closure):
        """One LM step (see the class docstring); returns the loss mean(r²) after it."""
        group = self.param_groups[0]
        for key, value in self.defaults.items():  # state saved before an option existed
            group.setdefault(key, value)
        ref = self._params[0]
        x0 = self._flat()
        if not all_finite(x0):
            self._fail("the parameters contain NaN or inf")
        solver = self._choose(closure)
        kinks = self._kink_set
        if group["kinks"] and kinks._kinks() is not None:  # drop the kinks that are no longer Vs
            kinks._review_kinks(lambda: closure().pow(2).mean(), x0, None)
            self._set(x0)
        elif not group["kinks"]:
            kinks.state.clear()
        loss0, solve, chunks, krylov = self._system(closure, group, solver)
        if not math.isfinite(loss0):
            self._fail(f"the loss is {loss0} at the current parameters")
        mu = max(group["mu"], group["mu_min"])
        lr = group["lr"]
        accepted, new_loss, attempts, found = False, loss0, 0, False
        first = None  # the first rejected trial (x, loss): the longest segment to search
        for attempts in range(1, group["max_attempts"] + 1):
            x_try = x0.sub(solve(mu), alpha=lr)
            self._set(x_try)
            r = check_residuals(closure())
            trial = float(r.pow(2).mean()) if r.numel() else 0.0
            if trial < loss0:  # finite and lower (NaN fails the comparison)
                accepted, new_loss = True, trial
                mu = max(mu * group["mu_decrease"], group["mu_min"])
                break
            if first is None:
                first = (x_try, trial)
                search = trial <= (1.0 + _KINK_RISE_FIRST) * loss0
            else:  # two rejections in a row
                search = first[1] <= (1.0 + _KINK_RISE_SECOND) * loss0
            if group["kinks"] and search and loss0 > 0 and r.numel():  # is the first trial across a kink?
                x_kink, f_kink, new = self._kink_on_trial(closure, x0, loss0, *first)
                first = (None, math.nan)  # searched: not again until the system changes
                if new:
                    found, mu = True, max(self.defaults["mu"], group["mu_min"])
                    if x_kink is not None:  # the point beside the kink is lower: take it
                        x_try, accepted, new_loss = x_kink, True, f_kink
                        self._set(x_try)
                        break
                    # Gauss–Newton on the kinks' intersection from here
                    loss0, solve, chunks, krylov = self._system(closure, group, solver)
                    first = None
                    continue
            mu = min(mu * group["mu_increase"], group["mu_max"])
        if accepted:
            if not all_finite(x_try):  # a parameter the residuals do not use went non-finite
                self._fail("the step produced non-finite parameters")
            self._last_good = x_try
        else:
            self._set(x0)
            self._last_good = x0
        group["mu"] = mu
        self.solver_used = solver
        N = kinks._kinks()
        self.last_info = {
            "mu": float(mu), "loss": float(new_loss), "attempts": float(attempts),
            "accepted": float(accepted), "chunks": float(chunks),
            "cg_iterations": float(krylov.iterations if krylov is not None else 0),
            "kinks": float(0 if N is None else len(N)), "kink_found": float(found),
        }
        return torch.tensor(new_loss, dtype=ref.dtype, device=ref.device)

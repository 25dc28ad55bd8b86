"""neuralab.optimizers: what torch.optim lacks, one word away.

Interface contract (what ``neuralab.training.fit`` and plain PyTorch loops rely on)
-----------------------------------------------------------------------------------
1. ``create(spec, params, lr=None, **kwargs) -> torch.optim.Optimizer``. ``spec``
   is a name (case-insensitive), a config dict ``{"class": name, "config":
   {...}}`` (as the registries take), a ``torch.optim.Optimizer`` subclass
   (instantiated with ``params`` and ``lr`` if given), a factory callable
   ``f(params, **kwargs)`` (e.g. ``functools.partial(torch.optim.SGD,
   momentum=0.9)``) or an optimizer instance (returned unchanged): everything
   ``fit(optimizer=...)`` accepts. First-order names map onto torch.optim:
   "sgd", "momentum" (SGD, momentum=0.9), "nesterov" (SGD, momentum=0.9,
   nesterov), "adam", "adamax", "rmsprop", "adadelta", "adagrad", "rprop"
   (Rprop without backtracking), "lbfgs" (torch's L-BFGS with a strong-Wolfe
   line search: the limited-memory quasi-Newton method). Ours: "rprop+"
   ("rprop_plus", Riedmiller's Rprop with weight backtracking), "irprop+"
   ("irprop_plus"), "lm" ("levenberg_marquardt"), "newton" ("hessian"),
   "newton_cg" (matrix-free truncated Newton), "hessian_diagonal", "cg" ("conjugate_gradient"), "bfgs", "dfp", "psb",
   "sr1" (QuasiNewton with that update) and "quasi_newton". All are
   registered in ``neuralab.registry.optimizers``: ``lookup(name)`` returns a
   factory ``(params, lr=None, **kwargs)``, and ``registry.optimizers.get(name,
   params=...)`` builds one (without ``params`` it raises ConfigError saying
   so). ``names()`` lists them. Unknown names raise ConfigError listing the names.
2. Every optimizer here subclasses ``torch.optim.Optimizer`` and has class
   attributes ``full_batch`` (True except the Rprop family) and ``objective``:
   "gradient" (RPropPlus, IRPropPlus: ``loss.backward(); opt.step()``),
   "residuals" (LevenbergMarquardt) or "loss" (Newton, HessianDiagonal,
   ConjugateGradient, QuasiNewton).
3. Full-batch ``step(closure)``: ``closure()`` takes no arguments and returns
   the objective at the CURRENT parameters with autograd enabled (a 1-D
   residual vector for LM, a scalar loss otherwise) and does NOT call
   ``backward``; the optimizer may call it several times. ``step`` returns the
   objective after the step as a 0-d tensor (for LM: mean of squared residuals).
4. ``ResidualClosure(module, inputs, targets, residual_fn=None)`` and
   ``LossClosure(module, inputs, targets, loss_fn)`` are such closures that
   also expose the model and data: LM then uses per-sample Jacobians (from the
   linear layers with one backward pass, or ``torch.func`` for other
   architectures) in memory-bounded chunks, Newton/HessianDiagonal
   ``torch.func`` Hessian-vector products.
5. After each step ``optimizer.last_info`` is a dict of floats to record
   (e.g. ``{"mu": 0.001}`` for LM, ``{"step_size": 0.3}`` for line searches).
6. NaN/inf in parameters or objective: the last good parameters are restored
   and ``neuralab.errors.TrainingError`` is raised. Singular systems fall back
   (jitter, pseudo-inverse), never crash. Bad options raise ConfigError listing
   the allowed values; LM given a scalar loss raises ConfigError naming the
   accepted losses (``check_least_squares_loss(name)`` does the same check on a
   loss name, for ``fit``).
7. Parameters keep their dtype: a float64 model trains in float64.
8. Memory preflight: the methods that hold P×P matrices (newton, bfgs, dfp,
   psb, sr1) estimate them at construction and raise ConfigError, naming the
   estimate, P and the methods that scale (lbfgs, cg, hessian_diagonal), when
   they exceed ``memory_limit`` (default: half of the available memory).
   Built by name (``create``, hence ``fit`` and the CLI), such a method is
   mapped to the one that fits instead (bfgs, dfp, psb, sr1, quasi_newton →
   the limited-memory BFGS ``QuasiNewton(update="bfgs", history=10)``, full
   batch like them; newton → newton_cg) with a RuntimeWarning naming the
   estimate and the replacement; ``strict=True`` keeps the ConfigError. LM plans its own
   solver (P×P, N×N or matrix-free) and refuses only when none fits.
9. Line searches never stall silently: at a zero step they fall back (−g, the
   other side of a kink, the smallest subgradient) and warn once.

Example:
    >>> import torch, neuralab.optimizers as nopt
    >>> net = torch.nn.Linear(2, 1)
    >>> type(nopt.create("lm", net.parameters())).__name__
    'LevenbergMarquardt'
    >>> type(nopt.create("adam", net.parameters(), lr=0.1)).__name__
    'Adam'
"""

from __future__ import annotations

import inspect
import warnings
from functools import partial

import torch
from torch.optim import Optimizer

from .. import registry
from ..errors import ConfigError, DTypeError
from ._closures import LossClosure, ResidualClosure, label_residual
from ._derivatives import (
    loss_hessian,
    loss_hessian_diagonal,
    residual_jacobian,
    residual_normal_equations,
)
from ._memory import MemoryPlanError, available_memory, format_bytes
from .conjugate_gradient import CG_UPDATES, ConjugateGradient, cg_beta
from .irprop import IRPropPlus, RPropPlus
from .levenberg_marquardt import LM_SOLVERS, LevenbergMarquardt, check_least_squares_loss, choose_solver
from .newton import HessianDiagonal, Newton, NewtonCG
from .quasi_newton import QN_UPDATES, QuasiNewton

__all__ = [
    "create",
    "names",
    "RPropPlus",
    "IRPropPlus",
    "LevenbergMarquardt",
    "Newton",
    "NewtonCG",
    "HessianDiagonal",
    "ConjugateGradient",
    "QuasiNewton",
    "CG_UPDATES",
    "QN_UPDATES",
    "ResidualClosure",
    "LossClosure",
    "check_least_squares_loss",
    "choose_solver",
    "LM_SOLVERS",
    "label_residual",
    "cg_beta",
    "available_memory",
    "residual_jacobian",
    "residual_normal_equations",
    "loss_hessian",
    "loss_hessian_diagonal",
]

# name -> (torch class, default lr, fixed kwargs)
_TORCH_FIRST_ORDER = {
    "sgd": (torch.optim.SGD, 0.01, {}),
    "momentum": (torch.optim.SGD, 0.01, {"momentum": 0.9}),
    "nesterov": (torch.optim.SGD, 0.01, {"momentum": 0.9, "nesterov": True}),
    "adam": (torch.optim.Adam, 1e-3, {}),
    "adamw": (torch.optim.AdamW, 1e-3, {}),
    "adamax": (torch.optim.Adamax, 2e-3, {}),
    "rmsprop": (torch.optim.RMSprop, 1e-3, {}),
    "adadelta": (torch.optim.Adadelta, 1.0, {}),
    "adagrad": (torch.optim.Adagrad, 1e-2, {}),
    "rprop": (torch.optim.Rprop, 1e-2, {}),
    "lbfgs": (torch.optim.LBFGS, 1.0, {"line_search_fn": "strong_wolfe"}),
}


def _need_params(name, params):
    if params is None:
        raise ConfigError(
            f"optimizer {name!r} needs the parameters it optimises: "
            f"registry.optimizers.get({name!r}, params=model.parameters()) or "
            f"neuralab.optimizers.create({name!r}, model.parameters())"
        )


def _torch_factory(name, cls, default_lr, fixed, params=None, lr=None, **kwargs):
    _need_params(name, params)
    options = dict(fixed)
    options.update(kwargs)
    return cls(params, lr=default_lr if lr is None else lr, **options)


def _class_factory(name, cls, fixed, params=None, lr=None, **kwargs):
    _need_params(name, params)
    options = dict(fixed)
    options.update(kwargs)
    return cls(params, lr=lr, **options)


def _register(name, *aliases, factory):
    factory.__name__ = name
    factory.optimizer_class = factory.args[1]  # what fit inspects to check keyword options
    registry.optimizers.register(name, *aliases, obj=factory)


for _name, (_cls, _lr, _fixed) in _TORCH_FIRST_ORDER.items():
    _register(_name, factory=partial(_torch_factory, _name, _cls, _lr, _fixed))


def _register_ours(name, *aliases, cls, **fixed):
    _register(name, *aliases, factory=partial(_class_factory, name, cls, fixed))


#: what a dense (P×P) method built by name becomes when its matrices do not fit:
#: (registered name, fixed options, description)
_LBFGS = ("quasi_newton", {"update": "bfgs", "history": 10},
          "limited-memory BFGS: QuasiNewton(update='bfgs', history=10), O(20·P) memory")
MAPPED = {
    "newton": ("newton_cg", {}, "matrix-free truncated Newton, O(P) memory"),
    "quasi_newton": _LBFGS,
    **{update: _LBFGS for update in QN_UPDATES},
}


def _replacement_options(name: str, kwargs: dict, fixed: dict) -> tuple[dict, list]:
    """The keyword options the replacement ``name`` takes, and the ones it does not."""
    target = registry.optimizers.lookup(name).optimizer_class
    accepted = set(inspect.signature(target.__init__).parameters) - {"self", "params", "lr"}
    planning = {"memory_limit", "memory_budget"}  # the dense plan's own options
    kept = {k: v for k, v in kwargs.items() if k in accepted and k not in fixed}
    return ({**kept, **fixed},
            sorted(k for k in kwargs if k not in accepted | planning | set(fixed)))


def _mapped_factory(name, cls, fixed, params=None, lr=None, strict=False, **kwargs):
    """Build ``cls``; when its P×P matrices do not fit, the method that does (unless strict)."""
    _need_params(name, params)
    params = list(params)
    options = dict(fixed)
    options.update(kwargs)
    try:
        return cls(params, lr=lr, **options)
    except MemoryPlanError as exc:
        if strict:
            raise
        replacement, replacement_fixed, what = MAPPED[name]
        kept, dropped = _replacement_options(replacement, kwargs, replacement_fixed)
        note = f"; options it does not take were dropped: {', '.join(dropped)}" if dropped else ""
        warnings.warn(
            f"optimizer {name!r} would need about {format_bytes(exc.estimate)} for "
            f"{exc.n_params:,} parameters (dense P×P matrices), more than the "
            f"{format_bytes(exc.allowed)} allowed; using {what} instead"
            f"{note}. Pass strict=True to get the error instead.", RuntimeWarning, stacklevel=3)
        target = registry.optimizers.lookup(replacement).optimizer_class
        return target(params, lr=lr, **kept)


def _register_mapped(name, *aliases, cls, **fixed):
    _register(name, *aliases, factory=partial(_mapped_factory, name, cls, fixed))


_register_ours("rprop+", "rprop_plus", cls=RPropPlus)
_register_ours("irprop+", "irprop_plus", cls=IRPropPlus)
_register_ours("lm", "levenberg_marquardt", cls=LevenbergMarquardt)
_register_mapped("newton", "hessian", cls=Newton)
_register_ours("newton_cg", "truncated_newton", cls=NewtonCG)
_register_ours("hessian_diagonal", cls=HessianDiagonal)
_register_ours("cg", "conjugate_gradient", cls=ConjugateGradient)
_register_mapped("quasi_newton", cls=QuasiNewton)
for _update in QN_UPDATES:
    _register_mapped(_update, cls=QuasiNewton, update=_update)


def names(pattern: str = "*") -> list[str]:
    """Registered optimizer names (primary names, sorted), optionally filtered by a glob."""
    return registry.optimizers.names(pattern)


def create(spec, params, lr: float | None = None, **kwargs) -> Optimizer:
    """Build an optimizer from anything ``fit(optimizer=...)`` accepts.

    Args:
        spec: a registered name (see :func:`names`), a config dict ``{"class":
            name, "config": {...}}``, an Optimizer subclass, a factory callable
            ``f(params, **kwargs) -> Optimizer``, or an Optimizer instance
            (returned unchanged).
        params: the parameters (iterable of tensors or parameter groups).
        lr: learning rate / initial step; None uses the optimizer's default.
        **kwargs: passed to the optimizer's constructor (for a dict spec, they
            override its "config").

    Returns:
        A ``torch.optim.Optimizer``.

    Example:
        >>> import torch
        >>> net = torch.nn.Linear(2, 1)
        >>> create({"class": "cg", "config": {"update": "liu_storey"}}, net.parameters()).defaults["update"]
        'liu_storey'
    """
    return _create(spec, params, lr, kwargs, owner="optimizers.create",
                   where="its keyword arguments")


def _create(spec, params, lr, kwargs: dict, *, owner: str, where: str) -> Optimizer:
    """:func:`create`; a keyword the optimizer does not take is a ConfigError of ``owner``
    naming it and those it takes (in ``where``: fit says "optimizer_kwargs")."""
    if isinstance(spec, Optimizer):
        if lr is not None or kwargs:
            warnings.warn(
                "create() received an optimizer instance; lr and keyword options are ignored",
                stacklevel=3,
            )
        return spec
    if inspect.isclass(spec) and issubclass(spec, Optimizer):
        name, cls, options = spec.__name__, spec, dict(kwargs, **({} if lr is None else {"lr": lr}))
        build = spec
    elif isinstance(spec, str):
        build = registry.optimizers.lookup(spec)
        name, cls, options = spec, _class_of(build), dict(kwargs, lr=lr)
    elif isinstance(spec, dict):
        if set(spec) - {"class", "config"} or not isinstance(spec.get("class"), str):
            raise DTypeError(
                'an optimizer config must be a dict {"class": name, "config": {...}}; received '
                f"keys {sorted(map(str, spec))}"
            )
        options = dict(spec.get("config") or {})
        options.update(kwargs)
        if lr is not None:
            options["lr"] = lr
        build = registry.optimizers.lookup(spec["class"])
        name, cls = spec["class"], _class_of(build)
    elif callable(spec):
        opt = spec(params, **kwargs) if lr is None else spec(params, lr=lr, **kwargs)
        if not isinstance(opt, Optimizer):
            raise DTypeError(
                f"the optimizer factory {getattr(spec, '__name__', spec)!r} returned "
                f"{type(opt).__name__}, not a torch.optim.Optimizer"
            )
        return opt
    else:
        raise DTypeError(
            "optimizer must be a name, a config dict, a torch.optim.Optimizer subclass or instance, "
            f"or a factory callable; received {type(spec).__name__}. Names: {', '.join(names())}"
        )
    try:
        return build(params, **options)
    except TypeError:
        if cls is not None:
            check_options(owner, name, cls, options, where)
        raise


# keyword options the registry's factories take on top of the class's own
_FACTORY_OPTIONS = ("strict",)


def _class_of(entry):
    """The optimizer class a registry entry builds (None when it cannot tell)."""
    return entry if isinstance(entry, type) else getattr(entry, "optimizer_class", None)


def check_options(owner: str, name: str, cls, options: dict, where: str) -> None:
    """ConfigError for a keyword option optimizer class ``cls`` does not take, listing those it does.

    >>> check_options("fit", "cg", ConjugateGradient, {"method": "x"}, "optimizer_kwargs")
    Traceback (most recent call last):
    ...
    neuralab.errors.ConfigError: fit: optimizer 'cg' does not take `method`; expected some of lr, update, restart_every, line_search, c1, c2, orthogonality in optimizer_kwargs
    """
    try:
        params = inspect.signature(cls.__init__).parameters
    except (TypeError, ValueError):
        return
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    allowed = [p for p in params if p not in ("self", "params")]
    unknown = [k for k in options if k not in params and k not in _FACTORY_OPTIONS]
    if unknown:
        raise ConfigError(
            f"{owner}: optimizer {name!r} does not take {', '.join(f'`{k}`' for k in unknown)}; "
            f"expected some of {', '.join(allowed)} in {where}"
        )

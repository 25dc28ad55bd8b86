"""neuralab.optimizers: what torch.optim lacks, one word away.

Interface contract (what ``neuralab.training.fit`` and plain PyTorch loops rely on)
-----------------------------------------------------------------------------------
1. ``create(spec, params, lr=None, **kwargs) -> torch.optim.Optimizer``. ``spec``
   is a name (case-insensitive), a ``torch.optim.Optimizer`` subclass
   (instantiated with ``params`` and ``lr`` if given) or an optimizer instance
   (returned unchanged). First-order names map onto torch.optim: "sgd",
   "momentum" (SGD, momentum=0.9), "nesterov" (SGD, momentum=0.9, nesterov),
   "adam", "adamax", "rmsprop", "adadelta", "adagrad", "rprop". Ours:
   "irprop+" ("irprop_plus"), "lm" ("levenberg_marquardt"), "newton"
   ("hessian"), "hessian_diagonal", "cg" ("conjugate_gradient"), "bfgs",
   "dfp", "psb", "sr1" (QuasiNewton with that update) and "quasi_newton".
   All are registered in ``neuralab.registry.optimizers``; ``lookup(name)``
   returns a factory ``(params, lr=None, **kwargs)``. ``names()`` lists them.
   Unknown names raise ConfigError listing the names.
2. Every optimizer here subclasses ``torch.optim.Optimizer`` and has class
   attributes ``full_batch`` (True except IRPropPlus) and ``objective``:
   "gradient" (IRPropPlus: ``loss.backward(); opt.step()``), "residuals"
   (LevenbergMarquardt) or "loss" (Newton, HessianDiagonal, ConjugateGradient,
   QuasiNewton).
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
from ..errors import DTypeError
from ._closures import LossClosure, ResidualClosure
from ._derivatives import (
    loss_hessian,
    loss_hessian_diagonal,
    residual_jacobian,
    residual_normal_equations,
)
from .conjugate_gradient import CG_UPDATES, ConjugateGradient
from .irprop import IRPropPlus
from .levenberg_marquardt import LevenbergMarquardt, check_least_squares_loss
from .newton import HessianDiagonal, Newton
from .quasi_newton import QN_UPDATES, QuasiNewton

__all__ = [
    "create",
    "names",
    "IRPropPlus",
    "LevenbergMarquardt",
    "Newton",
    "HessianDiagonal",
    "ConjugateGradient",
    "QuasiNewton",
    "CG_UPDATES",
    "QN_UPDATES",
    "ResidualClosure",
    "LossClosure",
    "check_least_squares_loss",
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
    "adamax": (torch.optim.Adamax, 2e-3, {}),
    "rmsprop": (torch.optim.RMSprop, 1e-3, {}),
    "adadelta": (torch.optim.Adadelta, 1.0, {}),
    "adagrad": (torch.optim.Adagrad, 1e-2, {}),
    "rprop": (torch.optim.Rprop, 1e-2, {}),
}


def _torch_factory(cls, default_lr, fixed, params, lr=None, **kwargs):
    options = dict(fixed)
    options.update(kwargs)
    return cls(params, lr=default_lr if lr is None else lr, **options)


def _class_factory(cls, fixed, params, lr=None, **kwargs):
    options = dict(fixed)
    options.update(kwargs)
    return cls(params, lr=lr, **options)


def _register(name, *aliases, factory):
    factory.__name__ = name
    registry.optimizers.register(name, *aliases, obj=factory)


for _name, (_cls, _lr, _fixed) in _TORCH_FIRST_ORDER.items():
    _register(_name, factory=partial(_torch_factory, _cls, _lr, _fixed))


def _register_ours(name, *aliases, cls, **fixed):
    _register(name, *aliases, factory=partial(_class_factory, cls, fixed))


_register_ours("irprop+", "irprop_plus", cls=IRPropPlus)
_register_ours("lm", "levenberg_marquardt", cls=LevenbergMarquardt)
_register_ours("newton", "hessian", cls=Newton)
_register_ours("hessian_diagonal", cls=HessianDiagonal)
_register_ours("cg", "conjugate_gradient", cls=ConjugateGradient)
_register_ours("quasi_newton", cls=QuasiNewton)
for _update in QN_UPDATES:
    _register_ours(_update, cls=QuasiNewton, update=_update)


def names(pattern: str = "*") -> list[str]:
    """Registered optimizer names (primary names, sorted), optionally filtered by a glob."""
    return registry.optimizers.names(pattern)


def create(spec, params, lr: float | None = None, **kwargs) -> Optimizer:
    """Build an optimizer from a name, a torch.optim.Optimizer subclass or an instance.

    Args:
        spec: a registered name (see :func:`names`), an Optimizer subclass, or an
            Optimizer instance (returned unchanged).
        params: the parameters (iterable of tensors or parameter groups).
        lr: learning rate / initial step; None uses the optimizer's default.
        **kwargs: passed to the optimizer's constructor.

    Returns:
        A ``torch.optim.Optimizer``.
    """
    if isinstance(spec, Optimizer):
        if lr is not None or kwargs:
            warnings.warn(
                "create() received an optimizer instance; lr and keyword options are ignored",
                stacklevel=2,
            )
        return spec
    if inspect.isclass(spec) and issubclass(spec, Optimizer):
        return spec(params, **kwargs) if lr is None else spec(params, lr=lr, **kwargs)
    if isinstance(spec, str):
        factory = registry.optimizers.lookup(spec)
        return factory(params, lr=lr, **kwargs)
    raise DTypeError(
        "optimizer must be a name, a torch.optim.Optimizer subclass or instance; received "
        f"{type(spec).__name__}. Names: {', '.join(names())}"
    )

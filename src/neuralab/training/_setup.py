"""Resolving a run's parts from what the user passed: device, optimizer, schedule, regularizers."""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn

from .. import registry
from .. import regularizers as _regularizers
from ..errors import ConfigError
from ..validation import check_number, expected

__all__ = ["resolve_device", "make_optimizer", "resolve_schedule", "split_regularizers", "module_device",
           "step_takes_loss"]


def resolve_device(device: Any) -> torch.device:
    """``"auto"`` → CUDA when present, else CPU; strings and ``torch.device`` pass through.

    Asking for CUDA on a machine without it is a ConfigError, not a late torch error.
    """
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"expected device 'auto', 'cpu', 'cuda' or 'cuda:N', received {device!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"expected device 'auto' or 'cpu' on this machine, which has no CUDA; received {device!r}")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ConfigError(f"expected a CUDA device index below {torch.cuda.device_count()}, received {device!r}")
    return dev


def module_device(module: nn.Module) -> torch.device:
    for t in list(module.parameters()) + list(module.buffers()):
        return t.device
    return torch.device("cpu")


def _trainable(module: nn.Module) -> list:
    return [p for p in module.parameters() if p.requires_grad]


def make_optimizer(spec, module: nn.Module, lr: float | None, kwargs: dict):
    """An optimizer for ``module``'s trainable parameters from a name, a dict spec, a class or an instance."""
    if hasattr(spec, "step") and hasattr(spec, "param_groups") and not isinstance(spec, type):
        if lr is not None:
            for group in spec.param_groups:
                group["lr"] = lr
        return spec
    params = _trainable(module)
    if not params:
        raise ConfigError(f"fit: {type(module).__name__} has no trainable parameters")
    if not isinstance(spec, (str, dict)) and not callable(spec):
        raise expected("fit", "optimizer", "an optimizer name, a torch.optim class or instance",
                       type(spec).__name__)
    from .. import optimizers

    try:
        return optimizers._create(spec, params, lr, kwargs, owner="fit", where="optimizer_kwargs")
    except TypeError as exc:  # not an option it does not take (those are ConfigErrors)
        name = spec if isinstance(spec, str) else getattr(spec, "__name__", type(spec).__name__)
        raise ConfigError(f"fit: optimizer {name!r} rejected its arguments: {exc}") from None


def step_takes_loss(optimizer) -> bool:
    """Does ``optimizer.step`` accept the loss (``step(loss=...)``, iRPROP+'s backtracking)?"""
    try:
        return "loss" in inspect.signature(optimizer.step).parameters
    except (TypeError, ValueError):
        return False


def resolve_schedule(spec):
    """``(factor_fn or None, torch scheduler or None)`` for ``lr_schedule``."""
    if spec is None:
        return None, None
    if isinstance(spec, torch.optim.lr_scheduler.LRScheduler):
        return None, spec
    if isinstance(spec, type) and issubclass(spec, torch.optim.lr_scheduler.LRScheduler):
        raise expected("fit", "lr_schedule", "a torch LR scheduler instance, e.g. StepLR(opt, step_size=10) "
                       "with optimizer=opt", f"the class {spec.__name__}")
    if isinstance(spec, (str, dict)):
        spec = registry.schedules.get(spec)
    factor = getattr(spec, "factor", None)
    if callable(factor):
        return factor, None
    if callable(spec):
        return spec, None
    raise expected("fit", "lr_schedule", "a schedule (step_decay …), a callable epoch -> factor or a "
                   "torch LR scheduler", type(spec).__name__)


def split_regularizers(spec) -> tuple[list, list]:
    """``(penalties, projections)``: terms added to the loss, and constraints applied after a step."""
    regs = _regularizers.resolve(spec)
    penalties = [r for r in regs if type(r).penalty is not _regularizers.Regularizer.penalty
                 and not isinstance(r, _regularizers.MaxNorm)]
    projections = [r for r in regs if type(r).apply is not _regularizers.Regularizer.apply]
    return penalties, projections


def check_lr(lr) -> float | None:
    return check_number("fit", "lr", lr, low=0.0, allow_none=True)

"""Learning-rate schedules, per epoch.

A schedule maps the epoch index ``e`` (0-based) to a multiplier of the initial
learning rate ``η₀``: ``η(e) = η₀ · schedule.factor(e)``.

- :func:`step_decay` ``(factor, every)``: ``η₀ · factor^⌊e / every⌋``
- :func:`exponential_decay` ``(rate, every=1, staircase=False)``:
  ``η₀ · rate^(e / every)`` (``⌊e / every⌋`` when ``staircase``)
- :func:`polynomial_decay` ``(epochs, power=1, end_factor=0)``:
  ``η₀ · ((1 − f)(1 − min(e, T)/T)^p + f)`` with ``T = epochs``, ``f = end_factor``

``fit(..., lr_schedule=step_decay(0.5, every=10))`` sets the rate at the start of
each epoch. Outside ``fit`` a schedule is a torch scheduler::

    >>> import torch
    >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    >>> sched = step_decay(0.5, every=2).as_torch(opt)
    >>> lrs = []
    >>> for epoch in range(5):
    ...     lrs.append(opt.param_groups[0]["lr"]); opt.step(); sched.step()
    >>> lrs
    [1.0, 1.0, 0.5, 0.5, 0.25]
"""

from __future__ import annotations

import math

import torch

from . import registry
from .errors import ConfigError
from .validation import check_bool

__all__ = [
    "Schedule",
    "StepDecay",
    "ExponentialDecay",
    "PolynomialDecay",
    "step_decay",
    "exponential_decay",
    "polynomial_decay",
]


def _number(owner, name, value, *, low=None, high=None, integer=False, low_open=False):
    ok_type = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, ok_type):
        kind = "an integer" if integer else "a number"
        raise ConfigError(f"{owner}: expected {kind} for `{name}`, received {value!r}")
    if low is not None and (value <= low if low_open else value < low):
        raise ConfigError(
            f"{owner}: expected `{name}` {'>' if low_open else '>='} {low}, received {value!r}"
        )
    if high is not None and value > high:
        raise ConfigError(f"{owner}: expected `{name}` <= {high}, received {value!r}")
    return value


class Schedule:
    """Base class: ``factor(epoch)`` is the multiplier of the initial learning rate."""

    def factor(self, epoch: int) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, epoch: int, base_lr: float = 1.0) -> float:
        """The learning rate at ``epoch`` for an initial rate ``base_lr``."""
        return base_lr * self.factor(epoch)

    def as_torch(self, optimizer: torch.optim.Optimizer, last_epoch: int = -1):
        """A :class:`torch.optim.lr_scheduler.LambdaLR` following this schedule (step it per epoch)."""
        return torch.optim.lr_scheduler.LambdaLR(optimizer, self.factor, last_epoch=last_epoch)

    def get_config(self) -> dict:
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


@registry.schedules.register("step_decay", "step")
class StepDecay(Schedule):
    """Multiply the rate by ``factor`` every ``every`` epochs: ``η₀ · factor^⌊e/every⌋``.

    Args:
        factor: the multiplier, in (0, 1] (default 0.5).
        every: epochs between drops, >= 1 (default 10).

    >>> [StepDecay(0.1, every=3).factor(e) for e in (0, 2, 3, 6)]
    [1.0, 1.0, 0.1, 0.010000000000000002]
    """

    def __init__(self, factor: float = 0.5, every: int = 10):
        self.factor_ = _number("step_decay", "factor", factor, low=0, low_open=True, high=1)
        self.every = _number("step_decay", "every", every, low=1, integer=True)

    def factor(self, epoch: int) -> float:
        return float(self.factor_ ** (epoch // self.every))

    def get_config(self) -> dict:
        return {"factor": self.factor_, "every": self.every}


@registry.schedules.register("exponential_decay", "exponential")
class ExponentialDecay(Schedule):
    """Exponential decay ``η₀ · rate^(e/every)`` (``⌊e/every⌋`` with ``staircase=True``).

    Args:
        rate: the decay per ``every`` epochs, in (0, 1] (default 0.96).
        every: epochs per full decay step, >= 1 (default 1).
        staircase: decay in discrete steps (default False).

    >>> round(ExponentialDecay(0.5, every=2).factor(1), 6)
    0.707107
    """

    def __init__(self, rate: float = 0.96, every: int = 1, staircase: bool = False):
        self.rate = _number("exponential_decay", "rate", rate, low=0, low_open=True, high=1)
        self.every = _number("exponential_decay", "every", every, low=1, integer=True)
        self.staircase = check_bool("exponential_decay", "staircase", staircase)

    def factor(self, epoch: int) -> float:
        t = epoch // self.every if self.staircase else epoch / self.every
        return float(self.rate**t)

    def get_config(self) -> dict:
        return {"rate": self.rate, "every": self.every, "staircase": self.staircase}


@registry.schedules.register("polynomial_decay", "polynomial")
class PolynomialDecay(Schedule):
    """Polynomial decay from ``η₀`` to ``end_factor · η₀`` over ``epochs`` epochs.

    ``η₀ · ((1 − f) (1 − min(e, T)/T)^p + f)``, ``T = epochs``, ``f = end_factor``;
    ``power=1`` is a linear ramp. After ``T`` epochs the rate stays at ``f · η₀``.

    Args:
        epochs: T >= 1, the length of the decay.
        power: p > 0 (default 1.0).
        end_factor: f in [0, 1] (default 0.0).

    >>> [PolynomialDecay(4).factor(e) for e in range(6)]
    [1.0, 0.75, 0.5, 0.25, 0.0, 0.0]
    """

    def __init__(self, epochs: int = 100, power: float = 1.0, end_factor: float = 0.0):
        self.epochs = _number("polynomial_decay", "epochs", epochs, low=1, integer=True)
        self.power = _number("polynomial_decay", "power", power, low=0, low_open=True)
        self.end_factor = _number("polynomial_decay", "end_factor", end_factor, low=0, high=1)

    def factor(self, epoch: int) -> float:
        frac = 1.0 - min(epoch, self.epochs) / self.epochs
        return float((1.0 - self.end_factor) * math.pow(frac, self.power) + self.end_factor)

    def get_config(self) -> dict:
        return {"epochs": self.epochs, "power": self.power, "end_factor": self.end_factor}


def step_decay(factor: float = 0.5, every: int = 10) -> StepDecay:
    """``η₀ · factor^⌊e/every⌋``; see :class:`StepDecay`."""
    return StepDecay(factor, every)


def exponential_decay(rate: float = 0.96, every: int = 1, staircase: bool = False) -> ExponentialDecay:
    """``η₀ · rate^(e/every)``; see :class:`ExponentialDecay`."""
    return ExponentialDecay(rate, every, staircase)


def polynomial_decay(epochs: int = 100, power: float = 1.0, end_factor: float = 0.0) -> PolynomialDecay:
    """``η₀ · ((1 − f)(1 − min(e,T)/T)^p + f)``; see :class:`PolynomialDecay`."""
    return PolynomialDecay(epochs, power, end_factor)

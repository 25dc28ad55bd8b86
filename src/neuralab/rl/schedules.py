"""Schedules for exploration rates and learning rates of the agents.

A schedule maps a count ``t`` (episodes for the tabular agents, environment steps
for DQN; each agent says which) to a value:

- :class:`LinearSchedule` ``(start, end, duration)``: ``start + (end − start) · min(t / duration, 1)``
- :class:`ExponentialSchedule` ``(start, end, rate)``: ``max(end, start · rate^t)``
- a plain number is a constant; any callable ``t -> value`` works too (checked when used).

    >>> eps = LinearSchedule(1.0, 0.1, duration=10)
    >>> [round(eps(t), 2) for t in (0, 5, 10, 20)]
    [1.0, 0.55, 0.1, 0.1]
    >>> ExponentialSchedule(1.0, 0.05, rate=0.5)(3)
    0.125
"""

from __future__ import annotations

import numbers

from ..errors import ConfigError
from ..validation import check_int, check_number, expected

__all__ = ["LinearSchedule", "ExponentialSchedule", "as_schedule"]


class LinearSchedule:
    """Linear interpolation from ``start`` to ``end`` over ``duration`` counts, then ``end``."""

    def __init__(self, start: float, end: float, duration: int):
        self.start = check_number("LinearSchedule", "start", start)
        self.end = check_number("LinearSchedule", "end", end)
        self.duration = check_int("LinearSchedule", "duration", duration, low=1)

    def __call__(self, t: int) -> float:
        return self.start + (self.end - self.start) * min(t / self.duration, 1.0)

    def bounds(self) -> tuple[float, float]:
        return min(self.start, self.end), max(self.start, self.end)

    def __repr__(self) -> str:
        return f"LinearSchedule({self.start:g}, {self.end:g}, duration={self.duration})"


class ExponentialSchedule:
    """Geometric decay ``max(end, start · rate^t)`` with ``0 < rate <= 1``."""

    def __init__(self, start: float, end: float, rate: float):
        self.start = check_number("ExponentialSchedule", "start", start)
        self.end = check_number("ExponentialSchedule", "end", end)
        self.rate = check_number("ExponentialSchedule", "rate", rate, low=0.0, high=1.0,
                                 low_open=True)

    def __call__(self, t: int) -> float:
        return max(self.end, self.start * self.rate ** t)

    def bounds(self) -> tuple[float, float]:
        return min(self.start, self.end), max(self.start, self.end)

    def __repr__(self) -> str:
        return f"ExponentialSchedule({self.start:g}, {self.end:g}, rate={self.rate:g})"


class _Checked:
    """A user callable whose every value is checked against the allowed range."""

    def __init__(self, fn, owner, name, what, ok):
        self.fn, self.owner, self.name, self.what, self.ok = fn, owner, name, what, ok

    def __call__(self, t: int) -> float:
        value = self.fn(t)
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not self.ok(value):
            raise ConfigError(f"{self.owner}: expected `{self.name}` to give {self.what}, "
                              f"received {value!r} at t={t}")
        return float(value)


def as_schedule(owner: str, name: str, value, *, low: float, high: float | None = None,
                low_open: bool = False):
    """A number or schedule as a callable ``t -> value``, its range checked against the bounds.

    >>> as_schedule("QLearning", "epsilon", 0.1, low=0.0, high=1.0)(7)
    0.1
    >>> as_schedule("QLearning", "epsilon", 1.5, low=0.0, high=1.0)
    Traceback (most recent call last):
    ...
    neuralab.errors.ConfigError: QLearning: expected `epsilon` to be a finite number >= 0 and \
<= 1 or a schedule, received 1.5
    """
    bounds = (f"> {low:g}" if low_open else f">= {low:g}") + (
        f" and <= {high:g}" if high is not None else "")
    what = f"a finite number {bounds} or a schedule"

    def ok(v):
        return (v > low if low_open else v >= low) and (high is None or v <= high) and v == v

    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        if not ok(float(value)) or float(value) in (float("inf"), float("-inf")):
            raise expected(owner, name, what, value)
        constant = float(value)
        return lambda t: constant
    if isinstance(value, (LinearSchedule, ExponentialSchedule)):
        lo, hi = value.bounds()
        if not (ok(lo) and ok(hi)):
            raise expected(owner, name, f"a schedule with values {bounds}", value)
        return value
    if callable(value):
        return _Checked(value, owner, name, f"values {bounds}", ok)
    raise expected(owner, name, what, value)

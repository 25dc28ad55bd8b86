"""What every full-batch optimizer here shares: one flat parameter vector,
the last good parameters, non-finite detection and ``last_info``."""

from __future__ import annotations

import math

import torch
from torch.optim import Optimizer

from ..errors import ConfigError, TrainingError
from ._flat import all_finite, get_flat, numel, set_flat_

__all__ = ["FullBatchOptimizer", "check_positive"]


def check_positive(name: str, value, *, allow_zero: bool = False, owner: str = "") -> float:
    """Validate a positive (or non-negative) finite float hyperparameter."""
    prefix = f"{owner}: " if owner else ""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        expected = "a non-negative" if allow_zero else "a positive"
        raise ConfigError(f"{prefix}expected {expected} finite number for `{name}`, received {value!r}")
    return float(value)


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
        if len(self.param_groups) != 1:
            raise ConfigError(
                f"{type(self).__name__} supports one parameter group; "
                f"received {len(self.param_groups)}"
            )
        self._params = [p for p in self.param_groups[0]["params"] if p.requires_grad]
        if not self._params:
            raise ConfigError(f"{type(self).__name__} received no parameters that require grad")
        dtypes = {p.dtype for p in self._params}
        if len(dtypes) != 1:
            raise ConfigError(
                f"{type(self).__name__} needs all parameters in one dtype; received "
                f"{sorted(str(d) for d in dtypes)}"
            )
        self.last_info: dict[str, float] = {}
        self._last_good: torch.Tensor | None = None

    # -- helpers -------------------------------------------------------------
    @property
    def n_params(self) -> int:
        return numel(self._params)

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
        return self._step(closure)

    def _step(self, closure):  # pragma: no cover - abstract
        raise NotImplementedError


LINE_SEARCHES = ("strong_wolfe", "armijo")


def check_line_search(name: str, owner: str) -> str:
    if name not in LINE_SEARCHES:
        raise ConfigError(
            f"{owner}: unknown line_search {name!r}; expected one of: {', '.join(LINE_SEARCHES)}"
        )
    return name


class LineSearchOptimizer(FullBatchOptimizer):
    """Full-batch optimizer that moves along a direction with a line search.

    Each step evaluates the closure afresh at its start (as torch.optim.LBFGS
    does), so a closure whose data changed between steps is handled correctly.
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
        return x, f, g

    def _search(self, closure, x0, f0, g0, direction, t0):
        """Line search from x0 along direction; leaves the parameters at the new point."""
        from ._linesearch import armijo, strong_wolfe

        group = self.param_groups[0]

        def phi(t):
            self._set(x0 + t * direction)
            f, g = self._loss_and_grad(closure)
            fv = float(f)
            return fv, float(g @ direction) if math.isfinite(fv) else math.nan, g

        d0 = float(g0 @ direction)
        if group["line_search"] == "armijo":
            t, f, g, evals = armijo(phi, float(f0), d0, g0, t0, c1=group["c1"])
        else:
            t, f, g, evals = strong_wolfe(phi, float(f0), d0, g0, t0, c1=group["c1"],
                                          c2=group["c2"])
        x = x0 + t * direction
        self._set(x)
        return t, torch.as_tensor(f, dtype=x0.dtype), g, evals

"""Resilient backpropagation with weight backtracking: Rprop+ (Riedmiller & Braun, 1993)
and iRprop+ (Igel & Hüsken, 2000), one update kernel with two backtracking rules.

torch's ``Rprop`` (our "rprop") is Rprop without backtracking (Rprop−).
"""

from __future__ import annotations

import math

import torch
from torch.optim import Optimizer

from ..errors import ConfigError, TrainingError
from ..validation import expected
from ._base import check_lr

__all__ = ["RPropPlus", "IRPropPlus"]


class _BacktrackingRprop(Optimizer):
    """The shared kernel; subclasses say when a weight whose gradient flipped is reverted."""

    full_batch = False
    objective = "gradient"

    def __init__(self, params, lr: float | None = None, etas=(0.5, 1.2), step_sizes=(1e-6, 50.0)):
        name = type(self).__name__
        lr = check_lr(name, lr, default=0.01)
        if not (isinstance(etas, (tuple, list)) and len(etas) == 2
                and all(isinstance(e, (int, float)) for e in etas) and 0 < etas[0] < 1 < etas[1]):
            raise expected(name, "etas", "(eta_minus, eta_plus) with 0 < eta_minus < 1 < eta_plus",
                           etas)
        if not (isinstance(step_sizes, (tuple, list)) and len(step_sizes) == 2
                and all(isinstance(e, (int, float)) for e in step_sizes)
                and 0 <= step_sizes[0] <= step_sizes[1]):
            raise expected(name, "step_sizes", "(min, max) with 0 <= min <= max", step_sizes)
        super().__init__(params, dict(lr=lr, etas=tuple(etas), step_sizes=tuple(step_sizes)))
        self.last_info: dict[str, float] = {}

    def _update(self, backtrack: bool) -> None:
        """One Rprop step of every parameter from its ``.grad``; ``backtrack``: revert flipped weights."""
        n_backtracked, total, mean_step = 0, 0, 0.0
        for group in self.param_groups:
            eta_minus, eta_plus = group["etas"]
            step_min, step_max = group["step_sizes"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                if g.is_sparse:
                    raise ConfigError(f"{type(self).__name__} does not support sparse gradients")
                if not bool(torch.isfinite(g).all()):
                    raise TrainingError(
                        f"{type(self).__name__}: a gradient contains NaN or inf; the parameters "
                        "were left unchanged"
                    )
                state = self.state[p]
                if not state:
                    state["prev_grad"] = torch.zeros_like(p)
                    state["step_size"] = torch.full_like(p, group["lr"])
                    state["prev_delta"] = torch.zeros_like(p)
                prev_grad, step_size, prev_delta = (
                    state["prev_grad"], state["step_size"], state["prev_delta"]
                )
                sign = (g * prev_grad).sign()
                step_size.copy_(torch.where(sign > 0, (step_size * eta_plus).clamp(max=step_max),
                                            step_size))
                step_size.copy_(torch.where(sign < 0, (step_size * eta_minus).clamp(min=step_min),
                                            step_size))
                flipped = sign < 0
                delta = torch.where(flipped, torch.zeros_like(p), -g.sign() * step_size)
                if backtrack:
                    # undo the previous move of the weights whose gradient changed sign
                    delta = torch.where(flipped, -prev_delta, delta)
                    n_backtracked += int(flipped.sum())
                p.add_(delta)
                prev_delta.copy_(torch.where(flipped, torch.zeros_like(p), delta))
                prev_grad.copy_(torch.where(flipped, torch.zeros_like(g), g))
                total += p.numel()
                mean_step += float(step_size.sum())
        self.last_info = {
            "step_size": mean_step / max(1, total),
            "backtracked": float(n_backtracked),
        }


class RPropPlus(_BacktrackingRprop):
    r"""Rprop+: resilient backpropagation with weight backtracking (Riedmiller & Braun, 1993).

    Each weight w has its own step Δ, adapted from the sign of its gradient g
    (the original algorithm, called RPROP in NeuPy):

    - g·g_prev > 0: Δ ← min(η⁺Δ, Δ_max);  Δw ← −sign(g)·Δ;  w ← w + Δw
    - g·g_prev < 0: Δ ← max(η⁻Δ, Δ_min);  w ← w − Δw_prev (the previous move is
      undone, always);  g_prev ← 0 (so the next step takes the last branch)
    - otherwise:    Δw ← −sign(g)·Δ;  w ← w + Δw

    Unlike :class:`IRPropPlus` it reverts a weight whenever its gradient changes
    sign, whether or not the loss rose, so it needs no loss: a plain
    ``loss.backward(); opt.step()`` loop works.

    Args:
        params: parameters or parameter groups.
        lr: initial step Δ₀ (default 0.01, as torch's Rprop).
        etas: (η⁻, η⁺) (default (0.5, 1.2)).
        step_sizes: (Δ_min, Δ_max) (default (1e-6, 50)).

    Attributes:
        last_info: ``{"step_size": mean Δ, "backtracked": weights reverted}``.

    Example:
        >>> import torch
        >>> w = torch.nn.Parameter(torch.tensor([3.0]))
        >>> opt = RPropPlus([w], lr=0.1)
        >>> for _ in range(60):
        ...     opt.zero_grad()
        ...     (w ** 2).sum().backward()
        ...     _ = opt.step()
        >>> abs(float(w.detach())) < 1e-2
        True
    """

    @torch.no_grad()
    def step(self, closure=None):
        """Update the parameters from their ``.grad``; returns the closure's loss if one was given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self._update(backtrack=True)
        return loss


class IRPropPlus(_BacktrackingRprop):
    r"""iRPROP+: resilient backpropagation with weight backtracking.

    Each weight w has its own step Δ, adapted from the sign of its gradient g:

    - g·g_prev > 0: Δ ← min(η⁺Δ, Δ_max);  w ← w − sign(g)·Δ
    - g·g_prev < 0: Δ ← max(η⁻Δ, Δ_min);  if E(t) > E(t−1): w ← w − Δw_prev
      (undo the previous move of this weight);  g_prev ← 0 (no move now)
    - otherwise:    w ← w − sign(g)·Δ

    (Igel & Hüsken, "Improving the Rprop learning algorithm", 2000). The
    backtracking needs the loss E: pass a closure (that zeroes the gradients,
    calls ``backward`` and returns the loss, as for any torch optimizer) or the
    loss itself (``opt.step(loss=loss)``) after ``loss.backward()``. Without
    either, no backtracking happens and the update is iRPROP−. The previous
    loss is part of :meth:`state_dict`, so checkpoint/resume is exact.

    Args and ``last_info``: as :class:`RPropPlus`.

    Example:
        >>> import torch
        >>> w = torch.nn.Parameter(torch.tensor([3.0]))
        >>> opt = IRPropPlus([w], lr=0.1)
        >>> for _ in range(60):
        ...     opt.zero_grad()
        ...     loss = (w ** 2).sum()
        ...     loss.backward()
        ...     _ = opt.step(loss=loss)
        >>> abs(float(w.detach())) < 1e-2
        True
    """

    def __init__(self, params, lr: float | None = None, etas=(0.5, 1.2), step_sizes=(1e-6, 50.0)):
        super().__init__(params, lr=lr, etas=etas, step_sizes=step_sizes)
        self._prev_loss: float | None = None

    def state_dict(self) -> dict:
        """torch's optimizer state plus ``prev_loss`` (the loss E(t−1) backtracking compares to)."""
        state = super().state_dict()
        state["prev_loss"] = self._prev_loss
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore :meth:`state_dict`'s output, so a resumed run takes exactly the same steps."""
        state_dict = dict(state_dict)
        prev_loss = state_dict.pop("prev_loss", None)
        super().load_state_dict(state_dict)
        self._prev_loss = None if prev_loss is None else float(prev_loss)

    @torch.no_grad()
    def step(self, closure=None, loss=None):
        """Update the parameters from their ``.grad``; returns the loss if one was given."""
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        loss_value = None if loss is None else float(loss.detach() if isinstance(loss, torch.Tensor) else loss)
        if loss_value is not None and not math.isfinite(loss_value):
            raise TrainingError(
                f"IRPropPlus: the loss is {loss_value}; the parameters were left unchanged"
            )
        increased = (
            loss_value is not None and self._prev_loss is not None and loss_value > self._prev_loss
        )
        self._update(backtrack=increased)
        self._prev_loss = loss_value
        return loss

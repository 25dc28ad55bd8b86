"""iRPROP+ (Igel & Hüsken, 2000)."""

from __future__ import annotations

import math

import torch
from torch.optim import Optimizer

from ..errors import ConfigError, TrainingError
from ._base import check_positive

__all__ = ["IRPropPlus"]


class IRPropPlus(Optimizer):
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

    Args:
        params: parameters or parameter groups.
        lr: initial step Δ₀ (default 0.01, as torch's Rprop).
        etas: (η⁻, η⁺) (default (0.5, 1.2)).
        step_sizes: (Δ_min, Δ_max) (default (1e-6, 50)).

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

    full_batch = False
    objective = "gradient"

    def __init__(self, params, lr: float | None = None, etas=(0.5, 1.2), step_sizes=(1e-6, 50.0)):
        lr = 0.01 if lr is None else check_positive("lr", lr, owner="IRPropPlus")
        if not (len(etas) == 2 and 0 < etas[0] < 1 < etas[1]):
            raise ConfigError(
                f"IRPropPlus: expected etas=(eta_minus, eta_plus) with 0 < eta_minus < 1 < eta_plus,"
                f" received {etas!r}"
            )
        if not (len(step_sizes) == 2 and 0 <= step_sizes[0] <= step_sizes[1]):
            raise ConfigError(
                "IRPropPlus: expected step_sizes=(min, max) with 0 <= min <= max, "
                f"received {step_sizes!r}"
            )
        super().__init__(params, dict(lr=lr, etas=tuple(etas), step_sizes=tuple(step_sizes)))
        self.last_info: dict[str, float] = {}
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
        n_backtracked, total, mean_step = 0, 0, 0.0
        for group in self.param_groups:
            eta_minus, eta_plus = group["etas"]
            step_min, step_max = group["step_sizes"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                if g.is_sparse:
                    raise ConfigError("IRPropPlus does not support sparse gradients")
                if not bool(torch.isfinite(g).all()):
                    raise TrainingError(
                        "IRPropPlus: a gradient contains NaN or inf; the parameters were left "
                        "unchanged"
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
                if increased:
                    # undo the previous move of the weights whose gradient changed sign
                    delta = torch.where(flipped, -prev_delta, delta)
                    n_backtracked += int(flipped.sum())
                p.add_(delta)
                prev_delta.copy_(torch.where(flipped, torch.zeros_like(p), delta))
                prev_grad.copy_(torch.where(flipped, torch.zeros_like(g), g))
                total += p.numel()
                mean_step += float(step_size.sum())
        self._prev_loss = loss_value
        self.last_info = {
            "step_size": mean_step / max(1, total),
            "backtracked": float(n_backtracked),
        }
        return loss

"""Per-sample residual Jacobians for models whose trained parameters are linear-layer weights.

When every trained parameter enters the model only as the weight ``W`` or
bias ``b`` of ``torch.nn.functional.linear`` (``nn.Linear`` and neuralab's
dense layers call it), and row ``i`` of the residuals depends only on sample
``i``, the Jacobian needs no ``vmap``: with ``z = x Wᵀ + b`` a linear's output
and ``g = ∂(Σ_i r_{i,k})/∂z`` from ONE ordinary backward pass per residual
component k, the rows of sample i are (per-example gradient identity,
Goodfellow 2015)

    ∂r_{i,k}/∂W = Σ_t g_{k,i,t}ᵀ x_{i,t}        ∂r_{i,k}/∂b = Σ_t g_{k,i,t}

where t runs over any axes between the sample axis and the features
(sequences), and several uses of one parameter (weight sharing) add up. For
small networks this is several times cheaper than ``torch.func``'s per-sample
transforms, whose per-call overhead dominates; for large ones it needs one
forward and one backward of the chunk plus writing J.

The linear calls are found with a ``TorchFunctionMode`` while the residuals are
computed. Any other operation that receives a trained parameter and returns a
tensor (``W.t()``, ``PReLU``'s weight, a convolution…) makes the plan
inapplicable, and the caller falls back to ``torch.func``.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

__all__ = ["NotApplicable", "linear_jacobian_chunk"]

_LINEAR = F.linear


class NotApplicable(Exception):
    """The model uses a trained parameter outside ``F.linear`` (or not sample-wise)."""


def _flat_args(args, kwargs):
    for a in (*args, *kwargs.values()):
        if isinstance(a, (list, tuple)):
            yield from a
        else:
            yield a


def _returns_tensors(out) -> bool:
    if isinstance(out, torch.Tensor):
        return True
    if isinstance(out, (list, tuple)) and not isinstance(out, torch.Size):
        return any(isinstance(o, torch.Tensor) for o in out)
    return False


class _LinearRecorder(TorchFunctionMode):
    """Records ``(weight position, bias position, input, output)`` of each linear call."""

    def __init__(self, index: dict[int, int]):
        super().__init__()
        self.index = index
        self.uses: list[tuple[int | None, int | None, torch.Tensor, torch.Tensor]] = []
        self.foreign: str | None = None

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        index = self.index
        if func is _LINEAR:
            x = args[0] if len(args) > 0 else kwargs.get("input")
            w = args[1] if len(args) > 1 else kwargs.get("weight")
            b = args[2] if len(args) > 2 else kwargs.get("bias")
            wp = index.get(id(w))
            bp = index.get(id(b)) if b is not None else None
            if id(x) in index:  # a trained parameter as the input of a linear map
                self.foreign = self.foreign or "linear (as its input)"
            if wp is not None or bp is not None:
                if (wp is not None and w.dim() != 2) or x.dim() < 2:
                    self.foreign = self.foreign or "linear with a 1-D weight or input"
                self.uses.append((wp, bp, x, out))
        elif self.foreign is None and _returns_tensors(out):
            # metadata reads (w.shape, w.size(), w.dtype) return no tensor and are harmless
            if any(id(a) in index for a in _flat_args(args, kwargs)):
                self.foreign = getattr(func, "__name__", repr(func))
        return out


def _write_use(Jt, params, offsets, written, wp, bp, x, g, n, O):
    """Add one linear call's contribution to the rows of its weight and bias in Jᵀ."""
    out_features = g.shape[-1]
    dtype = Jt.dtype
    if O == 1 and x.dim() == 2:  # the common case: no sequence axis, one residual per sample
        gT = g[0].T.to(dtype)  # (out, n)
        if wp is not None:
            in_features = x.shape[1]
            a, b = offsets[wp], offsets[wp] + out_features * in_features
            view = Jt[a:b].view(out_features, in_features, n)
            # (out, 1, n) * (1, in, n) written straight into J, no temporary
            if written[wp]:
                view.addcmul_(gT.unsqueeze(1), x.T.to(dtype).unsqueeze(0))
            else:
                torch.mul(gT.unsqueeze(1), x.T.to(dtype).unsqueeze(0), out=view)
            written[wp] = True
        if bp is not None:
            rows = Jt[offsets[bp] : offsets[bp] + out_features]
            rows.add_(gT) if written[bp] else rows.copy_(gT)
            written[bp] = True
        return
    g = g.reshape(O, n, -1, out_features).to(dtype)  # (O, n, T, out)
    if wp is not None:
        in_features = x.shape[-1]
        xs = x.reshape(n, -1, in_features).to(dtype)  # (n, T, in)
        block = Jt[offsets[wp] : offsets[wp] + out_features * in_features].view(
            out_features, in_features, n, O)
        value = torch.einsum("kito,itc->ocik", g, xs)
        block.add_(value) if written[wp] else block.copy_(value)
        written[wp] = True
    if bp is not None:
        block = Jt[offsets[bp] : offsets[bp] + out_features].view(out_features, n, O)
        value = g.sum(2).permute(2, 1, 0)  # (out, n, O)
        block.add_(value) if written[bp] else block.copy_(value)
        written[bp] = True


def linear_jacobian_chunk(
    closure, params: Sequence[torch.Tensor], start: int, stop: int,
    offsets: Sequence[int],
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(Jᵀ, r)`` of samples ``start:stop``: Jᵀ is (P, n·O), r is (n·O,).

    Raises :class:`NotApplicable` when the model does not fit the linear plan.
    ``offsets[j]`` is where parameter j starts in the flat vector.
    """
    index = {id(p): j for j, p in enumerate(params)}
    recorder = _LinearRecorder(index)
    n = stop - start
    with torch.enable_grad(), recorder:
        r = closure.residuals(start, stop)
    if recorder.foreign is not None:
        raise NotApplicable(f"a trained parameter is used by {recorder.foreign}")
    m = r.numel()
    if m % n:
        raise NotApplicable(f"{m} residuals for {n} samples")
    O = m // n
    uses = recorder.uses
    for _, _, x, z in uses:
        if x.shape[0] != n or z.shape[0] != n or not z.requires_grad:
            raise NotApplicable("a linear layer's input does not have the samples on axis 0")
    ref = params[0]
    P = offsets[-1] + params[-1].numel()
    Jt = torch.empty(P, m, dtype=ref.dtype, device=ref.device)
    written = [False] * len(params)
    if uses:
        outs = [z for _, _, _, z in uses]
        with torch.enable_grad():
            if O == 1:
                grads = torch.autograd.grad(r.sum(), outs, allow_unused=True)
                grads = [None if g is None else g.unsqueeze(0) for g in grads]
            else:
                basis = torch.zeros(O, n, O, dtype=r.dtype, device=r.device)
                basis[torch.arange(O), :, torch.arange(O)] = 1
                grads = torch.autograd.grad(r, outs, grad_outputs=basis.reshape(O, m),
                                            is_grads_batched=True, allow_unused=True)
        with torch.no_grad():
            for (wp, bp, x, z), g in zip(uses, grads):
                if g is not None:
                    _write_use(Jt, params, offsets, written, wp, bp, x, g, n, O)
    for j, p in enumerate(params):
        if not written[j]:  # a parameter the residuals do not depend on
            Jt[offsets[j] : offsets[j] + p.numel()].zero_()
    return Jt, r.detach()

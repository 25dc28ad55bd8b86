"""Jacobians of residuals and Hessians of losses, for any closure.

- :func:`residual_normal_equations` accumulates ``JᵀJ`` and ``Jᵀr`` over
  chunks whose Jacobian fits a memory budget (the only quantities LM needs),
  keeping ``J`` itself only when it fits in one chunk.
- :func:`residual_jacobian` returns the full ``J`` (tests, small problems).
- :func:`loss_hessian` / :func:`loss_hessian_diagonal` return the Hessian (or its
  diagonal), gradient and value of a scalar loss.

A :class:`~neuralab.optimizers.ResidualClosure` or
:class:`~neuralab.optimizers.LossClosure` takes the ``torch.func`` path
(per-sample ``vmap(jacrev)``; forward-over-reverse Hessian-vector products);
a plain closure is differentiated with batched autograd
(``torch.autograd.grad(..., is_grads_batched=True)``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import torch
from torch.func import functional_call, jacfwd, jacrev, vmap

from ..errors import ConfigError
from ._closures import LEAST_SQUARES_LOSSES, LossClosure, ResidualClosure, check_residuals
from ._flat import flat_grad, get_flat, numel

__all__ = [
    "NormalEquations",
    "check_residuals",
    "residual_jacobian",
    "residual_normal_equations",
    "loss_hessian",
    "loss_hessian_diagonal",
    "loss_and_grad",
]

def _rows_per_chunk(n_params: int, itemsize: int, memory_budget: float) -> int:
    if memory_budget == math.inf:
        return 2**62
    return max(1, int(memory_budget // max(1, n_params * itemsize)))


# -- Jacobian chunks -----------------------------------------------------------------
def _functional_residuals(closure: ResidualClosure, params, per_sample: bool):
    names, constants = closure.split_parameters(params)
    buffers = {name for name, _ in closure.module.named_buffers()}

    def run(ps, xs, y):
        # buffers are cloned inside the transform: BatchNorm in training mode updates its
        # running statistics in place, which must not touch the module's own buffers
        state = {k: (v.clone() if k in buffers else v) for k, v in constants.items()}
        state.update(zip(names, ps))
        pred = functional_call(closure.module, state, tuple(xs))
        r = closure.residual_fn(pred, y).reshape(-1)
        return r, r

    if not per_sample:
        return run

    def one(ps, *args):
        *xs, y = args
        return run(ps, [x.unsqueeze(0) for x in xs], y.unsqueeze(0))

    return one


def _jacobian_chunks_func(
    closure: ResidualClosure, params, rows: int, outputs_per_sample: int | None
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    primals = tuple(p.detach() for p in params)
    n = closure.n_samples
    per_sample = outputs_per_sample is not None and closure.can_split_samples()
    if not per_sample:
        f = _functional_residuals(closure, params, per_sample=False)
        jac, r = jacrev(lambda ps: f(ps, closure.inputs, closure.targets), has_aux=True)(primals)
        yield torch.cat([j.reshape(r.numel(), -1) for j in jac], dim=1), r.detach()
        return
    f = _functional_residuals(closure, params, per_sample=True)
    n_params = numel(params)
    if outputs_per_sample == 1:  # one residual per sample: a per-sample gradient suffices

        def scalar(ps, *args):
            r, _ = f(ps, *args)
            return r.sum(), r

        per_sample_jac = torch.func.grad(scalar, has_aux=True)
    else:  # reverse mode costs O backward passes per sample, forward mode P forward passes
        per_sample_jac = (jacrev if outputs_per_sample <= n_params else jacfwd)(f, has_aux=True)
    jf = vmap(
        per_sample_jac,
        in_dims=(None,) + (0,) * (len(closure.inputs) + 1),
        randomness="different",
    )
    step = max(1, rows // max(1, outputs_per_sample))
    for start in range(0, n, step):
        stop = min(n, start + step)
        xs = [x[start:stop] for x in closure.inputs]
        jac, r = jf(primals, *xs, closure.targets[start:stop])
        m = r.numel()
        J = torch.cat([j.reshape(m, -1) for j in jac], dim=1)  # (m, P)
        yield J, r.reshape(-1)


def _jacobian_chunks_autograd(
    closure: Callable, params, rows: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    with torch.enable_grad():
        r = check_residuals(closure())
    m = r.numel()
    if not r.requires_grad:
        yield torch.zeros(m, numel(params), dtype=r.dtype, device=r.device), r.detach()
        return
    for start in range(0, m, rows):
        stop = min(m, start + rows)
        c = stop - start
        basis = torch.zeros(c, m, dtype=r.dtype, device=r.device)
        basis[torch.arange(c), torch.arange(start, stop)] = 1
        grads = torch.autograd.grad(
            r, params, grad_outputs=basis, is_grads_batched=True,
            retain_graph=stop < m, allow_unused=True,
        )
        J = torch.cat(
            [
                (torch.zeros(c, p.numel(), dtype=r.dtype, device=r.device) if g is None
                 else g.reshape(c, -1))
                for g, p in zip(grads, params)
            ],
            dim=1,
        )
        yield J, r.detach()[start:stop]


def jacobian_chunks(closure, params, memory_budget: float = 2**30):
    """Yield ``(J_chunk, r_chunk)`` pairs covering all residuals.

    Each chunk's Jacobian holds at most ``memory_budget`` bytes (at least one
    sample per chunk). Returns ``(iterator, n_residuals, per_sample)``.
    """
    params = list(params)
    n_params = numel(params)
    itemsize = params[0].element_size()
    rows = _rows_per_chunk(n_params, itemsize, memory_budget)
    if isinstance(closure, ResidualClosure):
        with torch.no_grad():
            r0 = check_residuals(closure())
        m = r0.numel()
        n = closure.n_samples
        outputs = m // n if m % n == 0 else None
        return _jacobian_chunks_func(closure, params, rows, outputs), m
    return _jacobian_chunks_autograd(closure, params, rows), None


@dataclass
class NormalEquations:
    """``JᵀJ`` (P, P), ``Jᵀr`` (P,), ``r·r`` and the residual count; ``J`` if it fit in one chunk."""

    JtJ: torch.Tensor
    Jtr: torch.Tensor
    sse: float
    n_residuals: int
    chunks: int
    J: torch.Tensor | None = None
    r: torch.Tensor | None = None


def residual_normal_equations(
    closure, params: Sequence[torch.Tensor], memory_budget: float = 2**30
) -> NormalEquations:
    """Accumulate ``JᵀJ`` and ``Jᵀr`` chunk by chunk (``J`` never held whole unless it fits)."""
    params = list(params)
    P = numel(params)
    p0 = params[0]
    JtJ = torch.zeros(P, P, dtype=p0.dtype, device=p0.device)
    Jtr = torch.zeros(P, dtype=p0.dtype, device=p0.device)
    sse, m, chunks = 0.0, 0, 0
    last = None
    chunk_iter, _ = jacobian_chunks(closure, params, memory_budget)
    for J, r in chunk_iter:
        J = J.to(p0.dtype)
        r = r.to(p0.dtype)
        JtJ.addmm_(J.T, J)
        Jtr.addmv_(J.T, r)
        sse += float(r @ r)
        m += r.numel()
        chunks += 1
        last = (J, r)
    if chunks == 1:
        return NormalEquations(JtJ, Jtr, sse, m, chunks, J=last[0], r=last[1])
    return NormalEquations(JtJ, Jtr, sse, m, chunks)


def residual_jacobian(closure, params: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """The full Jacobian ``J`` (m, P) of the residuals and the residuals ``r`` (m,)."""
    chunk_iter, _ = jacobian_chunks(closure, list(params), memory_budget=math.inf)
    Js, rs = zip(*chunk_iter)
    return torch.cat(Js), torch.cat(rs)


# -- losses: value, gradient, Hessian -------------------------------------------------
def _check_scalar(loss, who: str) -> torch.Tensor:
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        shape = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
        raise ConfigError(
            f"{who} needs a closure that returns a scalar loss (0-d tensor); received {shape}"
        )
    return loss.reshape(())


def loss_and_grad(closure, params, who: str = "optimizer") -> tuple[torch.Tensor, torch.Tensor]:
    """``(loss, flat gradient)`` at the current parameters (detached)."""
    with torch.enable_grad():
        loss = _check_scalar(closure(), who)
        if loss.requires_grad:
            grads = torch.autograd.grad(loss, params, allow_unused=True)
        else:
            grads = [None] * len(params)
    return loss.detach(), flat_grad(grads, params)


def _autograd_hessian_rows(closure, params, who, rows: int):
    """Yield ``(start, H[start:stop])`` plus loss and gradient via double backward."""
    with torch.enable_grad():
        loss = _check_scalar(closure(), who)
        P = numel(params)
        if not loss.requires_grad:
            g = torch.zeros(P, dtype=loss.dtype, device=loss.device)
            return loss.detach(), g, None
        grads = torch.autograd.grad(loss, params, create_graph=True, allow_unused=True)
        g = flat_grad(grads, params)

    def rows_iter():
        if not g.requires_grad:
            for start in range(0, P, rows):
                stop = min(P, start + rows)
                yield start, torch.zeros(stop - start, P, dtype=g.dtype, device=g.device)
            return
        for start in range(0, P, rows):
            stop = min(P, start + rows)
            c = stop - start
            basis = torch.zeros(c, P, dtype=g.dtype, device=g.device)
            basis[torch.arange(c), torch.arange(start, stop)] = 1
            hs = torch.autograd.grad(
                g, params, grad_outputs=basis, is_grads_batched=True,
                retain_graph=stop < P, allow_unused=True,
            )
            yield start, torch.cat(
                [
                    (torch.zeros(c, p.numel(), dtype=g.dtype, device=g.device) if h is None
                     else h.reshape(c, -1))
                    for h, p in zip(hs, params)
                ],
                dim=1,
            )

    return loss.detach(), g.detach(), rows_iter()


def _func_hessian_rows(closure: LossClosure, params, rows: int):
    f = closure.functional(params)
    flat = get_flat(params)
    g, loss = torch.func.grad_and_value(f)(flat)
    P = flat.numel()

    # rows of the symmetric Hessian as vector-Hessian products (reverse over reverse)
    _, vhp = torch.func.vjp(torch.func.grad(f), flat)
    batched = vmap(lambda v: vhp(v)[0])

    def rows_iter():
        for start in range(0, P, rows):
            stop = min(P, start + rows)
            basis = torch.zeros(stop - start, P, dtype=flat.dtype, device=flat.device)
            basis[torch.arange(stop - start), torch.arange(start, stop)] = 1
            yield start, batched(basis)

    return loss.detach(), g.detach(), rows_iter()


def _hessian_rows(closure, params, who, memory_budget):
    params = list(params)
    rows = _rows_per_chunk(numel(params), params[0].element_size(), memory_budget)
    if isinstance(closure, LossClosure):
        with torch.no_grad():
            _check_scalar(closure(), who)
        return _func_hessian_rows(closure, params, rows)
    return _autograd_hessian_rows(closure, params, who, rows)


def loss_hessian(closure, params, who: str = "Newton", memory_budget: float = 2**30):
    """``(H, g, loss)``: Hessian (P, P), gradient (P,) and value of a scalar loss."""
    params = list(params)
    loss, g, rows = _hessian_rows(closure, params, who, memory_budget)
    P = g.numel()
    H = torch.zeros(P, P, dtype=g.dtype, device=g.device)
    if rows is not None:
        for start, block in rows:
            H[start : start + block.shape[0]] = block
    return H, g, loss


def loss_hessian_diagonal(closure, params, who: str = "HessianDiagonal",
                          memory_budget: float = 2**27):
    """``(diag(H), g, loss)`` without holding H (rows computed in chunks)."""
    params = list(params)
    loss, g, rows = _hessian_rows(closure, params, who, memory_budget)
    d = torch.zeros_like(g)
    if rows is not None:
        for start, block in rows:
            c = block.shape[0]
            d[start : start + c] = block[torch.arange(c), torch.arange(start, start + c)]
    return d, g, loss

"""Jacobians of residuals and Hessians of losses, for any closure.

- :func:`residual_normal_equations` accumulates ``JᵀJ`` and ``Jᵀr`` over
  chunks whose Jacobian fits a memory budget (the only quantities LM needs),
  keeping ``J`` itself only when it fits in one chunk.
- :func:`residual_jacobian` returns the full ``J`` (tests, small problems).
- :func:`loss_hessian` / :func:`loss_hessian_diagonal` return the Hessian (or its
  diagonal), gradient and value of a scalar loss.

A :class:`~neuralab.optimizers.ResidualClosure` gets per-sample Jacobians from
its linear layers (``_linear_jacobian``: one forward and one backward pass per
chunk) or, for other architectures, from ``torch.func`` (per-sample
``vmap(grad/jacrev/jacfwd)``); a :class:`~neuralab.optimizers.LossClosure`
gets Hessians from ``torch.func`` vector-Hessian products; a plain closure
is differentiated with batched autograd (``torch.autograd.grad(...,
is_grads_batched=True)``).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from functools import partial
from typing import Callable, Sequence

import torch
from torch.func import functional_call, jacfwd, jacrev, vmap

from ..errors import ConfigError
from ._closures import LossClosure, ResidualClosure, check_residuals
from ._flat import flat_grad, get_flat, numel
from ._linear_jacobian import NotApplicable, linear_jacobian_chunk

logger = logging.getLogger(__name__)

__all__ = [
    "NormalEquations",
    "check_residuals",
    "residual_jacobian",
    "residual_normal_equations",
    "loss_hessian",
    "loss_hessian_diagonal",
    "loss_and_grad",
    "jacobian_products",
]

def _rows_per_chunk(n_params: int, itemsize: int, memory_budget: float) -> int:
    if memory_budget == math.inf:
        return 2**62
    return max(1, int(memory_budget // max(1, n_params * itemsize)))


# -- Jacobian chunks -----------------------------------------------------------------
# Every chunk comes as (Jᵀ, r): Jᵀ is (P, m_chunk), r is (m_chunk,). Holding Jᵀ
# (parameters × residuals, row-major) lets the linear plan write each layer's block as
# one contiguous slice and gives JᵀJ as one matrix product.


def _offsets(params) -> list[int]:
    out, total = [], 0
    for p in params:
        out.append(total)
        total += p.numel()
    return out


def _outputs_per_sample(closure: ResidualClosure) -> int | None:
    """Residuals per sample (cached on the closure; the data never changes)."""
    cache = closure._cache
    if "outputs_per_sample" not in cache:
        with torch.no_grad():
            m = check_residuals(closure.residuals(0, 1)).numel()
        cache["outputs_per_sample"] = max(1, m)
    return cache["outputs_per_sample"]


def _functional_residuals(closure: ResidualClosure, names, buffers, per_sample: bool):
    def run(ps, constants, xs, y):
        # buffers are cloned inside the transform: BatchNorm in training mode updates its
        # running statistics in place, which must not touch the module's own buffers
        state = {k: (v.clone() if k in buffers else v) for k, v in constants.items()}
        state.update(zip(names, ps))
        pred = functional_call(closure.module, state, tuple(xs))
        r = closure.residual_fn(pred, y).reshape(-1)
        return r, r

    if not per_sample:
        return run

    def one(ps, constants, *args):
        *xs, y = args
        return run(ps, constants, [x.unsqueeze(0) for x in xs], y.unsqueeze(0))

    return one


def _func_transform(closure: ResidualClosure, params, per_sample: bool, outputs: int | None):
    """The torch.func Jacobian function, built once per closure and parameter list."""
    key = ("func", tuple(id(p) for p in params), per_sample, outputs)
    cached = closure._cache.get(key)
    if cached is not None:
        return cached
    names, _ = closure.split_parameters(params)
    buffers = {name for name, _ in closure.module.named_buffers()}
    f = _functional_residuals(closure, names, buffers, per_sample)
    n_params = numel(params)
    if not per_sample:
        # J of the whole batch: forward mode costs P forward passes, reverse mode one
        # backward pass per residual (at least one per sample)
        mode = jacfwd if n_params < closure.n_samples else jacrev
        jf = mode(f, has_aux=True)
    else:
        if outputs == 1:  # one residual per sample: a per-sample gradient suffices

            def scalar(ps, constants, *args):
                r, _ = f(ps, constants, *args)
                return r.sum(), r

            per_sample_jac = torch.func.grad(scalar, has_aux=True)
        else:  # reverse mode costs O backward passes per sample, forward mode P forward passes
            per_sample_jac = (jacrev if outputs <= n_params else jacfwd)(f, has_aux=True)
        jf = vmap(
            per_sample_jac,
            in_dims=(None, None) + (0,) * (len(closure.inputs) + 1),
            randomness="different",
        )
    closure._cache[key] = jf
    return jf


def _stack_transposed(jac, m: int) -> torch.Tensor:
    """Per-parameter Jacobians (m, *shape) -> Jᵀ (P, m)."""
    return torch.cat([j.reshape(m, -1) for j in jac], dim=1).T


# A chunk plan is a list of zero-argument callables, one per chunk, each returning
# (Jᵀ, r); the consumer calls them in order and drops each result before the next,
# so at most one chunk's J is alive at a time (a generator would keep the previous
# chunk referenced while computing the next one).
ChunkThunk = Callable[[], "tuple[torch.Tensor, torch.Tensor]"]


class _Ready:
    """A chunk computed already (it decided which method applies); handed over once."""

    def __init__(self, value):
        self.value = value

    def __call__(self):
        value, self.value = self.value, None
        return value


def _func_chunks(closure: ResidualClosure, params, rows: int, outputs: int | None):
    primals = tuple(p.detach() for p in params)
    _, constants = closure.split_parameters(params)
    if outputs is None:
        jf = _func_transform(closure, params, False, None)

        def whole():
            jac, r = jf(primals, constants, closure.inputs, closure.targets)
            return _stack_transposed(jac, r.numel()), r.detach()

        return [whole]
    jf = _func_transform(closure, params, True, outputs)
    n = closure.n_samples
    # torch.func returns J per parameter and the concatenation copies it: half the
    # rows keep both within the budget
    step = max(1, rows // (2 * outputs))

    def chunk(start, stop):
        xs = [x[start:stop] for x in closure.inputs]
        jac, r = jf(primals, constants, *xs, closure.targets[start:stop])
        return _stack_transposed(jac, r.numel()), r.reshape(-1)

    return [partial(chunk, start, min(n, start + step)) for start in range(0, n, step)]


def _residual_closure_chunks(closure: ResidualClosure, params, rows: int):
    """Pick the Jacobian method for a ResidualClosure (cached) and plan its chunks."""
    if not closure.can_split_samples():
        return _func_chunks(closure, params, rows, None)
    outputs = _outputs_per_sample(closure)
    key = ("linear", tuple(id(p) for p in params))
    usable = closure._cache.get(key)
    if closure.jacobian != "func" and usable is not False:
        if usable is None:
            closure.split_parameters(params)  # every parameter must belong to the module
        n = closure.n_samples
        step = max(1, rows // outputs)
        offsets = _offsets(params)
        try:
            # the first chunk decides whether the linear plan applies to this model
            first = linear_jacobian_chunk(closure, params, 0, min(n, step), offsets)
        except NotApplicable as exc:
            if closure.jacobian == "linear":
                raise ConfigError(
                    f"ResidualClosure(jacobian='linear') does not apply to this model: {exc}; "
                    "use jacobian='auto' or 'func'"
                ) from None
            logger.debug("linear Jacobian plan not applicable (%s); using torch.func", exc)
            closure._cache[key] = False
        else:
            closure._cache[key] = True
            return [_Ready(first)] + [
                partial(linear_jacobian_chunk, closure, params, start, min(n, start + step),
                        offsets)
                for start in range(step, n, step)
            ]
    return _func_chunks(closure, params, rows, outputs)


def _autograd_chunks(closure: Callable, params, rows: int):
    """Rows of J by batched autograd over one whole-batch graph (call the chunks in order)."""
    with torch.enable_grad():
        r = check_residuals(closure())
    m = r.numel()
    if not r.requires_grad:
        return [_Ready((torch.zeros(numel(params), m, dtype=r.dtype, device=r.device),
                        r.detach()))]

    def chunk(start, stop):
        c = stop - start
        basis = torch.zeros(c, m, dtype=r.dtype, device=r.device)
        basis[torch.arange(c), torch.arange(start, stop)] = 1
        with torch.enable_grad():
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
        return J.T, r.detach()[start:stop]

    return [partial(chunk, start, min(m, start + rows)) for start in range(0, m, rows)]


def jacobian_chunks(closure, params, memory_budget: float = 2**30) -> list[ChunkThunk]:
    """Plan the Jacobian in chunks: a list of callables, each returning ``(Jᵀ_chunk, r_chunk)``.

    Call them in order (a plain closure's chunks share one autograd graph) and
    drop each result before calling the next. ``Jᵀ_chunk`` is (P, m_chunk) and
    holds at most ``memory_budget`` bytes (at least one sample per chunk); with
    a plain closure the chunks are groups of residuals of one whole-batch graph.
    """
    params = list(params)
    rows = _rows_per_chunk(numel(params), params[0].element_size(), memory_budget)
    if isinstance(closure, ResidualClosure):
        return _residual_closure_chunks(closure, params, rows)
    return _autograd_chunks(closure, params, rows)


_GRAM_BLOCK = 1024


def _add_lower_gram(out: torch.Tensor, Jt: torch.Tensor, block: int = _GRAM_BLOCK) -> None:
    """``out += Jᵀ J`` on and below the diagonal only (about half the flops of ``Jt @ Jt.T``).

    Row block i of the lower triangle is ``Jt[i:i+b] @ Jt[:i+b].T``; the upper
    triangle of ``out`` is left untouched (mirror it once at the end). The block
    product goes to a temporary (b × P numbers) and is then added: measured
    faster than ``addmm_`` into the strided slice of ``out``.
    """
    P = Jt.shape[0]
    for i in range(0, P, block):
        stop = min(P, i + block)
        out[i:stop, :stop] += Jt[i:stop] @ Jt[:stop].T


@dataclass
class NormalEquations:
    """``JᵀJ`` (P, P), ``Jᵀr`` (P,), ``r·r`` and the residual count; ``J`` if it fit in one chunk.

    ``J`` (m, P) may be a transposed view of a (P, m) tensor.
    """

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
    p0 = params[0]
    P = numel(params)
    blocked = P > _GRAM_BLOCK
    JtJ = Jtr = sse = None
    m, last = 0, None
    thunks = jacobian_chunks(closure, params, memory_budget)
    chunks = len(thunks)
    for k in range(chunks):
        Jt, r = thunks[k]()
        thunks[k] = None
        Jt = Jt.to(p0.dtype)
        r = r.to(p0.dtype)
        if JtJ is None:
            JtJ = torch.zeros(P, P, dtype=p0.dtype, device=p0.device) if blocked else Jt @ Jt.T
            Jtr, sse = Jt @ r, r @ r
            if blocked:
                _add_lower_gram(JtJ, Jt)
        else:
            _add_lower_gram(JtJ, Jt) if blocked else JtJ.addmm_(Jt, Jt.T)
            Jtr.addmv_(Jt, r)
            sse = sse + r @ r
        m += r.numel()
        if chunks == 1:
            last = (Jt, r)
        del Jt, r  # free this chunk's J before the next one is computed
    if blocked:  # only the lower triangle (and diagonal blocks) was accumulated: mirror it
        strict_lower = JtJ.tril(-1)
        JtJ.tril_().add_(strict_lower.T)
        del strict_lower
    if chunks == 1:
        return NormalEquations(JtJ, Jtr, float(sse), m, chunks, J=last[0].T, r=last[1])
    return NormalEquations(JtJ, Jtr, float(sse), m, chunks)


def residual_jacobian(closure, params: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """The full Jacobian ``J`` (m, P) of the residuals and the residuals ``r`` (m,)."""
    Jts, rs = zip(*[make() for make in jacobian_chunks(closure, list(params), math.inf)])
    return torch.cat(Jts, dim=1).T.contiguous(), torch.cat(rs)


def jacobian_products(closure, params: Sequence[torch.Tensor]):
    """``(r, v ↦ J v, u ↦ Jᵀu)`` at the current parameters, J never formed.

    One forward pass builds the graph of r; ``Jᵀu`` is a backward pass through
    it, ``J v`` a backward pass through the graph of ``Jᵀw`` (linear in w) with
    respect to w (the "double-backward" trick: works for any closure and any
    layer with a second derivative). Memory: the two graphs, O(P + m) numbers
    beside the activations.
    """
    params = list(params)
    with torch.enable_grad():
        r = check_residuals(closure())
        w = torch.zeros_like(r, requires_grad=True)
        jtw = None
        if r.requires_grad:
            jtw = flat_grad(torch.autograd.grad(r, params, w, create_graph=True, allow_unused=True),
                            params)
    zeros_p = torch.zeros(numel(params), dtype=r.dtype, device=r.device)

    def jv(v: torch.Tensor) -> torch.Tensor:
        if jtw is None or not jtw.requires_grad:
            return torch.zeros_like(r.detach())
        (out,) = torch.autograd.grad(jtw, w, v, retain_graph=True, allow_unused=True)
        return torch.zeros_like(r.detach()) if out is None else out

    def jtu(u: torch.Tensor) -> torch.Tensor:
        if jtw is None:
            return zeros_p.clone()
        return flat_grad(torch.autograd.grad(r, params, u, retain_graph=True, allow_unused=True),
                         params)

    return r.detach(), jv, jtu


def jacobian_column_norms(closure, params: Sequence[torch.Tensor],
                          memory_budget: float = 2**30) -> tuple[torch.Tensor, torch.Tensor]:
    """``(diag(JᵀJ), r)`` from the Jacobian in chunks of at most ``memory_budget`` bytes."""
    params = list(params)
    diag, rs = None, []
    thunks = jacobian_chunks(closure, params, memory_budget)
    for k in range(len(thunks)):
        Jt, r = thunks[k]()
        thunks[k] = None
        part = Jt.pow(2).sum(1)
        diag = part if diag is None else diag + part
        rs.append(r)
        del Jt
    return diag.to(params[0].dtype), torch.cat(rs)


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

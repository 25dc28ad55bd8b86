"""Closures that know the model and the data, so optimizers can use torch.func.

A plain closure (``lambda: loss_fn(model(x), y)``) is a black box: the
optimizer can only differentiate through it with autograd. The two classes
here are callables with the same contract (calling them evaluates the
objective at the current parameters, with autograd enabled, without calling
``backward``) that also expose the module, the inputs and the targets. With
them the optimizers compute per-sample Jacobians with ``torch.func``
(``functional_call`` + ``vmap(jacrev)``), split the data into chunks to bound
memory, and build Hessians with forward-over-reverse products.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

from .. import registry
from ..errors import ConfigError, DataError, DTypeError
from ..validation import check_choice, expected

__all__ = ["ResidualClosure", "LossClosure", "check_least_squares_loss", "label_residual"]

JACOBIAN_METHODS = ("auto", "linear", "func")


def _least_squares_functions() -> set:
    """The registered losses marked ``least_squares`` (mse, sse/l2 in neuralab.losses)."""
    return {fn for _, fn in registry.losses.items() if getattr(fn, "least_squares", False)}


def check_least_squares_loss(name: str, owner: str = "LevenbergMarquardt") -> str:
    """``name`` normalised, or ConfigError unless it names a sum-of-squares loss.

    Levenberg–Marquardt minimises Σ r²: the loss must be mse or sse (l2), under
    any name the loss registry knows them by. Classification works with these
    losses too (see :func:`label_residual`).

    >>> check_least_squares_loss("Sum-Squared-Error")
    'sum_squared_error'
    """
    fns = _least_squares_functions()
    primaries = [n for n in registry.losses.names() if registry.losses.lookup(n) in fns]
    accepted = ("a least-squares loss: " + " or ".join(repr(n) for n in primaries)
                + " (or an alias); for classification use one with a softmax output and "
                "class labels or one-hot targets")
    try:
        ok = isinstance(name, str) and registry.losses.lookup(name) in fns
    except ConfigError:
        ok = False
    if not ok:
        raise expected(owner, "loss", accepted, name)
    return name.strip().lower().replace("-", "_").replace(" ", "_")


def check_residuals(r, who: str = "LevenbergMarquardt") -> torch.Tensor:
    """Raise ConfigError unless ``r`` is a residual vector (not a scalar loss)."""
    if not isinstance(r, torch.Tensor) or r.dim() == 0:
        what = "a scalar" if isinstance(r, torch.Tensor) else type(r).__name__
        raise ConfigError(
            f"{who} needs a closure that returns the residual vector r (1-D, the loss is "
            f"mean(r**2)); received {what}. It accepts least-squares losses only "
            f"({', '.join(sorted(n for n, fn in registry.losses.items() if fn in _least_squares_functions()))}"
            ": sums of squares). Use another optimizer "
            "for other losses."
        )
    return r.reshape(-1)


def _is_labels(pred: torch.Tensor, target: torch.Tensor) -> bool:
    """Integer targets with one value per output row of C > 1 scores: class labels."""
    if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
        return False
    classes = pred.shape[-1] if pred.dim() else 1
    return classes > 1 and target.numel() * classes == pred.numel()


def label_residual(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``pred − target``, with class labels one-hot encoded first.

    For integer labels ``(N,)`` (or ``(N, 1)``) and an output ``(N, C)`` with
    C > 1 the residual is ``pred − onehot(target, C)`` (with a softmax output,
    Σ r² is the Brier score); other targets are reshaped to ``pred``'s shape.
    The encoding compares with ``arange(C)``, so it works per sample under
    ``torch.func.vmap``.

    >>> label_residual(torch.tensor([[0.7, 0.3]]), torch.tensor([1]))
    tensor([[ 0.7000, -0.7000]])
    """
    if _is_labels(pred, target):
        classes = pred.shape[-1]
        labels = target.reshape(pred.shape[:-1])
        onehot = labels.unsqueeze(-1) == torch.arange(classes, device=pred.device)
        return pred - onehot.to(pred.dtype)
    if target.numel() == pred.numel():
        return pred - target.reshape(pred.shape).to(pred.dtype)
    return pred - target


def _as_inputs(inputs) -> tuple[torch.Tensor, ...]:
    if isinstance(inputs, torch.Tensor):
        return (inputs,)
    if isinstance(inputs, (tuple, list)) and inputs and all(
        isinstance(t, torch.Tensor) for t in inputs
    ):
        return tuple(inputs)
    raise DTypeError(
        "inputs must be a torch.Tensor or a non-empty tuple of tensors; "
        f"received {type(inputs).__name__}"
    )


def _has_batch_coupling(module: nn.Module) -> bool:
    """True when a sample's output depends on the other samples (BatchNorm in training mode)."""
    return any(
        isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training for m in module.modules()
    )


class _ModuleClosure:
    """Shared part: the module, its inputs and targets, and functional calls."""

    def __init__(self, module: nn.Module, inputs, targets: torch.Tensor):
        if not isinstance(module, nn.Module):
            raise DTypeError(
                f"module must be a torch.nn.Module; received {type(module).__name__}"
            )
        self.module = module
        self.inputs = _as_inputs(inputs)
        if not isinstance(targets, torch.Tensor):
            raise DTypeError(f"targets must be a torch.Tensor; received {type(targets).__name__}")
        self.targets = targets
        n = self.inputs[0].shape[0] if self.inputs[0].dim() else None
        for t in (*self.inputs, targets):
            if t.dim() == 0 or t.shape[0] != n:
                raise DataError(
                    "inputs and targets must have the same number of samples (axis 0); "
                    f"received inputs {[tuple(x.shape) for x in self.inputs]} "
                    f"and targets {tuple(targets.shape)}"
                )
        self.n_samples = int(n)
        # derivative machinery built once per closure and parameter list (functional
        # wrappers, the linear-layer plan, residuals per sample), reused by every step
        self._cache: dict = {}

    def _forward(self, start: int | None = None, stop: int | None = None) -> torch.Tensor:
        xs = [x[start:stop] for x in self.inputs]
        return self.module(*xs)

    def split_parameters(self, params: Sequence[torch.Tensor]):
        """Map optimizer parameters to module names.

        Returns ``(names, constants)``: the module name of each parameter in
        ``params`` (same order) and a dict of the module's other parameters and
        buffers, detached, which ``functional_call`` holds fixed.
        """
        by_id = {id(p): name for name, p in self.module.named_parameters()}
        names = []
        for p in params:
            if id(p) not in by_id:
                raise ConfigError(
                    "the optimizer holds a parameter that is not in the closure's module "
                    f"(shape {tuple(p.shape)}); build the optimizer from module.parameters()"
                )
            names.append(by_id[id(p)])
        chosen = set(names)
        constants = {
            name: p.detach() for name, p in self.module.named_parameters() if name not in chosen
        }
        constants.update(dict(self.module.named_buffers()))
        return names, constants


class ResidualClosure(_ModuleClosure):
    """The residual vector of a least-squares fit, ready for Levenberg–Marquardt.

    ``closure()`` returns ``residual_fn(module(inputs), targets).reshape(-1)``:
    the flattened residuals r (length N·O for N samples with O residuals each)
    at the current parameters, so ``mean(r²)`` is the MSE. Levenberg–Marquardt
    recognises this class and computes the Jacobian per sample, in chunks of
    samples that fit its memory budget:

    - "linear" (chosen by "auto" when it applies): when every trained parameter
      enters the model only as the weight or bias of
      ``torch.nn.functional.linear`` (``nn.Linear``, neuralab's dense layers),
      J follows from one ordinary forward and one backward pass per residual
      component (per-example gradient identity ∂r_i/∂W = Σ_t g_{i,t}ᵀ x_{i,t},
      with g = ∂r/∂z at the linear's output z and x its input), no vmap.
      Requires axis 0 of every such linear's input to be the sample axis.
    - "func": ``torch.func`` (``vmap`` over samples of ``grad`` / ``jacrev``,
      or ``jacfwd`` when a sample has more residuals than there are parameters);
      any architecture.

    When the samples are coupled (``per_sample`` False, e.g. BatchNorm in
    training mode) J is taken over the whole batch at once (forward mode when
    there are fewer parameters than residuals, reverse mode otherwise).

    Args:
        module: the model.
        inputs: tensor ``(N, ...)`` (or a tuple of them, passed as positional arguments).
        targets: tensor ``(N, ...)``.
        residual_fn: ``residual_fn(pred, target) -> residuals``, computed sample by
            sample (row i of the result depends only on sample i). Default
            :func:`label_residual`: ``pred − target``, where integer class labels
            for an output of C > 1 scores are one-hot encoded first.
        per_sample: whether the Jacobian may be computed one sample at a time.
            ``None`` (default) decides automatically: False when the module
            contains BatchNorm in training mode (samples are coupled).
        jacobian: "auto" (default), "linear" or "func" (see above). "linear" raises
            ConfigError when the model does not fit it; "auto" then uses "func".

    Example:
        >>> import torch
        >>> net = torch.nn.Linear(1, 1)
        >>> x = torch.linspace(0, 1, 5).unsqueeze(1)
        >>> ResidualClosure(net, x, 2 * x)().shape
        torch.Size([5])
    """

    def __init__(
        self,
        module: nn.Module,
        inputs,
        targets: torch.Tensor,
        residual_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
        per_sample: bool | None = None,
        jacobian: str = "auto",
    ):
        super().__init__(module, inputs, targets)
        check_choice("ResidualClosure", "jacobian", jacobian, JACOBIAN_METHODS)
        self.residual_fn = residual_fn or label_residual
        self.per_sample = per_sample
        self.jacobian = jacobian
        self._labels_checked = residual_fn is not None

    def __call__(self) -> torch.Tensor:
        return self.residuals()

    def residuals(self, start: int | None = None, stop: int | None = None) -> torch.Tensor:
        """Residuals of samples ``start:stop`` (all by default), flattened."""
        pred = self._forward(start, stop)
        if not self._labels_checked:
            self._check_labels(pred)
        return check_residuals(self.residual_fn(pred, self.targets[start:stop]))

    def _check_labels(self, pred: torch.Tensor) -> None:
        """Class labels (the default residual one-hot encodes them) must fit the output."""
        self._labels_checked = True
        y = self.targets
        per_sample = y.numel() // max(1, self.n_samples)
        sample_pred = pred[:1]
        if not _is_labels(sample_pred, y[:1]) or per_sample != 1:
            return
        classes = pred.shape[-1]
        lo, hi = int(y.min()), int(y.max())
        if lo < 0 or hi >= classes:
            self._labels_checked = False
            raise DataError(
                f"ResidualClosure: expected class labels in [0, {classes}) for an output of "
                f"{classes} scores, received labels in [{lo}, {hi}]"
            )

    def can_split_samples(self) -> bool:
        """Whether samples may be differentiated independently (see ``per_sample``)."""
        if self.per_sample is not None:
            return bool(self.per_sample)
        return not _has_batch_coupling(self.module)

    def __repr__(self) -> str:
        return f"ResidualClosure({type(self.module).__name__}, n_samples={self.n_samples})"


class LossClosure(_ModuleClosure):
    """A scalar loss ``loss_fn(module(inputs), targets)`` that exposes its pieces.

    Newton and HessianDiagonal recognise it and build Hessians with
    ``torch.func`` (forward-over-reverse Hessian-vector products, vmapped);
    the line-search methods use it like any closure.

    Args:
        module: the model.
        inputs: tensor ``(N, ...)`` (or a tuple of them).
        targets: tensor ``(N, ...)``.
        loss_fn: ``loss_fn(pred, target) -> 0-d tensor``.

    Example:
        >>> import torch
        >>> net = torch.nn.Linear(1, 1)
        >>> x = torch.ones(4, 1)
        >>> LossClosure(net, x, x, torch.nn.functional.mse_loss)().dim()
        0
    """

    def __init__(self, module: nn.Module, inputs, targets: torch.Tensor, loss_fn: Callable):
        super().__init__(module, inputs, targets)
        if not callable(loss_fn):
            raise DTypeError(f"loss_fn must be callable; received {type(loss_fn).__name__}")
        self.loss_fn = loss_fn

    def __call__(self) -> torch.Tensor:
        return self.loss_fn(self._forward(), self.targets)

    def functional(self, params: Sequence[torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
        """``f(θ) -> loss`` of the flat parameter vector θ, for ``torch.func`` transforms."""
        names, constants = self.split_parameters(params)
        shapes = [p.shape for p in params]
        sizes = [p.numel() for p in params]

        def f(flat: torch.Tensor) -> torch.Tensor:
            pieces = torch.split(flat, sizes)
            state = dict(constants)
            state.update({n: t.view(s) for n, t, s in zip(names, pieces, shapes)})
            pred = torch.func.functional_call(self.module, state, self.inputs)
            return self.loss_fn(pred, self.targets)

        return f

    def __repr__(self) -> str:
        return f"LossClosure({type(self.module).__name__}, n_samples={self.n_samples})"

"""Loss functions: ``loss(y_pred, y_true) -> scalar tensor``.

Every loss is a plain function registered in :data:`neuralab.registry.losses`
(so ``registry.losses.get("mse")`` returns the function itself). Losses with a
hyperparameter (``huber``'s ``delta``) return a bound function when called with
keyword arguments only::

    >>> import torch
    >>> from neuralab import losses
    >>> float(losses.mse(torch.tensor([1.0, 3.0]), torch.tensor([0.0, 0.0])))
    5.0
    >>> h = losses.huber(delta=0.5)
    >>> float(h(torch.tensor([2.0]), torch.tensor([0.0])))
    0.875

Conventions (``r = y_pred - y_true``, ``n`` = number of elements, ``N`` = batch size):

======================== ===================================================
name (aliases)           value
======================== ===================================================
mse                      ``mean(r²)``
mae (l1)                 ``mean(|r|)``
l2 (sse)                 ``Σ r²`` summed over every element (the cheat
                         sheet's L2 loss; grows with the batch size)
huber(delta=1)           ``mean(½r²  if |r| ≤ δ  else δ(|r| − ½δ))``
hinge                    ``mean(max(0, 1 − t·y))``, t ∈ {−1, +1}
                         (0/1 targets are mapped to −1/+1)
binary_crossentropy      ``−mean(t log p + (1−t) log(1−p))`` on probabilities
categorical_crossentropy ``−mean_N Σ_c t_c log p_c`` on probabilities
sigmoid_crossentropy     binary cross-entropy on logits (log-sum-exp safe)
softmax_crossentropy     categorical cross-entropy on logits
nll                      ``−mean log_p[label]`` on log-probabilities
======================== ===================================================

The probability losses clamp ``p`` to ``[eps, 1 − eps]`` (``eps = 1e-7`` for
float32) so a saturated output gives a large finite loss, never ``inf``/NaN.
The categorical losses accept integer class labels ``(N,)`` or one-hot /
soft targets ``(N, C)``; extra trailing axes (``(N, C, H, W)`` outputs with
``(N, H, W)`` labels) are supported too.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import torch
import torch.nn.functional as F

from . import registry
from .errors import ConfigError, DataError, DTypeError, NeuralabError, ShapeError, format_shape

__all__ = [
    "mse",
    "mae",
    "l1",
    "l2",
    "sse",
    "huber",
    "hinge",
    "binary_crossentropy",
    "categorical_crossentropy",
    "sigmoid_crossentropy",
    "softmax_crossentropy",
    "nll",
    "get",
    "select",
    "SUM_OF_SQUARES",
]

#: Names of the losses that are a (scaled) sum of squared residuals; the only
#: ones a residual-based optimizer (Levenberg–Marquardt) can minimise. The functions
#: carry ``least_squares = True``, which is what the optimizers read (through the
#: registry): this tuple and that mark are set together, below the definitions.
SUM_OF_SQUARES = ("mse", "l2", "sse")


def _eps(t: torch.Tensor) -> float:
    return 1e-7 if t.dtype != torch.float64 else 1e-12


def _same_shape(y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
    """Reshape ``y_true`` to ``y_pred``'s shape when they hold the same elements per row.

    ``(N,)`` targets against an ``(N, 1)`` output would otherwise broadcast to
    ``(N, N)``: the classic silent bug.
    """
    if y_true.shape != y_pred.shape and y_true.numel() == y_pred.numel():
        return y_true.reshape(y_pred.shape)
    return y_true


def _float_like(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    return y_true.to(y_pred.dtype) if y_true.dtype != y_pred.dtype else y_true


def _target_problem(owner: str, y_pred, y_true) -> Exception | None:
    """Why ``owner(y_pred, y_true)`` failed, when the targets are the reason (else None)."""
    for name, value in (("y_pred", y_pred), ("y_true", y_true)):
        if not isinstance(value, torch.Tensor):
            return DTypeError(f"{owner}: expected `{name}` to be a torch.Tensor, received "
                              f"{type(value).__name__} (convert it with torch.as_tensor)")
    if CLASSIFICATION.get(owner) == "categorical" and _is_label(y_pred, y_true):
        n_classes, labels = y_pred.shape[1], y_true[y_true != -100]
        if (y_true.shape[0],) + tuple(y_true.shape[1:]) != (y_pred.shape[0],) + tuple(y_pred.shape[2:]):
            return ShapeError(f"{owner}: expected class labels of shape "
                              f"{format_shape((y_pred.shape[0],) + tuple(y_pred.shape[2:]))} for an output "
                              f"of shape {format_shape(tuple(y_pred.shape))}, received "
                              f"{format_shape(tuple(y_true.shape))}")
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= n_classes):
            return DataError(f"{owner}: expected class labels in [0, {n_classes}) for an output with "
                             f"{n_classes} classes, received labels in [{int(labels.min())}, "
                             f"{int(labels.max())}]")
        return None
    if y_true.shape != y_pred.shape and y_true.numel() != y_pred.numel():
        return ShapeError(f"{owner}: expected `y_true` of shape {format_shape(tuple(y_pred.shape))} like "
                          f"`y_pred`, received {format_shape(tuple(y_true.shape))}")
    return None


def _diagnosed(loss: Callable) -> Callable:
    """``loss`` whose torch error on unfit targets becomes a ShapeError/DataError/DTypeError.

    Nothing is checked on the way in (a loss runs on every batch): only a call that
    fails is examined, and errors with another cause are raised unchanged.
    """
    @functools.wraps(loss)
    def checked(*args, **kwargs):
        try:
            return loss(*args, **kwargs)
        except (AttributeError, IndexError, RuntimeError, ValueError) as exc:
            if isinstance(exc, NeuralabError) or len(args) < 2:
                raise
            problem = _target_problem(loss.__name__, *args[:2])
            if problem is None:
                raise
            raise problem from None

    return checked


@registry.losses.register("mse", "mean_squared_error")
@_diagnosed
def mse(y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
    """Mean squared error ``mean((y_pred - y_true)²)``.

    Args:
        y_pred: predictions, any shape ``(N, *)``.
        y_true: targets of the same shape (an ``(N,)`` target for an ``(N, 1)``
            output is reshaped).

    Returns:
        A scalar tensor.

    >>> float(mse(torch.tensor([[1.0], [2.0]]), torch.tensor([1.0, 0.0])))
    2.0
    """
    y_true = _float_like(_same_shape(y_pred, y_true), y_pred)
    return F.mse_loss(y_pred, y_true)


@registry.losses.register("mae", "l1", "mean_absolute_error")
@_diagnosed
def mae(y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
    """Mean absolute error ``mean(|y_pred - y_true|)`` (alias ``l1``).

    >>> float(mae(torch.tensor([1.0, -3.0]), torch.tensor([0.0, 0.0])))
    2.0
    """
    y_true = _float_like(_same_shape(y_pred, y_true), y_pred)
    return F.l1_loss(y_pred, y_true)


l1 = mae


@registry.losses.register("l2", "sse", "sum_squared_error")
@_diagnosed
def l2(y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
    """Sum of squared errors ``Σ (y_pred - y_true)²`` over every element (alias ``sse``).

    This is the cheat sheet's L2 loss: a sum, not a mean, so its value (and its
    gradient) grows with the batch size; use :func:`mse` for a mean.

    >>> float(l2(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 0.0])))
    5.0
    """
    y_true = _float_like(_same_shape(y_pred, y_true), y_pred)
    return F.mse_loss(y_pred, y_true, reduction="sum")


sse = l2


@registry.losses.register("huber", "smooth_l1")
@_diagnosed
def huber(
    y_pred: torch.Tensor | None = None, y_true: torch.Tensor | None = None, *, delta: float = 1.0
):
    """Huber loss: quadratic near zero, linear for residuals beyond ``delta``.

    ``h(r) = ½ r²`` if ``|r| ≤ δ`` else ``δ (|r| − ½ δ)``; the loss is ``mean(h)``.

    Args:
        y_pred, y_true: predictions and targets of the same shape. Leave both out
            (``huber(delta=2.0)``) to get a loss function with that ``delta``.
        delta: the threshold δ > 0 (default 1.0).

    >>> float(huber(torch.tensor([0.5, 3.0]), torch.tensor([0.0, 0.0])))
    1.3125
    """
    if isinstance(delta, bool) or not isinstance(delta, (int, float)) or delta <= 0:
        raise ConfigError(f"huber: expected a positive number for `delta`, received {delta!r}")
    if y_pred is None and y_true is None:
        bound = functools.partial(huber, delta=delta)
        bound.__name__ = "huber"  # type: ignore[attr-defined]
        return bound
    y_true = _float_like(_same_shape(y_pred, y_true), y_pred)
    return F.huber_loss(y_pred, y_true, delta=float(delta))


@registry.losses.register("hinge")
@_diagnosed
def hinge(y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
    """Hinge loss ``mean(max(0, 1 − t·y))`` for targets ``t`` in {−1, +1}.

    Targets given as 0/1 (e.g. one-hot rows for a one-vs-rest classifier) are
    mapped to −1/+1 first. ``y_pred`` is the raw score ``w·x + b``.

    >>> float(hinge(torch.tensor([0.5, -2.0]), torch.tensor([1.0, -1.0])))
    0.25
    """
    y_true = _float_like(_same_shape(y_pred, y_true), y_pred)
    if bool((y_true >= 0).all()):
        y_true = 2.0 * y_true - 1.0
    return torch.clamp_min(1.0 - y_true * y_pred, 0.0).mean()


@registry.losses.register("binary_crossentropy", "bce", "log_loss")
@_diagnosed
def binary_crossentropy(y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy on probabilities ``p`` (the output of a sigmoid).

    ``−mean(t log p + (1 − t) log(1 − p))`` with ``p`` clamped to ``[eps, 1 − eps]``.

    >>> round(float(binary_crossentropy(torch.tensor([0.9]), torch.tensor([1.0]))), 5)
    0.10536
    """
    y_true = _float_like(_same_shape(y_pred, y_true), y_pred)
    eps = _eps(y_pred)
    p = y_pred.clamp(eps, 1.0 - eps)
    return -(y_true * torch.log(p) + (1.0 - y_true) * torch.log1p(-p)).mean()


def _is_label(y_pred: torch.Tensor, y_true: torch.Tensor) -> bool:
    return not y_true.is_floating_point() and y_true.dim() == y_pred.dim() - 1


@registry.losses.register("categorical_crossentropy", "cce", "crossentropy", "sparse_categorical_crossentropy")
@_diagnosed
def categorical_crossentropy(y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
    """Categorical cross-entropy on probabilities ``p`` (the output of a softmax).

    ``−mean_N Σ_c t_c log p_c``; integer labels ``(N,)`` mean one-hot targets.
    ``p`` is clamped to ``[eps, 1]`` so a zero probability gives a finite loss.

    Args:
        y_pred: probabilities ``(N, C, *)``.
        y_true: labels ``(N, *)`` (integers in ``[0, C)``) or targets ``(N, C, *)``.

    >>> p = torch.tensor([[0.7, 0.2, 0.1]])
    >>> round(float(categorical_crossentropy(p, torch.tensor([0]))), 5)
    0.35667
    """
    logp = torch.log(y_pred.clamp_min(_eps(y_pred)))
    if _is_label(y_pred, y_true):
        return F.nll_loss(logp, y_true.long())
    y_true = _float_like(y_true, y_pred)
    return -(y_true * logp).sum(dim=1).mean()


@registry.losses.register("sigmoid_crossentropy", "binary_crossentropy_with_logits")
@_diagnosed
def sigmoid_crossentropy(y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy on logits: ``binary_crossentropy(sigmoid(z), t)``, computed stably.

    >>> round(float(sigmoid_crossentropy(torch.tensor([0.0]), torch.tensor([1.0]))), 5)
    0.69315
    """
    y_true = _float_like(_same_shape(y_pred, y_true), y_pred)
    return F.binary_cross_entropy_with_logits(y_pred, y_true)


@registry.losses.register("softmax_crossentropy", "categorical_crossentropy_with_logits")
@_diagnosed
def softmax_crossentropy(y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
    """Categorical cross-entropy on logits: ``categorical_crossentropy(softmax(z), t)``, stably.

    Args:
        y_pred: logits ``(N, C, *)``.
        y_true: labels ``(N, *)`` or one-hot / soft targets ``(N, C, *)``.

    >>> round(float(softmax_crossentropy(torch.zeros(1, 4), torch.tensor([2]))), 5)
    1.38629
    """
    if _is_label(y_pred, y_true):
        return F.cross_entropy(y_pred, y_true.long())
    return F.cross_entropy(y_pred, _float_like(y_true, y_pred))


@registry.losses.register("nll", "negative_log_likelihood")
@_diagnosed
def nll(y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood on log-probabilities (the output of a log-softmax).

    >>> float(nll(torch.log(torch.tensor([[0.5, 0.5]])), torch.tensor([1])))  # doctest: +ELLIPSIS
    0.693...
    """
    if _is_label(y_pred, y_true):
        return F.nll_loss(y_pred, y_true.long())
    return -(_float_like(y_true, y_pred) * y_pred).sum(dim=1).mean()


mse.least_squares = l2.least_squares = True  # the SUM_OF_SQUARES functions

#: Losses whose targets are class labels / one-hot rows.
CLASSIFICATION = {
    "binary_crossentropy": "binary",
    "sigmoid_crossentropy": "binary",
    "hinge": "binary",
    "categorical_crossentropy": "categorical",
    "softmax_crossentropy": "categorical",
    "nll": "categorical",
}


def name_of(loss: Callable) -> str | None:
    """The registered primary name of a loss function (``None`` for a foreign callable)."""
    target = getattr(loss, "func", loss)  # functools.partial
    for name, entry in registry.losses.items():
        if entry is target:
            return name
    return None


def get(spec: Any) -> Callable:
    """Turn a name, a config dict, a torch loss module or a callable into a loss function.

    >>> get("l1") is mae
    True
    >>> get({"class": "huber", "config": {"delta": 2.0}})(torch.tensor([3.0]), torch.tensor([0.0]))
    tensor(4.)
    """
    if isinstance(spec, (str, dict)):
        return registry.losses.get(spec)
    if callable(spec):
        return spec
    raise DTypeError(
        "expected a loss name, a config dict or a callable loss(y_pred, y_true); "
        f"received {type(spec).__name__}; known names: {', '.join(registry.losses.names())}"
    )


def select(last_layer: str | None, y_true: torch.Tensor, n_outputs: int | None = None) -> str:
    """Pick a loss name for ``loss="auto"`` from the last layer and the targets.

    Rules (``last_layer`` is the class name of the module's final layer):

    - ``Softmax`` → ``categorical_crossentropy``; ``LogSoftmax`` → ``nll``;
      ``Sigmoid`` → ``binary_crossentropy`` (all on the layer's probabilities);
    - otherwise (a linear output) integer targets → ``softmax_crossentropy`` when
      there are several outputs, ``sigmoid_crossentropy`` for one output; one-hot
      float targets → ``softmax_crossentropy``; real-valued targets → ``mse``.

    >>> select("Softmax", torch.tensor([0, 2]))
    'categorical_crossentropy'
    >>> select(None, torch.tensor([[0.5], [1.5]]), 1)
    'mse'
    """
    kind = (last_layer or "").lower()
    if kind == "softmax":
        return "categorical_crossentropy"
    if kind == "logsoftmax":
        return "nll"
    if kind in ("sigmoid", "hardsigmoid"):
        return "binary_crossentropy"
    if not y_true.is_floating_point():
        return "sigmoid_crossentropy" if n_outputs == 1 else "softmax_crossentropy"
    if (
        y_true.dim() == 2
        and y_true.shape[1] > 1
        and bool(((y_true == 0) | (y_true == 1)).all())
        and bool((y_true.sum(dim=1) == 1).all())
    ):
        return "softmax_crossentropy"
    return "mse"

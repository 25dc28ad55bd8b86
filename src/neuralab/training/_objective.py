"""What a run minimises and reports: the loss per output (weighted), the metrics per output.

:class:`Objective` turns ``loss`` (one loss, a list or a dict per output, or one
callable over all outputs) and ``loss_weights`` into ``total, parts = objective(outs, ys)``,
and adapts/checks the targets of each output for its loss before training starts.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from .. import losses as _losses
from ..errors import ConfigError, DataError, format_shape
from ..validation import check_number
from . import metrics as _metrics
from ._ragged import IGNORE_INDEX, steps_only
from ._structure import output_names

__all__ = ["Objective", "resolve_metrics", "last_layer", "probability_fns"]

logger = logging.getLogger("neuralab.training")


def last_layer(module: nn.Module) -> nn.Module | None:
    """Duck-typed: ``module.layers[-1]`` or the last child of an ``nn.Sequential`` (recursively)."""
    last = None
    layers = getattr(module, "layers", None)
    if layers is not None and not isinstance(layers, (str, bytes)):
        try:
            seq = list(layers)
            last = seq[-1] if seq else None
        except TypeError:
            last = None
    elif isinstance(module, nn.Sequential) and len(module):
        last = module[-1]
    if last is None or last is module:
        return None
    deeper = last_layer(last)
    return deeper if deeper is not None else last


def _output_layers(module: nn.Module, n: int) -> list:
    layers = getattr(module, "output_layers", None)
    if layers is not None and not isinstance(layers, (str, bytes)):
        try:
            found = list(layers)
            if len(found) == n:
                return found
        except TypeError:
            pass
    return [last_layer(module)] + [None] * (n - 1)


def _is_softmax(layer) -> bool:
    return layer is not None and type(layer).__name__ == "Softmax"


_PROBABILITY_LAYERS = ("Softmax", "Sigmoid", "HardSigmoid")


def _to_probabilities(out: torch.Tensor) -> torch.Tensor:
    """Logits → probabilities: sigmoid for one unit, else softmax over the class axis
    (the last axis of ``(N, C)`` and ``(N, T, C)``, axis 1 of images ``(N, C, H, W)``)."""
    if out.dim() < 2 or out.shape[-1] == 1 and out.dim() == 2:
        return torch.sigmoid(out)
    return torch.softmax(out, dim=1 if out.dim() >= 4 else -1)


def probability_fns(module: nn.Module, n: int) -> list:
    """Per output: None when its last layer already gives probabilities (Softmax, Sigmoid),
    else the logits → probabilities map."""
    return [None if layer is not None and type(layer).__name__ in _PROBABILITY_LAYERS else _to_probabilities
            for layer in _output_layers(module, n)]


def _auto_loss(layer, y: torch.Tensor, out: torch.Tensor) -> str:
    n_out = int(out[0].numel()) if out.dim() else 1
    name = _losses.select(type(layer).__name__ if layer is not None else None, y, n_out)
    if name == "sigmoid_crossentropy" and not y.is_floating_point():
        lo, hi = int(y.min()), int(y.max())
        if lo < 0 or hi > 1:
            raise DataError(
                f"loss='auto': integer targets in [{lo}, {hi}] for a one-unit output: expected 0/1 "
                "labels for a binary classifier; for regression on integer values pass loss='mse', "
                "for classes give the output one unit per class"
            )
    logger.debug("loss='auto' chose %s", name)
    return name


class _Term:
    """One output's loss."""

    def __init__(self, spec, layer, y0: torch.Tensor | None, out0: torch.Tensor, weight: float, label: str):
        self.label = label
        self.weight = weight
        if isinstance(spec, str) and spec.strip().lower() == "auto":
            if y0 is None:
                raise DataError(f"loss='auto' needs targets for {label}: received none")
            self.name = _auto_loss(layer, y0, out0)
            self.fn = _losses.get(self.name)
        elif isinstance(spec, nn.CrossEntropyLoss):
            self.name, self.fn = None, spec
        else:
            self.fn = _losses.get(spec)
            self.name = _losses.name_of(self.fn)
        if self.name == "softmax_crossentropy" and _is_softmax(layer):
            warnings.warn(
                f"{label}: the output layer '{getattr(layer, 'name', type(layer).__name__)}' already "
                "applies softmax, and loss 'softmax_crossentropy' would apply it a second time; "
                "using 'categorical_crossentropy' on the probabilities instead",
                stacklevel=5,
            )
            self.name, self.fn = "categorical_crossentropy", _losses.categorical_crossentropy


class Objective:
    """The run's loss: ``total = Σ_k w_k · loss_k(out_k, y_k)``, or one callable over every output.

    Args:
        spec: one loss (name, config, callable, "auto") used for every output; a
            list (one per output, in output order) or a dict keyed by output name.
            With several outputs, a callable that is not a registered loss gets the
            whole structures: ``loss(outputs_tuple, targets_tuple)``.
        module: the model (its output layer names and types).
        outs0: the outputs of a probe batch (a tuple, one tensor per output).
        ys0: the targets of the probe batch (a tuple) or None.
        weights: None, a list or a dict of per-output weights (default 1 each).
    """

    def __init__(self, spec, module: nn.Module, outs0: tuple, ys0: tuple | None, weights=None,
                 steps: bool = False):
        n = len(outs0)
        self.steps = steps
        self.labels = output_names(module) or [f"output_{k}" for k in range(n)]
        if len(self.labels) != n:
            self.labels = [f"output_{k}" for k in range(n)]
        self.n = n
        self.whole: Callable | None = None
        self.terms: list[_Term] = []
        is_registered = isinstance(spec, (str, dict, nn.CrossEntropyLoss)) or (
            callable(spec) and _losses.name_of(spec) is not None)
        if n > 1 and callable(spec) and not is_registered:
            self.whole = spec
            if weights is not None:
                raise ConfigError("fit: loss_weights need one loss per output; received one callable "
                                  "loss over every output")
            return
        specs = self._per_output(spec, "loss")
        ws = self._per_output(1.0 if weights is None else weights, "loss_weights")
        ws = [check_number("fit", f"loss_weights[{lab!r}]", w, low=0.0) for w, lab in zip(ws, self.labels)]
        layers = _output_layers(module, n)
        for k in range(n):
            label = "the output" if n == 1 else f"output {self.labels[k]!r}"
            y0 = None if ys0 is None else ys0[k]
            if steps and y0 is not None:  # the loss sees real steps only: (M, C) and (M,)
                valid = y0[:outs0[k].shape[0]] != IGNORE_INDEX
                term = _Term(specs[k], layers[k], y0[:outs0[k].shape[0]][valid], outs0[k][valid], ws[k], label)
                term.fn = steps_only(term.fn)
            else:
                term = _Term(specs[k], layers[k], y0, outs0[k], ws[k], label)
            self.terms.append(term)

    def _per_output(self, value, what: str) -> list:
        n, labels = self.n, self.labels
        if isinstance(value, dict) and not (what == "loss" and "class" in value):
            unknown = [k for k in value if k not in labels]
            if unknown or len(value) != n:
                raise ConfigError(
                    f"fit: expected `{what}` keyed by the output names {', '.join(map(repr, labels))}, "
                    f"received keys {', '.join(map(repr, value))}"
                )
            return [value[lab] for lab in labels]
        if isinstance(value, (list, tuple)):
            if len(value) != n:
                raise ConfigError(
                    f"fit: expected `{what}` with one entry per output ({n}: "
                    f"{', '.join(map(repr, labels))}), received {len(value)}"
                )
            return list(value)
        return [value] * n

    @property
    def name(self) -> str | None:
        """The loss name of a single-output run (None for a custom loss or several outputs)."""
        return self.terms[0].name if len(self.terms) == 1 else None

    @property
    def names(self) -> list:
        return [t.name for t in self.terms]

    def fit_targets(self, ys: tuple, outs: tuple, what: str) -> tuple:
        """Check (and adapt) every output's targets for its loss; DataError if they cannot fit."""
        if len(ys) != self.n:
            raise DataError(
                f"{what}: expected {self.n} target arrays, one per output "
                f"({', '.join(map(repr, self.labels))}), received {len(ys)}"
            )
        if self.whole is not None:
            return ys
        label = (lambda k: what) if self.n == 1 else (lambda k: f"{what}[{self.labels[k]!r}]")
        if self.steps:
            for k, (y, out, t) in enumerate(zip(ys, outs, self.terms)):
                valid = y[:out.shape[0]] != IGNORE_INDEX
                fit_target(y[:out.shape[0]][valid], out[valid], t.name, label(k))
            return ys
        return tuple(fit_target(y, out, t.name, label(k))
                     for k, (y, out, t) in enumerate(zip(ys, outs, self.terms)))

    def __call__(self, outs: tuple, ys: tuple) -> tuple[torch.Tensor, list]:
        """``(total, parts)``: the weighted sum and the per-output losses (empty for one output)."""
        if self.whole is not None:
            return self.whole(outs, ys), []
        if self.n == 1:
            return self.terms[0].fn(outs[0], ys[0]), []
        parts = [t.fn(o, y) for t, o, y in zip(self.terms, outs, ys)]
        total = sum(t.weight * p for t, p in zip(self.terms, parts))
        return total, parts

    def part_labels(self) -> list[str]:
        return [f"{lab}_loss" for lab in self.labels] if self.n > 1 and self.whole is None else []


def fit_target(y: torch.Tensor, out: torch.Tensor, loss_name: str | None, what: str) -> torch.Tensor:
    """Check (and adapt) one output's targets for the chosen loss; DataError if they cannot fit."""
    if loss_name is None:
        return y
    kind = _losses.CLASSIFICATION.get(loss_name)
    per_out = tuple(out.shape[1:])
    per_y = tuple(y.shape[1:])
    if kind == "categorical":
        return _categorical_target(y, out, loss_name, what)
    if _is_label_for(y, out) and loss_name in _losses.SUM_OF_SQUARES + ("mae",):
        return _one_hot(y, out, what)  # regression losses on class labels compare with one-hot rows
    if not y.is_floating_point():
        y = y.to(out.dtype if out.is_floating_point() else torch.get_default_dtype())
    n_y = int(np.prod(per_y)) if per_y else 1
    n_out = int(np.prod(per_out)) if per_out else 1
    if n_y != n_out:
        hint = ""
        if kind is None and n_y == 1 and n_out > 1:
            hint = "; for class labels use a classification loss such as softmax_crossentropy"
        raise DataError(
            f"{what}: targets of shape {format_shape(per_y)} per sample do not fit the output "
            f"{format_shape(per_out)} for loss {loss_name!r}: expected {n_out} value(s) per sample, "
            f"received {n_y}{hint}"
        )
    y = y.reshape((y.shape[0],) + per_out)
    if kind == "binary" and loss_name != "hinge":
        lo, hi = float(y.min()), float(y.max())
        if lo < 0 or hi > 1:
            raise DataError(
                f"{what}: loss {loss_name!r} expects targets in [0, 1]; received values in [{lo:g}, {hi:g}]"
            )
    return y


def _is_label_for(y: torch.Tensor, out: torch.Tensor) -> bool:
    return (not y.is_floating_point() and y.dtype != torch.bool and y.dim() == 1 and out.dim() == 2
            and out.shape[1] >= 2)


def _one_hot(y: torch.Tensor, out: torch.Tensor, what: str) -> torch.Tensor:
    n_classes = int(out.shape[1])
    _check_labels(y, n_classes, what)
    return torch.nn.functional.one_hot(y.long(), n_classes).to(out.dtype)


def _check_labels(y: torch.Tensor, n_classes: int, what: str) -> None:
    """DataError unless every integer label is in [0, n_classes), naming the first bad sample."""
    lo, hi = int(y.min()), int(y.max())
    if lo < 0 or hi >= n_classes:
        bad = ((y < 0) | (y >= n_classes)).reshape(y.shape[0], -1).any(dim=1).nonzero()[0, 0]
        raise DataError(
            f"{what}: class labels must be in [0, {n_classes}) for an output with {n_classes} "
            f"classes; received labels in [{lo}, {hi}] (first bad label at sample {int(bad)})"
        )


def _categorical_target(y: torch.Tensor, out: torch.Tensor, loss_name: str, what: str) -> torch.Tensor:
    per_out, per_y = tuple(out.shape[1:]), tuple(y.shape[1:])
    if out.dim() < 2 or out.shape[1] < 2:
        raise DataError(
            f"loss {loss_name!r} needs an output of C >= 2 class scores per sample, received "
            f"output {format_shape(per_out)}; use a binary loss (binary_crossentropy, "
            "sigmoid_crossentropy) for one output"
        )
    n_classes = int(out.shape[1])
    if y.is_floating_point() and y.dim() == out.dim() - 1 and bool((y == y.round()).all()):
        y = y.long()
    if y.is_floating_point():
        if per_y != per_out:
            raise DataError(
                f"{what}: targets of shape {format_shape(per_y)} per sample do not fit the output "
                f"{format_shape(per_out)}: expected one-hot/probability targets {format_shape(per_out)} "
                "or integer class labels"
            )
        return y
    if per_y != tuple(out.shape[2:]):
        raise DataError(
            f"{what}: class labels of shape {format_shape(per_y)} per sample do not fit the "
            f"output {format_shape(per_out)}: expected labels of shape "
            f"{format_shape(tuple(out.shape[2:]))} per sample, or one-hot targets "
            f"{format_shape(per_out)}"
        )
    _check_labels(y, n_classes, what)
    return y


def _threshold_zero_accuracy(y_pred, y_true):
    """Accuracy of a single logit/score output: positive ⇔ class 1."""
    return _metrics.accuracy(y_pred, y_true, threshold=0.0)


def resolve_metrics(metrics: Any, objective: Objective | None) -> list[tuple[str, int, Callable]]:
    """``(label, output index, fn)`` triples.

    ``metrics`` is one spec, a list applied to every output, or a dict keyed by
    output name; with several outputs labels read ``<output>_<metric>``.
    Accuracy of a single logit/score output thresholds at 0.
    """
    if metrics is None:
        return []
    n = objective.n if objective is not None else 1
    labels = objective.labels if objective is not None else ["output"]
    if isinstance(metrics, dict):
        unknown = [k for k in metrics if k not in labels]
        if unknown:
            raise ConfigError(f"fit: expected `metrics` keyed by the output names "
                              f"{', '.join(map(repr, labels))}, received {', '.join(map(repr, unknown))}")
        per = {labels.index(k): (v if isinstance(v, (list, tuple)) else [v]) for k, v in metrics.items()}
    else:
        specs = [metrics] if isinstance(metrics, str) or callable(metrics) else list(metrics)
        per = {k: specs for k in range(n)}
    resolved = []
    for k, specs in per.items():
        loss_name = objective.terms[k].name if objective is not None and objective.terms else None
        for spec in specs:
            name, fn = _metrics.get(spec)
            if name in ("accuracy", "acc") and loss_name in ("sigmoid_crossentropy", "hinge"):
                fn = _threshold_zero_accuracy
            if objective is not None and objective.steps:
                fn = steps_only(fn)
            resolved.append((name if n == 1 else f"{labels[k]}_{name}", k, fn))
    return resolved

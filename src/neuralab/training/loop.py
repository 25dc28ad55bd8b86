"""The training loop: :func:`fit`, :func:`predict`, :func:`evaluate`."""

from __future__ import annotations

import logging
import math
import sys
import time
import warnings
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from .. import losses as _losses
from .. import registry
from .. import regularizers as _regularizers
from ..errors import ConfigError, DataError, DTypeError, StorageError, TrainingError, format_shape
from . import _data
from . import distributed as dist
from . import metrics as _metrics
from .callbacks import Callback, Checkpoint, ProgressBar, ProgressLine, Trainer
from .checkpoint import capture_rng, find_checkpoint, load_checkpoint, restore_rng
from .history import History, jsonable

__all__ = ["fit", "predict", "evaluate", "resolve_device"]

logger = logging.getLogger("neuralab.training")


class _DefaultInt(int):
    """An int that remembers it is fit's default (so full-batch optimizers warn only when asked)."""


_DEFAULT_BATCH = _DefaultInt(32)


# --------------------------------------------------------------------------- arguments
def resolve_device(device: Any) -> torch.device:
    """``"auto"`` → CUDA when present, else CPU; strings and ``torch.device`` pass through."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"expected device 'auto', 'cpu', 'cuda' or 'cuda:N', received {device!r}") from None


def _int_arg(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigError(f"fit: expected an integer for `{name}`, received {value!r}")
    if value < low:
        raise ConfigError(f"fit: expected `{name}` >= {low}, received {value}")
    return int(value)


def _positive(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigError(f"fit: expected a positive number or None for `{name}`, received {value!r}")
    return float(value)


def _module_device(module: nn.Module) -> torch.device:
    for t in list(module.parameters()) + list(module.buffers()):
        return t.device
    return torch.device("cpu")


# --------------------------------------------------------------------------- loss
def _last_layer(module: nn.Module) -> nn.Module | None:
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
    deeper = _last_layer(last)
    return deeper if deeper is not None else last


def _resolve_loss(spec, module: nn.Module, y: torch.Tensor, out: torch.Tensor) -> tuple[str | None, Callable]:
    if isinstance(spec, str) and spec.strip().lower() == "auto":
        last = _last_layer(module)
        n_out = int(out[0].numel()) if out.dim() else 1
        name = _losses.select(type(last).__name__ if last is not None else None, y, n_out)
        logger.debug("loss='auto' chose %s", name)
        return name, _losses.get(name)
    if isinstance(spec, nn.CrossEntropyLoss):
        return None, spec
    fn = _losses.get(spec)
    return _losses.name_of(fn), fn


def _fit_targets(y: torch.Tensor, out: torch.Tensor, loss_name: str | None, what: str) -> torch.Tensor:
    """Check (and adapt) targets against the model output for the chosen loss; DataError if they cannot fit."""
    if loss_name is None:
        return y
    kind = _losses.CLASSIFICATION.get(loss_name)
    per_out = tuple(out.shape[1:])
    per_y = tuple(y.shape[1:])
    if kind == "categorical":
        if out.dim() < 2 or out.shape[1] < 2:
            raise DataError(
                f"loss {loss_name!r} needs an output of C >= 2 class scores per sample, received "
                f"output {format_shape(per_out)}; use a binary loss (binary_crossentropy, "
                "sigmoid_crossentropy) for one output"
            )
        n_classes = int(out.shape[1])
        if y.is_floating_point() and y.dim() == out.dim() - 1 and bool((y == y.round()).all()):
            y = y.long()
        if not y.is_floating_point():
            if per_y != tuple(out.shape[2:]):
                raise DataError(
                    f"{what}: class labels of shape {format_shape(per_y)} per sample do not fit the "
                    f"output {format_shape(per_out)}: expected labels of shape "
                    f"{format_shape(tuple(out.shape[2:]))} per sample, or one-hot targets "
                    f"{format_shape(per_out)}"
                )
            lo, hi = int(y.min()), int(y.max())
            if lo < 0 or hi >= n_classes:
                bad = ((y < 0) | (y >= n_classes)).reshape(y.shape[0], -1).any(dim=1).nonzero()[0, 0]
                raise DataError(
                    f"{what}: class labels must be in [0, {n_classes}) for an output with {n_classes} "
                    f"classes; received labels in [{lo}, {hi}] (first bad label at sample {int(bad)})"
                )
            return y
        if per_y != per_out:
            raise DataError(
                f"{what}: targets of shape {format_shape(per_y)} per sample do not fit the output "
                f"{format_shape(per_out)}: expected one-hot/probability targets {format_shape(per_out)} "
                "or integer class labels"
            )
        return y
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


# --------------------------------------------------------------------------- optimizer / schedule
def _make_optimizer(spec, module: nn.Module, lr: float | None, kwargs: dict):
    params = [p for p in module.parameters() if p.requires_grad]
    if not params:
        raise ConfigError(f"fit: {type(module).__name__} has no trainable parameters")
    if hasattr(spec, "step") and hasattr(spec, "param_groups") and not isinstance(spec, type):
        if lr is not None:
            for group in spec.param_groups:
                group["lr"] = lr
        return spec
    if isinstance(spec, type) and issubclass(spec, torch.optim.Optimizer):
        return spec(params, **({"lr": lr} if lr is not None else {}), **kwargs)
    if not isinstance(spec, (str, dict)) and not callable(spec):
        raise ConfigError(
            f"fit: expected an optimizer name, a torch.optim class or instance, received {type(spec).__name__}"
        )
    from .. import optimizers

    return optimizers.create(spec, params, lr=lr, **kwargs)


def _resolve_schedule(spec):
    """Returns (factor_fn or None, torch scheduler or None)."""
    if spec is None:
        return None, None
    if isinstance(spec, torch.optim.lr_scheduler.LRScheduler):
        return None, spec
    if isinstance(spec, (str, dict)):
        spec = registry.schedules.get(spec)
    factor = getattr(spec, "factor", None)
    if callable(factor):
        return factor, None
    if callable(spec):
        return spec, None
    raise ConfigError(
        "fit: expected lr_schedule to be a schedule (step_decay …), a callable epoch -> factor or a "
        f"torch LR scheduler; received {type(spec).__name__}"
    )


# --------------------------------------------------------------------------- evaluation helpers
def _forward_batches(module, data, batch_size, device, dtype, keep_ints):
    """Yield (out, y) batches in eval mode, without gradients."""
    if isinstance(data, _data.Arrays):
        x, y = data.x, data.y
        for i in range(0, data.n, batch_size):
            xb = x[i:i + batch_size].to(device, non_blocking=True)
            yb = None if y is None else y[i:i + batch_size].to(device, non_blocking=True)
            yield module(xb), yb
    else:
        loader = data.loader or DataLoader(data.dataset, batch_size=batch_size, shuffle=False)
        for batch in loader:
            xb, yb = _data.stream_batch(batch, module, device, dtype, keep_ints)
            yield module(xb), yb


def _eval_sums(module, data, batch_size, device, loss_fn, metric_fns, target_fn, dtype, keep_ints):
    """Sample-weighted sums of the loss and metrics over ``data`` (0-d tensors) and the sample count."""
    was_training = module.training
    module.eval()
    sums = None
    count = 0
    try:
        with torch.no_grad():
            for out, yb in _forward_batches(module, data, batch_size, device, dtype, keep_ints):
                if yb is None:
                    raise DataError("evaluation data has no targets: expected (x, y) pairs, received x only")
                yb = target_fn(yb, out)
                vals = [loss_fn(out, yb)] + [fn(out, yb) for _, fn in metric_fns]
                b = out.shape[0]
                batch = torch.stack([v.detach().to(torch.float64) for v in vals]) * b
                sums = batch if sums is None else sums + batch
                count += b
    finally:
        module.train(was_training)
    return sums, count


# --------------------------------------------------------------------------- fit
def fit(
    module: nn.Module,
    x,
    y=None,
    *,
    optimizer: Any = "adam",
    lr: float | None = None,
    loss: Any = "auto",
    epochs: int = 10,
    batch_size: int = _DEFAULT_BATCH,
    shuffle: bool = True,
    validation_data=None,
    validation_split: float = 0.0,
    metrics=None,
    regularizers=None,
    lr_schedule=None,
    callbacks: list[Callback] | None = None,
    progress: bool | str = True,
    device: Any = "auto",
    seed: int | None = None,
    clip_grad_norm: float | None = None,
    clip_grad_value: float | None = None,
    resume_from=None,
    optimizer_kwargs: dict | None = None,
    drop_last: bool = False,
) -> History:
    """Train any ``torch.nn.Module`` with any optimizer; return the :class:`History`.

    One step on a batch ``(x_b, y_b)``::

        L = loss(module(x_b), y_b) + Σ penalty(module)     # l1/l2 regularizers
        L.backward(); clip gradients; optimizer.step(); maxnorm projections

    Full-batch (second-order) optimizers (``optimizer.full_batch = True``) take
    one step per epoch on the whole training set through a
    ``ResidualClosure`` (objective "residuals", e.g. Levenberg–Marquardt; the loss
    must be mse, l2 or sse) or a ``LossClosure`` (objective "loss").

    Args:
        module: the model. Lazily-built modules are built by one forward pass on
            the first batch before the optimizer is created.
        x: inputs: a NumPy array, a tensor or a list ``(N, ...)``, a ``Dataset``
            or a ``DataLoader`` (the last two yield ``(input, target)`` pairs).
        y: targets ``(N, ...)`` (None when ``x`` is a Dataset/DataLoader).
            Integer class labels or one-hot rows for classification.
        optimizer: a name (sgd, momentum, nesterov, adam, adamax, rmsprop, adadelta,
            adagrad, rprop, irprop+, lm, newton, cg, bfgs …), a ``torch.optim``
            class or an optimizer instance (default "adam").
        lr: learning rate (default: the optimizer's own default).
        loss: a name from :mod:`neuralab.losses`, a callable ``loss(y_pred, y_true)``
            or "auto" (default): chosen from the last layer (Softmax, Sigmoid …)
            and the targets (labels, one-hot, real values).
        epochs: number of epochs (default 10); with ``resume_from`` the total.
        batch_size: samples per step (default 32).
        shuffle: reshuffle the training samples every epoch (default True).
        validation_data: ``(x_val, y_val)`` or a Dataset/DataLoader evaluated after
            each epoch (logged as ``val_loss``, ``val_<metric>``).
        validation_split: fraction of the (unshuffled) training data held out at
            the end for validation (default 0.0).
        metrics: names (accuracy, top5, mse, mae …) or callables ``(y_pred, y_true)``.
        regularizers: :mod:`neuralab.regularizers` objects/names (l1, l2, maxnorm).
        lr_schedule: a :mod:`neuralab.schedules` schedule, a callable
            ``epoch -> factor`` of the initial rate, or a torch LR scheduler
            (stepped once per epoch).
        callbacks: :mod:`neuralab.training.callbacks` objects.
        progress: True: a tqdm bar per epoch on a terminal, one line per epoch on
            stderr otherwise; "bar"/"line" force one; False: silent (default True).
        device: "auto" (CUDA when present), "cpu", "cuda", … (default "auto").
        seed: seeds torch's global RNG (initialisation of lazy modules, dropout)
            and the shuffling; with a seed a run is reproducible (default None).
        clip_grad_norm: rescale gradients to this total L2 norm at most (default None).
        clip_grad_value: clamp each gradient component to ±value (default None).
        resume_from: a checkpoint folder (see :class:`~neuralab.training.callbacks.Checkpoint`)
            or file: restores weights, optimizer, RNG states, history and callback
            states, and continues at the next epoch.
        optimizer_kwargs: extra keyword arguments for the optimizer (default None).
        drop_last: skip the last incomplete batch of each epoch (default False).

    Returns:
        A :class:`History`; ``history["loss"]`` is the per-epoch mean of the batch
        losses weighted by batch size (including regularization penalties).

    Raises:
        DataError: unusable data (lengths, labels, shapes, NaN/inf, empty, strings),
            before any training step.
        ConfigError: invalid arguments.
        TrainingError: the loss became NaN or infinite (names the epoch and step).

    Example:
        >>> import torch
        >>> from torch import nn
        >>> x = torch.randn(256, 2); y = (x[:, 0] > x[:, 1]).long()
        >>> net = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))
        >>> h = fit(net, x, y, epochs=20, lr=0.05, metrics=["accuracy"], progress=False, seed=0)
        >>> h["accuracy"][-1] > 0.95
        True
    """
    if not isinstance(module, nn.Module):
        raise DTypeError(f"fit: expected a torch.nn.Module, received {type(module).__name__}")
    explicit_batch = not isinstance(batch_size, _DefaultInt)
    epochs = _int_arg("epochs", epochs, 0)
    batch_size = _int_arg("batch_size", batch_size, 1)
    if isinstance(validation_split, bool) or not isinstance(validation_split, (int, float)) or not (
        0.0 <= validation_split < 1.0
    ):
        raise ConfigError(f"fit: expected validation_split in [0, 1), received {validation_split!r}")
    if validation_split and validation_data is not None:
        raise ConfigError("fit: expected validation_data or validation_split, received both")
    clip_norm = _positive("clip_grad_norm", clip_grad_norm)
    clip_value = _positive("clip_grad_value", clip_grad_value)
    if progress not in (True, False, "bar", "line", None):
        raise ConfigError(f"fit: expected progress True, False, 'bar' or 'line', received {progress!r}")
    if seed is not None:
        seed = _int_arg("seed", seed, 0)
    device = dist.local_device(resolve_device(device))
    world, rank = dist.world_size(), dist.rank()

    # -- randomness: one seed drives init, dropout and shuffling -------------
    if seed is not None:
        torch.manual_seed(seed)
    gen = torch.Generator()
    gen.manual_seed(seed if seed is not None else int(torch.randint(0, 2**62, (1,)).item()))

    # -- data ---------------------------------------------------------------
    module.to(device)
    train = _data.prepare(x, y, module, "x")
    val = None
    if validation_split:
        train, val = _data.split_validation(train, float(validation_split))
    elif validation_data is not None:
        if isinstance(validation_data, (tuple, list)) and len(validation_data) == 2:
            val = _data.prepare(validation_data[0], validation_data[1], module, "x_val")
        elif isinstance(validation_data, (DataLoader, torch.utils.data.Dataset)):
            val = _data.prepare(validation_data, None, module, "x_val")
        else:
            raise DataError(
                "validation_data: expected a pair (x_val, y_val), a Dataset or a DataLoader; "
                f"received {type(validation_data).__name__}"
            )
    dtype = _data.module_dtype(module)
    keep_ints = _data.wants_int_inputs(module)

    # -- probe: build lazy modules, pick the loss, check the targets --------
    if isinstance(train, _data.Arrays):
        if train.y is None:
            raise DataError("fit: expected targets y for x, received y=None")
        xb0, yb0 = train.x[: min(batch_size, train.n)], train.y
    else:
        loader0 = train.loader or DataLoader(train.dataset, batch_size=batch_size, shuffle=False)
        first = next(iter(loader0), None)
        if first is None:
            raise DataError("fit: empty dataset: expected at least one batch, received none")
        xb0, yb0 = _data.stream_batch(first, module, torch.device("cpu"), dtype, keep_ints)
        if yb0 is None:
            raise DataError("fit: the dataset yields inputs only: expected (input, target) pairs")
    out0 = _probe(module, xb0.to(device))
    dtype = _data.module_dtype(module)
    loss_name, loss_fn = _resolve_loss(loss, module, yb0, out0)
    if isinstance(train, _data.Arrays):
        train = _data.Arrays(_data.cast_x(train.x, dtype, keep_ints), _fit_targets(train.y, out0, loss_name, "y"))
    else:
        _fit_targets(yb0, out0, loss_name, "y")
    if isinstance(val, _data.Arrays):
        if val.y is None:
            raise DataError("validation data: expected targets y_val, received None")
        val = _data.Arrays(_data.cast_x(val.x, dtype, keep_ints), _fit_targets(val.y, out0, loss_name, "y_val"))

    def stream_targets(yb, out):  # per-batch check/adaptation for streamed data
        return _fit_targets(yb, out, loss_name, "y batch")

    def same(yb, out):
        return yb

    train_targets = same if isinstance(train, _data.Arrays) else stream_targets
    val_targets = same if isinstance(val, _data.Arrays) else stream_targets

    # -- metrics, regularizers, optimizer, schedule ---------------------------
    metric_fns = _resolve_metrics(metrics, loss_name)
    regs = _regularizers.resolve(regularizers)
    penalties = [r for r in regs if type(r).penalty is not _regularizers.Regularizer.penalty
                 and not isinstance(r, _regularizers.MaxNorm)]
    projections = [r for r in regs if type(r).apply is not _regularizers.Regularizer.apply]
    opt = _make_optimizer(optimizer, module, lr, dict(optimizer_kwargs or {}))
    full_batch = bool(getattr(opt, "full_batch", False))
    needs_closure = isinstance(opt, torch.optim.LBFGS)
    factor_fn, torch_sched = _resolve_schedule(lr_schedule)
    base_lrs = [g.get("lr") for g in opt.param_groups]
    params = [p for g in opt.param_groups for p in g["params"]]

    history = History()
    start_epoch = 0
    trainer = Trainer(module, opt, history, epochs, is_main=(rank == 0))
    cbs = list(callbacks or [])
    for cb in cbs:
        if not isinstance(cb, Callback):
            raise ConfigError(f"fit: expected Callback objects in callbacks, received {type(cb).__name__}")
    # checkpoints run last so they see the other callbacks' state of the same epoch
    cbs = [c for c in cbs if not isinstance(c, Checkpoint)] + [c for c in cbs if isinstance(c, Checkpoint)]
    mode = _progress_mode(progress)
    bar = ProgressBar() if mode == "bar" else None
    if mode == "line":
        cbs.append(ProgressLine())
    elif bar is not None:
        cbs.insert(0, bar)
    for cb in cbs:
        cb.trainer = trainer
    user_cbs = [c for c in cbs if c is not bar and not isinstance(c, ProgressLine)]
    batch_cbs = [c for c in cbs
                 if "on_batch_end" in vars(c) or type(c).on_batch_end is not Callback.on_batch_end]

    def state_fn():
        meta = {
            "epoch": trainer.epoch + 1,
            "history": history.to_dict(),
            "rng": capture_rng(gen),
            "base_lrs": base_lrs,
            "loss": loss_name,
            "callbacks": [{"class": type(c).__name__, "state": c.state_dict()} for c in user_cbs],
            "torch_scheduler": torch_sched.state_dict() if torch_sched is not None else None,
        }
        return module.state_dict(), opt.state_dict(), meta

    trainer._state_fn = state_fn

    # -- resume -------------------------------------------------------------
    if resume_from is not None:
        ck = find_checkpoint(resume_from)
        if ck is None:
            warnings.warn(f"fit: no checkpoint found at {resume_from!r}; starting from the first epoch",
                          stacklevel=2)
        else:
            model_state, optim_state, meta = load_checkpoint(ck)
            try:
                module.load_state_dict(model_state)
            except RuntimeError as exc:
                raise StorageError(f"{ck!r}: the checkpoint weights do not fit the module: {exc}") from None
            if optim_state is not None:
                try:
                    opt.load_state_dict(optim_state)
                except (ValueError, KeyError, RuntimeError) as exc:
                    raise StorageError(f"{ck!r}: the optimizer state does not fit {type(opt).__name__}: {exc}") from None
            start_epoch = int(meta["epoch"])
            restored = History.from_dict(meta["history"])
            history.history, history.epoch = restored.history, restored.epoch
            base_lrs = list(meta.get("base_lrs") or base_lrs)
            saved = meta.get("callbacks") or []
            for cb, entry in zip(user_cbs, saved):
                if entry.get("class") == type(cb).__name__:
                    cb.load_state_dict(entry.get("state") or {})
            if torch_sched is not None and meta.get("torch_scheduler"):
                torch_sched.load_state_dict(meta["torch_scheduler"])
            restore_rng(meta["rng"], gen)
            logger.info("resumed from %s at epoch %d", ck, start_epoch + 1)

    # -- the loop -----------------------------------------------------------
    if full_batch:
        run_epoch = _full_batch_runner(module, opt, train, loss_name, loss_fn, penalties, device,
                                       batch_size, explicit_batch, dtype, keep_ints, metric_fns)
    else:
        run_epoch = _minibatch_runner(
            module, opt, train, loss_fn, metric_fns, penalties, projections, params, clip_norm, clip_value,
            batch_size, shuffle, drop_last, gen, device, dtype, keep_ints, train_targets, bar, batch_cbs,
            needs_closure, world, rank,
        )
    was_training = module.training
    for cb in cbs:
        cb.on_train_begin({})
    try:
        for epoch in range(start_epoch, epochs):
            trainer.epoch = epoch
            if factor_fn is not None:
                for group, base in zip(opt.param_groups, base_lrs):
                    if base is not None:
                        group["lr"] = base * float(factor_fn(epoch))
            for cb in cbs:
                cb.on_epoch_begin(epoch, {})
            t0 = time.perf_counter()
            logs = run_epoch(epoch, epochs)
            if val is not None:
                sums, count = _eval_sums(module, val, max(batch_size, 256), device, loss_fn, metric_fns,
                                         val_targets, dtype, keep_ints)
                values = (sums / count).tolist()
                logs["val_loss"] = values[0]
                for (name, _), v in zip(metric_fns, values[1:]):
                    logs["val_" + name] = v
            lr0 = opt.param_groups[0].get("lr")
            if lr0 is not None:
                logs["lr"] = float(lr0)
            logs["time"] = time.perf_counter() - t0
            info = getattr(opt, "last_info", None)
            if isinstance(info, dict) and info:
                logs["optimizer"] = jsonable(dict(info))
            history.append(epoch, logs)
            if torch_sched is not None:
                torch_sched.step()
            for cb in cbs:
                cb.on_epoch_end(epoch, logs)
            if trainer.stop_training:
                break
        for cb in cbs:
            cb.on_train_end({"history": history})
    finally:
        if bar is not None:
            bar.on_train_end()
        module.train(was_training)
    return history


def _resolve_metrics(metrics, loss_name: str) -> list:
    """``(name, fn)`` pairs; accuracy of a single logit/score output thresholds at 0."""
    resolved = []
    for spec in metrics or []:
        name, fn = _metrics.get(spec)
        if name in ("accuracy", "acc") and loss_name in ("sigmoid_crossentropy", "hinge"):
            fn = _threshold_zero_accuracy
        resolved.append((name, fn))
    return resolved


def _threshold_zero_accuracy(y_pred, y_true):
    """Accuracy of a single logit/score output: positive ⇔ class 1."""
    return _metrics.accuracy(y_pred, y_true, threshold=0.0)


def _progress_mode(progress) -> str | None:
    if progress in (False, None) or dist.rank() != 0:
        return None
    if progress in ("bar", "line"):
        return progress
    stream = sys.stderr
    return "bar" if (stream is not None and hasattr(stream, "isatty") and stream.isatty()) else "line"


def _probe(module: nn.Module, xb: torch.Tensor) -> torch.Tensor:
    """One eval-mode, no-grad forward: builds lazy parameters and shows the output shape."""
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            out = module(xb)
    except RuntimeError as exc:
        raise DataError(
            f"x: inputs of shape {format_shape(tuple(xb.shape[1:]))} per sample do not fit "
            f"{type(module).__name__}: {exc}"
        ) from exc
    finally:
        module.train(was_training)
    if not isinstance(out, torch.Tensor):
        raise DTypeError(f"fit: expected the module to return a tensor, received {type(out).__name__}")
    if out.dim() == 0 or out.shape[0] != xb.shape[0]:
        raise DataError(
            f"fit: expected the module output to keep the batch axis ({xb.shape[0]} samples), "
            f"received output of shape {format_shape(tuple(out.shape))}"
        )
    return out


def _nonfinite_error(step_losses: list, epoch: int, epochs: int, n_steps: int | None) -> TrainingError:
    values = torch.stack(step_losses)
    bad = (~torch.isfinite(values)).nonzero()
    step = int(bad[0, 0]) if len(bad) else len(step_losses) - 1
    what = "NaN" if bool(torch.isnan(values[step])) else "infinite"
    total = f" of {n_steps}" if n_steps else ""
    return TrainingError(
        f"the loss became {what} at epoch {epoch + 1} of {epochs}, step {step + 1}{total}; training "
        "stopped (the last checkpoint on disk, if any, is from before this epoch). Try a lower learning "
        "rate, gradient clipping (clip_grad_norm=) or check the data"
    )


def _minibatch_runner(module, opt, train, loss_fn, metric_fns, penalties, projections, params, clip_norm,
                      clip_value, batch_size, shuffle, drop_last, gen, device, dtype, keep_ints, target_fn,
                      bar, batch_cbs, needs_closure, world, rank):
    model = dist.wrap(module, device)
    in_memory = isinstance(train, _data.Arrays)
    if in_memory:
        xs = train.x.to(device)  # moved once
        ys = train.y.to(device)
        n = train.n
        n_steps = n // batch_size if drop_last and n >= batch_size else math.ceil(n / batch_size)
        if world > 1:  # every rank must take the same number of steps with >= 1 sample
            n_steps = sum(1 for i in range(n_steps) if min(batch_size, n - i * batch_size) >= world)
        sizes = [min(batch_size, n - i * batch_size) for i in range(n_steps)]
        weights = torch.tensor(sizes, dtype=torch.float64, device=device)
        arange = None if shuffle else torch.arange(n, device=device)
        sampler = None
    else:
        sampler = None
        if train.loader is not None:
            loader = train.loader
        else:
            if world > 1:
                from torch.utils.data import DistributedSampler

                sampler = DistributedSampler(train.dataset, num_replicas=world, rank=rank, shuffle=shuffle,
                                             seed=int(torch.randint(0, 2**31, (1,), generator=gen)))
                loader = DataLoader(train.dataset, batch_size=max(1, batch_size // world), sampler=sampler,
                                    drop_last=drop_last)
            else:
                loader = DataLoader(train.dataset, batch_size=batch_size, shuffle=shuffle, generator=gen,
                                    drop_last=drop_last)
        try:
            n_steps = len(loader)
        except TypeError:
            n_steps = 0
    check_every = 16

    def one_step(xb, yb):
        out_holder = []

        def compute():
            out = model(xb)
            yt = yb if in_memory else target_fn(yb, out)
            loss_t = loss_fn(out, yt)
            if penalties:
                loss_t = loss_t + sum(r.penalty(module) for r in penalties)
            out_holder[:] = [out, yt]
            return loss_t

        if needs_closure:
            def closure():
                opt.zero_grad(set_to_none=True)
                loss_t = compute()
                loss_t.backward()
                return loss_t

            loss_t = opt.step(closure)
        else:
            opt.zero_grad(set_to_none=True)
            loss_t = compute()
            loss_t.backward()
            if clip_norm is not None:
                torch.nn.utils.clip_grad_norm_(params, clip_norm)
            if clip_value is not None:
                torch.nn.utils.clip_grad_value_(params, clip_value)
            opt.step()
        for r in projections:
            r.apply(module)
        return loss_t.detach(), out_holder[0].detach(), out_holder[1]

    def run(epoch: int, epochs: int) -> dict:
        module.train()
        step_losses: list[torch.Tensor] = []
        metric_vals: list[list[torch.Tensor]] = [[] for _ in metric_fns]
        batch_sizes: list[int] = []
        if bar is not None:
            bar.start_epoch(epoch, n_steps)
        if in_memory:
            order = torch.randperm(n, generator=gen).to(device) if shuffle else arange

            def batches():
                for i in range(n_steps):
                    idx = order[i * batch_size:(i + 1) * batch_size]
                    if world > 1:
                        idx = idx[rank::world]
                    yield xs.index_select(0, idx), ys.index_select(0, idx)
        else:
            if sampler is not None:
                sampler.set_epoch(epoch)

            def batches():
                for batch in loader:
                    yield _data.stream_batch(batch, module, device, dtype, keep_ints)

        for i, (xb, yb) in enumerate(batches()):
            if not in_memory:
                if yb is None:
                    raise DataError("fit: a batch has no targets: expected (input, target) pairs")
                batch_sizes.append(int(xb.shape[0]))
            loss_t, out, yb = one_step(xb, yb)
            step_losses.append(loss_t)
            for vals, (_, fn) in zip(metric_vals, metric_fns):
                vals.append(fn(out, yb))
            if bar is not None:
                bar.step(i, lambda: torch.stack(step_losses).mean())
            for cb in batch_cbs:
                cb.on_batch_end(i, {"loss": loss_t})
            if (i + 1) % check_every == 0 and not bool(torch.isfinite(loss_t)):
                raise _nonfinite_error(step_losses, epoch, epochs, n_steps)
        if not step_losses:
            raise DataError("fit: the training data produced no batches")
        w = weights if in_memory else torch.tensor(batch_sizes, dtype=torch.float64, device=device)
        if in_memory and world > 1:
            w = torch.tensor([len(range(rank, s, world)) for s in sizes], dtype=torch.float64, device=device)
        per_step = torch.stack([torch.stack(step_losses).to(torch.float64)]
                               + [torch.stack(v).to(torch.float64) for v in metric_vals])  # (1 + M, steps)
        sums = torch.cat([(per_step * w).sum(dim=1), w.sum().reshape(1)])
        if world > 1:
            sums = dist.all_reduce_sum(sums)
        values = (sums[:-1] / sums[-1]).tolist()
        if not math.isfinite(values[0]):
            raise _nonfinite_error(step_losses, epoch, epochs, n_steps)
        logs = {"loss": values[0]}
        for (name, _), v in zip(metric_fns, values[1:]):
            logs[name] = v
        return logs

    return run


def _full_batch_runner(module, opt, train, loss_name, loss_fn, penalties, device, batch_size, explicit_batch,
                       dtype, keep_ints, metric_fns):
    from .. import optimizers

    name = type(opt).__name__
    if penalties:
        raise ConfigError(
            f"fit: {name} is a full-batch second-order optimizer; l1/l2 penalty regularizers are not "
            "supported with it (maxnorm is); received " + ", ".join(repr(r) for r in penalties)
        )
    if isinstance(train, _data.Arrays):
        X, Y = train.x, train.y
    else:
        xs, ys = [], []
        loader = train.loader or DataLoader(train.dataset, batch_size=1024, shuffle=False)
        for batch in loader:
            xb, yb = _data.stream_batch(batch, module, torch.device("cpu"), dtype, keep_ints)
            xs.append(xb)
            ys.append(yb)
        X, Y = torch.cat(xs), torch.cat(ys)
    X, Y = X.to(device), Y.to(device)
    n = X.shape[0]
    if explicit_batch and batch_size < n:
        warnings.warn(
            f"fit: {name} is a full-batch optimizer: it uses all {n} training samples per step; "
            f"batch_size={batch_size} is ignored",
            stacklevel=3,
        )
    objective = getattr(opt, "objective", "loss")
    if objective == "residuals":
        if loss_name not in _losses.SUM_OF_SQUARES:
            raise ConfigError(
                f"fit: {name} minimises a sum of squared residuals; expected loss one of "
                f"{', '.join(_losses.SUM_OF_SQUARES)}, received {loss_name or 'a custom loss'!r}"
            )
        closure = optimizers.ResidualClosure(module, X, Y, residual_fn=_residual)
    elif objective == "loss":
        closure = optimizers.LossClosure(module, X, Y, loss_fn)
    else:
        raise ConfigError(f"fit: {name}.objective must be 'residuals' or 'loss', received {objective!r}")

    def run(epoch: int, epochs: int) -> dict:
        module.train()
        opt.step(closure)
        with torch.no_grad():
            out = module(X)
            values = [loss_fn(out, Y)] + [fn(out, Y) for _, fn in metric_fns]
        loss_value = float(values[0])
        if not math.isfinite(loss_value):
            raise TrainingError(
                f"the loss became {'NaN' if loss_value != loss_value else 'infinite'} at epoch {epoch + 1} "
                f"of {epochs}, step 1 of 1 ({name}, full batch); training stopped"
            )
        logs = {"loss": loss_value}
        for (mname, _), v in zip(metric_fns, values[1:]):
            logs[mname] = float(v)
        return logs

    return run


def _residual(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return pred - target.reshape(pred.shape)


# --------------------------------------------------------------------------- predict / evaluate
def predict(module: nn.Module, x, batch_size: int = 256, device: Any = None) -> np.ndarray:
    """Outputs of ``module`` on ``x`` in eval mode, as a NumPy array ``(N, *output)``.

    Args:
        module: the model.
        x: array/tensor ``(N, ...)``, a Dataset or DataLoader (of inputs or (input, target) pairs).
        batch_size: samples per forward pass (default 256).
        device: where to run (default: where the module's parameters are; "auto" for CUDA if present).

    >>> import torch
    >>> predict(torch.nn.Identity(), [[1.0, 2.0]]).tolist()
    [[1.0, 2.0]]
    """
    batch_size = _int_arg("batch_size", batch_size, 1)
    dev = _module_device(module) if device is None else resolve_device(device)
    module.to(dev)
    data = _data.prepare(x, None, module, "x")
    dtype, keep_ints = _data.module_dtype(module), _data.wants_int_inputs(module)
    was_training = module.training
    module.eval()
    outs = []
    try:
        with torch.no_grad():
            for out, _ in _forward_batches(module, data, batch_size, dev, dtype, keep_ints):
                outs.append(out.detach().to("cpu"))
    finally:
        module.train(was_training)
    return torch.cat(outs).numpy()


def evaluate(module: nn.Module, x, y=None, *, loss: Any = "auto", metrics=None, batch_size: int = 256,
             device: Any = None) -> dict:
    """Loss and metrics of ``module`` on ``(x, y)`` in eval mode: ``{"loss": ..., "<metric>": ...}``.

    Values are means over samples (batch values weighted by batch size).

    Args:
        module: the model.
        x, y: as for :func:`fit` (``y`` None for a Dataset/DataLoader of pairs).
        loss: loss name, callable or "auto" (default).
        metrics: metric names or callables (default none).
        batch_size: samples per forward pass (default 256).
        device: default: where the module's parameters are.

    >>> import torch
    >>> evaluate(torch.nn.Identity(), [[1.0], [3.0]], [[0.0], [0.0]], loss="mse")
    {'loss': 5.0}
    """
    batch_size = _int_arg("batch_size", batch_size, 1)
    dev = _module_device(module) if device is None else resolve_device(device)
    module.to(dev)
    data = _data.prepare(x, y, module, "x")
    dtype, keep_ints = _data.module_dtype(module), _data.wants_int_inputs(module)
    if isinstance(data, _data.Arrays):
        if data.y is None:
            raise DataError("evaluate: expected targets y, received None")
        y0 = data.y
        x0 = data.x[:batch_size]
    else:
        loader0 = data.loader or DataLoader(data.dataset, batch_size=batch_size)
        x0, y0 = _data.stream_batch(next(iter(loader0)), module, torch.device("cpu"), dtype, keep_ints)
        if y0 is None:
            raise DataError("evaluate: the dataset yields inputs only: expected (input, target) pairs")
    out0 = _probe(module, x0.to(dev))
    loss_name, loss_fn = _resolve_loss(loss, module, y0, out0)
    if isinstance(data, _data.Arrays):
        data = _data.Arrays(data.x, _fit_targets(data.y, out0, loss_name, "y"))

        def target_fn(yb, out):
            return yb
    else:
        def target_fn(yb, out):
            return _fit_targets(yb, out, loss_name, "y batch")
    metric_fns = _resolve_metrics(metrics, loss_name)
    sums, count = _eval_sums(module, data, batch_size, dev, loss_fn, metric_fns, target_fn, dtype, keep_ints)
    values = (sums / count).tolist()
    result = {"loss": values[0]}
    for (name, _), v in zip(metric_fns, values[1:]):
        result[name] = v
    return result

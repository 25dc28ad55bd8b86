"""The training engine: :class:`Trainer` holds one run's state and owns the epoch loop.

``fit(...)`` builds a Trainer and calls :meth:`Trainer.fit`. Chapters that train
something other than "one loss, one optimizer" (a GAN, a DQN agent, a triplet
model) subclass it and override :meth:`Trainer.train_step` only; progress,
callbacks, the NaN guard, checkpoint/resume, devices, seeds and DDP come with it.

    >>> import torch
    >>> from torch import nn
    >>> class HalfStep(Trainer):          # a custom step: plain SGD written by hand
    ...     def train_step(self, batch):
    ...         (x,), (y,) = batch
    ...         loss = ((self.module(x) - y) ** 2).mean()
    ...         self.optimizer.zero_grad(); loss.backward(); self.optimizer.step()
    ...         return {"loss": loss.detach()}
    >>> x = torch.linspace(-1, 1, 64).unsqueeze(1)
    >>> h = HalfStep(nn.Linear(1, 1), optimizer="sgd", lr=0.5, loss=None, progress=False,
    ...              seed=0).fit(x, 3 * x, epochs=30)
    >>> h["loss"][-1] < 1e-3
    True
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
import warnings
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError, DataError, DTypeError, StorageError, TrainingError, format_shape
from ..validation import check_bool, check_choice, check_int, check_number, expected
from . import _data, _feed, _setup
from . import distributed as dist
from ._objective import Objective, probability_fns, resolve_metrics
from ._structure import as_outputs
from .callbacks import Callback, Checkpoint, EarlyStopping, ProgressBar, ProgressLine
from .checkpoint import capture_rng, find_checkpoint, load_checkpoint, restore_rng, save_checkpoint
from .history import History, jsonable

__all__ = ["Trainer"]

logger = logging.getLogger("neuralab.training")

_CHECK_EVERY = 16  # steps between NaN checks (each check is a device sync)


class Trainer:
    """One training run: the module, its optimizer(s), loss, metrics, callbacks, history, counters.

    Args:
        module: any ``torch.nn.Module`` (lazily-built modules are built by a probe
            forward pass on the first batch).
        optimizer: a name (sgd, momentum, nesterov, adam, adamw, adamax, rmsprop,
            adadelta, adagrad, rprop, irprop+, lm, newton, cg, bfgs …), a dict spec,
            a ``torch.optim`` class or instance, or None (a subclass builds its own).
        lr: learning rate (default: the optimizer's own).
        loss: "auto" (default), a loss name/callable, a list or dict per output, or
            None (a subclass's ``train_step`` computes its own).
        loss_weights: per-output weights (list or dict by output name).
        metrics: names or callables, a list applied to every output, or a dict per output.
        regularizers: :mod:`neuralab.regularizers` (l1, l2 penalties; maxnorm).
        lr_schedule: a schedule, a callable ``epoch -> factor`` or a torch LR scheduler.
        callbacks: :class:`~neuralab.training.Callback` objects.
        progress: True (a bar on a terminal, a line per epoch otherwise), "bar",
            "line" or False.
        device: "auto" (CUDA when present), "cpu", "cuda", "cuda:N".
        seed: seeds torch's global RNG when :meth:`fit` starts (dropout, lazy
            initialisation) and the shuffling generator. It does not re-initialise
            weights a module already has: call ``nl.set_seed(s)`` before building
            the model for a fully reproducible run.
        clip_grad_norm / clip_grad_value: gradient clipping (default None).
        optimizer_kwargs: extra keyword arguments for the optimizer.
        compile: wrap the model in ``torch.compile`` for the steps (``self.model``).

    Attributes:
        module, model (the DDP-wrapped module under torchrun), optimizer (the default
        one), optimizers (name → optimizer; all are checkpointed), objective,
        history, epoch, epochs, global_step, stop_training, device, is_main.
    """

    def __init__(self, module: nn.Module, *, optimizer: Any = "adam", lr: float | None = None,
                 loss: Any = "auto", loss_weights=None, metrics=None, regularizers=None,
                 lr_schedule=None, callbacks=None, progress: bool | str = True, device: Any = "auto",
                 seed: int | None = None, clip_grad_norm: float | None = None,
                 clip_grad_value: float | None = None, optimizer_kwargs: dict | None = None,
                 compile: bool = False):
        if not isinstance(module, nn.Module):
            raise expected("fit", "module", "a torch.nn.Module", type(module).__name__, error=DTypeError)
        if progress not in (True, False, "bar", "line", None):
            raise expected("fit", "progress", "True, False, 'bar' or 'line'", progress)
        if optimizer_kwargs is not None and not isinstance(optimizer_kwargs, dict):
            raise expected("fit", "optimizer_kwargs", "a dict", optimizer_kwargs)
        self.module = module
        self.compile = check_bool("fit", "compile", compile)
        self.lr = _setup.check_lr(lr)
        self.seed = check_int("fit", "seed", seed, low=0, allow_none=True)
        self.clip_grad_norm = check_number("fit", "clip_grad_norm", clip_grad_norm, low=0.0,
                                           low_open=True, allow_none=True)
        self.clip_grad_value = check_number("fit", "clip_grad_value", clip_grad_value, low=0.0,
                                            low_open=True, allow_none=True)
        self.device = dist.local_device(_setup.resolve_device(device))
        self._specs = dict(optimizer=optimizer, loss=loss, loss_weights=loss_weights, metrics=metrics,
                           optimizer_kwargs=dict(optimizer_kwargs or {}))
        self.penalties, self.projections = _setup.split_regularizers(regularizers)
        self.factor_fn, self.torch_scheduler = _setup.resolve_schedule(lr_schedule)
        self.callbacks = _check_callbacks(callbacks)
        self.progress = progress
        self.history = History()
        self.epoch = self.epochs = self.global_step = 0
        self.stop_training = False
        self.is_main = dist.rank() == 0
        self.generator = torch.Generator()
        self.objective: Objective | None = None
        self.metric_fns: list = []
        self.optimizers: dict[str, Any] = {}
        self.model = module
        self._part_labels: list[str] = []
        self._full_batch = self._adapt_targets = False
        self.module.to(self.device)
        if optimizer is not None and _is_built(module):
            self.optimizers["optimizer"] = self._make_default_optimizer()

    # -- the override points ---------------------------------------------------------------
    def train_step(self, batch) -> dict:
        """One training step on ``batch`` = ``(x, y)`` (tuples of tensors on the device) or None.

        Returns scalar logs (0-d tensors or floats), e.g. ``{"loss": …}``. The default
        computes the objective, steps the optimizer (full-batch optimizers take one
        closure step on the whole training set) and adds the metrics.
        """
        if self._full_batch:
            return self._second_order_step(batch)
        return self._first_order_step(batch)

    def test_step(self, batch) -> dict:
        """Loss and metrics of ``batch`` in eval mode without gradients (validation, evaluate)."""
        if self.objective is None:
            return {}
        x, y = self._require_targets(batch, "evaluation data")
        outs = as_outputs(self.model(*x))
        if self._adapt_targets:
            y = self.objective.fit_targets(y, outs, "y batch")
        return self._logs(*self.objective(outs, y), outs, y)

    # -- fit ---------------------------------------------------------------------------------
    def fit(self, x=None, y=None, *, epochs: int = 10, batch_size: int = 32, shuffle: bool = True,
            validation_data=None, validation_split: float = 0.0, resume_from=None,
            drop_last: bool = False, steps_per_epoch: int | None = None) -> History:
        """Train for ``epochs`` epochs (the total, when resuming); return the :class:`History`.

        ``x``/``y`` are as for :func:`neuralab.training.fit`; ``x=None`` with
        ``steps_per_epoch`` runs ``train_step(None)`` that many times per epoch.
        """
        self.epochs = check_int("fit", "epochs", epochs, low=0)
        explicit_batch = not isinstance(batch_size, _DefaultInt)
        batch_size = check_int("fit", "batch_size", batch_size, low=1)
        shuffle, drop_last = check_bool("fit", "shuffle", shuffle), check_bool("fit", "drop_last", drop_last)
        if self.seed is not None:
            torch.manual_seed(self.seed)
        self.generator.manual_seed(dist.rank0_value(
            self.seed if self.seed is not None else int(torch.randint(0, 2**62, (1,)).item())))
        train, val = self._prepare_data(x, y, validation_data, validation_split, steps_per_epoch)
        self._setup_run(train, val, batch_size)
        self.feed = self._make_feed(train, batch_size, shuffle, drop_last, steps_per_epoch, explicit_batch)
        self.val_data, self._val_batch = val, max(batch_size, 256)
        self._wire_callbacks()
        start = self._resume(resume_from) if resume_from is not None else 0
        self._loop(start)
        return self.history

    # -- setup -------------------------------------------------------------------------------
    def _prepare_data(self, x, y, validation_data, validation_split, steps_per_epoch):
        split = check_number("fit", "validation_split", validation_split, low=0.0, high=1.0, high_open=True)
        if split and validation_data is not None:
            raise ConfigError("fit: expected validation_data or validation_split, received both")
        if x is None:
            if steps_per_epoch is None:
                raise DataError("fit: expected training data x, or x=None with steps_per_epoch=N for a "
                                "trainer that makes its own data; received neither")
            return None, None
        train = _data.prepare(x, y, self.module, "x")
        val = None
        if split:
            train, val = _data.split_validation(train, split)
        elif validation_data is not None:
            val = _prepare_validation(validation_data, self.module)
        return train, val

    def _setup_run(self, train, val, batch_size: int) -> None:
        """Probe the module on a first batch; resolve loss, targets, metrics and the optimizer."""
        self._adapt_targets = False
        if train is not None:
            self._prepare_objective(train, batch_size, "fit", val=val)
        if "optimizer" not in self.optimizers and self._specs["optimizer"] is not None:
            self.optimizers["optimizer"] = self._make_default_optimizer()
        self.base_lrs = {name: [g.get("lr") for g in opt.param_groups] for name, opt in self.optimizers.items()}
        sched = self.torch_scheduler
        if sched is not None and not any(sched.optimizer is opt for opt in self.optimizers.values()):
            raise expected("fit", "lr_schedule", "a torch LR scheduler of the optimizer fit trains with "
                           "(pass that optimizer too: optimizer=opt)",
                           f"a {type(sched).__name__} of another {type(sched.optimizer).__name__}")
        self.model = dist.wrap(self.module, self.device)
        if self.compile:
            self.model = torch.compile(self.model)
        self._step_takes_loss = self.optimizer is not None and _setup.step_takes_loss(self.optimizer)
        self._needs_closure = isinstance(self.optimizer, torch.optim.LBFGS)
        self._full_batch = self.full_batch
        self._part_labels = self.objective.part_labels() if self.objective is not None else []

    def _prepare_objective(self, data, batch_size: int, owner: str, val=None) -> None:
        """What fit and evaluate both need before their first step: probe the module on ``data``'s
        first batch (building lazy layers), build the Objective from its outputs, check and adapt
        the targets of ``data`` (and ``val``) to the losses, resolve the metrics."""
        x0, y0 = _feed.first_batch(data, self.module, batch_size, owner)
        wants_loss = self._specs["loss"] is not None
        outs0 = _probe(self.module, x0, self.device, check=wants_loss)
        self._adapt_targets = False
        if wants_loss:
            if y0 is None:
                raise DataError(f"{owner}: expected targets y for x, received y=None"
                                if isinstance(data, _data.Arrays) else
                                f"{owner}: the dataset yields inputs only: expected (input, target) pairs")
            self.objective = Objective(self._specs["loss"], self.module, outs0, y0, self._specs["loss_weights"],
                                       steps=getattr(data, "steps", False))
            self._adapt(data, outs0, y0, "y")
            if val is not None:
                self._adapt(val, outs0, None, "y_val")
        self._part_labels = self.objective.part_labels() if self.objective is not None else []
        self.metric_fns = resolve_metrics(self._specs["metrics"], self.objective)

    def _adapt(self, data, outs0, y0, what: str) -> None:
        """Fit in-memory targets to the losses once; streamed ones batch by batch (checked on ``y0``)."""
        if isinstance(data, _data.Arrays):
            if data.y is None:
                raise DataError(f"validation data: expected targets {what}, received None")
            data.y = self.objective.fit_targets(data.y, outs0, what)
            return
        if y0 is not None:
            self.objective.fit_targets(y0, outs0, what)
        self._adapt_targets = True

    def _make_default_optimizer(self):
        return _setup.make_optimizer(self._specs["optimizer"], self.module, self.lr,
                                     self._specs["optimizer_kwargs"])

    @property
    def optimizer(self):
        """The default optimizer (``self.optimizers["optimizer"]``), or None."""
        return self.optimizers.get("optimizer")

    @property
    def full_batch(self) -> bool:
        return bool(getattr(self.optimizer, "full_batch", False))

    def _make_feed(self, train, batch_size, shuffle, drop_last, steps_per_epoch, explicit_batch):
        if train is None:
            return _feed.NoDataFeed(check_int("fit", "steps_per_epoch", steps_per_epoch, low=1))
        if self.full_batch:
            batch = _feed.full_batch(train, self.module, self.device)
            if self._adapt_targets and batch[1] is not None:   # a Dataset's labels, once
                was_training = self.module.training
                with torch.no_grad():
                    outs = as_outputs(self.module.eval()(*(t[:1] for t in batch[0])))
                self.module.train(was_training)
                batch = (batch[0], self.objective.fit_targets(batch[1], outs, "y"))
                self._adapt_targets = False
            n = int(batch[0][0].shape[0])
            if explicit_batch and batch_size < n:
                warnings.warn(f"fit: {type(self.optimizer).__name__} is a full-batch optimizer: it uses "
                              f"all {n} training samples per step; batch_size={batch_size} is ignored",
                              stacklevel=3)
            self._check_second_order(batch)
            return _OneBatch(batch)
        cls = _feed.ArrayFeed if isinstance(train, _data.Arrays) else _feed.StreamFeed
        return cls(train, batch_size, shuffle, drop_last, self.generator, self.device, self.module)

    def _wire_callbacks(self) -> None:
        cbs = [c for c in self.callbacks if not isinstance(c, Checkpoint)]
        cbs += [c for c in self.callbacks if isinstance(c, Checkpoint)]  # they see the others' state
        mode = _progress_mode(self.progress)
        self._bar = ProgressBar() if mode == "bar" else None
        self._user_callbacks = list(cbs)
        if mode == "line":
            cbs.append(ProgressLine())
        elif self._bar is not None:
            cbs.insert(0, self._bar)
        for cb in cbs:
            cb.trainer = self
        self._all_callbacks = cbs
        self._batch_callbacks = [c for c in cbs if "on_batch_end" in vars(c)
                                 or type(c).on_batch_end is not Callback.on_batch_end]

    # -- the loop ----------------------------------------------------------------------------
    def _loop(self, start_epoch: int) -> None:
        was_training = self.module.training
        for cb in self._all_callbacks:
            cb.on_train_begin({})
        try:
            for epoch in range(start_epoch, self.epochs):
                self.epoch = epoch
                self._apply_schedule(epoch)
                for cb in self._all_callbacks:
                    cb.on_epoch_begin(epoch, {})
                t0 = time.perf_counter()
                logs = self._guarded_epoch(epoch)
                logs.update(self._validate())
                self._finish_logs(logs, time.perf_counter() - t0)
                self.history.append(epoch, logs)
                if self.torch_scheduler is not None:
                    self.torch_scheduler.step()
                for cb in self._all_callbacks:
                    cb.on_epoch_end(epoch, logs)
                if self.stop_training:
                    self._say_stopped(epoch)
                    break
            for cb in self._all_callbacks:
                cb.on_train_end({"history": self.history})
        finally:
            if self._bar is not None:
                self._bar.on_train_end()
            self.module.train(was_training)

    def _guarded_epoch(self, epoch: int) -> dict:
        # the weights (and buffers) this epoch starts from: what a NaN in it falls back to
        start = {k: v.detach().clone() for k, v in self.module.state_dict().items()}
        try:
            return self._run_epoch(epoch)
        except TrainingError as exc:
            raise TrainingError(f"{exc}{self._after_nan(epoch, start)}") from None

    def _run_epoch(self, epoch: int) -> dict:
        self.module.train()
        acc = _Means()
        if self._bar is not None:
            self._bar.start_epoch(epoch, len(self.feed))
        sizes = self.feed.sizes
        for i, batch in enumerate(self.feed.batches(epoch)):
            logs = self.train_step(batch)
            if not isinstance(logs, dict):
                raise expected(type(self).__name__, "train_step", "a dict of scalar logs",
                               type(logs).__name__, error=DTypeError)
            self.global_step += 1
            acc.add(logs, sizes[i] if sizes is not None else _batch_len(batch))
            if self._bar is not None:
                self._bar.step(i, acc.running)
            for cb in self._batch_callbacks:
                cb.on_batch_end(i, logs)
            if (i + 1) % _CHECK_EVERY == 0 and not acc.last_finite():
                raise acc.nonfinite_error(epoch, self.epochs, len(self.feed))
        if not acc.steps:
            raise DataError("fit: the training data produced no batches")
        means = acc.means(reduce=dist.world_size() > 1)
        if not all(math.isfinite(v) for v in means.values()):
            raise acc.nonfinite_error(epoch, self.epochs, len(self.feed))
        return means

    def _validate(self) -> dict:
        if self.val_data is None or self.objective is None:
            return {}
        return {f"val_{k}": v for k, v in self.evaluate_data(self.val_data, self._val_batch).items()}

    def evaluate_data(self, data, batch_size: int) -> dict:
        """Sample-weighted means of :meth:`test_step` over prepared ``data`` (eval mode, no grad)."""
        was_training = self.module.training
        self.module.eval()
        acc = _Means()
        try:
            with torch.no_grad():
                for batch in _feed.eval_batches(data, self.module, batch_size, self.device):
                    acc.add(self.test_step(batch), _batch_len(batch))
        finally:
            self.module.train(was_training)
        return acc.means(reduce=False)

    def _apply_schedule(self, epoch: int) -> None:
        if self.factor_fn is None:
            return
        factor = self.factor_fn(epoch)
        factor = check_number("fit", "lr_schedule(epoch)", factor.item() if isinstance(factor, torch.Tensor)
                              and factor.numel() == 1 else factor, low=0.0)
        for name, opt in self.optimizers.items():
            for group, base in zip(opt.param_groups, self.base_lrs.get(name, [])):
                if base is not None:
                    group["lr"] = base * factor

    def _finish_logs(self, logs: dict, seconds: float) -> None:
        opt = self.optimizer
        if opt is not None and opt.param_groups[0].get("lr") is not None:
            logs["lr"] = float(opt.param_groups[0]["lr"])
        logs["time"] = seconds
        info = getattr(opt, "last_info", None)
        if isinstance(info, dict) and info:
            logs["optimizer"] = jsonable(dict(info))

    def _say_stopped(self, epoch: int) -> None:
        who = next((c for c in self._user_callbacks if isinstance(c, EarlyStopping)
                    and c.stopped_epoch == epoch), None)
        if who is not None:
            logger.info("EarlyStopping: stopped after epoch %d of %d (%s did not improve for %d epochs; "
                        "best %.6g at epoch %d)", epoch + 1, self.epochs, who._key, who.patience,
                        who.best, (who.best_epoch or 0) + 1)
        else:
            logger.info("training stopped after epoch %d of %d", epoch + 1, self.epochs)

    def _after_nan(self, epoch: int, start: dict) -> str:
        """Restore EarlyStopping's best weights if one has them, else those the failed epoch
        started from when they are finite; say whether the model in memory is usable."""
        for cb in self._user_callbacks:
            if isinstance(cb, EarlyStopping) and cb.restore_best(self.module):
                return (f". The weights of epoch {cb.best_epoch + 1} (best {cb._key} {cb.best:.6g}) "
                        "were restored: the model in memory is usable")
        if all(bool(torch.isfinite(v).all()) for v in start.values() if v.is_floating_point()):
            self.module.load_state_dict(start)
            losses = self.history.history.get("loss") or [None]
            when = ("the start of training" if epoch == 0 or losses[-1] is None
                    else f"the end of epoch {epoch} (loss {losses[-1]:.4g})")
            return (f". The weights of {when} were restored: the model in memory is finite "
                    "and can be saved; a lower learning rate may get past the failed step")
        return (". The model in memory holds the non-finite weights of the failed step: do not save it; "
                "resume from a checkpoint instead")

    # -- the two step strategies -----------------------------------------------------------
    def _forward_loss(self, x, y) -> tuple:
        """``(total, parts, outs, targets)`` of one forward pass (penalties included)."""
        outs = as_outputs(self.model(*x))
        if self._adapt_targets:
            y = self.objective.fit_targets(y, outs, "y batch")
        total, parts = self.objective(outs, y)
        if not isinstance(total, torch.Tensor) or total.numel() != 1:
            got = (f"a tensor of shape {format_shape(tuple(total.shape))}" if isinstance(total, torch.Tensor)
                   else f"a {type(total).__name__}")
            raise expected("fit", "loss", "a function returning a scalar tensor per batch", got)
        if self.penalties:
            total = total + sum(r.penalty(self.module) for r in self.penalties)
        return total, parts, outs, y

    def _first_order_step(self, batch) -> dict:
        x, y = self._require_targets(batch, "fit")
        opt = self.optimizer
        if self._needs_closure:
            holder: list = []

            def closure():
                opt.zero_grad(set_to_none=True)
                holder[:] = self._forward_loss(x, y)
                holder[0].backward()
                return holder[0]

            opt.step(closure)
            total, parts, outs, y = holder
        else:
            opt.zero_grad(set_to_none=True)
            total, parts, outs, y = self._forward_loss(x, y)
            total.backward()
            if self.clip_grad_norm is not None or self.clip_grad_value is not None:
                self._clip()
            opt.step(loss=total) if self._step_takes_loss else opt.step()
        for r in self.projections:
            r.apply(self.module)
        if self.metric_fns:
            outs = [o.detach() for o in outs]
        return self._logs(total, parts, outs, y)

    def _clip(self) -> None:
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        if self.clip_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(params, self.clip_grad_norm)
        if self.clip_grad_value is not None:
            torch.nn.utils.clip_grad_value_(params, self.clip_grad_value)

    def _check_second_order(self, batch) -> None:
        name = type(self.optimizer).__name__
        if self.penalties:
            raise ConfigError(
                f"fit: {name} is a full-batch second-order optimizer; l1/l2 penalty regularizers are not "
                "supported with it (maxnorm is); received " + ", ".join(repr(r) for r in self.penalties))
        x, y = batch
        if len(x) != 1 or y is None or len(y) != 1:
            raise ConfigError(f"fit: {name} trains one-input, one-output models; received {len(x)} "
                              f"input(s) and {0 if y is None else len(y)} output(s)")
        objective = getattr(self.optimizer, "objective", "loss")
        check_choice(name, "objective", objective, ("residuals", "loss"))
        from .. import optimizers

        if objective == "residuals":
            optimizers.check_least_squares_loss(self.objective.name or "a custom loss", owner=f"fit: {name}")

        X, Y = x[0], y[0]
        # class labels (e.g. from a Dataset, which the Objective does not one-hot) become
        # one-hot rows inside the closure, checked against the output's width
        self._closure = (optimizers.ResidualClosure(self.module, X, Y)
                         if objective == "residuals"
                         else optimizers.LossClosure(self.module, X, Y, self.objective.terms[0].fn))

    def _second_order_step(self, batch) -> dict:
        self.optimizer.step(self._closure)
        for r in self.projections:
            r.apply(self.module)
        x, y = batch
        with torch.no_grad():
            outs = as_outputs(self.module(*x))
            logs = self._logs(*self.objective(outs, y), outs, y)
        loss = float(logs["loss"])
        if not math.isfinite(loss):
            raise TrainingError(
                f"the loss became {'NaN' if loss != loss else 'infinite'} at epoch {self.epoch + 1} "
                f"of {self.epochs}, step 1 of 1 ({type(self.optimizer).__name__}, full batch); "
                "training stopped")
        return logs

    def _require_targets(self, batch, what: str):
        if batch is None or self.objective is None or batch[1] is None:
            return self._missing(batch, what)
        return batch

    def _missing(self, batch, what: str):
        if batch is None or self.objective is None:
            raise ConfigError(f"{type(self).__name__}: the default train_step needs data and a loss; "
                              "override train_step for a run without them")
        raise DataError(f"{what}: a batch has no targets: expected (input, target) pairs")

    def _logs(self, total, parts, outs, y) -> dict:
        logs = {"loss": total.detach()}
        for label, part in zip(self._part_labels, parts):
            logs[label] = part.detach()
        for label, k, fn in self.metric_fns:
            logs[label] = fn(outs[k], y[k])
        return logs

    # -- checkpoints -------------------------------------------------------------------------
    def state(self) -> tuple[dict, dict | None, dict]:
        """``(model_state, optimizer_state, meta)``: everything a resume needs."""
        meta = {
            "epoch": self.epoch + 1,
            "global_step": self.global_step,
            "history": self.history.to_dict(),
            "rng": capture_rng(self.generator),
            "base_lrs": self.base_lrs.get("optimizer", []),
            "all_base_lrs": self.base_lrs,
            "loss": self.objective.name if self.objective is not None else None,
            "optimizers": {name: type(opt).__name__ for name, opt in self.optimizers.items()},
            "callbacks": [{"class": type(c).__name__, "state": c.state_dict()} for c in self._user_callbacks],
            "torch_scheduler": self.torch_scheduler.state_dict() if self.torch_scheduler is not None else None,
        }
        if list(self.optimizers) == ["optimizer"]:
            optim = self.optimizer.state_dict()
        else:
            optim = {"__optimizers__": {name: opt.state_dict() for name, opt in self.optimizers.items()}}
        return self.module.state_dict(), optim, meta

    def save_checkpoint(self, path: str | os.PathLike) -> None:
        """Write a resumable checkpoint of the state after the current epoch (atomic)."""
        model_state, optimizer_state, meta = self.state()
        save_checkpoint(path, model_state=model_state, optimizer_state=optimizer_state, meta=meta)

    def _resume(self, resume_from) -> int:
        ck = find_checkpoint(resume_from)
        if ck is None:
            warnings.warn(f"fit: no checkpoint found at {resume_from!r}; starting from the first epoch",
                          stacklevel=3)
            return 0
        from . import checkpoint as _ckpt

        model_state, optim_state, meta = load_checkpoint(ck)
        # everything from disk is checked against the live run before any of it is applied
        state = _ckpt.check_resume_state(ck, meta)
        scheduler_state = meta.get("torch_scheduler")
        if self.torch_scheduler is not None and scheduler_state:
            _ckpt.check_like(ck, "the LR scheduler state", self.torch_scheduler.state_dict(), scheduler_state)
        saved_cbs = meta.get("callbacks") or []
        live_weights = {k: v.detach() for k, v in self.module.state_dict().items()}
        for cb, entry in zip(self._user_callbacks, saved_cbs):
            if entry.get("class") == type(cb).__name__ and isinstance(cb, EarlyStopping):
                _ckpt.check_early_stopping_state(ck, entry.get("state") or {}, live_weights)
        missing, extra = sorted(set(live_weights) - set(model_state)), sorted(set(model_state) - set(live_weights))
        wrong = [f"{k}: expected {tuple(v.shape)}, received {tuple(model_state[k].shape)}"
                 for k, v in live_weights.items() if k in model_state and model_state[k].shape != v.shape]
        if missing or extra or wrong:
            raise StorageError(f"{ck!r}: the checkpoint weights do not fit {type(self.module).__name__}: "
                               + "; ".join(filter(None, [f"missing {missing[:8]}" if missing else "",
                                                         f"unexpected {extra[:8]}" if extra else "",
                                                         "mis-shaped " + "; ".join(wrong[:8]) if wrong else ""])))
        self._load_optimizers(ck, optim_state, meta, check_only=True)
        # -- all checked: apply
        try:
            self.module.load_state_dict(model_state)
        except RuntimeError as exc:
            raise StorageError(f"{ck!r}: the checkpoint weights do not fit the module: {exc}") from None
        self._load_optimizers(ck, optim_state, meta)
        restored = History.from_dict(state["history"])
        try:
            restore_rng(meta["rng"], self.generator)
        except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as exc:
            raise StorageError(f"{ck!r}: malformed checkpoint state: the RNG states cannot be restored "
                               f"({type(exc).__name__}: {exc})") from None
        start = state["epoch"]
        self.history.history, self.history.epoch = restored.history, restored.epoch
        self.global_step = state["global_step"]
        self.base_lrs = meta.get("all_base_lrs") or {"optimizer": list(meta.get("base_lrs") or [])}
        for cb, entry in zip(self._user_callbacks, saved_cbs):
            if entry.get("class") == type(cb).__name__:
                cb.load_state_dict(entry.get("state") or {})
        if self.torch_scheduler is not None and scheduler_state:
            try:
                self.torch_scheduler.load_state_dict(scheduler_state)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise StorageError(f"{ck!r}: the LR scheduler state does not fit "
                                   f"{type(self.torch_scheduler).__name__}: {exc}") from None
        logger.info("resumed from %s at epoch %d", ck, start + 1)
        return start

    def _load_optimizers(self, ck: str, optim_state, meta: dict, *, check_only: bool = False) -> None:
        saved = meta.get("optimizers")
        mine = {name: type(opt).__name__ for name, opt in self.optimizers.items()}
        if isinstance(saved, dict) and saved != mine:
            raise ConfigError(
                f"fit: expected to resume with the checkpoint's optimizers {saved}, received {mine}; "
                f"pass the same optimizer as the run that wrote {ck!r}, or start a fresh run")
        if optim_state is None:
            return
        from . import checkpoint as _ckpt

        if not isinstance(optim_state, dict):
            raise StorageError(f"{ck!r}: malformed checkpoint state: expected the optimizer state to be a "
                               f"dict, received {type(optim_state).__name__}")
        states = (optim_state["__optimizers__"] if "__optimizers__" in optim_state
                  else {"optimizer": optim_state})
        if not isinstance(states, dict):
            raise StorageError(f"{ck!r}: malformed checkpoint state: expected a dict of optimizer states, "
                               f"received {type(states).__name__}")
        for name, opt in self.optimizers.items():
            if name in states:
                _ckpt.check_optimizer_state(ck, name, opt, states[name])
        if check_only:
            return
        for name, opt in self.optimizers.items():
            if name not in states:
                continue
            try:
                opt.load_state_dict(states[name])
            except (ValueError, KeyError, RuntimeError, TypeError, IndexError, AttributeError) as exc:
                raise StorageError(f"{ck!r}: the optimizer state does not fit {type(opt).__name__}: {exc}") from None

    # -- evaluate / predict ----------------------------------------------------------------
    def evaluate(self, x, y=None, *, batch_size: int = 256) -> dict:
        """Loss and metrics on ``(x, y)`` in eval mode: sample-weighted means."""
        batch_size = check_int("evaluate", "batch_size", batch_size, low=1)
        data = _data.prepare(x, y, self.module, "x")
        self._prepare_objective(data, batch_size, "evaluate")
        self.model = self.module
        return self.evaluate_data(data, batch_size)

    def predict(self, x, *, batch_size: int = 256, probabilities: bool = False):
        """Outputs on ``x`` in eval mode as NumPy arrays, in the structure the module returns.

        ``probabilities=True`` turns logits into probabilities (softmax, sigmoid for one
        unit); outputs whose last layer is a Softmax or Sigmoid are returned unchanged.
        """
        batch_size = check_int("predict", "batch_size", batch_size, low=1)
        check_bool("predict", "probabilities", probabilities)
        data = _data.prepare(x, None, self.module, "x")
        was_training = self.module.training
        self.module.eval()
        chunks: list = []
        first = maps = None
        try:
            with torch.no_grad():
                for xb, _ in _feed.eval_batches(data, self.module, batch_size, self.device):
                    out = self.module(*xb)
                    first = out if first is None else first
                    outs = as_outputs(out)
                    if probabilities:
                        maps = maps or probability_fns(self.module, len(outs))
                        outs = [o if fn is None else fn(o) for o, fn in zip(outs, maps)]
                    chunks.append([t.detach().to("cpu") for t in outs])
        finally:
            self.module.train(was_training)
        from ._structure import rebuild

        leaves = [torch.cat(parts).numpy() for parts in zip(*chunks)]
        return rebuild(first, leaves)


# ------------------------------------------------------------------------------- helpers
class _DefaultInt(int):
    """An int that remembers it is fit's default (so full-batch optimizers warn only when asked)."""


DEFAULT_BATCH = _DefaultInt(32)


def _is_built(module: nn.Module) -> bool:
    params = list(module.parameters())
    return bool(params) and not any(isinstance(p, nn.parameter.UninitializedParameter) for p in params)


def _check_callbacks(callbacks) -> list:
    if isinstance(callbacks, Callback):
        raise expected("fit", "callbacks", "a list of Callback objects, e.g. [EarlyStopping()]",
                       f"a single {type(callbacks).__name__}", error=ConfigError)
    cbs = list(callbacks or [])
    for cb in cbs:
        if not isinstance(cb, Callback):
            raise expected("fit", "callbacks", "a list of Callback objects", type(cb).__name__,
                           error=ConfigError)
    return cbs


def _prepare_validation(validation_data, module):
    from torch.utils.data import DataLoader, Dataset

    if isinstance(validation_data, (tuple, list)) and len(validation_data) == 2:
        return _data.prepare(validation_data[0], validation_data[1], module, "x_val")
    if isinstance(validation_data, (DataLoader, Dataset)):
        return _data.prepare(validation_data, None, module, "x_val")
    raise DataError("validation_data: expected a pair (x_val, y_val), a Dataset or a DataLoader; "
                    f"received {type(validation_data).__name__}")


def _probe(module: nn.Module, x: tuple, device, check: bool = True):
    """One eval-mode, no-grad forward: builds lazy parameters and shows the output shapes.

    ``check=False`` (a trainer with its own ``train_step`` and no loss) accepts any output.
    """
    x = tuple(t.to(device) for t in x)
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            out = module(*x)
    except (RuntimeError, ValueError) as exc:
        shapes = ", ".join(format_shape(tuple(t.shape[1:])) for t in x)
        if getattr(exc, "__module__", "").startswith("neuralab") or type(exc).__module__.startswith("neuralab"):
            raise
        raise DataError(f"x: inputs of shape {shapes} per sample do not fit {type(module).__name__}: "
                        f"{exc}") from exc
    finally:
        module.train(was_training)
    if not check:
        return out
    outs = as_outputs(out)
    for o in outs:
        if not isinstance(o, torch.Tensor):
            raise expected("fit", "module output", "a tensor or a tuple of tensors", type(o).__name__,
                           error=DTypeError)
        if o.dim() == 0 or o.shape[0] != x[0].shape[0]:
            raise DataError(f"fit: expected the module output to keep the batch axis ({x[0].shape[0]} "
                            f"samples), received output of shape {format_shape(tuple(o.shape))}")
    return outs


def _batch_len(batch) -> int:
    if batch is None:
        return 1
    return int(batch[0][0].shape[0])


def _progress_mode(progress) -> str | None:
    if progress in (False, None) or dist.rank() != 0:
        return None
    if progress in ("bar", "line"):
        return progress
    stream = sys.stderr
    return "bar" if (stream is not None and hasattr(stream, "isatty") and stream.isatty()) else "line"


class _OneBatch:
    """The feed of a full-batch optimizer: the whole training set, one step per epoch."""

    def __init__(self, batch):
        self.batch, self.n_steps = batch, 1
        self.sizes = [int(batch[0][0].shape[0])]

    def __len__(self) -> int:
        return 1

    def batches(self, epoch: int):
        yield self.batch


class _Means:
    """Per-epoch, sample-weighted means of the step logs, with one device sync at the end."""

    def __init__(self):
        self.values: dict[str, list] = {}
        self.weights: list[float] = []
        self.steps = 0
        self._first_key: str | None = None

    def add(self, logs: dict, weight: int) -> None:
        for key, value in logs.items():
            self.values.setdefault(key, []).append(value)
        if self._first_key is None and logs:
            self._first_key = next(iter(logs))
        self.weights.append(float(weight))
        self.steps += 1

    def _series(self, key: str) -> torch.Tensor:
        values = self.values[key]
        if not any(isinstance(v, torch.Tensor) for v in values):  # plain numbers: one conversion
            return torch.tensor([float(v) for v in values], dtype=torch.float64)
        return torch.stack([torch.as_tensor(v, dtype=torch.float64).detach().cpu().reshape(())
                            if not isinstance(v, torch.Tensor) else v.detach().to(torch.float64).reshape(())
                            for v in values])

    def running(self) -> torch.Tensor:
        return self._series(self._first_key).mean() if self._first_key else torch.tensor(0.0)

    def last_finite(self) -> bool:
        if self._first_key is None:
            return True
        v = self.values[self._first_key][-1]
        return bool(torch.isfinite(torch.as_tensor(v)).all())

    def means(self, reduce: bool) -> dict:
        if not self.steps:
            return {}
        keys = [k for k in self.values if len(self.values[k]) == self.steps]
        if not keys:
            return {}
        series = [self._series(k) for k in keys]
        device = next((s.device for s in series if s.device.type != "cpu"), series[0].device)
        w = torch.tensor(self.weights, dtype=torch.float64, device=device)
        sums = torch.cat([torch.stack([(s.to(device) * w).sum() for s in series]), w.sum().reshape(1)])
        if reduce:
            sums = dist.all_reduce_sum(sums)
        values = (sums[:-1] / sums[-1]).tolist()
        return dict(zip(keys, values))

    def nonfinite_error(self, epoch: int, epochs: int, n_steps: int | None) -> TrainingError:
        key = self._first_key
        bad_key, step = key, self.steps - 1
        for k, vals in self.values.items():
            s = self._series(k)
            bad = (~torch.isfinite(s)).nonzero()
            if len(bad):
                bad_key, step = k, int(bad[0, 0])
                break
        value = self._series(bad_key)[step]
        what = "NaN" if bool(torch.isnan(value)) else "infinite"
        total = f" of {n_steps}" if n_steps else ""
        subject = "the loss" if bad_key == "loss" else f"the logged value {bad_key!r}"
        return TrainingError(
            f"{subject} became {what} at epoch {epoch + 1} of {epochs}, step {step + 1}{total}; training "
            "stopped (the last checkpoint on disk, if any, is from before this epoch). Try a lower "
            "learning rate, gradient clipping (clip_grad_norm=) or check the data")

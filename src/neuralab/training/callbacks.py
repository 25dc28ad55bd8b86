"""Callbacks: code that runs at fixed points of :func:`neuralab.training.fit`.

A callback subclasses :class:`Callback` and overrides any of ``on_train_begin``,
``on_epoch_begin``, ``on_batch_end``, ``on_epoch_end``, ``on_train_end``.
``fit`` sets ``callback.trainer`` (the running :class:`~neuralab.training.Trainer`:
``module``, ``optimizer``/``optimizers``, ``history``, ``epoch``, ``epochs``,
``global_step``, ``stop_training``, ``is_main``) before training starts.
``on_batch_end`` is only called for callbacks that override it, and its
``logs["loss"]`` is a 0-d tensor (reading it with ``float`` forces a device sync).

Callbacks that must survive a resume implement ``state_dict``/``load_state_dict``
with JSON-compatible values; the checkpoint stores them.

    >>> import torch
    >>> from torch import nn
    >>> from neuralab.training import fit
    >>> x = torch.linspace(-1, 1, 64).unsqueeze(1); y = 3 * x
    >>> stop = EarlyStopping(monitor="loss", patience=2, min_delta=1e-6)
    >>> h = fit(nn.Linear(1, 1), x, y, optimizer="sgd", lr=0.0, epochs=20,
    ...         callbacks=[stop], progress=False, seed=0)
    >>> len(h["loss"])   # lr=0: no progress, stops after 1 + patience epochs
    3
"""

from __future__ import annotations


import csv
import json
import logging
import math
import os
import sys
import warnings
from typing import Any

from ..errors import ConfigError
from ..validation import check_bool, check_choice, check_int, check_number, check_path, expected
from .checkpoint import CHECKPOINT_NAME
from .history import jsonable

__all__ = [
    "Callback",
    "EarlyStopping",
    "Checkpoint",
    "CSVLogger",
    "JSONLogger",
    "LambdaCallback",
    "TensorBoard",
    "ProgressLine",
    "ProgressBar",
]

logger = logging.getLogger("neuralab.training")


class Callback:
    """Base class: every hook does nothing by default."""

    trainer = None  # the running neuralab.training.Trainer, set by fit

    def on_train_begin(self, logs: dict | None = None) -> None:
        pass

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        pass

    def on_batch_end(self, step: int, logs: dict | None = None) -> None:
        pass

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        pass

    def on_train_end(self, logs: dict | None = None) -> None:
        pass

    def state_dict(self) -> dict:
        """JSON-compatible state to store in a checkpoint (default: none)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned."""


def _mode_for(monitor: str, mode: str) -> str:
    mode = check_choice("EarlyStopping", "mode", mode, ("auto", "min", "max"))
    if mode != "auto":
        return mode
    name = monitor[4:] if monitor.startswith("val_") else monitor
    return "max" if ("acc" in name or name.startswith("top")) else "min"


class EarlyStopping(Callback):
    """Stop training when a monitored quantity stops improving.

    An epoch improves when ``value < best − min_delta`` (mode "min") or
    ``value > best + min_delta`` (mode "max"); after ``patience`` epochs without
    improvement training stops, and with ``restore_best_weights`` the module gets
    back the weights of the best epoch.

    Args:
        monitor: a key of the epoch logs (default "val_loss"; falls back to "loss"
            with a warning when there is no validation data).
        patience: epochs without improvement before stopping (default 3).
        min_delta: the smallest change that counts as an improvement (default 0).
        mode: "min", "max" or "auto" (max for accuracies, min otherwise).
        restore_best_weights: reload the best epoch's weights at the end (default True).

    Attributes:
        best, best_epoch, stopped_epoch, wait.
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 3, min_delta: float = 0.0,
                 mode: str = "auto", restore_best_weights: bool = True):
        self.patience = check_int("EarlyStopping", "patience", patience, low=0)
        self.min_delta = check_number("EarlyStopping", "min_delta", min_delta, low=0.0)
        self.monitor = monitor
        self.mode = _mode_for(monitor, mode)
        self.restore_best_weights = restore_best_weights
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.stopped_epoch: int | None = None
        self.wait = 0
        self._best_state: dict | None = None
        self._key = monitor

    def on_train_begin(self, logs=None):
        self._key = self.monitor

    def _improved(self, value: float) -> bool:
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self._key not in logs:
            if self._key == "val_loss" and "loss" in logs:
                warnings.warn("EarlyStopping: no validation data, monitoring 'loss' instead of 'val_loss'",
                              stacklevel=2)
                self._key = "loss"
            else:
                raise ConfigError(
                    f"EarlyStopping: cannot monitor {self._key!r}; expected one of: "
                    f"{', '.join(sorted(k for k in logs if k not in ('optimizer',)))}"
                )
        value = float(logs[self._key])
        if math.isfinite(value) and self._improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self._best_state = {k: v.detach().clone() for k, v in self.trainer.module.state_dict().items()}
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.stopped_epoch = epoch
                self.trainer.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch is not None and self.restore_best(self.trainer.module):
            logger.info("EarlyStopping: restored the weights of epoch %d (%s=%.6g)",
                        self.best_epoch + 1, self._key, self.best)

    def restore_best(self, module) -> bool:
        """Load the best epoch's weights into ``module``; False when there are none to load."""
        if not self.restore_best_weights or self._best_state is None:
            return False
        module.load_state_dict(self._best_state)
        return True

    def state_dict(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait, "key": self._key,
                "best_state": self._best_state}

    def load_state_dict(self, state: dict) -> None:
        self.best = state.get("best")
        self.best_epoch = state.get("best_epoch")
        self.wait = state.get("wait", 0)
        self._key = state.get("key", self.monitor)
        self._best_state = state.get("best_state")


class Checkpoint(Callback):
    """Save a resumable checkpoint to ``directory/checkpoint.safetensors`` after each epoch.

    The write is atomic (temporary file + ``os.replace``), so the file on disk is
    always the last complete checkpoint, even if training dies mid-write or the
    loss becomes NaN. ``fit(..., resume_from=directory)`` continues from it.

    Args:
        directory: the folder (created if needed).
        every: save every ``every`` epochs (default 1); the last epoch is always saved.
        save_model: also write ``model.safetensors`` with :func:`neuralab.storage.save`
            (loadable with ``neuralab.load`` when the module is registered; default False).
    """

    def __init__(self, directory: str | os.PathLike, every: int = 1, save_model: bool = False):
        self.every = check_int("Checkpoint", "every", every, low=1)
        self.directory = check_path("Checkpoint", "directory", directory, kind="folder")
        self.save_model = check_bool("Checkpoint", "save_model", save_model)

    @property
    def path(self) -> str:
        return os.path.join(self.directory, CHECKPOINT_NAME)

    def on_epoch_end(self, epoch, logs=None):
        t = self.trainer
        if not t.is_main:
            return
        if (epoch + 1) % self.every == 0 or epoch + 1 == t.epochs or t.stop_training:
            os.makedirs(self.directory, exist_ok=True)
            t.save_checkpoint(self.path)
            if self.save_model:
                from .. import storage

                storage.save(t.module, os.path.join(self.directory, "model.safetensors"),
                             metadata={"epoch": epoch + 1})


class CSVLogger(Callback):
    """Append one CSV row per epoch (epoch, then every logged number) to ``path``.

    Args:
        path: the CSV file.
        append: keep existing rows (default False: start a new file); a resumed
            run appends automatically.
    """

    def __init__(self, path: str | os.PathLike, append: bool = False):
        self.path = check_path("CSVLogger", "path", path, kind="file")
        self.append = check_bool("CSVLogger", "append", append)
        self._fields: list[str] | None = None

    def on_train_begin(self, logs=None):
        if not self.trainer.is_main:
            return
        resumed = len(self.trainer.history) > 0
        if not (self.append or resumed) and os.path.exists(self.path):
            os.remove(self.path)
        if os.path.exists(self.path):
            with open(self.path, newline="", encoding="utf-8") as fh:
                header = next(csv.reader(fh), None)
            self._fields = header[1:] if header else None

    def on_epoch_end(self, epoch, logs=None):
        if not self.trainer.is_main:
            return
        row = {k: v for k, v in (logs or {}).items() if isinstance(v, (int, float))}
        if self._fields is None:
            self._fields = list(row)
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            with open(self.path, "w", newline="", encoding="utf-8") as fh:
                csv.writer(fh).writerow(["epoch", *self._fields])
        with open(self.path, "a", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerow([epoch + 1, *(row.get(k, "") for k in self._fields)])


class JSONLogger(Callback):
    """Append one JSON object per epoch (JSON Lines) to ``path``: ``{"epoch": 1, "loss": ...}``.

    Args:
        path: the ``.jsonl`` file.
        append: keep existing lines (default False); a resumed run appends automatically.
    """

    def __init__(self, path: str | os.PathLike, append: bool = False):
        self.path = check_path("JSONLogger", "path", path, kind="file")
        self.append = check_bool("JSONLogger", "append", append)

    def on_train_begin(self, logs=None):
        if not self.trainer.is_main:
            return
        if not (self.append or len(self.trainer.history) > 0) and os.path.exists(self.path):
            os.remove(self.path)

    def on_epoch_end(self, epoch, logs=None):
        if not self.trainer.is_main:
            return
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"epoch": epoch + 1, **jsonable(logs or {})}) + "\n")


def _summary_writer_class():
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ConfigError(
            "TensorBoard: expected the `tensorboard` package, which is not installed; install it with "
            "pip install 'neuralab[tensorboard]' (or pip install tensorboard)") from None
    return SummaryWriter


class TensorBoard(Callback):
    """Write the run to TensorBoard event files in ``log_dir`` (``tensorboard --logdir log_dir``).

    After every epoch: each number of the epoch logs as a scalar under its own name
    (``loss``, ``accuracy``, ``val_loss``, ``lr``, ``time`` …, step = epoch number,
    starting at 1); with ``histograms`` every parameter as a histogram
    (``weights/<name>``). With ``images``, those sample images are written once at
    the start (``samples``). Uses :class:`torch.utils.tensorboard.SummaryWriter`;
    only rank 0 writes under ``torchrun``. A resumed run drops events after its
    checkpoint's epoch (``purge_step``).

    Args:
        log_dir: the folder of the event files (created if needed).
        histograms: write parameter histograms after each epoch (default False).
        images: None, or sample images ``(N, C, H, W)`` or ``(N, H, W)`` (array or
            tensor, C = 1 or 3), scaled to [0, 1] by their min and max (default None).

    Raises:
        ConfigError: the ``tensorboard`` package is not installed (extra ``tensorboard``).
    """

    def __init__(self, log_dir: str | os.PathLike, histograms: bool = False, images=None):
        self._writer_class = _summary_writer_class()
        self.log_dir = check_path("TensorBoard", "log_dir", log_dir, kind="folder")
        self.histograms = check_bool("TensorBoard", "histograms", histograms)
        self.images = None if images is None else _sample_images(images)
        self.writer = None

    def on_train_begin(self, logs=None):
        if not self.trainer.is_main:
            return
        done = len(self.trainer.history)
        self.writer = self._writer_class(self.log_dir, purge_step=done + 1 if done else None)
        if self.images is not None and not done:
            self.writer.add_images("samples", self.images, 0)

    def on_epoch_end(self, epoch, logs=None):
        if self.writer is None:
            return
        step = epoch + 1
        for key, value in (logs or {}).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(key, value, step)
        if self.histograms:
            for name, p in self.trainer.module.named_parameters():
                self.writer.add_histogram(f"weights/{name}", p.detach().cpu(), step)
        self.writer.flush()

    def on_train_end(self, logs=None):
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def _sample_images(images):
    import numpy as np
    import torch

    t = torch.as_tensor(np.asarray(images) if not isinstance(images, torch.Tensor) else images)
    if t.dim() == 3:
        t = t.unsqueeze(1)
    if t.dim() != 4 or t.shape[1] not in (1, 3) or t.numel() == 0:
        raise expected("TensorBoard", "images", "sample images (N, C, H, W) or (N, H, W) with C = 1 or 3",
                       f"an array of shape {tuple(t.shape)}")
    t = t.detach().to("cpu", torch.float32)
    low, high = float(t.min()), float(t.max())
    return (t - low) / (high - low) if high > low else torch.zeros_like(t)


class LambdaCallback(Callback):
    """A callback from plain functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``."""

    def __init__(self, **hooks: Any):
        allowed = {"on_train_begin", "on_epoch_begin", "on_batch_end", "on_epoch_end", "on_train_end"}
        unknown = set(hooks) - allowed
        if unknown:
            raise ConfigError(
                f"LambdaCallback: unknown hooks {sorted(unknown)}; expected some of {sorted(allowed)}"
            )
        for name, fn in hooks.items():
            setattr(self, name, fn)


def _format_logs(logs: dict) -> str:
    parts = []
    for k, v in logs.items():
        if k in ("time", "optimizer") or not isinstance(v, (int, float)):
            continue
        small = v != 0 and abs(v) < 0.01  # keep small costs readable (J_style ≈ 1e-3)
        parts.append(f"{k} {v:.4g}" if k == "lr" or small else f"{k} {v:.4f}")
    return " - ".join(parts)


class ProgressLine(Callback):
    """One line per epoch on ``stream`` (default stderr): ``epoch 3/10 - loss 0.1234 - … - 1.2s``."""

    def __init__(self, stream=None):
        self.stream = stream

    def on_epoch_end(self, epoch, logs=None):
        if not self.trainer.is_main:
            return
        logs = logs or {}
        stream = self.stream or sys.stderr
        width = len(str(self.trainer.epochs))
        stream.write(f"epoch {epoch + 1:>{width}}/{self.trainer.epochs} - {_format_logs(logs)}"
                     f" - {logs.get('time', 0.0):.2f}s\n")
        stream.flush()


class ProgressBar(Callback):
    """A tqdm bar per epoch showing the running loss (updated every few steps) and, at the end, metrics."""

    def __init__(self, stream=None, updates: int = 20):
        self.stream = stream
        self.updates = updates
        self.bar = None
        self.every = 1
        self.n_steps = 0

    def start_epoch(self, epoch: int, n_steps: int) -> None:
        from tqdm.auto import tqdm

        if not self.trainer.is_main:
            return
        self.n_steps = n_steps
        self.every = max(1, n_steps // self.updates) if n_steps > 0 else 1
        self.bar = tqdm(total=n_steps if n_steps > 0 else None, file=self.stream or sys.stderr,
                        desc=f"epoch {epoch + 1}/{self.trainer.epochs}", leave=True,
                        dynamic_ncols=True, unit="step")

    def step(self, step: int, running_loss) -> None:
        """Called by fit after each step; refreshes the bar every ``every`` steps."""
        if self.bar is None or (step + 1) % self.every:
            return
        self.bar.update(step + 1 - self.bar.n)
        self.bar.set_postfix_str(f"loss {float(running_loss()):.4f}", refresh=False)

    def on_epoch_end(self, epoch, logs=None):
        if self.bar is None:
            return
        self.bar.update(max(0, self.n_steps - self.bar.n))
        self.bar.set_postfix_str(f"{_format_logs(logs or {})} - {(logs or {}).get('time', 0.0):.2f}s")
        self.bar.close()
        self.bar = None

    def on_train_end(self, logs=None):
        if self.bar is not None:
            self.bar.close()
            self.bar = None



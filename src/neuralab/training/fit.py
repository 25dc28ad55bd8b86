"""The short front doors of the engine: :func:`fit`, :func:`predict`, :func:`evaluate`."""

from __future__ import annotations

from typing import Any

from torch import nn

from ._setup import module_device, resolve_device
from .callbacks import Callback
from .history import History
from .trainer import DEFAULT_BATCH, Trainer

__all__ = ["fit", "predict", "evaluate", "resolve_device"]


def fit(
    module: nn.Module,
    x,
    y=None,
    *,
    optimizer: Any = "adam",
    lr: float | None = None,
    loss: Any = "auto",
    loss_weights=None,
    epochs: int = 10,
    batch_size: int = DEFAULT_BATCH,
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
    compile: bool = False,
) -> History:
    """Train any ``torch.nn.Module`` with any optimizer; return the :class:`History`.

    One step on a batch ``(x_b, y_b)``::

        L = Σ_k w_k loss_k(module(x_b)_k, y_b,k) + Σ penalty(module)   # l1/l2 regularizers
        L.backward(); clip gradients; optimizer.step(); maxnorm projections

    Full-batch (second-order) optimizers (``optimizer.full_batch = True``) take
    one step per epoch on the whole training set through a residual closure
    (Levenberg–Marquardt; the loss must be mse, l2 or sse) or a loss closure.
    This function builds a :class:`~neuralab.training.Trainer` and calls its
    ``fit``; subclass the Trainer to change what one step does.

    Args:
        module: the model. Lazily-built modules are built by one forward pass on
            the first batch before the optimizer is created.
        x: inputs: a NumPy array, a tensor or a list ``(N, ...)``; for several
            inputs a tuple/list in the network's input order or a dict keyed by
            input-layer name; a ``Dataset`` or ``DataLoader`` yielding
            ``(inputs, targets)`` (each may be such a structure).
        y: targets ``(N, ...)``, or a tuple/list/dict for several outputs (None
            when ``x`` is a Dataset/DataLoader). Integer class labels or one-hot rows
            for classification.
        optimizer: a name (sgd, momentum, nesterov, adam, adamw, adamax, rmsprop,
            adadelta, adagrad, rprop, irprop+, lm, newton, cg, bfgs …), a ``torch.optim``
            class or an optimizer instance (default "adam").
        lr: learning rate (default: the optimizer's own default).
        loss: a name from :mod:`neuralab.losses` (Keras' names such as
            ``sparse_categorical_crossentropy`` too), a callable ``loss(y_pred, y_true)``
            or "auto" (default: chosen from the last layer and the targets). With
            several outputs: one loss for all, a list or a dict per output, or one
            callable ``loss(outputs, targets)`` over the tuples.
        loss_weights: weights of the per-output losses (list or dict; default 1).
        epochs: number of epochs (default 10); with ``resume_from`` the total.
        batch_size: samples per step (default 32).
        shuffle: reshuffle the training samples every epoch (default True).
        validation_data: ``(x_val, y_val)`` or a Dataset/DataLoader evaluated after
            each epoch (logged as ``val_loss``, ``val_<metric>``).
        validation_split: fraction of the (unshuffled) training data held out at
            the end for validation (default 0.0).
        metrics: a name, a list of names (accuracy, top5, mse, mae …) or callables
            ``(y_pred, y_true)``; applied to every output, or a dict per output name.
        regularizers: :mod:`neuralab.regularizers` objects/names (l1, l2, maxnorm).
        lr_schedule: a :mod:`neuralab.schedules` schedule, a callable
            ``epoch -> factor`` of the initial rate, or a torch LR scheduler
            (stepped once per epoch).
        callbacks: :mod:`neuralab.training.callbacks` objects.
        progress: True: a tqdm bar per epoch on a terminal, one line per epoch on
            stderr otherwise; "bar"/"line" force one; False: silent (default True).
        device: "auto" (CUDA when present), "cpu", "cuda", … (default "auto").
        seed: seeds torch's global RNG when training starts (initialisation of
            lazily-built layers, dropout) and the shuffling. Weights a module
            already has are not re-drawn: call ``nl.set_seed(s)`` before building
            the model for a run that is reproducible end to end (default None).
        clip_grad_norm: rescale gradients to this total L2 norm at most (default None).
        clip_grad_value: clamp each gradient component to ±value (default None).
        resume_from: a checkpoint folder (see :class:`~neuralab.training.callbacks.Checkpoint`)
            or file: restores weights, optimizer, RNG states, history and callback
            states, and continues at the next epoch.
        optimizer_kwargs: extra keyword arguments for the optimizer (default None).
        drop_last: skip the last incomplete batch of each epoch (default False; a
            last batch of one sample is dropped anyway when the model has BatchNorm).
        compile: run the module's forward and backward in the training and validation
            steps through ``torch.compile`` (default False). The first steps pay the
            compilation; full-batch optimizers keep the plain module.

    Returns:
        A :class:`History`; ``history["loss"]`` is the per-epoch mean of the batch
        losses weighted by batch size (including regularization penalties); with
        several outputs also ``<output>_loss`` per output.

    Raises:
        DataError: unusable data (lengths, labels, shapes, structures, NaN/inf,
            empty, strings), before any training step.
        ConfigError: invalid arguments.
        TrainingError: the loss became NaN or infinite (names the epoch and step).

    Example:
        >>> import torch
        >>> from torch import nn
        >>> x = torch.randn(256, 2); y = (x[:, 0] > x[:, 1]).long()
        >>> net = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))
        >>> h = fit(net, x, y, epochs=20, lr=0.05, metrics="accuracy", progress=False, seed=0)
        >>> h["accuracy"][-1] > 0.95
        True
    """
    trainer = Trainer(module, optimizer=optimizer, lr=lr, loss=loss, loss_weights=loss_weights,
                      metrics=metrics, regularizers=regularizers, lr_schedule=lr_schedule,
                      callbacks=callbacks, progress=progress, device=device, seed=seed,
                      clip_grad_norm=clip_grad_norm, clip_grad_value=clip_grad_value,
                      optimizer_kwargs=optimizer_kwargs, compile=compile)
    return trainer.fit(x, y, epochs=epochs, batch_size=batch_size, shuffle=shuffle,
                       validation_data=validation_data, validation_split=validation_split,
                       resume_from=resume_from, drop_last=drop_last)


def _eval_trainer(module: nn.Module, device, **kw) -> Trainer:
    dev = module_device(module) if device is None else resolve_device(device)
    return Trainer(module, optimizer=None, progress=False, device=dev, **kw)


def predict(module: nn.Module, x, batch_size: int = 256, device: Any = None, *,
            probabilities: bool = False):
    """Outputs of ``module`` on ``x`` in eval mode, as NumPy arrays ``(N, *output)``.

    A module with several outputs gives a tuple of arrays (the structure it returns).
    The built-in architectures return logits, a network ending in ``L.Softmax`` returns
    probabilities; ``probabilities=True`` gives probabilities for either.

    Args:
        module: the model.
        x: array/tensor ``(N, ...)``, a tuple/list/dict for several inputs, a Dataset
            or DataLoader (of inputs or (input, target) pairs).
        batch_size: samples per forward pass (default 256).
        device: where to run (default: where the module's parameters are; "auto" for CUDA if present).
        probabilities: apply softmax to logits (over the class axis: the last one of
            ``(N, C)`` and ``(N, T, C)``, axis 1 of ``(N, C, H, W)``; sigmoid for one unit),
            leaving outputs whose last layer is a Softmax or Sigmoid unchanged (default False).

    >>> import torch
    >>> predict(torch.nn.Identity(), [[1.0, 2.0]]).tolist()
    [[1.0, 2.0]]
    >>> predict(torch.nn.Identity(), [[0.0, 0.0]], probabilities=True).tolist()
    [[0.5, 0.5]]
    """
    return _eval_trainer(module, device).predict(x, batch_size=batch_size, probabilities=probabilities)


def evaluate(module: nn.Module, x, y=None, *, loss: Any = "auto", loss_weights=None, metrics=None,
             batch_size: int = 256, device: Any = None) -> dict:
    """Loss and metrics of ``module`` on ``(x, y)`` in eval mode: ``{"loss": ..., "<metric>": ...}``.

    Values are means over samples (batch values weighted by batch size).

    Args:
        module: the model.
        x, y: as for :func:`fit` (``y`` None for a Dataset/DataLoader of pairs).
        loss, loss_weights: as for :func:`fit` (default "auto").
        metrics: metric names or callables (default none).
        batch_size: samples per forward pass (default 256).
        device: default: where the module's parameters are.

    >>> import torch
    >>> evaluate(torch.nn.Identity(), [[1.0], [3.0]], [[0.0], [0.0]], loss="mse")
    {'loss': 5.0}
    """
    trainer = _eval_trainer(module, device, loss=loss, loss_weights=loss_weights, metrics=metrics)
    return trainer.evaluate(x, y, batch_size=batch_size)

"""Training: one loop for every model and optimizer.

- :class:`Trainer` is the engine: one run's state and the epoch loop;
  subclasses override ``train_step`` (a GAN, an RL agent, a triplet model);
- :func:`fit` trains any ``torch.nn.Module`` (first-order optimizers per
  mini-batch, second-order ones on the full batch, several inputs/outputs)
  through a Trainer and returns a :class:`History`;
- :func:`predict`, :func:`evaluate`;
- callbacks (:class:`EarlyStopping`, :class:`Checkpoint`, :class:`CSVLogger`,
  :class:`JSONLogger`, :class:`LambdaCallback`, :class:`TensorBoard`), metrics (``accuracy``,
  ``top_k``/``top5``, ``mse``, ``mae``), resumable checkpoints and the
  DistributedDataParallel path under ``torchrun``.

    >>> import torch
    >>> from torch import nn
    >>> from neuralab.training import fit, evaluate
    >>> x = torch.linspace(-1, 1, 128).unsqueeze(1); y = 2 * x + 1
    >>> h = fit(nn.Linear(1, 1), x, y, optimizer="sgd", lr=0.1, epochs=30, progress=False, seed=0)
    >>> h["loss"][-1] < 1e-4
    True
"""

from __future__ import annotations

from . import callbacks, metrics
from .callbacks import (
    Callback,
    Checkpoint,
    CSVLogger,
    EarlyStopping,
    JSONLogger,
    LambdaCallback,
    TensorBoard,
)
from .checkpoint import load_checkpoint, save_checkpoint
from .history import History
from .fit import evaluate, fit, predict, resolve_device
from .trainer import Trainer

__all__ = [
    "fit", "predict", "evaluate", "History", "Trainer",
    # the callbacks
    "Callback", "EarlyStopping", "Checkpoint", "CSVLogger", "JSONLogger", "LambdaCallback", "TensorBoard",
    "callbacks", "metrics", "save_checkpoint", "load_checkpoint", "resolve_device",
]

"""Where a run's batches come from: in-memory arrays, a Dataset/DataLoader, the full batch, or none.

A feed yields ``(x, y)`` batches (tuples of tensors on the run's device; ``y``
may be None) or, for runs without data (a reinforcement-learning agent),
``None`` ``steps_per_epoch`` times. ``sizes`` gives each step's sample count
for the per-epoch means.
"""

from __future__ import annotations

import math
import warnings

import torch
from torch import nn
from torch.utils.data import DataLoader, IterableDataset, RandomSampler, Sampler

from ..errors import DataError
from . import _data
from . import distributed as dist

__all__ = ["ArrayFeed", "StreamFeed", "GlobalBatches", "NoDataFeed", "full_batch", "has_batchnorm",
           "stream_batches", "loader_of", "first_batch", "eval_batches"]


def has_batchnorm(module: nn.Module) -> bool:
    """Does the module hold a batch-normalisation layer (torch's or neuralab's)?"""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) or type(m).__name__ == "BatchNorm"
               for m in module.modules())


def _warn_single_batch(n: int, batch_size: int) -> None:
    warnings.warn(
        f"fit: {n} samples in batches of {batch_size} leave a last batch of one sample, which "
        "BatchNorm cannot normalise in training mode; that batch is dropped each epoch "
        "(pass drop_last=True to say so, or another batch_size)",
        stacklevel=4,
    )


class ArrayFeed:
    """Mini-batches of in-memory tensors, moved to the device once, reshuffled each epoch."""

    def __init__(self, data: _data.Arrays, batch_size: int, shuffle: bool, drop_last: bool,
                 generator: torch.Generator, device, module: nn.Module):
        self.data = data.to(device)
        n = data.n
        if not drop_last and n > batch_size and n % batch_size == 1 and has_batchnorm(module):
            _warn_single_batch(n, batch_size)
            drop_last = True
        world, self.rank = dist.world_size(), dist.rank()
        n_steps = _n_steps(n, batch_size, drop_last, world)
        self.world, self.n, self.batch_size, self.n_steps = world, n, batch_size, n_steps
        self.shuffle, self.generator, self.device = shuffle, generator, device
        full = [min(batch_size, n - i * batch_size) for i in range(n_steps)]
        self.sizes = [len(range(self.rank, s, world)) for s in full] if world > 1 else full
        self._arange = None if shuffle else torch.arange(n, device=device)

    def __len__(self) -> int:
        return self.n_steps

    def batches(self, epoch: int):
        order = (torch.randperm(self.n, generator=self.generator).to(self.device) if self.shuffle
                 else self._arange)
        bs = self.batch_size
        for i in range(self.n_steps):
            idx = order[i * bs:(i + 1) * bs]
            if self.world > 1:
                idx = idx[self.rank::self.world]
            yield self.data.take(idx)


def _n_steps(n: int, batch_size: int, drop_last: bool, world: int) -> int:
    """Steps per epoch; under DDP only global batches that give every rank a sample count."""
    n_steps = n // batch_size if drop_last and n >= batch_size else math.ceil(n / batch_size)
    if world > 1:  # every rank must take the same number of steps with >= 1 sample
        n_steps = sum(1 for i in range(n_steps) if min(batch_size, n - i * batch_size) >= world)
    return n_steps


class GlobalBatches(Sampler):
    """This rank's share of every global batch of a Dataset: positions ``r, r + W, …`` of it.

    The epoch's order is one permutation drawn from the run's generator exactly as a
    single process's shuffled DataLoader draws it (a ``RandomSampler``), so one process
    and ``W`` processes see the same global batches, shuffled or not.
    """

    def __init__(self, n: int, batch_size: int, shuffle: bool, drop_last: bool, generator: torch.Generator,
                 rank: int = 0, world: int = 1):
        self.n, self.batch_size, self.shuffle, self.generator = n, batch_size, shuffle, generator
        self.rank, self.world = rank, world
        self.n_steps = _n_steps(n, batch_size, drop_last, world)

    def __len__(self) -> int:
        return self.n_steps

    def __iter__(self):
        order = (list(RandomSampler(range(self.n), generator=self.generator)) if self.shuffle
                 else range(self.n))
        bs = self.batch_size
        for i in range(self.n_steps):
            yield list(order[i * bs:(i + 1) * bs][self.rank::self.world])


class StreamFeed:
    """Batches of a Dataset (our DataLoader over :class:`GlobalBatches`) or the user's DataLoader."""

    def __init__(self, data: _data.Stream, batch_size: int, shuffle: bool, drop_last: bool,
                 generator: torch.Generator, device, module: nn.Module):
        self.module, self.device = module, device
        if data.loader is not None:
            self.loader = data.loader
        else:
            n, world = len(data), dist.world_size()
            if (not drop_last and n > batch_size and n % batch_size == 1 and has_batchnorm(module)
                    and world == 1):
                _warn_single_batch(n, batch_size)
                drop_last = True
            if isinstance(data.dataset, IterableDataset):  # its own order: no permutation, no sharding
                self.loader = DataLoader(data.dataset, batch_size=batch_size, generator=generator,
                                         drop_last=drop_last)
            else:
                sampler = GlobalBatches(n, batch_size, shuffle, drop_last, generator, dist.rank(), world)
                self.loader = DataLoader(data.dataset, batch_sampler=sampler, generator=generator)
        try:
            self.n_steps = len(self.loader)
        except TypeError:
            self.n_steps = 0
        self.sizes = None  # read from each batch

    def __len__(self) -> int:
        return self.n_steps

    def batches(self, epoch: int):
        return stream_batches(self.loader, self.module, self.device)


class NoDataFeed:
    """``steps_per_epoch`` steps with no batch (``train_step(None)``): agents that make their own data."""

    def __init__(self, steps_per_epoch: int):
        self.n_steps = steps_per_epoch
        self.sizes = [1] * steps_per_epoch

    def __len__(self) -> int:
        return self.n_steps

    def batches(self, epoch: int):
        for _ in range(self.n_steps):
            yield None


def stream_batches(loader, module: nn.Module, device):
    """Each batch of ``loader`` as ``(x, y)`` tuples of tensors on ``device`` in the module's dtype
    (integer inputs kept for an Embedding): the one conversion of streamed batches."""
    dtype, keep_ints = _data.module_dtype(module), _data.wants_int_inputs(module)
    for batch in loader:
        yield _data.stream_batch(batch, module, device, dtype, keep_ints)


def loader_of(data: _data.Stream, batch_size: int) -> DataLoader:
    """The user's DataLoader, or the Dataset in order in batches of ``batch_size``."""
    return data.loader or DataLoader(data.dataset, batch_size=batch_size, shuffle=False)


def first_batch(data, module: nn.Module, batch_size: int, owner: str = "fit") -> tuple:
    """A probe batch ``(x, y)`` on the CPU: ``y`` is the whole target tuple for in-memory data."""
    if isinstance(data, _data.Arrays):
        return tuple(t[:batch_size] for t in data.x), data.y
    first = next(stream_batches(loader_of(data, batch_size), module, torch.device("cpu")), None)
    if first is None:
        raise DataError(f"{owner}: empty dataset: expected at least one batch, received none")
    return first


def eval_batches(data, module: nn.Module, batch_size: int, device):
    """The batches of evaluation and prediction: in order, each sample once, on every rank."""
    if isinstance(data, _data.Arrays):
        for i in range(0, data.n, batch_size):
            x, y = data.take(slice(i, i + batch_size))
            yield (tuple(t.to(device, non_blocking=True) for t in x),
                   None if y is None else tuple(t.to(device, non_blocking=True) for t in y))
        return
    yield from stream_batches(loader_of(data, batch_size), module, device)


def full_batch(data, module: nn.Module, device) -> tuple:
    """The whole training set as one ``(x, y)`` batch on ``device`` (for full-batch optimizers)."""
    if isinstance(data, _data.Arrays):
        return data.to(device).take(slice(None))
    xs, ys = [], []
    for xb, yb in stream_batches(loader_of(data, 1024), module, torch.device("cpu")):
        xs.append(xb)
        ys.append(yb)
    x = tuple(torch.cat(parts).to(device) for parts in zip(*xs))
    y = None if ys[0] is None else tuple(torch.cat(parts).to(device) for parts in zip(*ys))
    return x, y

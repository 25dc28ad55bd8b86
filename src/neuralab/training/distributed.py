"""Helpers for data-parallel training under ``torchrun`` (DistributedDataParallel).

When ``torch.distributed`` is initialised, ``fit`` wraps the module in
:class:`~torch.nn.parallel.DistributedDataParallel` and gives each rank an
equal share of every global batch: all ranks draw the same permutation (from
rank 0's shuffling seed) as a single process would, and rank ``r`` of ``W`` takes
samples ``r, r + W, …`` of each batch, for in-memory data and Datasets alike
(``_feed.GlobalBatches``).
DDP averages the gradients, so one step equals a single-process step on the
global batch when the shares are equal. Losses and metrics are averaged across
ranks once per epoch. Only rank 0 writes checkpoints and progress.

Under ``torchrun`` nothing else is needed: torchrun sets ``RANK``, ``WORLD_SIZE``,
``MASTER_ADDR`` and ``MASTER_PORT``, and the first ``fit`` joins that process
group (``init_method="env://"``, gloo on CPU, nccl when CUDA is there)::

    torchrun --nproc_per_node=2 train.py      # train.py calls fit(...) as usual
"""

from __future__ import annotations

import logging
import os

import torch
from torch import nn

from ..errors import ConfigError

__all__ = ["is_distributed", "rank", "world_size", "wrap", "all_reduce_sum", "init_from_env", "rank0_value"]

logger = logging.getLogger("neuralab.training")

_ENV = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def init_from_env(backend: str | None = None) -> bool:
    """Join the process group torchrun describes in the environment, if there is one.

    Does nothing when a process group already exists or when ``WORLD_SIZE`` is
    absent or 1. Backend: ``backend``, else nccl when CUDA is available, else gloo.

    Returns:
        True when a process group is initialised afterwards.
    """
    dist = torch.distributed
    if not dist.is_available():
        return False
    if dist.is_initialized():
        return True
    if any(k not in os.environ for k in _ENV):
        return False
    try:
        world = int(os.environ["WORLD_SIZE"])
        rank_ = int(os.environ["RANK"])
    except ValueError:
        raise ConfigError(f"torchrun environment: expected integer RANK and WORLD_SIZE, received "
                          f"{os.environ['RANK']!r} and {os.environ['WORLD_SIZE']!r}") from None
    if world <= 1:
        return False
    if not 0 <= rank_ < world:
        raise ConfigError(f"torchrun environment: expected 0 <= RANK < WORLD_SIZE = {world}, received "
                          f"RANK={rank_}")
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    dist.init_process_group(backend, init_method="env://", rank=rank_, world_size=world)
    logger.info("joined the torchrun process group: rank %d of %d (%s)", rank_, world, backend)
    return True


def is_distributed() -> bool:
    """True when a process group is initialised (joining torchrun's first, see :func:`init_from_env`)."""
    if not torch.distributed.is_available():
        return False
    return torch.distributed.is_initialized() or init_from_env()


def rank() -> int:
    return torch.distributed.get_rank() if is_distributed() else 0


def world_size() -> int:
    return torch.distributed.get_world_size() if is_distributed() else 1


def wrap(module: nn.Module, device: torch.device) -> nn.Module:
    """``DistributedDataParallel(module)`` on ``device`` (a no-op outside a process group)."""
    if not is_distributed():
        return module
    from torch.nn.parallel import DistributedDataParallel

    if device.type == "cuda":
        return DistributedDataParallel(module, device_ids=[device.index or 0])
    return DistributedDataParallel(module)


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum ``t`` over ranks (in place; identity outside a process group)."""
    if is_distributed():
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.SUM)
    return t


def rank0_value(value: int) -> int:
    """Rank 0's ``value`` on every rank (identity outside a process group): one shuffling seed for all."""
    if not is_distributed():
        return value
    t = torch.tensor([value], dtype=torch.int64)
    if torch.distributed.get_backend() == "nccl":
        t = t.cuda()
    torch.distributed.broadcast(t, src=0)
    return int(t.item())


def local_device(device: torch.device) -> torch.device:
    """On CUDA, each rank uses the GPU ``LOCAL_RANK`` (torchrun's convention)."""
    if device.type == "cuda" and is_distributed() and device.index is None:
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank() % torch.cuda.device_count())))
    return device

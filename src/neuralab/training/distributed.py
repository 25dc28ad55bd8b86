"""Helpers for data-parallel training under ``torchrun`` (DistributedDataParallel).

When ``torch.distributed`` is initialised, ``fit`` wraps the module in
:class:`~torch.nn.parallel.DistributedDataParallel` and gives each rank an
equal share of every global batch: with in-memory data all ranks draw the same
permutation and rank ``r`` of ``W`` takes samples ``r, r + W, …`` of the batch;
with a Dataset a :class:`~torch.utils.data.DistributedSampler` does the same job.
DDP averages the gradients, so one step equals a single-process step on the
global batch when the shares are equal. Losses and metrics are averaged across
ranks once per epoch. Only rank 0 writes checkpoints and progress.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["is_distributed", "rank", "world_size", "wrap", "all_reduce_sum"]


def is_distributed() -> bool:
    """True when ``torch.distributed`` is available and a process group is initialised."""
    return torch.distributed.is_available() and torch.distributed.is_initialized()


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


def local_device(device: torch.device) -> torch.device:
    """On CUDA, each rank uses the GPU ``LOCAL_RANK`` (torchrun's convention)."""
    import os

    if device.type == "cuda" and is_distributed() and device.index is None:
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank() % torch.cuda.device_count())))
    return device

"""Thread control for the classic estimators' loops of small kernels.

Online rules (GNG, ART1, the Hebbian rules, CD steps on mini-batches of ten)
run thousands of kernels on tensors of a few hundred numbers. Splitting such
a kernel over several CPU threads gains nothing, and when the cores are busy
with other work every kernel waits for its slowest worker: measured on a
loaded 2-core machine, an Oja fit took 7 s with 2 threads and 0.1 s with one.
"""

from __future__ import annotations

import contextlib

import torch

__all__ = ["SMALL_WORK", "limit_threads", "small_work_threads"]

# Below this many multiply-adds per kernel a loop runs on one CPU thread.
SMALL_WORK = 1 << 26


@contextlib.contextmanager
def limit_threads(n_threads: int, enabled: bool = True):
    """Cap torch's intra-op CPU threads at ``n_threads`` inside the block (restored after)."""
    previous = torch.get_num_threads()
    if not enabled or n_threads >= previous:
        yield
        return
    torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def small_work_threads(work: float, device: torch.device):
    """One CPU thread when a kernel does fewer than ``SMALL_WORK`` multiply-adds."""
    return limit_threads(1, enabled=device.type == "cpu" and work < SMALL_WORK)

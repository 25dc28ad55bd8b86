"""Explicit, local thread control for the classic estimators.

Online rules (GNG, ART1, the Hebbian rules, CD steps on mini-batches of ten)
run thousands of kernels on tensors of a few hundred numbers. Splitting such a
kernel over several CPU threads gains nothing, and when the cores are busy
with other work every kernel waits for its slowest worker: measured on a
loaded 2-core machine, an Oja fit took 7 s with 2 threads and 0.1 s with one.

So every estimator takes ``n_threads``: None (the default) leaves torch's
setting untouched; an integer sets torch's intra-op threads for the duration
of that estimator's ``fit``/``predict`` work and restores the previous value
afterwards. Nothing changes the process-wide setting behind the user's back.
"""

from __future__ import annotations

import contextlib

import torch

__all__ = ["limit_threads"]


@contextlib.contextmanager
def limit_threads(n_threads: int):
    """Run the block with ``n_threads`` intra-op CPU threads, then restore the previous count.

    >>> before = torch.get_num_threads()
    >>> with limit_threads(1):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    """
    previous = torch.get_num_threads()
    if n_threads == previous:
        yield
        return
    torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)

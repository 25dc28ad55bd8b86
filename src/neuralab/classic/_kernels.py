"""Private helpers shared by GRNN, PNN, SOFM, LVQ and CMAC.

- :func:`gaussian_smoother` — the Nadaraya–Watson / Parzen sum behind GRNN and
  PNN, computed in query chunks so memory stays bounded.
- :func:`check_supervised` — scikit-learn's ``validate_data`` for ``(X, y)``
  that keeps the standard "requires y to be passed" message.
- :func:`as_float_array` — learned tensors back to NumPy float64.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from sklearn.utils.validation import validate_data

__all__ = [
    "gaussian_smoother",
    "auto_batch_size",
    "check_supervised",
    "as_numpy",
    "MEMORY_BUDGET_BYTES",
    "small_step_threads",
]

#: multiply-adds per step below which extra threads cost more than they give.
SMALL_STEP_WORK = 1 << 22

#: bytes of the scratch buffer of one query chunk (``batch_size × n_train``
#: floats, reused across chunks). Small enough to stay in a large L3 cache for
#: the element-wise passes; far below 1 GB for any training size.
MEMORY_BUDGET_BYTES = 64 * 2**20


def auto_batch_size(n_train: int, batch_size="auto", itemsize: int = 4) -> int:
    """Rows of queries per chunk: ``batch_size`` or as many as fit the memory budget."""
    if batch_size != "auto":
        return int(batch_size)
    rows = MEMORY_BUDGET_BYTES // (itemsize * max(n_train, 1))
    return int(max(1, min(rows, 1024)))


def check_supervised(estimator, X, y, *, reset: bool, **kwargs):
    """``validate_data(estimator, X, y)``; ``y=None`` raises scikit-learn's message."""
    return validate_data(estimator, X, y, reset=reset, dtype=np.float64, **kwargs)


def as_numpy(tensor: torch.Tensor) -> np.ndarray:
    """A tensor as a float64 (or its own integer dtype) NumPy array on the host."""
    array = tensor.detach().cpu().numpy()
    if np.issubdtype(array.dtype, np.floating):
        return array.astype(np.float64)
    return array


@torch.no_grad()
def gaussian_smoother(
    queries: torch.Tensor,
    centers: torch.Tensor,
    values: torch.Tensor,
    std: float,
    *,
    batch_size="auto",
) -> torch.Tensor:
    """Gaussian-kernel weighted average of ``values`` over ``centers``.

    .. math::

        out(x) = \\frac{\\sum_i K(x, c_i)\\, v_i}{\\sum_i K(x, c_i)}, \\qquad
        K(x, c) = \\exp\\left(-\\frac{\\lVert x - c\\rVert^2}{2\\sigma^2}\\right)

    Every squared distance is needed, so the cost is one matrix product of the
    queries with the centers. It is done in query chunks of ``batch_size`` rows
    (one reused buffer of ``batch_size × n_centers`` floats) as
    ``(x·c − ‖c‖²/2)/σ²`` (one ``mm`` with an augmented column; ``‖x‖²`` is
    constant along a row and cancels), followed by a row softmax, which
    subtracts the row maximum — i.e. the minimum distance — before ``exp``:
    a query far from every center still gets finite weights (its nearest
    center dominates) instead of ``0/0 = NaN``.

    Args:
        queries: ``(n_queries, n_features)``.
        centers: ``(n_centers, n_features)``.
        values: ``(n_centers, n_outputs)``.
        std: the kernel width σ > 0.
        batch_size: query rows per chunk, or ``"auto"`` (64 MB of scratch).

    Returns:
        ``(n_queries, n_outputs)`` tensor, same dtype as ``queries``.
    """
    n_queries, _ = queries.shape
    n_centers = centers.shape[0]
    dtype, device = queries.dtype, queries.device
    # Centering changes no distance but shrinks the magnitudes that float32 subtracts.
    mean = centers.mean(dim=0, keepdim=True)
    c = centers - mean
    inv_var = 1.0 / (float(std) ** 2)
    # (n_features + 1, n_centers): [c / σ² ; −‖c‖² / (2σ²)]
    centers_aug = torch.cat([c * inv_var, (c * c).sum(1, keepdim=True) * (-0.5 * inv_var)], 1)
    centers_aug_t = centers_aug.t().contiguous()
    # [values | 1]: one product gives the weighted sums and the normaliser.
    values_aug = torch.cat([values.to(dtype), torch.ones(n_centers, 1, dtype=dtype, device=device)], 1)
    rows = auto_batch_size(n_centers, batch_size, itemsize=queries.element_size())
    rows = min(rows, max(n_queries, 1))
    sums = torch.empty(n_queries, values_aug.shape[1], dtype=dtype, device=device)
    query_aug = torch.empty(rows, centers_aug.shape[1], dtype=dtype, device=device)
    query_aug[:, -1] = 1.0
    logits = torch.empty(rows, n_centers, dtype=dtype, device=device)  # reused: no page faults
    row_max = torch.empty(rows, 1, dtype=dtype, device=device)
    for start in range(0, n_queries, rows):
        stop = min(start + rows, n_queries)
        n = stop - start
        torch.sub(queries[start:stop], mean, out=query_aug[:n, :-1])
        block = torch.mm(query_aug[:n], centers_aug_t, out=logits[:n])  # (n, n_centers)
        torch.amax(block, dim=1, keepdim=True, out=row_max[:n])  # = −min distance / (2σ²)
        block.sub_(row_max[:n]).exp_()  # nearest center has weight exactly 1
        torch.mm(block, values_aug, out=sums[start:stop])
    return sums[:, :-1] / sums[:, -1:]


@contextlib.contextmanager
def small_step_threads(device: torch.device, work_per_step: float):
    """Run a loop of many small steps on one CPU thread, then restore the setting.

    Sequential learning rules (online SOFM, LVQ, CMAC) run thousands of tiny
    kernels; with several OpenMP threads each kernel pays a fork/join, and on a
    busy machine one descheduled thread stalls every step (measured: 14 s
    instead of 0.16 s for a 10×10 SOFM on digits with 2 threads under load).
    scikit-learn's KMeans limits its BLAS threads for the same reason. Only
    CPU loops whose steps do fewer than ``SMALL_STEP_WORK`` multiply-adds are
    affected; ``torch.get_num_threads()`` is restored on exit.
    """
    if device.type != "cpu" or work_per_step >= SMALL_STEP_WORK:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)

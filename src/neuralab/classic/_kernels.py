"""Private helpers shared by GRNN, PNN, SOFM, LVQ and CMAC.

- :func:`gaussian_smoother` (GRNN) and :func:`class_kernel_shares` (PNN) — the
  Nadaraya–Watson / Parzen sums, computed in query chunks so memory stays bounded.
- :func:`as_numpy` — learned tensors back to NumPy float64.
"""

from __future__ import annotations


import numpy as np
import torch

__all__ = [
    "gaussian_smoother",
    "class_kernel_shares",
    "auto_batch_size",
    "as_numpy",
    "MEMORY_BUDGET_BYTES",
]


#: bytes of each of the two scratch buffers of a query chunk (``batch_size ×
#: n_train`` floats, reused across chunks): 320 MB in all, below 1 GB for any
#: training size. Chunks of ~400 rows (100,000 training points) keep the
#: product efficient (167-row chunks were 1.5× slower on 2 cores).
MEMORY_BUDGET_BYTES = 160 * 2**20


def auto_batch_size(n_train: int, batch_size="auto", itemsize: int = 4) -> int:
    """Rows of queries per chunk: ``batch_size`` or as many as fit the memory budget."""
    if batch_size != "auto":
        return int(batch_size)
    rows = MEMORY_BUDGET_BYTES // (itemsize * max(n_train, 1))
    return int(max(1, min(rows, 1024)))


def as_numpy(tensor: torch.Tensor) -> np.ndarray:
    """A tensor as a float64 (or its own integer dtype) NumPy array on the host."""
    array = tensor.detach().cpu().numpy()
    if np.issubdtype(array.dtype, np.floating):
        return array.astype(np.float64)
    return array


#: PNN pads every class to the largest class's size (so that one reshaped sum
#: gives all class sums) while that adds at most this fraction of columns;
#: beyond it, one product with the one-hot class matrix is used instead.
MAX_CLASS_PADDING = 0.25


#: the distance matrix gets a multiple of this many columns (padding columns
#: have weight 0): a row length that is not a multiple of 64 bytes made the
#: chunk product 1.5× slower (measured: 101,550 vs 101,552 columns).
COLUMN_ALIGN = 16


def _padded(n: int) -> int:
    return -(-n // COLUMN_ALIGN) * COLUMN_ALIGN


def _augmented_centers(centers, std, columns=None, n_columns=None):
    """``(n_features + 1, n_cols)``: column ``j`` = ``[c_j/σ² ; −‖c_j‖²/(2σ²)]``.

    ``centers`` are shifted to their mean first (no distance changes; smaller
    magnitudes for float32). ``columns[i]`` places center ``i`` (default: in
    order) among ``n_cols`` = ``n_columns`` (default ``n_centers``) rounded up
    to a multiple of ``COLUMN_ALIGN``; unused columns get weight 0 and a last
    entry of ``finfo.min / 2``, so their logit is hugely negative and their
    softmax weight exactly 0. Returns ``(matrix, mean)``.
    """
    n_centers = centers.shape[0]
    n_cols = _padded(n_centers if n_columns is None else n_columns)
    mean = centers.mean(dim=0, keepdim=True)
    c = centers - mean
    inv_var = 1.0 / (float(std) ** 2)
    out = torch.zeros(c.shape[1] + 1, n_cols, dtype=c.dtype, device=c.device)
    out[-1] = torch.finfo(c.dtype).min / 2
    target = out[:, :n_centers] if columns is None else out[:, columns]
    target_values = torch.cat([c * inv_var, (c * c).sum(1, keepdim=True) * (-0.5 * inv_var)], 1).t()
    if columns is None:
        target.copy_(target_values)
    else:
        out[:, columns] = target_values
    return out, mean


def _softmax_blocks(queries, centers_aug_t, mean, batch_size):
    """Yield ``(start, stop, weights)``: ``weights[i, j] = K(x_i, c_j) / Σ_j' K(x_i, c_j')``.

    ``K(x, c) = exp(−‖x − c‖² / (2σ²))``. Per chunk of ``batch_size`` query rows:
    one ``mm`` of ``[x − mean, 1]`` with the augmented centers gives the logits
    ``(x·c − ‖c‖²/2)/σ²`` (``−‖x‖²/(2σ²)`` is constant along a row and cancels),
    then one fused ``softmax`` subtracts the row maximum (the nearest center),
    exponentiates and normalises, row by row in cache. A query far from every
    center still gets finite weights (its nearest center dominates), never
    ``0/0``. Both ``(rows, n_columns)`` buffers are reused across chunks (no page
    faults); ``weights`` is overwritten by the next chunk.
    """
    n_queries = queries.shape[0]
    n_columns = centers_aug_t.shape[1]
    dtype, device = queries.dtype, queries.device
    rows = auto_batch_size(n_columns, batch_size, itemsize=queries.element_size())
    rows = min(rows, max(n_queries, 1))
    query_aug = torch.empty(rows, centers_aug_t.shape[0], dtype=dtype, device=device)
    query_aug[:, -1] = 1.0
    logits = torch.empty(rows, n_columns, dtype=dtype, device=device)
    weights = torch.empty(rows, n_columns, dtype=dtype, device=device)
    for start in range(0, n_queries, rows):
        stop = min(start + rows, n_queries)
        n = stop - start
        torch.sub(queries[start:stop], mean, out=query_aug[:n, :-1])
        torch.mm(query_aug[:n], centers_aug_t, out=logits[:n])
        yield start, stop, torch.softmax(logits[:n], dim=1, out=weights[:n])


@torch.no_grad()
def gaussian_smoother(
    queries: torch.Tensor,
    centers: torch.Tensor,
    values: torch.Tensor,
    std: float,
    *,
    batch_size="auto",
) -> torch.Tensor:
    r"""Gaussian-kernel weighted average of ``values`` over ``centers`` (GRNN).

    .. math::

        out(x) = \frac{\sum_i K(x, c_i)\, v_i}{\sum_i K(x, c_i)}, \qquad
        K(x, c) = \exp\left(-\frac{\lVert x - c\rVert^2}{2\sigma^2}\right)

    Every squared distance is needed, so the cost is one matrix product of the
    queries with the centers, done in query chunks of ``batch_size`` rows with
    two reused ``batch_size × n_centers`` buffers; the normalised weights of a
    chunk come from one fused softmax (see ``_softmax_blocks``), and one
    product with ``values`` (stored transposed: a skinny right-hand side runs
    2–3× faster in that layout) gives the averages.

    Args:
        queries: ``(n_queries, n_features)``.
        centers: ``(n_centers, n_features)``.
        values: ``(n_centers, n_outputs)``.
        std: the kernel width σ > 0.
        batch_size: query rows per chunk, or ``"auto"`` (160 MB per buffer).

    Returns:
        ``(n_queries, n_outputs)`` tensor, same dtype as ``queries``.

    Example:
        >>> q, c = torch.tensor([[0.0], [5.0]]), torch.tensor([[0.0], [1.0]])
        >>> gaussian_smoother(q, c, torch.tensor([[0.0], [1.0]]), 1.0).squeeze(1)
        tensor([0.3775, 0.9890])
    """
    dtype = queries.dtype
    centers_aug_t, mean = _augmented_centers(centers, std)
    values_t = torch.zeros(values.shape[1], centers_aug_t.shape[1], dtype=dtype,
                           device=queries.device)  # (n_outputs, n_cols), 0 on padding
    values_t[:, : len(centers)] = values.to(dtype).t()
    out = torch.empty(len(queries), values_t.shape[0], dtype=dtype, device=queries.device)
    for start, stop, weights in _softmax_blocks(queries, centers_aug_t, mean, batch_size):
        torch.mm(weights, values_t.t(), out=out[start:stop])
    return out


@torch.no_grad()
def class_kernel_shares(
    queries: torch.Tensor,
    centers: torch.Tensor,
    class_counts,
    std: float,
    *,
    batch_size="auto",
) -> torch.Tensor:
    r"""Each class's share of the Gaussian kernel mass, over centers grouped by class (PNN).

    .. math::

        s_k(x) = \frac{\sum_{i \in \text{class } k} K(x, c_i)}{\sum_i K(x, c_i)}

    ``centers`` must be grouped by class: ``class_counts[0]`` rows of class 0,
    then class 1, … Each center is placed in a class-major layout padded to
    the largest class (rounded up to ``COLUMN_ALIGN``; padding columns get
    weight exactly 0), so one reshaped
    sum ``(rows, n_classes, max_count) → (rows, n_classes)`` reduces every
    chunk of weights in a single cache-friendly pass — instead of a product
    with an ``(n_centers, n_classes)`` one-hot matrix, which costs about as much
    as the distances themselves. When padding would add more than
    ``MAX_CLASS_PADDING`` of the columns (very unequal classes), the one-hot
    product is used.

    Args:
        queries: ``(n_queries, n_features)``.
        centers: ``(n_centers, n_features)``, grouped by class.
        class_counts: ``(n_classes,)`` ints summing to ``n_centers``.
        std: the kernel width σ > 0.
        batch_size: query rows per chunk, or ``"auto"`` (160 MB per buffer).

    Returns:
        ``(n_queries, n_classes)`` tensor whose rows sum to 1.

    Example:
        >>> q, c = torch.tensor([[0.0]]), torch.tensor([[0.0], [1.0], [2.0]])
        >>> class_kernel_shares(q, c, [2, 1], 1.0)  # [1 + e^(-1/2), e^(-2)] / Σ
        tensor([[0.9223, 0.0777]])
    """
    dtype, device = queries.dtype, queries.device
    counts = np.asarray(class_counts, dtype=np.int64)
    if counts.sum() != len(centers) or (counts < 0).any():
        raise ValueError(f"class_counts must be >= 0 and sum to {len(centers)}, received {counts}")
    n_classes, width = len(counts), _padded(int(counts.max()))
    out = torch.empty(len(queries), n_classes, dtype=dtype, device=device)
    if n_classes * width <= (1.0 + MAX_CLASS_PADDING) * _padded(len(centers)):
        starts = np.repeat(np.cumsum(counts) - counts, counts)
        rank = np.arange(len(centers)) - starts  # position inside its class
        column = np.repeat(np.arange(n_classes), counts) * width + rank
        centers_aug_t, mean = _augmented_centers(
            centers, std, torch.as_tensor(column, device=device), n_classes * width
        )
        for start, stop, weights in _softmax_blocks(queries, centers_aug_t, mean, batch_size):
            torch.sum(weights.view(stop - start, n_classes, width), dim=2, out=out[start:stop])
        return out
    centers_aug_t, mean = _augmented_centers(centers, std)
    one_hot_t = torch.zeros(n_classes, centers_aug_t.shape[1], dtype=dtype, device=device)
    labels = torch.as_tensor(np.repeat(np.arange(n_classes), counts), device=device)
    one_hot_t[labels, torch.arange(len(centers), device=device)] = 1.0
    for start, stop, weights in _softmax_blocks(queries, centers_aug_t, mean, batch_size):
        torch.mm(weights, one_hot_t.t(), out=out[start:stop])
    return out

"""Private helpers shared by GRNN, PNN, SOFM, LVQ and CMAC.

- :func:`gaussian_smoother` (GRNN) and :func:`class_kernel_shares` (PNN) — the
  Nadaraya–Watson / Parzen sums, computed tile by tile so memory stays small.
- :func:`as_numpy` — learned tensors back to NumPy float64.

How the kernel sums are computed (measured with ``benchmarks/classic.py``):
the cost floor is the product of the queries with the centers (every distance
is needed). One product of ``[x − mean, 1, −s‖x − mean‖²]`` with augmented
centers gives ``−s‖x − c‖²`` directly (``s = log₂e / 2σ²``), so one in-place
``exp2`` — twice as fast as ``exp`` on this machine's torch, it runs at memory
speed — gives ``exp(−‖x − c‖²/2σ²)`` with no row maximum to find and nothing to
normalise until the end. The work goes in tiles of ``rows × TILE_COLUMNS``
(1 MB by default) that stay in the core's cache between the product, the
``exp2`` and the two matrix-vector products that accumulate the sums; a
whole-row chunk (400 rows × 100,000 columns) went to main memory and back
three times and was 1.3× slower. That holds for one thread: with several,
each tile kernel is split over the threads and waits for the slowest, which
on a shared machine costs more than the kernel (17× the bare product on two
busy cores). So with ``T > 1`` intra-op threads on a CPU the queries are cut
in ``T`` parts, each tiled by its own Python thread with one intra-op thread
(``limit_threads(1)`` inside the worker, restored after; torch's kernels
release the GIL): 1.25–1.45× the bare product on two threads, where whole-row
chunks of ``WIDE_BUDGET_BYTES`` (used on GPUs and for fewer than
``2 × ROWS`` queries) were 1.75–2×.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from ._threads import limit_threads

__all__ = ["gaussian_smoother", "class_kernel_shares", "augmented_centers", "as_numpy", "ROWS",
           "TILE_COLUMNS", "WIDE_BUDGET_BYTES"]

#: query rows per chunk for ``batch_size="auto"``: the augmented centers (about
#: 26 MB for 100,000 × 64) are read once per chunk, so chunks should be long
ROWS = 1024

#: columns per tile: ``ROWS × TILE_COLUMNS`` float32 is 1 MB, the size of one
#: core's L2 cache here
TILE_COLUMNS = 256

#: with several threads (or on a GPU) the work goes in chunks of whole rows of
#: about this many bytes: every kernel is then large. Splitting 100 µs tile
#: kernels over two threads on a busy 2-core machine made GRNN 17× slower than
#: the bare product (each kernel waits for its slowest thread).
WIDE_BUDGET_BYTES = 160 * 2**20

#: a row whose kernel weights sum to less than this (its nearest center is more
#: than about 9.6σ away) is recomputed relative to its nearest center, so that
#: weights lost to float32 underflow cannot bias it (their share stays < 1e-8)
_SMALLEST_TOTAL = 1e-20

#: rows of the (rare) recomputation per block: ``rows × n_centers`` floats
_REDO_ROWS = 64


def as_numpy(tensor: torch.Tensor) -> np.ndarray:
    """A tensor as a float64 (or its own integer dtype) NumPy array on the host."""
    array = tensor.detach().cpu().numpy()
    if np.issubdtype(array.dtype, np.floating):
        return array.astype(np.float64)
    return array


def augmented_centers(centers, std):
    """``(n_features + 2, n_centers)`` so that ``[x − mean, 1, −s‖x − mean‖²] @ it = −s‖x − c‖²``.

    ``s = log₂(e) / (2σ²)``: column ``j`` is ``[2s(c_j − mean) ; −s‖c_j − mean‖² ; 1]``,
    and ``2^(−s‖x − c‖²) = exp(−‖x − c‖²/(2σ²))``. ``centers`` are shifted to
    their mean first (no distance changes; smaller magnitudes for float32).
    Returns ``(matrix, mean, s)``.
    """
    mean = centers.mean(dim=0, keepdim=True)
    c = centers - mean
    scale = math.log2(math.e) / (2.0 * float(std) ** 2)
    ones = torch.ones(len(c), 1, dtype=c.dtype, device=c.device)
    matrix = torch.cat([c * (2.0 * scale), (c * c).sum(1, keepdim=True) * -scale, ones], 1)
    return matrix.t().contiguous(), mean, scale


def _kernel_sums(queries, prepared, segments, n_sums, total_column=None, batch_size="auto"):
    """``(n_queries, n_sums)`` weighted sums of each row's Gaussian kernel weights.

    ``segments`` lists ``(start, stop, [(vector, column), ...])``: for every
    center ``j`` in ``[start, stop)`` and pair, ``out[:, column] += K(x, c_j)
    vector[j]`` (GRNN: the values and ones; PNN: ones into the class's column).
    Rows are scaled by one positive factor each (the caller normalises).

    Per chunk of ``batch_size`` query rows and tile of ``TILE_COLUMNS`` centers:
    one ``mm`` gives ``−s‖x − c‖²`` (≤ 0), one in-place ``exp2_`` the weights
    (≤ 1), and one ``addmv_`` per pair accumulates the sums, all in cache.
    A row whose total weight (column ``total_column``, or the sum of all
    columns when None) is below ``_SMALLEST_TOTAL`` (a query
    far from every center) or not finite is computed again relative to its
    nearest center (logits minus their row maximum before ``exp2``), so it
    never becomes ``0/0`` nor loses weights to underflow.
    """
    centers_aug_t, mean, scale = prepared
    n_queries, n_features = queries.shape
    dtype, device = queries.dtype, queries.device
    n_centers = max(centers_aug_t.shape[1], 1)
    threads = torch.get_num_threads()
    if device.type == "cpu" and threads > 1 and n_queries >= 2 * ROWS:
        # one Python thread per core, each tiling its share of the queries on one
        # intra-op thread (torch kernels release the GIL): no small kernel is split
        parts = queries.chunk(threads)

        def work(part):
            with limit_threads(1):
                return _kernel_sums(part, prepared, segments, n_sums, total_column, batch_size)

        with ThreadPoolExecutor(len(parts)) as pool:
            return torch.cat(list(pool.map(work, parts)))
    if device.type == "cpu" and threads == 1:
        rows, width = ROWS, TILE_COLUMNS
    else:  # a GPU, or a few queries on several threads: a few large kernels
        rows = max(1, min(ROWS, WIDE_BUDGET_BYTES // (queries.element_size() * n_centers)))
        width = n_centers
    rows = min(rows if batch_size == "auto" else int(batch_size), max(n_queries, 1))
    query_aug = torch.empty(rows, n_features + 2, dtype=dtype, device=device)
    query_aug[:, n_features] = 1.0
    tile = torch.empty(rows, min(width, n_centers), dtype=dtype, device=device)
    out = torch.zeros(n_queries, n_sums, dtype=dtype, device=device)

    def augment(q):  # [x − mean, 1, −s‖x − mean‖²] into the reused buffer
        n = len(q)
        centred = query_aug[:n, :n_features]
        torch.sub(q, mean, out=centred)
        torch.linalg.vecdot(centred, centred, out=query_aug[:n, n_features + 1])
        query_aug[:n, n_features + 1].mul_(-scale)
        return query_aug[:n]

    for start in range(0, n_queries, rows):
        stop = min(start + rows, n_queries)
        q, sums = augment(queries[start:stop]), out[start:stop]
        for first, last, pairs in segments:
            for j in range(first, last, width):
                k = min(j + width, last)
                weights = torch.mm(q, centers_aug_t[:, j:k], out=tile[: stop - start, : k - j])
                weights.exp2_()
                for vector, column in pairs:
                    sums[:, column].addmv_(weights, vector[j:k])
    total = out.sum(1) if total_column is None else out[:, total_column]
    redo = torch.nonzero(~((total >= _SMALLEST_TOTAL) & (total < math.inf))).flatten()
    for start in range(0, len(redo), _REDO_ROWS):
        idx = redo[start : start + _REDO_ROWS]
        logits = augment(queries[idx]) @ centers_aug_t  # (rows, n_centers)
        weights = logits.sub_(logits.max(dim=1, keepdim=True).values).exp2_()
        part = torch.zeros(len(idx), n_sums, dtype=dtype, device=device)
        for first, last, pairs in segments:
            for vector, column in pairs:
                part[:, column].addmv_(weights[:, first:last], vector[first:last])
        out[idx] = part
    return out


@torch.no_grad()
def gaussian_smoother(
    queries: torch.Tensor,
    centers: torch.Tensor,
    values: torch.Tensor,
    std: float,
    *,
    batch_size="auto",
    prepared=None,
) -> torch.Tensor:
    r"""Gaussian-kernel weighted average of ``values`` over ``centers`` (GRNN).

    .. math::

        out(x) = \frac{\sum_i K(x, c_i)\, v_i}{\sum_i K(x, c_i)}, \qquad
        K(x, c) = \exp\left(-\frac{\lVert x - c\rVert^2}{2\sigma^2}\right)

    Every squared distance is needed, so the cost is one matrix product of the
    queries with the centers, done tile by tile (see the module's notes) with
    the numerators and the denominator accumulated by matrix-vector products.

    Args:
        queries: ``(n_queries, n_features)``.
        centers: ``(n_centers, n_features)``.
        values: ``(n_centers, n_outputs)``.
        std: the kernel width σ > 0.
        batch_size: query rows per chunk, or ``"auto"`` (:data:`ROWS`).
        prepared: ``augmented_centers(centers, std)`` if already made (then
            ``centers`` is only used for its length). Default None.

    Returns:
        ``(n_queries, n_outputs)`` tensor, same dtype as ``queries``.

    Example:
        >>> q, c = torch.tensor([[0.0], [5.0]]), torch.tensor([[0.0], [1.0]])
        >>> gaussian_smoother(q, c, torch.tensor([[0.0], [1.0]]), 1.0).squeeze(1)
        tensor([0.3775, 0.9890])
    """
    dtype, n_out = queries.dtype, values.shape[1]
    values_t = values.to(dtype).t().contiguous()  # (n_outputs, n_centers)
    ones = torch.ones(len(centers), dtype=dtype, device=queries.device)
    pairs = [(values_t[o], o) for o in range(n_out)] + [(ones, n_out)]
    prepared = augmented_centers(centers, std) if prepared is None else prepared
    sums = _kernel_sums(queries, prepared, [(0, len(centers), pairs)], n_out + 1, n_out,
                        batch_size)
    return sums[:, :n_out] / sums[:, n_out:]


@torch.no_grad()
def class_kernel_shares(
    queries: torch.Tensor,
    centers: torch.Tensor,
    class_counts,
    std: float,
    *,
    batch_size="auto",
    prepared=None,
) -> torch.Tensor:
    r"""Each class's share of the Gaussian kernel mass, over centers grouped by class (PNN).

    .. math::

        s_k(x) = \frac{\sum_{i \in \text{class } k} K(x, c_i)}{\sum_i K(x, c_i)}

    ``centers`` must be grouped by class: ``class_counts[0]`` rows of class 0,
    then class 1, … Each class is a contiguous range of centers, so its sum is
    accumulated by matrix-vector products with a ones vector over that range
    (no one-hot matrix, no padding).

    Args:
        queries: ``(n_queries, n_features)``.
        centers: ``(n_centers, n_features)``, grouped by class.
        class_counts: ``(n_classes,)`` ints summing to ``n_centers``.
        std: the kernel width σ > 0.
        batch_size: query rows per chunk, or ``"auto"`` (:data:`ROWS`).
        prepared: ``augmented_centers(centers, std)`` if already made. Default None.

    Returns:
        ``(n_queries, n_classes)`` tensor whose rows sum to 1.

    Example:
        >>> q, c = torch.tensor([[0.0]]), torch.tensor([[0.0], [1.0], [2.0]])
        >>> class_kernel_shares(q, c, [2, 1], 1.0)  # [1 + e^(-1/2), e^(-2)] / Σ
        tensor([[0.9223, 0.0777]])
    """
    counts = np.asarray(class_counts, dtype=np.int64)
    if counts.sum() != len(centers) or (counts < 0).any():
        raise ValueError(f"class_counts must be >= 0 and sum to {len(centers)}, received {counts}")
    ones = torch.ones(len(centers), dtype=queries.dtype, device=queries.device)
    ends = np.cumsum(counts)
    segments = [(int(e - n), int(e), [(ones, k)]) for k, (n, e) in enumerate(zip(counts, ends))
                if n > 0]
    prepared = augmented_centers(centers, std) if prepared is None else prepared
    sums = _kernel_sums(queries, prepared, segments, len(counts), None, batch_size)
    return sums / sums.sum(1, keepdim=True)

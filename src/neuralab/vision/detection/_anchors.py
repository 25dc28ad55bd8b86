"""Anchor boxes: a grid of k shapes per cell, and YOLOv2's k-means choice of shapes."""

from __future__ import annotations

import math
import numbers

import torch

from ...errors import ConfigError, DataError
from ...validation import check_int, check_number, expected

__all__ = ["make_anchors", "kmeans_anchors", "anchor_shapes"]


def _positive_list(owner: str, name: str, values) -> list[float]:
    if isinstance(values, numbers.Real):
        values = [values]
    try:
        values = [float(v) for v in values]
    except (TypeError, ValueError):
        raise expected(owner, name, "a sequence of positive numbers", values) from None
    if not values or not all(math.isfinite(v) and v > 0 for v in values):
        raise expected(owner, name, "a non-empty sequence of positive numbers", values)
    return values


def anchor_shapes(sizes=(128.0, 256.0, 512.0), ratios=(0.5, 1.0, 2.0)) -> torch.Tensor:
    """The k = len(sizes)·len(ratios) anchor shapes ``(w, h)`` of Faster R-CNN.

    Each has area ``size²`` and aspect ratio ``h / w = ratio``:
    ``w = size / √ratio``, ``h = size·√ratio``. Ordered size-major.

    Example:
        >>> anchor_shapes((2.0,), (1.0, 4.0))
        tensor([[2., 2.],
                [1., 4.]])
    """
    sizes = _positive_list("anchor_shapes", "sizes", sizes)
    ratios = _positive_list("anchor_shapes", "ratios", ratios)
    out = [(s / math.sqrt(r), s * math.sqrt(r)) for s in sizes for r in ratios]
    return torch.tensor(out, dtype=torch.get_default_dtype())


def make_anchors(feature_size, stride, sizes=(128.0, 256.0, 512.0), ratios=(0.5, 1.0, 2.0), *,
                 shapes=None, fmt: str = "xyxy") -> torch.Tensor:
    """Anchor boxes: k shapes centred on every cell of an ``H × W`` grid.

    The cell ``(row i, column j)`` is centred at
    ``((j + ½)·stride, (i + ½)·stride)`` in image pixels; each centre carries
    the k shapes of :func:`anchor_shapes` (``sizes × ratios``, Faster R-CNN's
    default 3 × 3 = 9) or the explicit ``shapes`` (k, 2) as ``(w, h)``, e.g.
    from :func:`kmeans_anchors`.

    Args:
        feature_size: ``G`` or ``(H, W)``, the grid (feature map) size.
        stride: pixels per cell (image size / grid size), a number or ``(sy, sx)``.
        sizes, ratios: anchor areas ``size²`` and aspect ratios ``h/w``.
        shapes: optional ``(k, 2)`` widths and heights, used instead of sizes × ratios.
        fmt: output format, "xyxy" (default), "xywh" or "cxcywh".

    Returns:
        ``(H·W·k, 4)`` anchors, row-major over cells, the k shapes of a cell
        consecutive (index ``(i·W + j)·k + a``).

    Example:
        >>> make_anchors(2, 8, shapes=[[4.0, 4.0]])
        tensor([[ 2.,  2.,  6.,  6.],
                [10.,  2., 14.,  6.],
                [ 2., 10.,  6., 14.],
                [10., 10., 14., 14.]])
        >>> make_anchors((38, 50), 16).shape   # 9 per cell, Faster R-CNN's default
        torch.Size([17100, 4])
    """
    from ..boxes import box_convert

    owner = "make_anchors"
    if isinstance(feature_size, numbers.Integral):
        feature_size = (feature_size, feature_size)
    if (not isinstance(feature_size, (tuple, list)) or len(feature_size) != 2):
        raise expected(owner, "feature_size", "an integer G or a pair (H, W)", feature_size)
    h = check_int(owner, "feature_size", feature_size[0], low=1)
    w = check_int(owner, "feature_size", feature_size[1], low=1)
    if isinstance(stride, (tuple, list)) and len(stride) == 2:
        sy, sx = (check_number(owner, "stride", s, low=0, low_open=True) for s in stride)
    else:
        sy = sx = check_number(owner, "stride", stride, low=0, low_open=True)
    if shapes is None:
        shapes = anchor_shapes(sizes, ratios)
    else:
        shapes = torch.as_tensor(shapes, dtype=torch.get_default_dtype())
        if shapes.dim() != 2 or shapes.shape[1] != 2 or shapes.shape[0] == 0:
            raise ConfigError(f"{owner}: expected `shapes` of shape (k, 2) as (w, h), received "
                              f"shape {tuple(shapes.shape)}")
        if not bool(torch.isfinite(shapes).all() & (shapes > 0).all()):
            raise ConfigError(f"{owner}: expected positive finite anchor shapes, received "
                              f"{shapes.tolist()}")
    k = shapes.shape[0]
    ys = (torch.arange(h, dtype=shapes.dtype) + 0.5) * sy
    xs = (torch.arange(w, dtype=shapes.dtype) + 0.5) * sx
    cy, cx = torch.meshgrid(ys, xs, indexing="ij")                        # (H, W)
    centres = torch.stack((cx, cy), -1).reshape(h * w, 1, 2).expand(h * w, k, 2)
    sizes_ = shapes.reshape(1, k, 2).expand(h * w, k, 2)
    anchors = torch.cat((centres, sizes_), -1).reshape(-1, 4)             # cxcywh
    return box_convert(anchors, "cxcywh", fmt)


def _shape_iou(wh: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """IoU of boxes sharing one corner: ``min(w)·min(h) / (w₁h₁ + w₂h₂ − min(w)·min(h))``."""
    inter = (torch.minimum(wh[:, None, 0], centroids[None, :, 0])
             * torch.minimum(wh[:, None, 1], centroids[None, :, 1]))
    union = wh.prod(1)[:, None] + centroids.prod(1)[None, :] - inter
    return inter / union.clamp(min=torch.finfo(inter.dtype).tiny)


def kmeans_anchors(wh, k: int, *, iterations: int = 100, seed: int | None = 0) -> torch.Tensor:
    """Anchor shapes by k-means on box sizes with the ``1 − IoU`` distance (YOLOv2).

    Boxes are compared by shape only (placed at a common corner), so large
    boxes do not dominate as with a Euclidean distance:
    ``d(box, centroid) = 1 − IoU(box, centroid)``. Lloyd iterations assign each
    box to its nearest centroid and move each centroid to the mean shape of its
    boxes, until the assignment stops changing.

    Args:
        wh: ``(N, 2)`` box widths and heights (> 0).
        k: number of anchors (≤ the number of distinct shapes).
        iterations: at most this many Lloyd iterations.
        seed: seed of the k-means++-style initialisation (by 1 − IoU).

    Returns:
        ``(k, 2)`` anchor shapes ``(w, h)``, sorted by area.

    Example:
        >>> wh = [[10., 10.], [11., 9.], [40., 20.], [42., 22.]]
        >>> kmeans_anchors(wh, 2).round()
        tensor([[10., 10.],
                [41., 21.]])
    """
    owner = "kmeans_anchors"
    wh = torch.as_tensor(wh)
    if not wh.is_floating_point():
        wh = wh.to(torch.get_default_dtype())
    if wh.dim() != 2 or wh.shape[1] != 2:
        raise DataError(f"{owner}: expected `wh` of shape (N, 2) (width, height), received shape "
                        f"{tuple(wh.shape)}")
    if not bool(torch.isfinite(wh).all() & (wh > 0).all()):
        raise DataError(f"{owner}: expected positive finite widths and heights in `wh`")
    k = check_int(owner, "k", k, low=1)
    iterations = check_int(owner, "iterations", iterations, low=1)
    distinct = torch.unique(wh, dim=0).shape[0]
    if k > distinct:
        raise ConfigError(f"{owner}: expected `k` to be at most the number of distinct box "
                          f"shapes ({distinct}), received {k}")
    gen = torch.Generator().manual_seed(0 if seed is None else int(seed))
    centroids = wh[torch.randint(len(wh), (1,), generator=gen)]
    while len(centroids) < k:                                   # k-means++ with 1 − IoU
        dist = (1 - _shape_iou(wh, centroids)).min(1).values.clamp(min=0) ** 2
        if float(dist.sum()) <= 0:
            break
        pick = torch.multinomial(dist, 1, generator=gen)
        centroids = torch.cat((centroids, wh[pick]))
    assign = None
    for _ in range(iterations):
        new = _shape_iou(wh, centroids).argmax(1)
        if assign is not None and torch.equal(new, assign):
            break
        assign = new
        for c in range(len(centroids)):
            members = wh[assign == c]
            if len(members):
                centroids[c] = members.mean(0)
    return centroids[torch.argsort(centroids.prod(1))]

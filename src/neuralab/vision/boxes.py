"""Bounding boxes: formats, areas, IoU and generalised IoU (CS230's detection toolkit).

Three formats, all in continuous pixel coordinates (a box from x = 2 to x = 5
is 3 pixels wide; no "+1" convention):

=========  ==========================  ==============================================
format     columns                     meaning
=========  ==========================  ==============================================
"xyxy"     x1, y1, x2, y2              top-left and bottom-right corners
"xywh"     x1, y1, w, h                top-left corner, width, height (COCO's)
"cxcywh"   cx, cy, w, h                centre and size: CS230's b_x, b_y, b_w, b_h
=========  ==========================  ==============================================

CS230 writes a box as (b_x, b_y, b_h, b_w); "cxcywh" keeps torchvision's
column order (width before height). The YOLO target tensor of
:class:`neuralab.vision.detection.YoloEncoder` follows the sheet's order.

Every function works on torch tensors (NumPy arrays and lists are converted)
of shape ``(..., 4)``, batched over leading axes, on any device. Boxes with
NaN/inf coordinates or negative sizes (x2 < x1) raise
:class:`~neuralab.errors.DataError` naming the first bad box.

    >>> import torch
    >>> a = torch.tensor([[0., 0., 2., 2.]]); b = torch.tensor([[1., 1., 3., 3.]])
    >>> iou(a, b)
    tensor([[0.1429]])
"""

from __future__ import annotations

import torch

from ..errors import DataError, ShapeError
from ..validation import check_bool, check_choice

__all__ = ["BOX_FORMATS", "as_boxes", "box_convert", "box_area", "iou", "giou"]

BOX_FORMATS = ("xyxy", "xywh", "cxcywh")


def _tensor(owner: str, name: str, boxes) -> torch.Tensor:
    if not isinstance(boxes, torch.Tensor):
        try:
            boxes = torch.as_tensor(boxes)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise DataError(f"{owner}: expected `{name}` to be an array of boxes (..., 4), "
                            f"received {type(boxes).__name__} ({exc})") from None
    if boxes.dim() == 1 and boxes.numel() == 0:
        boxes = boxes.reshape(0, 4)          # an empty list: no boxes
    if boxes.dim() == 0 or boxes.shape[-1] != 4:
        raise ShapeError(f"{owner}: expected `{name}` of shape (..., 4) (one box per row), "
                         f"received shape {tuple(boxes.shape)}")
    if not boxes.is_floating_point():
        boxes = boxes.to(torch.get_default_dtype())
    return boxes


def as_boxes(boxes, fmt: str = "xyxy", *, owner: str = "boxes", name: str = "boxes",
             check: bool = True) -> torch.Tensor:
    """Validate and return ``boxes`` as a floating tensor of shape ``(..., 4)``.

    Raises :class:`~neuralab.errors.ShapeError` if the last axis is not 4 and
    :class:`~neuralab.errors.DataError` for non-finite coordinates or a negative
    width/height (``x2 < x1`` in "xyxy"); the message names the first bad box.

    >>> as_boxes([[0, 0, 1, 1]])
    tensor([[0., 0., 1., 1.]])
    >>> as_boxes([[2, 0, 1, 1]], owner="iou")
    Traceback (most recent call last):
    ...
    neuralab.errors.DataError: iou: expected `boxes` to have x2 >= x1 and y2 >= y1, received box 0 = [2.0, 0.0, 1.0, 1.0]
    """
    fmt = check_choice(owner, "fmt", fmt, BOX_FORMATS)
    boxes = _tensor(owner, name, boxes)
    if not check or boxes.numel() == 0:
        return boxes
    flat = boxes.reshape(-1, 4)
    finite = torch.isfinite(flat).all(1)
    if fmt == "xyxy":
        sizes = flat[:, 2:] - flat[:, :2]
        rule = "x2 >= x1 and y2 >= y1"
    else:
        sizes = flat[:, 2:]
        rule = "width >= 0 and height >= 0"
    ok = finite & (sizes >= 0).all(1)
    if not bool(ok.all()):
        i = int((~ok).nonzero()[0, 0])
        what = "finite coordinates" if not bool(finite[i]) else rule
        raise DataError(f"{owner}: expected `{name}` to have {what}, received box {i} = "
                        f"{[round(float(v), 4) for v in flat[i]]}")
    return boxes


def _to_xyxy(boxes: torch.Tensor, fmt: str) -> torch.Tensor:
    if fmt == "xyxy":
        return boxes
    a, b, c, d = boxes.unbind(-1)
    if fmt == "xywh":
        return torch.stack((a, b, a + c, b + d), -1)
    return torch.stack((a - c / 2, b - d / 2, a + c / 2, b + d / 2), -1)


def _from_xyxy(boxes: torch.Tensor, fmt: str) -> torch.Tensor:
    if fmt == "xyxy":
        return boxes
    x1, y1, x2, y2 = boxes.unbind(-1)
    if fmt == "xywh":
        return torch.stack((x1, y1, x2 - x1, y2 - y1), -1)
    return torch.stack(((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1), -1)


def box_convert(boxes, in_fmt: str, out_fmt: str) -> torch.Tensor:
    """Convert boxes between "xyxy", "xywh" and "cxcywh".

    ``cx = (x1 + x2)/2, cy = (y1 + y2)/2, w = x2 − x1, h = y2 − y1``;
    ``x1 = cx − w/2`` and so on back.

    Args:
        boxes: ``(..., 4)`` boxes in ``in_fmt``.
        in_fmt, out_fmt: one of "xyxy", "xywh", "cxcywh".

    Shape: ``(..., 4)`` → ``(..., 4)``.

    Example:
        >>> box_convert([[10., 20., 30., 60.]], "xyxy", "cxcywh")
        tensor([[20., 40., 20., 40.]])
        >>> box_convert([[20., 40., 20., 40.]], "cxcywh", "xywh")
        tensor([[10., 20., 20., 40.]])
    """
    in_fmt = check_choice("box_convert", "in_fmt", in_fmt, BOX_FORMATS)
    out_fmt = check_choice("box_convert", "out_fmt", out_fmt, BOX_FORMATS)
    boxes = as_boxes(boxes, in_fmt, owner="box_convert")
    if in_fmt == out_fmt:
        return boxes.clone()
    return _from_xyxy(_to_xyxy(boxes, in_fmt), out_fmt)


def box_area(boxes, fmt: str = "xyxy") -> torch.Tensor:
    """Area of each box: ``(x2 − x1)·(y2 − y1)``.

    Shape: ``(..., 4)`` → ``(...)``.

    Example:
        >>> box_area([[0., 0., 2., 3.], [1., 1., 1., 5.]])
        tensor([6., 0.])
    """
    boxes = as_boxes(boxes, fmt, owner="box_area")
    if fmt != "xyxy":
        return boxes[..., 2] * boxes[..., 3]
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])


def _inter_union(a: torch.Tensor, b: torch.Tensor, aligned: bool):
    """Intersection and union of xyxy boxes; pairwise ``(..., N, M)`` or aligned ``(...)``."""
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    if not aligned:
        a = a.unsqueeze(-2)                 # (..., N, 1, 4)
        b = b.unsqueeze(-3)                 # (..., 1, M, 4)
        area_a = area_a.unsqueeze(-1)       # (..., N, 1)
        area_b = area_b.unsqueeze(-2)       # (..., 1, M)
    lt = torch.maximum(a[..., :2], b[..., :2])
    rb = torch.minimum(a[..., 2:], b[..., 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    return inter, area_a + area_b - inter, a, b


def _pair(owner: str, a, b, fmt: str, aligned):
    fmt = check_choice(owner, "fmt", fmt, BOX_FORMATS)
    aligned = check_bool(owner, "aligned", aligned)
    a = _to_xyxy(as_boxes(a, fmt, owner=owner, name="a"), fmt)
    b = _to_xyxy(as_boxes(b, fmt, owner=owner, name="b"), fmt)
    if aligned and a.shape != b.shape:
        raise ShapeError(f"{owner}: aligned=True expects `a` and `b` of the same shape, received "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")
    if not aligned and a.shape[:-2] != b.shape[:-2]:
        raise ShapeError(f"{owner}: expected `a` (..., N, 4) and `b` (..., M, 4) with the same "
                         f"batch axes, received {tuple(a.shape)} and {tuple(b.shape)}")
    if a.dtype != b.dtype:
        dtype = torch.promote_types(a.dtype, b.dtype)
        a, b = a.to(dtype), b.to(dtype)
    return a, b, aligned


def _pairwise_iou_fast(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pairwise IoU without autograd: per-coordinate broadcasts and in-place ops (4 allocations)."""
    ax1, ay1, ax2, ay2 = (a[..., k].unsqueeze(-1) for k in range(4))   # (..., N, 1)
    bx1, by1, bx2, by2 = (b[..., k].unsqueeze(-2) for k in range(4))   # (..., 1, M)
    w = torch.minimum(ax2, bx2).sub_(torch.maximum(ax1, bx1)).clamp_(min=0)
    h = torch.minimum(ay2, by2).sub_(torch.maximum(ay1, by1)).clamp_(min=0)
    inter = w.mul_(h)
    union = ((ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1)).sub_(inter)
    # inter <= union, so an empty union (two empty boxes) gives 0 / tiny = 0
    return inter.div_(union.clamp_(min=torch.finfo(inter.dtype).tiny))


def iou(a, b, fmt: str = "xyxy", *, aligned: bool = False) -> torch.Tensor:
    """Intersection over union of every box in ``a`` with every box in ``b``.

    ``IoU(A, B) = |A ∩ B| / |A ∪ B|`` ∈ [0, 1]; two empty boxes give 0
    (never NaN). CS230: a prediction is "reasonably good" when IoU ≥ 0.5.

    Args:
        a: ``(..., N, 4)`` boxes; b: ``(..., M, 4)`` boxes (same leading axes).
        fmt: the boxes' format ("xyxy", "xywh", "cxcywh").
        aligned: if True, ``a`` and ``b`` have the same shape ``(..., 4)`` and the
            IoU of each pair ``a[i], b[i]`` is returned, shape ``(...)``.

    Shape: ``(..., N, 4), (..., M, 4)`` → ``(..., N, M)``.

    Example:
        >>> iou([[0., 0., 2., 2.], [0., 0., 1., 1.]], [[0., 0., 2., 2.], [5., 5., 6., 6.]])
        tensor([[1.0000, 0.0000],
                [0.2500, 0.0000]])
    """
    a, b, aligned = _pair("iou", a, b, fmt, aligned)
    if not aligned and not (torch.is_grad_enabled() and (a.requires_grad or b.requires_grad)):
        return _pairwise_iou_fast(a, b)
    inter, union, _, _ = _inter_union(a, b, aligned)
    return torch.where(union > 0, inter / union.clamp(min=torch.finfo(inter.dtype).tiny),
                       torch.zeros_like(inter))


def giou(a, b, fmt: str = "xyxy", *, aligned: bool = False) -> torch.Tensor:
    """Generalised IoU (Rezatofighi et al., 2019): ``IoU − |C \\ (A ∪ B)| / |C|``.

    ``C`` is the smallest box enclosing A and B; GIoU ∈ [−1, 1], equals IoU
    when one box contains the other's hull and tends to −1 for boxes far apart,
    so ``1 − giou`` is a useful loss even for disjoint boxes.

    Args and shapes as :func:`iou`.

    Example:
        >>> giou([[0., 0., 1., 1.]], [[2., 0., 3., 1.]])
        tensor([[-0.3333]])
    """
    a, b, aligned = _pair("giou", a, b, fmt, aligned)
    inter, union, a, b = _inter_union(a, b, aligned)
    tiny = torch.finfo(inter.dtype).tiny
    value = torch.where(union > 0, inter / union.clamp(min=tiny), torch.zeros_like(inter))
    lt = torch.minimum(a[..., :2], b[..., :2])
    rb = torch.maximum(a[..., 2:], b[..., 2:])
    wh = (rb - lt).clamp(min=0)
    hull = wh[..., 0] * wh[..., 1]
    return value - torch.where(hull > 0, (hull - union) / hull.clamp(min=tiny),
                               torch.zeros_like(hull))

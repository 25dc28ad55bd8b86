"""Non-max suppression: CS230's rule, per class, without a Python loop over classes."""

from __future__ import annotations

import torch

from ...errors import DataError, ShapeError
from ...validation import check_bool, check_int, check_probability
from ..boxes import _to_xyxy, as_boxes

__all__ = ["nms"]

_FIRST_BLOCK = 128


def _check_vector(owner: str, name: str, values, n: int, *, integer: bool) -> torch.Tensor:
    if not isinstance(values, torch.Tensor):
        values = torch.as_tensor(values)
    if values.dim() != 1 or values.shape[0] != n:
        raise DataError(f"{owner}: expected `{name}` of shape ({n},) (one per box), received "
                        f"shape {tuple(values.shape)}")
    if integer and values.is_floating_point():
        if not bool((values == values.round()).all()):
            raise DataError(f"{owner}: expected `{name}` to hold integer class ids, received "
                            f"non-integer values")
        values = values.long()
    if not integer:
        if not values.is_floating_point():
            values = values.to(torch.get_default_dtype())
        if not bool(torch.isfinite(values).all()):
            i = int((~torch.isfinite(values)).nonzero()[0, 0])
            raise DataError(f"{owner}: expected finite `{name}`, received {name}[{i}] = "
                            f"{float(values[i])}")
    return values


def _reach(size: torch.Tensor, smax: float, t: float) -> torch.Tensor:
    """Largest centre distance along one axis at which IoU(a, b) can reach ``t``.

    IoU ≤ s_∩ / max(s_a, s_b) for the side ``s`` (width or height) and
    s_∩ ≤ (s_a + s_b)/2 − |Δc|, so a pair reaches IoU ≥ t only if
    |Δc| ≤ (s_a + s_b)/2 − t·max(s_a, s_b); maximised over s_b ≤ smax this is
    s_a(1 − t) for t ≥ ½, else also ½s_a + smax(½ − t).
    """
    bound = size * (1 - t)
    if t < 0.5:
        bound = torch.maximum(bound, size / 2 + smax * (0.5 - t))
    return bound * (1 + 1e-6) + 1e-6 * (1.0 + smax)   # a margin over float rounding


class _Neighbours:
    """For every box, the ranges of boxes (sorted by class, row band, centre x) it may overlap.

    Boxes are binned into horizontal bands of height ``H`` by centre y; box a
    may reach IoU ≥ t only with boxes whose centres lie within its x and y
    reach (:func:`_reach`), i.e. in the bands ``band_a ± r`` and, inside each
    band, in one contiguous run of the sorted keys. Classes and bands are
    separated by gaps in the (float64) key, so a query never crosses them.
    """

    def __init__(self, boxes: torch.Tensor, classes: torch.Tensor | None, t: float):
        x1, y1, x2, y2 = boxes.double().unbind(1)
        w, h = x2 - x1, y2 - y1
        cx, cy = (x1 + x2) / 2 - float(((x1 + x2) / 2).min()), (y1 + y2) / 2
        reach_x, reach_y = _reach(w, float(w.max()), t), _reach(h, float(h.max()), t)
        band_h = max(float(reach_y.mean()), 1e-9)
        r = int(torch.ceil(reach_y.max() / band_h))
        band = torch.floor((cy - float(cy.min())) / band_h).long() + r + 1
        n_bands = int(band.max()) + r + 2
        span = float(cx.max()) + 2 * float(reach_x.max()) + 1.0
        key = band.double() * span + cx
        if classes is not None:
            key = key + classes.double() * (n_bands * span)
        self.keys, self.perm = torch.sort(key)
        shift = torch.arange(-r, r + 1, dtype=torch.float64) * span          # (2r+1,)
        base = (key - cx).unsqueeze(1) + shift                               # (n, 2r+1)
        self.lo = torch.searchsorted(self.keys, base + (cx - reach_x).unsqueeze(1), side="right")
        self.hi = torch.searchsorted(self.keys, base + (cx + reach_x).unsqueeze(1), side="left")
        self.per_box = 2 * r + 1

    def pairs(self, src: torch.Tensor):
        """All (i, j) with i in ``src`` and j a possible neighbour (either score side)."""
        lo = self.lo.index_select(0, src).reshape(-1)
        counts = (self.hi.index_select(0, src).reshape(-1) - lo).clamp_(min=0)
        total = int(counts.sum())
        if total == 0:
            empty = torch.zeros(0, dtype=torch.long)
            return empty, empty
        query = torch.repeat_interleave(torch.arange(counts.numel()), counts, output_size=total)
        pos = (torch.arange(total) - (torch.cumsum(counts, 0) - counts).index_select(0, query)
               + lo.index_select(0, query))
        i = src.index_select(0, torch.div(query, self.per_box, rounding_mode="floor"))
        return i, self.perm.index_select(0, pos)


def _greedy(boxes: torch.Tensor, classes: torch.Tensor | None, t: float,
            inclusive: bool) -> torch.Tensor:
    """Keep-mask of greedy NMS over ``boxes`` already sorted by decreasing score.

    Box ``j`` is discarded when a kept box ``i < j`` of its class has IoU ≥ t
    (``inclusive``) or IoU > t. Candidate pairs come from :class:`_Neighbours`,
    so the work grows with the number of nearby pairs, not N². Blocks of boxes
    (in score order, growing 4× each time) are resolved one after the other:
    within a block by a fixed-point iteration over its suppression edges
    ("kept iff no kept-or-undecided earlier box suppresses it"), then the
    block's kept boxes suppress every later box they overlap, so boxes
    suppressed early never look for neighbours (cheap on heavy overlap).
    """
    n = boxes.shape[0]
    x1, y1, x2, y2 = boxes.unbind(1)
    area = (x2 - x1) * (y2 - y1)
    coords = (x1, y1, x2, y2, area)
    near = _Neighbours(boxes, classes, t)
    suppressed = torch.zeros(n, dtype=torch.bool)
    keep = torch.zeros(n, dtype=torch.bool)
    start, size = 0, _FIRST_BLOCK
    while start < n:
        stop = min(n, start + size)
        src = torch.arange(start, stop)[~suppressed[start:stop]]
        start, size = stop, size * 4
        if src.numel() == 0:
            continue
        i, j = near.pairs(src)
        later = ((j > i) & ~suppressed.index_select(0, j)).nonzero().squeeze(1)
        i, j = i.index_select(0, later), j.index_select(0, later)
        # IoU exactly as torchvision computes it: inter / (area_i + area_j − inter)
        a = [c.index_select(0, i) for c in coords]
        b = [c.index_select(0, j) for c in coords]
        w = (torch.minimum(a[2], b[2]) - torch.maximum(a[0], b[0])).clamp_(min=0)
        h = (torch.minimum(a[3], b[3]) - torch.maximum(a[1], b[1])).clamp_(min=0)
        inter = w.mul_(h)
        overlap = inter / (a[4] + b[4] - inter)
        hit = overlap >= t if inclusive else overlap > t
        if classes is not None:
            hit &= classes.index_select(0, i) == classes.index_select(0, j)
        hit = hit.nonzero().squeeze(1)
        i, j = i.index_select(0, hit), j.index_select(0, hit)
        # resolve the block by the fixed point
        first = int(src[0])
        inside = j < stop
        bi, bj = i[inside] - first, j[inside] - first
        alive = torch.zeros(stop - first, dtype=torch.bool)
        alive[src - first] = True
        kept = torch.zeros(stop - first, dtype=torch.bool)
        while bi.numel():
            undecided = alive & ~kept
            if not bool(undecided.any()):
                break
            blocked = torch.zeros_like(alive)
            blocked[bj[alive[bi]]] = True
            kept |= undecided & ~blocked
            alive[bj[kept[bi]]] = False
        else:
            kept = alive
        keep[first:stop] = kept
        # the block's kept boxes suppress every later box they overlap
        out = ~inside & keep.index_select(0, i)
        suppressed[j[out]] = True
    return keep


def nms(boxes, scores, classes=None, iou_threshold: float = 0.5, score_threshold: float = 0.6,
        max_detections: int | None = None, *, inclusive: bool = True,
        fmt: str = "xyxy") -> torch.Tensor:
    """Non-max suppression, exactly CS230's rule; returns the kept indices.

    1. Drop every box with score ``p < score_threshold`` (CS230: 0.6).
    2. Per class, repeat while boxes remain: pick the box with the largest
       score and discard every box of its class with ``IoU ≥ iou_threshold``
       (CS230: 0.5) with it.

    torchvision's ``nms`` discards only ``IoU > iou_threshold`` and has no score
    threshold: ``nms(b, s, iou_threshold=t, score_threshold=0, inclusive=False)``
    keeps the same indices as ``torchvision.ops.nms(b, s, t)`` (and, with
    ``classes``, as ``batched_nms``). Equal scores are ranked by index (a stable
    sort). Classes are handled in one pass, without a loop over classes, and the
    candidate pairs come from a sweep over box centres, so the cost grows with
    the number of overlapping pairs rather than N².

    Args:
        boxes: ``(N, 4)`` boxes in ``fmt`` (default "xyxy").
        scores: ``(N,)`` detection probabilities (any real numbers are accepted).
        classes: optional ``(N,)`` integer class ids; boxes of different classes
            never suppress each other.
        iou_threshold: in [0, 1].
        score_threshold: in [0, 1]; scores below it are dropped first.
        max_detections: keep at most this many (the highest-scoring) boxes.
        inclusive: True (CS230) discards IoU ≥ threshold, False (torchvision) IoU > threshold.

    Returns:
        int64 tensor of kept indices into ``boxes``, by decreasing score.

    Example:
        >>> boxes = [[0., 0., 10., 10.], [1., 1., 11., 11.], [20., 20., 30., 30.], [0., 0., 10., 10.]]
        >>> nms(boxes, [0.9, 0.8, 0.7, 0.5])
        tensor([0, 2])
        >>> nms(boxes, [0.9, 0.8, 0.7, 0.5], classes=[0, 1, 0, 0])
        tensor([0, 1, 2])
    """
    owner = "nms"
    iou_threshold = check_probability(owner, "iou_threshold", iou_threshold)
    score_threshold = check_probability(owner, "score_threshold", score_threshold)
    max_detections = check_int(owner, "max_detections", max_detections, low=0, allow_none=True)
    inclusive = check_bool(owner, "inclusive", inclusive)
    boxes = as_boxes(boxes, fmt, owner=owner)
    if boxes.dim() != 2:
        raise ShapeError(f"nms: expected `boxes` of shape (N, 4), received shape "
                         f"{tuple(boxes.shape)}")
    boxes = _to_xyxy(boxes, fmt)
    n = boxes.shape[0]
    scores = _check_vector(owner, "scores", scores, n, integer=False)
    if classes is not None:
        classes = _check_vector(owner, "classes", classes, n, integer=True).to(boxes.device)
    device = boxes.device
    boxes, scores = boxes.cpu(), scores.cpu()
    classes = classes.cpu() if classes is not None else None

    candidates = (scores >= score_threshold).nonzero().squeeze(1)
    order = candidates[torch.sort(scores[candidates], descending=True, stable=True).indices]
    if order.numel() == 0:
        return order.to(device)
    if inclusive and iou_threshold == 0.0:
        # IoU ≥ 0 holds for every pair: only the best box of each class survives
        if classes is None:
            kept = order[:1]
        else:
            cls = classes[order]
            first = torch.ones_like(cls, dtype=torch.bool)
            ranked_cls, pos = torch.sort(cls, stable=True)
            first_sorted = torch.ones_like(ranked_cls, dtype=torch.bool)
            first_sorted[1:] = ranked_cls[1:] != ranked_cls[:-1]
            first = torch.zeros_like(first)
            first[pos[first_sorted]] = True
            kept = order[first]
    else:
        sub_classes = classes[order] if classes is not None else None
        kept = order[_greedy(boxes[order], sub_classes, iou_threshold, inclusive)]
    if max_detections is not None:
        kept = kept[:max_detections]
    return kept.to(device)

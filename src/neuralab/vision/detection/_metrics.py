"""Detection metrics: average precision (VOC 11-point, all-point, COCO 101-point) and mAP."""

from __future__ import annotations

import math

import numpy as np
import torch

from ...errors import DataError
from ...validation import check_choice, check_int, expected
from ..boxes import as_boxes, iou

__all__ = ["average_precision", "mean_average_precision", "COCO_IOU_THRESHOLDS"]

#: COCO's IoU thresholds 0.50:0.05:0.95 (ten values)
COCO_IOU_THRESHOLDS = tuple(float(t) for t in np.linspace(0.5, 0.95, 10))
_METHODS = ("all", "11point", "101point")
_STYLES = ("voc", "voc07", "coco")


def _ap_from_sorted(tp: np.ndarray, num_targets: int, method: str) -> float:
    """AP of detections already sorted by decreasing score (``tp`` booleans)."""
    if num_targets == 0:
        return math.nan
    tps = np.cumsum(tp, dtype=np.float64)
    fps = np.cumsum(~tp, dtype=np.float64)
    recall = tps / num_targets
    precision = tps / np.maximum(tps + fps, np.spacing(1))
    if method == "11point":
        points = []
        for r in np.linspace(0, 1, 11):
            above = precision[recall >= r]
            points.append(float(above.max()) if above.size else 0.0)
        return float(np.mean(points))
    # the precision envelope: p(r) = max over r' >= r of precision(r')
    envelope = np.maximum.accumulate(precision[::-1])[::-1] if precision.size else precision
    if method == "101point":
        idx = np.searchsorted(recall, np.linspace(0, 1, 101), side="left")
        q = np.zeros(101)
        valid = idx < envelope.size
        q[valid] = envelope[idx[valid]]
        return float(q.mean())
    # all-point (VOC 2010+): area under the envelope, summed where recall changes
    mrec = np.concatenate(([0.0], recall))
    mpre = np.concatenate((envelope, [0.0]))
    return float(np.sum((mrec[1:] - mrec[:-1]) * mpre[:-1]))


def average_precision(scores, matched, num_targets: int, *, method: str = "all") -> float:
    """Average precision of one class from scored detections marked true/false positive.

    Detections are ranked by decreasing score (ties keep their order);
    ``recall_k = TP_k / num_targets``, ``precision_k = TP_k / k`` after the
    k-th detection. The precision envelope ``p̂(r) = max_{r' ≥ r} p(r')`` is
    averaged:

    - "all" (PASCAL VOC 2010+): ``AP = Σ_k (r_k − r_{k−1})·p̂(r_k)``;
    - "11point" (VOC 2007): ``AP = (1/11) Σ_{r ∈ {0, 0.1, …, 1}} max_{r_k ≥ r} p_k``;
    - "101point" (COCO): the mean of ``p̂`` at the first detection with recall ≥ r
      for r ∈ {0, 0.01, …, 1} (0 beyond the last recall reached).

    Args:
        scores: ``(D,)`` detection scores.
        matched: ``(D,)`` booleans, True for a true positive.
        num_targets: number of ground-truth objects (TP + missed); AP is NaN if 0.
        method: "all", "11point" or "101point".

    Example:
        >>> average_precision([0.9, 0.8, 0.7], [True, False, True], 2)   # 1·½ + ⅔·½
        0.8333333333333333
    """
    method = check_choice("average_precision", "method", method, _METHODS)
    num_targets = check_int("average_precision", "num_targets", num_targets, low=0)
    scores = np.asarray(torch.as_tensor(scores).detach().cpu(), dtype=np.float64).reshape(-1)
    matched = np.asarray(torch.as_tensor(matched).detach().cpu(), dtype=bool).reshape(-1)
    if scores.shape != matched.shape:
        raise DataError(f"average_precision: expected `scores` and `matched` of the same length, "
                        f"received {scores.size} and {matched.size}")
    if int(matched.sum()) > num_targets:
        raise DataError(f"average_precision: expected at most `num_targets` = {num_targets} true "
                        f"positives, received {int(matched.sum())}")
    order = np.argsort(-scores, kind="stable")
    return _ap_from_sorted(matched[order], num_targets, method)


def _entries(owner: str, name: str, items, with_scores: bool) -> list[dict]:
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, (list, tuple)):
        raise expected(owner, name, "a list of dicts (one per image) with 'boxes' and 'labels'",
                       type(items).__name__, error=DataError)
    out = []
    for index, item in enumerate(items):
        keys = ("boxes", "labels") + (("scores",) if with_scores else ())
        if not isinstance(item, dict) or any(k not in item for k in keys):
            got = sorted(item) if isinstance(item, dict) else type(item).__name__
            raise DataError(f"{owner}: expected `{name}[{index}]` to be a dict with keys "
                            f"{list(keys)}, received {got}")
        boxes = as_boxes(item["boxes"], owner=owner, name=f"{name}[{index}]['boxes']")
        boxes = boxes.detach().cpu().double().reshape(-1, 4)
        labels = torch.as_tensor(item["labels"]).detach().cpu().reshape(-1)
        if labels.is_floating_point() and not bool((labels == labels.round()).all()):
            raise DataError(f"{owner}: expected integer class labels in `{name}[{index}]['labels']`, "
                            f"received {labels.tolist()[:8]}")
        entry = {"boxes": boxes, "labels": labels.long()}
        if with_scores:
            scores = torch.as_tensor(item["scores"]).detach().cpu().double().reshape(-1)
            entry["scores"] = scores
        lengths = {k: len(v) for k, v in entry.items()}
        if len(set(lengths.values())) != 1:
            raise DataError(f"{owner}: expected `{name}[{index}]` to hold one label"
                            f"{' and score' if with_scores else ''} per box, received lengths "
                            f"{lengths}")
        out.append(entry)
    return out


def _match(det_boxes, gt_boxes, thresholds, greedy_unmatched: bool) -> np.ndarray:
    """(T, D) true-positive flags of detections (already in score order) against one image's gts.

    COCO: each detection takes the still-unmatched ground truth of highest IoU
    ≥ t (the last of equal IoUs, as pycocotools does). VOC: each detection
    looks at the ground truth of highest IoU; it is a TP if IoU ≥ t and that
    object was not matched before, else a FP (a duplicate).
    """
    n_det, n_gt = len(det_boxes), len(gt_boxes)
    flags = np.zeros((len(thresholds), n_det), dtype=bool)
    if n_det == 0 or n_gt == 0:
        return flags
    ious = iou(det_boxes, gt_boxes).numpy()                  # (D, G)
    for ti, t in enumerate(thresholds):
        taken = np.zeros(n_gt, dtype=bool)
        if greedy_unmatched:
            t_eff = min(t, 1 - 1e-10)
            for d in range(n_det):
                row = np.where(taken, -1.0, ious[d])
                best = row.max()
                if best < t_eff:
                    continue
                g = n_gt - 1 - int(np.argmax(row[::-1] == best))
                taken[g] = True
                flags[ti, d] = True
        else:
            best = ious.argmax(1)
            for d in range(n_det):
                g = best[d]
                if ious[d, g] >= t and not taken[g]:
                    taken[g] = True
                    flags[ti, d] = True
    return flags


def mean_average_precision(preds, targets, iou_thresholds=(0.5,), style: str = "voc", *,
                           max_detections: int = 100, return_details: bool = False):
    """Mean average precision over classes (and IoU thresholds) of a detector's output.

    For each class c and IoU threshold t, detections of c over the whole set,
    ranked by score, are matched to ground truths of c in their image
    (IoU ≥ t); unmatched detections and duplicates are false positives. AP
    per class as in :func:`average_precision`; mAP is the mean over classes
    that have ground truth, then over the thresholds.

    - ``style="voc"``: PASCAL VOC (all-point AP; a detection is judged against
      its highest-IoU object). "voc07" uses the 11-point AP.
    - ``style="coco"``: COCO's COCOeval for boxes (a detection takes the best
      still-unmatched object, 101-point AP, at most ``max_detections`` per image
      and class). With ``iou_thresholds=COCO_IOU_THRESHOLDS`` (0.50:0.05:0.95)
      this is COCO's AP (``stats[0]``), with ``(0.5,)`` its AP50; the test suite
      checks both against pycocotools to 1e-6.

    Args:
        preds: list (one per image) of dicts with ``boxes`` (D, 4) xyxy,
            ``scores`` (D,) and ``labels`` (D,).
        targets: list (same length) of dicts with ``boxes`` (G, 4) and ``labels`` (G,).
        iou_thresholds: thresholds in [0, 1].
        style: "voc", "voc07" or "coco".
        max_detections: per image and class, the highest-scoring kept (COCO's maxDets).
        return_details: also return ``{"per_class": {c: AP}, "per_threshold": {t: mAP}}``.

    Returns:
        the mAP (float; NaN if no image holds any object), or ``(mAP, details)``.

    Example:
        >>> preds = [{"boxes": [[0., 0., 10., 10.], [20., 20., 30., 30.]], "scores": [0.9, 0.8],
        ...           "labels": [0, 0]}]
        >>> targets = [{"boxes": [[0., 0., 10., 10.]], "labels": [0]}]
        >>> mean_average_precision(preds, targets)
        1.0
    """
    owner = "mean_average_precision"
    style = check_choice(owner, "style", style, _STYLES)
    max_detections = check_int(owner, "max_detections", max_detections, low=1)
    if isinstance(iou_thresholds, (int, float)):
        iou_thresholds = (iou_thresholds,)
    thresholds = []
    for t in iou_thresholds:
        if isinstance(t, bool) or not isinstance(t, (int, float, np.floating)) or not 0 <= t <= 1:
            raise expected(owner, "iou_thresholds", "numbers in [0, 1]", tuple(iou_thresholds))
        thresholds.append(float(t))
    if not thresholds:
        raise expected(owner, "iou_thresholds", "a non-empty sequence of numbers in [0, 1]",
                       iou_thresholds)
    preds = _entries(owner, "preds", preds, True)
    targets = _entries(owner, "targets", targets, False)
    if len(preds) != len(targets):
        raise DataError(f"{owner}: expected one prediction per target image, received "
                        f"{len(preds)} predictions and {len(targets)} targets")
    method = {"voc": "all", "voc07": "11point", "coco": "101point"}[style]
    coco = style == "coco"
    classes = sorted({int(c) for t in targets for c in t["labels"].tolist()})
    per_class: dict[int, list[float]] = {}
    for c in classes:
        scores, flags, n_gt = [], [], 0
        for p, t in zip(preds, targets):
            gt = t["boxes"][t["labels"] == c]
            n_gt += len(gt)
            mask = p["labels"] == c
            det, sc = p["boxes"][mask], p["scores"][mask]
            order = torch.from_numpy(np.argsort(-sc.numpy(), kind="stable"))
            if coco:
                order = order[:max_detections]
            det, sc = det[order], sc[order]
            scores.append(sc.numpy())
            flags.append(_match(det, gt, thresholds, greedy_unmatched=coco))
        scores = np.concatenate(scores)
        flags = np.concatenate(flags, axis=1)
        order = np.argsort(-scores, kind="stable")
        per_class[c] = [_ap_from_sorted(flags[ti][order], n_gt, method)
                        for ti in range(len(thresholds))]
    if not per_class:
        result = math.nan
        per_threshold = {t: math.nan for t in thresholds}
    else:
        table = np.array([per_class[c] for c in classes])      # (C, T)
        per_threshold = {t: float(table[:, ti].mean()) for ti, t in enumerate(thresholds)}
        result = float(table.mean())
    if return_details:
        return result, {"per_class": {c: float(np.mean(v)) for c, v in per_class.items()},
                        "per_threshold": per_threshold}
    return result

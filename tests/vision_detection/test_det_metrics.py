"""mAP equals pycocotools' COCOeval on random detection sets; a hand-worked VOC example."""

import contextlib
import io

import numpy as np
import pytest
import torch

from neuralab.errors import ConfigError, DataError
from neuralab.vision.detection import (COCO_IOU_THRESHOLDS, average_precision,
                                       mean_average_precision)

pycocotools = pytest.importorskip("pycocotools")
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402


def random_set(seed, n_images=6, n_classes=3):
    rng = np.random.default_rng(seed)
    preds, targets = [], []
    for _ in range(n_images):
        g = int(rng.integers(0, 5))
        xy = rng.uniform(0, 80, (g, 2))
        gt = np.concatenate([xy, xy + rng.uniform(5, 30, (g, 2))], 1)
        labels = rng.integers(0, n_classes, g)
        # detections: jittered copies of the objects (some duplicated), plus clutter
        d_from = rng.integers(0, max(g, 1), int(rng.integers(0, 2 * g + 1))) if g else []
        det = [gt[k] + rng.normal(0, 3, 4) for k in d_from]
        det_labels = [labels[k] if rng.random() < 0.8 else rng.integers(0, n_classes)
                      for k in d_from]
        for _ in range(int(rng.integers(0, 4))):
            p = rng.uniform(0, 80, 2)
            det.append(np.concatenate([p, p + rng.uniform(5, 30, 2)]))
            det_labels.append(rng.integers(0, n_classes))
        det = np.array(det, dtype=np.float64).reshape(-1, 4)
        det[:, 2:] = np.maximum(det[:, 2:], det[:, :2] + 0.5)
        preds.append({"boxes": det, "scores": rng.random(len(det)), "labels": np.array(det_labels)})
        targets.append({"boxes": gt, "labels": labels})
    return preds, targets


def coco_reference(preds, targets, n_classes=3):
    images, anns, dets = [], [], []
    for i, (p, t) in enumerate(zip(preds, targets)):
        images.append({"id": i, "width": 200, "height": 200})
        for b, c in zip(t["boxes"], t["labels"]):
            w, h = b[2] - b[0], b[3] - b[1]
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": int(c),
                         "bbox": [b[0], b[1], w, h], "area": w * h, "iscrowd": 0})
        for b, s, c in zip(p["boxes"], p["scores"], p["labels"]):
            dets.append({"image_id": i, "category_id": int(c), "score": float(s),
                         "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]]})
    gt = COCO()
    gt.dataset = {"images": images, "annotations": anns,
                  "categories": [{"id": c} for c in range(n_classes)]}
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        dt = gt.loadRes(dets) if dets else COCO()
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats


@pytest.mark.parametrize("seed", range(6))
def test_coco_style_equals_pycocotools(seed):
    preds, targets = random_set(seed)
    if not any(len(p["boxes"]) for p in preds):
        pytest.skip("no detections")
    stats = coco_reference(preds, targets)
    ours = mean_average_precision(preds, targets, COCO_IOU_THRESHOLDS, style="coco")
    ours50 = mean_average_precision(preds, targets, (0.5,), style="coco")
    ours75 = mean_average_precision(preds, targets, 0.75, style="coco")
    assert ours == pytest.approx(stats[0], abs=1e-6)
    assert ours50 == pytest.approx(stats[1], abs=1e-6)
    assert ours75 == pytest.approx(stats[2], abs=1e-6)


def test_coco_max_detections_per_image_and_class():
    preds, targets = random_set(11, n_images=4)
    full = mean_average_precision(preds, targets, style="coco")
    one = mean_average_precision(preds, targets, style="coco", max_detections=1)
    assert one <= full + 1e-12


def test_hand_worked_voc_example():
    # one class, 3 objects over two images; detections by score:
    #   0.9 TP (img0 obj0), 0.8 FP (duplicate of obj0), 0.7 TP (img1 obj0), 0.6 FP (clutter),
    #   0.5 TP (img1 obj1)
    # precision: 1, 1/2, 2/3, 2/4, 3/5;  recall: 1/3, 1/3, 2/3, 2/3, 1
    # envelope at recall 1/3, 2/3, 1: 1, 2/3, 3/5  ->  AP = (1 + 2/3 + 3/5)/3 = 0.7555...
    targets = [{"boxes": [[0, 0, 10, 10]], "labels": [0]},
               {"boxes": [[0, 0, 10, 10], [20, 20, 30, 30]], "labels": [0, 0]}]
    preds = [{"boxes": [[0, 0, 10, 10], [1, 0, 10, 10]], "scores": [0.9, 0.8], "labels": [0, 0]},
             {"boxes": [[0, 0, 10, 9], [50, 50, 60, 60], [20, 21, 30, 30]],
              "scores": [0.7, 0.6, 0.5], "labels": [0, 0, 0]}]
    assert mean_average_precision(preds, targets) == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)
    # 11-point: r = 0..0.3 -> 1, 0.4..0.6 -> 2/3, 0.7..1 -> 3/5
    assert mean_average_precision(preds, targets, style="voc07") == pytest.approx(
        (4 * 1 + 3 * 2 / 3 + 4 * 3 / 5) / 11)
    # the same through average_precision directly
    assert average_precision([0.9, 0.8, 0.7, 0.6, 0.5], [1, 0, 1, 0, 1], 3) == pytest.approx(
        (1 + 2 / 3 + 3 / 5) / 3)
    # a wrong class label is a miss for class 0 and a false positive for class 1
    preds[1]["labels"] = [0, 1, 0]
    targets.append({"boxes": [[0, 0, 5, 5]], "labels": [1]})
    preds.append({"boxes": [[0, 0, 5, 5]], "scores": [0.95], "labels": [1]})
    value, details = mean_average_precision(preds, targets, return_details=True)
    assert details["per_class"][1] == pytest.approx(1.0)
    assert value == pytest.approx((details["per_class"][0] + 1.0) / 2)


def test_perfect_and_empty_predictions():
    targets = [{"boxes": torch.tensor([[0.0, 0, 4, 4]]), "labels": torch.tensor([2])}]
    perfect = [{"boxes": torch.tensor([[0.0, 0, 4, 4]]), "scores": torch.tensor([0.3]),
                "labels": torch.tensor([2])}]
    for style in ("voc", "voc07", "coco"):
        assert mean_average_precision(perfect, targets, COCO_IOU_THRESHOLDS, style) == 1.0
    empty = [{"boxes": torch.zeros(0, 4), "scores": torch.zeros(0), "labels": torch.zeros(0)}]
    assert mean_average_precision(empty, targets) == 0.0


def test_bad_input():
    t = [{"boxes": [[0, 0, 1, 1]], "labels": [0]}]
    p = [{"boxes": [[0, 0, 1, 1]], "scores": [0.5], "labels": [0]}]
    with pytest.raises(DataError, match="one prediction per target image, received 2 predictions "
                                        "and 1 targets"):
        mean_average_precision(p * 2, t)
    with pytest.raises(DataError, match=r"expected `preds\[0\]` to be a dict with keys \['boxes', "
                                        r"'labels', 'scores'\], received \['boxes', 'labels'\]"):
        mean_average_precision(t, t)
    with pytest.raises(ConfigError, match="`style` to be one of 'voc', 'voc07', 'coco'"):
        mean_average_precision(p, t, style="kitti")
    with pytest.raises(ConfigError, match=r"`iou_thresholds` to be numbers in \[0, 1\]"):
        mean_average_precision(p, t, (0.5, 1.5))
    with pytest.raises(DataError, match="one label and score per box"):
        mean_average_precision([{"boxes": [[0, 0, 1, 1]], "scores": [0.5, 0.4], "labels": [0]}], t)
    with pytest.raises(DataError, match="x2 >= x1"):
        mean_average_precision(p, [{"boxes": [[3, 0, 1, 1]], "labels": [0]}])

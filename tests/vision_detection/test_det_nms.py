"""NMS equals a literal transcription of CS230's rule (and torchvision's with inclusive=False)."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from neuralab.errors import ConfigError, DataError
from neuralab.vision.boxes import iou
from neuralab.vision.detection import nms


def cs230_rule(boxes, scores, classes, t, score_threshold, inclusive=True):
    """The sheet's words: drop p < threshold; per class pick the highest, discard IoU >= t; repeat."""
    boxes = torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    ious = iou(boxes, boxes).numpy()
    remaining = [i for i in range(len(scores)) if scores[i] >= score_threshold]
    kept = []
    for c in sorted(set(classes[i] for i in remaining)):
        pool = [i for i in remaining if classes[i] == c]
        while pool:
            best = max(pool, key=lambda i: (scores[i], -i))     # ties: the lower index
            kept.append(best)
            pool = [i for i in pool if i != best and not (
                ious[best, i] >= t if inclusive else ious[best, i] > t)]
    return sorted(kept, key=lambda i: (-scores[i], i))


box = st.tuples(st.integers(0, 12), st.integers(0, 12), st.integers(0, 8), st.integers(0, 8))


@settings(max_examples=120, deadline=None)
@given(st.lists(st.tuples(box, st.sampled_from([0.5, 0.6, 0.7, 0.9, 1.0]), st.integers(0, 2)),
                min_size=0, max_size=25),
       st.sampled_from([0.0, 0.25, 0.5, 0.7, 1.0]), st.booleans(), st.booleans())
def test_nms_equals_the_cs230_rule(items, t, inclusive, per_class):
    # small integer boxes make IoU exactly t (e.g. 0.5) and score ties frequent
    boxes = [(x, y, x + w, y + h) for (x, y, w, h), _, _ in items]
    scores = [s for _, s, _ in items]
    classes = [c if per_class else 0 for _, _, c in items]
    got = nms(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4), torch.tensor(scores),
              torch.tensor(classes) if per_class else None, iou_threshold=t,
              score_threshold=0.6, inclusive=inclusive)
    assert got.dtype == torch.int64
    assert got.tolist() == cs230_rule(boxes, scores, classes, t, 0.6, inclusive)


def test_iou_exactly_half_is_discarded_by_cs230_but_kept_by_torchvision():
    boxes = torch.tensor([[0.0, 0.0, 4.0, 4.0], [0.0, 0.0, 4.0, 2.0]])   # IoU = 8/16 = 0.5
    assert float(iou(boxes[:1], boxes[1:])) == 0.5
    assert nms(boxes, [0.9, 0.8]).tolist() == [0]
    assert nms(boxes, [0.9, 0.8], inclusive=False).tolist() == [0, 1]


def test_score_threshold_max_detections_and_ties():
    boxes = torch.tensor([[0.0, 0, 1, 1], [5.0, 5, 6, 6], [10.0, 10, 11, 11], [20.0, 0, 21, 1]])
    assert nms(boxes, [0.59, 0.6, 0.9, 0.6]).tolist() == [2, 1, 3]   # p < 0.6 dropped; stable ties
    assert nms(boxes, [0.59, 0.6, 0.9, 0.6], max_detections=2).tolist() == [2, 1]
    assert nms(boxes[:0], []).tolist() == []


def test_large_random_sets_match_the_rule():
    gen = torch.Generator().manual_seed(3)
    n = 800
    xy = torch.rand(n, 2, generator=gen) * 200
    b = torch.cat([xy, xy + 5 + torch.rand(n, 2, generator=gen) * 40], 1)
    s = torch.rand(n, generator=gen)
    c = torch.randint(0, 4, (n,), generator=gen).tolist()
    for inclusive in (True, False):
        got = nms(b, s, torch.tensor(c), 0.4, 0.0, inclusive=inclusive).tolist()
        assert got == cs230_rule(b, s.tolist(), c, 0.4, 0.0, inclusive)


def test_formats_and_device_follow():
    boxes = torch.tensor([[5.0, 5.0, 10.0, 10.0], [5.5, 5.0, 10.0, 10.0]])    # cxcywh
    assert nms(boxes, [0.9, 0.8], fmt="cxcywh").tolist() == [0]


def test_bad_input():
    b = torch.tensor([[0.0, 0, 1, 1], [0.0, 0, 2, 2]])
    with pytest.raises(DataError, match=r"expected `scores` of shape \(2,\) \(one per box\), "
                                        r"received shape \(3,\)"):
        nms(b, [0.9, 0.8, 0.7])
    with pytest.raises(ConfigError, match=r"expected `iou_threshold` to be a finite number >= 0 "
                                          r"and <= 1, received 1.5"):
        nms(b, [0.9, 0.8], iou_threshold=1.5)
    with pytest.raises(ConfigError, match="`score_threshold`.*received -0.1"):
        nms(b, [0.9, 0.8], score_threshold=-0.1)
    with pytest.raises(DataError, match="x2 >= x1"):
        nms([[2.0, 0, 1, 1]], [0.9])
    with pytest.raises(DataError, match=r"finite `scores`, received scores\[1\] = nan"):
        nms(b, [0.9, float("nan")])
    with pytest.raises(DataError, match="integer class ids"):
        nms(b, [0.9, 0.8], classes=[0.5, 1.0])

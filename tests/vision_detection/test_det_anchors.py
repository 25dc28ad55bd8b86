"""Anchors: the Faster R-CNN grid by hand, k-means with 1 − IoU against a brute-force check."""

import math

import pytest
import torch

from neuralab.errors import ConfigError, DataError
from neuralab.vision.boxes import box_convert
from neuralab.vision.detection import anchor_shapes, kmeans_anchors, make_anchors
from neuralab.vision.detection._anchors import _shape_iou


def test_faster_rcnn_default_nine_shapes():
    shapes = anchor_shapes()
    assert shapes.shape == (9, 2)
    areas = shapes.prod(1)
    torch.testing.assert_close(areas, torch.tensor([128.0**2] * 3 + [256.0**2] * 3 + [512.0**2] * 3))
    torch.testing.assert_close(shapes[:, 1] / shapes[:, 0], torch.tensor([0.5, 1, 2] * 3))


def test_grid_layout_by_hand():
    anchors = make_anchors((2, 3), 10, sizes=(4.0,), ratios=(1.0, 4.0))
    assert anchors.shape == (2 * 3 * 2, 4)
    c = box_convert(anchors, "xyxy", "cxcywh")
    # index (i*W + j)*k + a: cell (row 1, col 2), shape 1 (w = 2, h = 8)
    assert c[(1 * 3 + 2) * 2 + 1].tolist() == [25.0, 15.0, 2.0, 8.0]
    assert c[0].tolist() == [5.0, 5.0, 4.0, 4.0]
    rect = make_anchors(2, (4, 8), shapes=[[2.0, 2.0]], fmt="cxcywh")
    assert rect[1].tolist() == [12.0, 2.0, 2.0, 2.0]      # x stride 8, y stride 4


def test_kmeans_recovers_clusters_and_beats_random_choice():
    gen = torch.Generator().manual_seed(0)
    centres = torch.tensor([[8.0, 8.0], [30.0, 12.0], [12.0, 40.0], [60.0, 60.0]])
    wh = centres[torch.randint(0, 4, (400,), generator=gen)] * (
        1 + 0.05 * torch.randn(400, 2, generator=gen))
    anchors = kmeans_anchors(wh, 4, seed=1)
    assert anchors.shape == (4, 2)
    order = torch.argsort(centres.prod(1))
    torch.testing.assert_close(anchors, centres[order], rtol=0.05, atol=0.5)
    mean_iou = _shape_iou(wh, anchors).max(1).values.mean()
    random = wh[torch.randperm(400, generator=gen)[:4]]
    assert mean_iou >= _shape_iou(wh, random).max(1).values.mean()
    # each box is assigned by the largest shape-IoU: brute force on one box
    w, h = 10.0, 30.0
    brute = [min(w, a) * min(h, b) / (w * h + a * b - min(w, a) * min(h, b)) for a, b in
             anchors.tolist()]
    got = _shape_iou(torch.tensor([[w, h]]), anchors)[0].tolist()
    assert got == pytest.approx(brute)
    assert kmeans_anchors(wh, 4, seed=1).tolist() == anchors.tolist()   # seeded


def test_bad_input():
    with pytest.raises(ConfigError, match=r"`k` to be at most the number of distinct box shapes "
                                          r"\(2\), received 3"):
        kmeans_anchors([[1.0, 1.0], [2.0, 2.0], [2.0, 2.0]], 3)
    with pytest.raises(DataError, match="positive finite widths"):
        kmeans_anchors([[1.0, -1.0]], 1)
    with pytest.raises(DataError, match=r"shape \(N, 2\)"):
        kmeans_anchors([1.0, 2.0], 1)
    with pytest.raises(ConfigError, match="`stride` to be a finite number > 0, received 0"):
        make_anchors(4, 0)
    with pytest.raises(ConfigError, match=r"`shapes` of shape \(k, 2\)"):
        make_anchors(4, 8, shapes=[1.0, 2.0, 3.0])
    with pytest.raises(ConfigError, match="`ratios` to be a non-empty sequence of positive"):
        make_anchors(4, 8, ratios=(0.0,))
    assert math.isclose(float(make_anchors(1, 1, sizes=(2.0,), ratios=(1.0,))[0, 2]), 1.5)

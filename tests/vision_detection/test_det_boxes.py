"""Boxes: formats, areas, IoU/GIoU on hand-computed boxes and against brute-force formulas."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from neuralab.errors import ConfigError, DataError, ShapeError
from neuralab.vision.boxes import box_area, box_convert, giou, iou


def test_iou_hand_computed_cases():
    a = torch.tensor([[0.0, 0.0, 4.0, 4.0]])
    cases = {
        "identical": ([0.0, 0.0, 4.0, 4.0], 1.0),
        "nested": ([1.0, 1.0, 3.0, 3.0], 4.0 / 16.0),
        "disjoint": ([10.0, 10.0, 12.0, 12.0], 0.0),
        "touching edge": ([4.0, 0.0, 8.0, 4.0], 0.0),
        "touching corner": ([4.0, 4.0, 5.0, 5.0], 0.0),
        "half shifted": ([2.0, 0.0, 6.0, 4.0], 8.0 / 24.0),
    }
    for name, (b, expected) in cases.items():
        got = float(iou(a, torch.tensor([b]))[0, 0])
        assert got == pytest.approx(expected, abs=1e-7), name
    # empty boxes: 0, never NaN
    z = torch.tensor([[1.0, 1.0, 1.0, 1.0]])
    assert float(iou(z, z)) == 0.0


def test_giou_hand_computed():
    # disjoint unit squares 1 apart: hull 3, union 2 -> 0 - (3 - 2)/3
    assert float(giou([[0.0, 0, 1, 1]], [[2.0, 0, 3, 1]])) == pytest.approx(-1 / 3)
    assert float(giou([[0.0, 0, 1, 1]], [[0.0, 0, 1, 1]])) == pytest.approx(1.0)
    # half shifted: IoU 1/3, hull = union -> giou = iou
    assert float(giou([[0.0, 0, 4, 4]], [[2.0, 0, 6, 4]])) == pytest.approx(1 / 3)


def test_convert_round_trips_and_area():
    xyxy = torch.tensor([[10.0, 20.0, 30.0, 60.0], [0.0, 0.0, 1.0, 2.0]])
    cxcywh = box_convert(xyxy, "xyxy", "cxcywh")
    assert cxcywh.tolist() == [[20.0, 40.0, 20.0, 40.0], [0.5, 1.0, 1.0, 2.0]]
    assert box_convert(xyxy, "xyxy", "xywh").tolist() == [[10.0, 20.0, 20.0, 40.0],
                                                          [0.0, 0.0, 1.0, 2.0]]
    for fmt in ("xywh", "cxcywh"):
        back = box_convert(box_convert(xyxy, "xyxy", fmt), fmt, "xyxy")
        torch.testing.assert_close(back, xyxy)
    assert box_area(xyxy).tolist() == [800.0, 2.0]
    assert box_area(cxcywh, "cxcywh").tolist() == [800.0, 2.0]
    # IoU does not depend on the format it is given in
    other = torch.tensor([[15.0, 25.0, 35.0, 45.0]])
    torch.testing.assert_close(iou(cxcywh, box_convert(other, "xyxy", "cxcywh"), "cxcywh"),
                               iou(xyxy, other))


boxes_strategy = st.lists(
    st.tuples(st.integers(0, 20), st.integers(0, 20), st.integers(0, 10), st.integers(0, 10)),
    min_size=1, max_size=8)


def _brute_iou(a, b):
    """IoU by counting unit pixels (integer boxes)."""
    ax1, ay1, ax2, ay2 = a
    bx1, by1, bx2, by2 = b
    inter = sum(1 for x in range(30) for y in range(30)
                if ax1 <= x < ax2 and ay1 <= y < ay2 and bx1 <= x < bx2 and by1 <= y < by2)
    union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
    return inter / union if union else 0.0


@settings(max_examples=40, deadline=None)
@given(boxes_strategy, boxes_strategy)
def test_iou_equals_pixel_counting(a, b):
    a = [(x, y, x + w, y + h) for x, y, w, h in a]
    b = [(x, y, x + w, y + h) for x, y, w, h in b]
    got = iou(torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64))
    assert got.shape == (len(a), len(b))
    want = np.array([[_brute_iou(p, q) for q in b] for p in a])
    np.testing.assert_allclose(got.numpy(), want, atol=1e-12)
    assert ((got >= 0) & (got <= 1)).all()
    g = giou(torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64))
    assert ((g >= -1) & (g <= got + 1e-12)).all()
    torch.testing.assert_close(iou(torch.tensor(b, dtype=torch.float64),
                                   torch.tensor(a, dtype=torch.float64)), got.T)


def test_batched_and_aligned():
    gen = torch.Generator().manual_seed(0)
    xy = torch.rand(3, 5, 2, generator=gen) * 10
    a = torch.cat([xy, xy + 1 + torch.rand(3, 5, 2, generator=gen) * 5], -1)
    xy = torch.rand(3, 7, 2, generator=gen) * 10
    b = torch.cat([xy, xy + 1 + torch.rand(3, 7, 2, generator=gen) * 5], -1)
    batched = iou(a, b)
    assert batched.shape == (3, 5, 7)
    for k in range(3):
        torch.testing.assert_close(batched[k], iou(a[k], b[k]))
    aligned = iou(a[:, :5], b[:, :5], aligned=True)
    torch.testing.assert_close(aligned, torch.diagonal(iou(a, b[:, :5]), dim1=-2, dim2=-1))
    torch.testing.assert_close(giou(a, b[:, :5], aligned=False).diagonal(dim1=-2, dim2=-1),
                               giou(a, b[:, :5], aligned=True))


def test_gradients_flow_through_giou():
    a = torch.tensor([[0.0, 0.0, 2.0, 2.0]], requires_grad=True)
    loss = (1 - giou(a, torch.tensor([[3.0, 3.0, 5.0, 5.0]]), aligned=True)).sum()
    loss.backward()
    assert torch.isfinite(a.grad).all() and a.grad.abs().sum() > 0


def test_bad_boxes_raise_clear_errors():
    with pytest.raises(DataError, match=r"x2 >= x1 and y2 >= y1, received box 1 = \[5.0, 0.0, 1.0"):
        iou([[0, 0, 1, 1], [5, 0, 1, 1]], [[0, 0, 1, 1]])
    with pytest.raises(DataError, match="finite coordinates, received box 0"):
        box_area([[float("nan"), 0, 1, 1]])
    with pytest.raises(DataError, match="width >= 0 and height >= 0"):
        box_convert([[0, 0, -1, 1]], "xywh", "xyxy")
    with pytest.raises(ConfigError, match=r"expected `in_fmt` to be one of 'xyxy', 'xywh', "
                                          r"'cxcywh', received 'yxyx'"):
        box_convert([[0, 0, 1, 1]], "yxyx", "xyxy")
    with pytest.raises(ShapeError, match=r"shape \(..., 4\).*received shape \(2, 3\)"):
        iou(torch.zeros(2, 3), torch.zeros(1, 4))
    with pytest.raises(ShapeError, match="same shape"):
        iou(torch.zeros(2, 4), torch.zeros(3, 4), aligned=True)


def test_fast_and_differentiable_paths_agree():
    gen = torch.Generator().manual_seed(5)
    xy = torch.rand(30, 2, generator=gen) * 10
    a = torch.cat([xy, xy + torch.rand(30, 2, generator=gen) * 5], 1)
    b = a.flip(0).clone().requires_grad_(True)
    torch.testing.assert_close(iou(a, b), iou(a, b.detach()))
    z = torch.zeros(2, 4)
    assert iou(z, z).tolist() == [[0.0, 0.0], [0.0, 0.0]]

"""R-CNN family: RoI pooling against a loop transcription, RoIAlign on a linear ramp, detectors."""

import math

import pytest
import torch

from neuralab.datasets._shapes import make_shapes
from neuralab.errors import ConfigError, DataError, ShapeError
from neuralab.vision.detection import (RCNN, BoxCoder, FasterRCNN, MaskHead, fit_detector,
                                       pad_targets, paste_masks, region_proposals, roi_align,
                                       roi_pool, unpad_targets)


def roi_pool_loop(features, rois, out, scale):
    """Fast R-CNN's RoIPool written as the C loops (torchvision's CPU kernel semantics)."""
    _, c, h, w = features.shape
    result = torch.zeros(len(rois), c, out, out)
    rnd = lambda v: math.floor(v + 0.5)  # noqa: E731 (round half away from zero for v >= 0)
    for r, (b, x1, y1, x2, y2) in enumerate(rois.tolist()):
        sx, sy, ex, ey = rnd(x1 * scale), rnd(y1 * scale), rnd(x2 * scale), rnd(y2 * scale)
        rw, rh = max(ex - sx + 1, 1), max(ey - sy + 1, 1)
        for ph in range(out):
            for pw in range(out):
                hs = min(max(math.floor(ph * rh / out) + sy, 0), h)
                he = min(max(math.ceil((ph + 1) * rh / out) + sy, 0), h)
                ws = min(max(math.floor(pw * rw / out) + sx, 0), w)
                we = min(max(math.ceil((pw + 1) * rw / out) + sx, 0), w)
                if he > hs and we > ws:
                    result[r, :, ph, pw] = features[int(b), :, hs:he, ws:we].amax((-1, -2))
    return result


def test_roi_pool_equals_the_loop():
    gen = torch.Generator().manual_seed(0)
    features = torch.randn(2, 3, 12, 10, generator=gen)
    xy = torch.rand(20, 2, generator=gen) * 30
    boxes = torch.cat([xy, xy + 1 + torch.rand(20, 2, generator=gen) * 25], 1)
    rois = torch.cat([torch.randint(0, 2, (20, 1), generator=gen).float(), boxes], 1)
    for out, scale in ((3, 0.25), (4, 0.5), (2, 1.0)):
        torch.testing.assert_close(roi_pool(features, rois, out, scale),
                                   roi_pool_loop(features, rois, out, scale))
    # a list of per-image boxes is the same as (R, 5) rows
    per_image = [rois[rois[:, 0] == i, 1:] for i in range(2)]
    order = torch.argsort(rois[:, 0], stable=True)
    torch.testing.assert_close(roi_pool(features, per_image, 3, 0.25),
                               roi_pool(features, rois[order], 3, 0.25))
    features.requires_grad_(True)
    roi_pool(features, rois, 3, 0.25).sum().backward()
    assert features.grad.abs().sum() > 0


def test_roi_align_is_exact_on_a_linear_ramp():
    # bilinear interpolation of a linear function is exact: each bin averages to its centre's value
    h = w = 16
    ys, xs = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing="ij")
    ramp = (2 * xs + 3 * ys)[None, None].float()
    box = torch.tensor([[3.0, 4.0, 11.0, 10.0]])
    got = roi_align(ramp, [box], 2, 1.0, sampling_ratio=2)[0, 0]
    cx = torch.tensor([3 + 2.0, 3 + 6.0])
    cy = torch.tensor([4 + 1.5, 4 + 4.5])
    torch.testing.assert_close(got, 2 * cx[None, :] + 3 * cy[:, None])


def test_region_proposals_cover_the_image():
    windows = region_proposals(64, (16.0, 32.0), step=0.5)
    assert float(windows[:, 2].max()) == 64 and float(windows[:, 0].min()) == 0
    assert len(windows) == 7 * 7 + 3 * 3   # (64-16)/8+1 = 7 and (64-32)/16+1 = 3 starts per axis
    assert set((windows[:, 2] - windows[:, 0]).tolist()) == {16.0, 32.0}


def test_box_coder_round_trip_and_paste():
    coder = BoxCoder((10.0, 10.0, 5.0, 5.0))
    gen = torch.Generator().manual_seed(1)
    ref = torch.tensor([[0.0, 0.0, 10.0, 20.0]]).repeat(5, 1) + torch.rand(5, 1, generator=gen)
    boxes = ref + torch.rand(5, 4, generator=gen) * 3
    torch.testing.assert_close(coder.decode(ref, coder.encode(ref, boxes)), boxes)
    pasted = paste_masks(torch.ones(1, 14, 14), torch.tensor([[4.0, 2.0, 12.0, 10.0]]), (16, 16))
    assert (pasted > 0.5).nonzero()[:, 2].unique().tolist() == list(range(4, 12))
    assert (pasted > 0.5).nonzero()[:, 1].unique().tolist() == list(range(2, 10))
    assert MaskHead(8, 2, roi_size=5)(torch.zeros(3, 8, 5, 5)).shape == (3, 2, 10, 10)


def test_faster_rcnn_losses_and_outputs():
    torch.manual_seed(0)
    x, t = make_shapes(4, 32, 2, seed=2, min_size=8, max_size=12)
    net = FasterRCNN(3, (3, 32, 32), anchor_sizes=(8.0, 12.0), width=4, mask=True)
    targets = unpad_targets(*pad_targets(t, masks=True))
    losses = net.loss(torch.from_numpy(x), targets)
    assert set(losses) == {"rpn_cls", "rpn_box", "cls", "box", "mask"}
    total = sum(losses.values())
    total.backward()
    assert all(torch.isfinite(v) for v in losses.values())
    assert net.rpn_objectness.weight.grad.abs().sum() > 0
    assert net.mask_head.body[0].weight.grad.abs().sum() > 0
    net.eval()
    out = net(torch.from_numpy(x))
    assert len(out) == 4 and out[0]["masks"].dtype == torch.bool
    assert out[0]["masks"].shape[1:] == (32, 32)


def test_faster_rcnn_learns_a_little():
    """Seeded: 24 steps on 64 images lower the total loss by at least a third."""
    torch.manual_seed(0)
    x, t = make_shapes(64, 32, 2, seed=0, min_size=8, max_size=12)
    net = FasterRCNN(3, (3, 32, 32), anchor_sizes=(8.0, 12.0), width=4)
    h = fit_detector(net, x, t, epochs=3, batch_size=8, lr=3e-3)
    print("faster rcnn test losses", h["loss"])
    assert h["loss"][-1] <= h["loss"][0] * (2 / 3)


def test_rcnn_classifies_windows_and_is_slower():
    torch.manual_seed(0)
    x, t = make_shapes(32, 32, 1, seed=3, min_size=8, max_size=12)
    net = RCNN(3, (3, 32, 32), window_sizes=(8.0, 12.0), step=0.5, width=4, crop=16)
    h = fit_detector(net, x, t, epochs=2, batch_size=16, lr=3e-3)
    assert set(h.history) >= {"loss", "cls", "box"}
    net.eval()
    out = net(torch.from_numpy(x[:2]))
    assert len(out) == 2 and out[0]["boxes"].shape[1] == 4
    assert len(net.windows) > 30        # every window goes through the CNN


def test_bad_input():
    with pytest.raises(ConfigError, match="divisible by the stride 4"):
        FasterRCNN(3, (3, 30, 30))
    net = FasterRCNN(3, (3, 32, 32), anchor_sizes=(8.0,), width=4)
    with pytest.raises(ShapeError, match=r"expected images of shape \(N, 3, 32, 32\), received "
                                         r"\(1, 3, 16, 16\)"):
        net(torch.zeros(1, 3, 16, 16))
    with pytest.raises(DataError, match=r"labels in \[0, 3\), received \[5\]"):
        net.loss(torch.zeros(1, 3, 32, 32), [{"boxes": [[0, 0, 4, 4]], "labels": [5]}])
    with pytest.raises(DataError, match="x2 >= x1"):
        net.loss(torch.zeros(1, 3, 32, 32), [{"boxes": [[5, 0, 4, 4]], "labels": [0]}])
    with pytest.raises(DataError, match="expected a list of 2 target dicts"):
        net.loss(torch.zeros(2, 3, 32, 32), [{"boxes": [[0, 0, 4, 4]], "labels": [0]}])
    with pytest.raises(ShapeError, match=r"`rois` of shape \(R, 5\)"):
        roi_pool(torch.zeros(1, 1, 4, 4), torch.zeros(3, 4))
    with pytest.raises(DataError, match=r"image indices in \[0, 1\)"):
        roi_pool(torch.zeros(1, 1, 4, 4), torch.tensor([[2.0, 0, 0, 1, 1]]))
    with pytest.raises(ConfigError, match="`output_size` to be a positive integer"):
        roi_align(torch.zeros(1, 1, 4, 4), [torch.tensor([[0.0, 0, 1, 1]])], 0)
    with pytest.raises(ConfigError, match="`step` to be a finite number > 0 and <= 1"):
        region_proposals(32, step=0.0)

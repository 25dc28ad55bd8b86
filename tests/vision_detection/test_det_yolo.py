"""YOLO: the target tensor by hand, encode/decode round trip, the loss by its formula, learning."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from neuralab import registry
from neuralab.datasets._shapes import make_shapes
from neuralab.errors import ConfigError, DataError, ShapeError
from neuralab.training import fit
from neuralab.vision.detection import (TinyYolo, YoloEncoder, decode, kmeans_anchors,
                                       mean_average_precision, yolo_loss)


def test_encode_by_hand():
    enc = YoloEncoder(64, 4, anchors=[[8.0, 8.0], [20.0, 10.0]], num_classes=3)
    # centre (26, 40) -> cell col 1 (16..32), row 2 (32..48); offsets (10/16, 8/16)
    y = enc.encode([{"boxes": [[16.0, 35.0, 36.0, 45.0]], "labels": [2]}])
    assert y.shape == (1, 4, 4, 2, 8)
    slot = y[0, 2, 1]
    # the 20x10 box matches anchor 1 (20x10) exactly
    assert slot[0].tolist() == [0.0] * 8
    assert slot[1].tolist() == pytest.approx([1.0, 10 / 16, 8 / 16, 10 / 64, 20 / 64, 0, 0, 1])
    assert float(y.sum()) == pytest.approx(float(slot[1].sum()))


def test_collisions_take_the_next_anchor_then_drop():
    enc = YoloEncoder(32, 2, anchors=[[8.0, 8.0], [16.0, 16.0]], num_classes=1)
    boxes = [[0.0, 0.0, 8.0, 8.0], [1.0, 1.0, 9.0, 9.0], [2.0, 2.0, 10.0, 10.0]]
    y = enc.encode([{"boxes": boxes, "labels": [0, 0, 0]}])
    assert y[0, 0, 0, :, 0].tolist() == [1.0, 1.0] and enc.dropped == 1


def test_encode_decode_round_trip_gives_map_one():
    images, targets = make_shapes(30, 64, 3, seed=4)
    anchors = kmeans_anchors(np.concatenate([t["boxes"][:, 2:] - t["boxes"][:, :2]
                                             for t in targets]), 3)
    enc = YoloEncoder(64, 8, anchors, 3)
    y = enc.encode(targets)
    dets = decode(y, enc, raw=False, score_threshold=0.5)
    for d, t in zip(dets, targets):
        order = np.lexsort((t["boxes"][:, 0], t["boxes"][:, 1]))
        got = d["boxes"].numpy()
        got_order = np.lexsort((got[:, 0], got[:, 1]))
        np.testing.assert_allclose(got[got_order], t["boxes"][order], atol=1e-4)
    assert mean_average_precision(dets, targets) == 1.0


def test_loss_equals_its_formula():
    torch.manual_seed(0)
    enc = YoloEncoder(32, 2, anchors=[[8.0, 8.0], [16.0, 8.0]], num_classes=2)
    y = enc.encode([{"boxes": [[2.0, 3.0, 12.0, 11.0]], "labels": [1]},
                    {"boxes": [[20.0, 18.0, 30.0, 30.0]], "labels": [0]}])
    out = torch.randn(2, 2 * 7, 2, 2)
    got = yolo_loss(out, y, enc, lambda_coord=5.0, lambda_noobj=0.5)
    t = out.reshape(2, 2, 7, 2, 2).permute(0, 3, 4, 1, 2)
    total = 0.0
    for idx in np.ndindex(2, 2, 2, 2):
        tv, yv = t[idx], y[idx]
        if yv[0] == 1:
            a = enc.anchors[idx[3]]
            total += 5.0 * ((torch.sigmoid(tv[1]) - yv[1]) ** 2 + (torch.sigmoid(tv[2]) - yv[2]) ** 2
                            + (tv[3] - math.log(yv[3] * 32 / a[1])) ** 2
                            + (tv[4] - math.log(yv[4] * 32 / a[0])) ** 2)
            total += F.softplus(-tv[0]) + F.cross_entropy(tv[None, 5:], yv[None, 5:].argmax(1))
        else:
            total += 0.5 * F.softplus(tv[0])                 # BCE(t, 0) = log(1 + e^t)
    assert float(got) == pytest.approx(float(total) / 2, rel=1e-5)
    # a perfect, confident prediction has (almost) zero loss; the gradient flows
    out.requires_grad_(True)
    yolo_loss(out, y, enc).backward()
    assert torch.isfinite(out.grad).all() and out.grad.abs().sum() > 0


def test_tiny_yolo_is_registered_and_round_trips():
    net = registry.architectures.get("tiny_yolo", num_classes=2, input_shape=(3, 32, 32),
                                     grid_size=4, num_anchors=2, width=4)
    assert isinstance(net, TinyYolo) and net.output_shape == (14, 4, 4)
    rebuilt = registry.layers.get({"class": "TinyYolo", "config": net.get_config()})
    rebuilt.load_state_dict(net.state_dict())
    x = torch.randn(2, 3, 32, 32)
    net.eval(), rebuilt.eval()
    torch.testing.assert_close(rebuilt(x), net(x))
    net.reset_classifier(5)
    assert net.output_shape == (2 * 10, 4, 4)


def test_tiny_yolo_learns_shapes():
    """Seeded short run: 400 images of 32×32, one or two shapes, 4×4 grid; mAP@0.5 ≥ 0.35 (0.46 measured)."""
    torch.manual_seed(0)
    x, t = make_shapes(400, 32, 2, seed=0, min_size=8, max_size=13)
    xv, tv = make_shapes(100, 32, 2, seed=1, min_size=8, max_size=13)
    wh = np.concatenate([b["boxes"][:, 2:] - b["boxes"][:, :2] for b in t])
    enc = YoloEncoder(32, 4, kmeans_anchors(wh, 2), 3)
    net = TinyYolo(3, (3, 32, 32), grid_size=4, num_anchors=2, width=8)
    fit(net, torch.from_numpy(x), enc.encode(t), loss=enc.loss, lr=3e-3, epochs=6,
        batch_size=8, progress=False, seed=0)
    net.eval()
    with torch.no_grad():
        dets = decode(net(torch.from_numpy(xv)), enc, score_threshold=0.05)
    value = mean_average_precision(dets, tv)
    print("tiny_yolo test mAP@0.5", value)
    assert value >= 0.35


def test_bad_input():
    with pytest.raises(ConfigError, match="image at least as large as the grid, received image "
                                          r"\(4, 4\) for grid \(8, 8\)"):
        YoloEncoder(4, 8, [[2.0, 2.0]], 1)
    with pytest.raises(ConfigError, match=r"`anchors` of shape \(k, 2\)"):
        YoloEncoder(32, 4, [2.0, 2.0, 2.0], 1)
    enc = YoloEncoder(32, 4, [[8.0, 8.0], [4.0, 4.0]], 3)
    with pytest.raises(ShapeError, match=r"expected a head output of shape \(N, 16, 4, 4\) = "
                                         r"\(N, k·\(5\+p\), G, G\) for k=2 anchors and p=3 classes.*"
                                         r"received \(1, 24, 4, 4\)"):
        yolo_loss(torch.zeros(1, 24, 4, 4), torch.zeros(1, 4, 4, 2, 8), enc)
    with pytest.raises(DataError, match="centres inside the 32×32 image"):
        enc.encode([{"boxes": [[30.0, 30.0, 40.0, 40.0]], "labels": [0]}])
    with pytest.raises(DataError, match=r"labels in \[0, 3\), received \[3\]"):
        enc.encode([{"boxes": [[0.0, 0.0, 4.0, 4.0]], "labels": [3]}])
    with pytest.raises(DataError, match="x2 >= x1"):
        enc.encode([{"boxes": [[5.0, 0.0, 4.0, 4.0]], "labels": [0]}])
    with pytest.raises(ConfigError, match="side is the grid size times a power of two"):
        TinyYolo(3, (3, 48, 48), grid_size=5)
    with pytest.raises(ConfigError, match="`score_threshold`"):
        decode(torch.zeros(1, 16, 4, 4), enc, score_threshold=2.0)


def test_darknet53_matches_the_published_size_and_trains():
    from neuralab.vision.detection import Darknet53

    net = registry.architectures.get("darknet53")
    assert sum(p.numel() for p in net.parameters()) == 41_609_928      # timm's darknet53: 41.61M
    conv = [l for l in net.layers if type(l).__name__ == "Convolution"]
    assert len(conv) + 1 == 53                                          # 52 convolutions + the FC
    small = Darknet53(4, (3, 16, 16), width=4, blocks=(1, 1, 1, 1, 1))
    x = torch.randn(2, 3, 16, 16)
    y = small(x)
    assert y.shape == (2, 4)
    y.square().sum().backward()
    assert all(p.grad is not None for p in small.parameters())
    rebuilt = registry.layers.get({"class": "Darknet53", "config": small.get_config()})
    rebuilt.load_state_dict(small.state_dict())
    small.eval(), rebuilt.eval()
    torch.testing.assert_close(rebuilt(x), small(x))

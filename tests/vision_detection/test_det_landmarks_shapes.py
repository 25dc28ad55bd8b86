"""make_shapes' annotations agree with its pixels; landmark error by hand; landmark_net learns."""

import numpy as np
import pytest
import torch

from neuralab import registry
from neuralab.datasets._shapes import make_shapes
from neuralab.errors import ConfigError, ShapeError
from neuralab.training import fit
from neuralab.vision.detection import LandmarkNet, landmark_error


def test_shapes_annotations_agree_with_the_pixels():
    images, targets = make_shapes(40, 48, 3, seed=5, noise=0.0, background=0.0)
    assert images.shape == (40, 3, 48, 48) and images.dtype == np.float32
    for img, t in zip(images, targets):
        k = len(t["labels"])
        assert 1 <= k <= 3
        assert t["boxes"].shape == (k, 4) and t["masks"].shape == (k, 48, 48)
        assert t["keypoints"].shape == (k, 3, 2)
        painted = img.max(0) > 0
        assert (painted == t["masks"].any(0)).all()            # masks are exactly the shapes
        for box, mask, label, kp in zip(t["boxes"], t["masks"], t["labels"], t["keypoints"]):
            ys, xs = np.nonzero(mask)
            x1, y1, x2, y2 = box
            assert xs.min() >= x1 and xs.max() < x2 and ys.min() >= y1 and ys.max() < y2
            area = mask.sum() / ((x2 - x1) * (y2 - y1))
            expected = {0: 1.0, 1: np.pi / 4, 2: 0.5}[int(label)]
            assert abs(area - expected) < 0.2
            # keypoints lie on the box border / centre as documented
            assert (kp[:, 0] >= x1).all() and (kp[:, 0] <= x2).all()
        # boxes do not touch
        b = t["boxes"]
        for i in range(k):
            for j in range(i + 1, k):
                assert b[i, 2] < b[j, 0] or b[j, 2] < b[i, 0] or b[i, 3] < b[j, 1] or b[j, 3] < b[i, 1]


def test_shapes_are_seeded_and_validated():
    a, _ = make_shapes(3, 32, seed=7)
    b, _ = make_shapes(3, 32, seed=7)
    np.testing.assert_array_equal(a, b)
    grey, t = make_shapes(2, 32, 1, seed=0, kinds=("triangle",), channels=1)
    assert grey.shape == (2, 1, 32, 32) and all(t_["labels"].tolist() == [2] for t_ in t)
    with pytest.raises(ConfigError, match="`kinds` to be a sequence of 'square', 'circle', "
                                          "'triangle', received"):
        make_shapes(2, 32, kinds=("hexagon",))
    with pytest.raises(ConfigError, match="`image_size` to be an integer >= 8, received 4"):
        make_shapes(2, 4)
    with pytest.raises(ConfigError, match="could not place 5 objects"):
        make_shapes(1, 16, 5, min_objects=5, min_size=8, max_size=8)


def test_landmark_error_by_hand():
    pred = torch.tensor([[[0.0, 0.0], [3.0, 4.0]], [[1.0, 1.0], [1.0, 1.0]]])
    true = torch.zeros(2, 2, 2)
    assert landmark_error(pred, true) == pytest.approx((0 + 5 + 2 ** 0.5 * 2) / 4)
    assert landmark_error(pred, true, reduction="none").shape == (2, 2)
    assert landmark_error(pred.reshape(2, 4), true) == pytest.approx(landmark_error(pred, true))
    with pytest.raises(ShapeError, match=r"same shape, received \(2, 2, 2\) and \(2, 3, 2\)"):
        landmark_error(pred, torch.zeros(2, 3, 2))


def test_landmark_net_learns_triangle_vertices():
    """Seeded short run on 32×32 single triangles: mean vertex error ≤ 4 px (the mean guess: 6.3)."""
    torch.manual_seed(0)

    def data(n, seed):
        x, t = make_shapes(n, 32, 1, seed=seed, kinds=("triangle",), min_size=10, max_size=24)
        return torch.from_numpy(x), torch.stack([torch.from_numpy(d["keypoints"][0]) for d in t])

    x, k = data(400, 0)
    xv, kv = data(100, 1)
    net = registry.architectures.get("landmark_net", num_keypoints=3, input_shape=(3, 32, 32),
                                     width=8, hidden=64)
    assert isinstance(net, LandmarkNet) and net.output_shape == (6,)
    fit(net, x, net.encode(k), loss="mse", lr=3e-3, epochs=8, batch_size=16,
        progress=False, seed=0)
    net.eval()
    with torch.no_grad():
        pred = net.decode(net(xv))
    err = landmark_error(pred, kv)
    print("landmark test error px", err)
    baseline = landmark_error(kv.mean(0, keepdim=True).expand_as(kv), kv)
    print("landmark baseline px", baseline)
    assert err <= 4.0 and err < baseline / 1.5

"""The attentional cascade on lfw_subset: learning, consistency of its paths, storage, errors."""

import numpy as np
import pytest
import torch

from neuralab.errors import ConfigError, DataError, NotFittedError, ShapeError, StorageError
from neuralab.vision.face import (HaarCascade, HaarFeatures, group_rectangles, load_lfw_windows,
                                  sample_images)

pytest.importorskip("skimage")


def iou(a, b):
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    area = lambda r: (r[2] - r[0]) * (r[3] - r[1])  # noqa: E731
    return inter / (area(a) + area(b) - inter)


@pytest.fixture(scope="module")
def data():
    return load_lfw_windows(test_size=0.25, seed=0)


@pytest.fixture(scope="module")
def cascade(data):
    x, y, _, _ = data
    threads = torch.get_num_threads()  # module fixtures run before conftest's one-thread fixture
    torch.set_num_threads(1)
    try:
        return HaarCascade(n_stages=4, features_per_stage=1500, n_negatives=400, augment=2,
                           max_stumps_per_stage=30, random_state=0).fit(x, y)
    finally:
        torch.set_num_threads(threads)


def test_a_small_cascade_learns_lfw_faces(cascade, data):
    _, _, xt, yt = data
    pred = cascade.predict(xt)
    tpr, fpr = pred[yt == 1].mean(), pred[yt == 0].mean()
    # fixed seed, 4 stages of at most 30 stumps: held-out faces pass, non-faces do not
    assert tpr >= 0.88 and fpr <= 0.12, (tpr, fpr)
    assert len(cascade.stages_) == 4 and all(s["detection_rate"] >= 0.99 for s in cascade.stage_stats_)


def test_stage_scores_by_corners_equal_the_training_features(cascade, data):
    """Detection gathers ≤ 9 integral-image corners per stump; training used the sparse feature matrix."""
    xt = torch.as_tensor(data[2])
    stage = cascade.stages_[1]
    haar = HaarFeatures(25, 25, rects=stage["rects"])
    values = cascade._features(xt, haar).double()  # (T, N) normalised features
    h = (stage["polarities"][:, None] * values.numpy() < (stage["polarities"] * stage["thresholds"])[:, None])
    by_features = (h * stage["alphas"][:, None]).sum(0)
    ii = torch.nn.functional.pad(xt.cumsum(-1).cumsum(-2), (1, 0, 1, 0)).reshape(-1)
    ii2 = torch.nn.functional.pad((xt * xt).cumsum(-1).cumsum(-2), (1, 0, 1, 0)).reshape(-1)
    base = torch.arange(len(xt)) * 26 * 26
    from neuralab.vision.face._cascade import _window_stats
    mu, sigma = _window_stats(ii, ii2, base, 26, 25, 25)
    by_corners = cascade._stage_gather(cascade._stage_tensors[1], ii, 26, base, mu, sigma)
    np.testing.assert_allclose(by_corners.numpy(), by_features, atol=1e-6)


def test_dense_scan_agrees_with_window_predictions(cascade, data):
    """Scanning an image made of tiles finds exactly the tiles predict() accepts."""
    xt = data[2][:16]
    image = np.block([[xt[4 * r + c] for c in range(4)] for r in range(4)])  # (100, 100)
    ys, xs = cascade._scan(torch.as_tensor(image), 25)
    found = sorted((int(y) // 25) * 4 + int(x) // 25 for y, x in zip(ys, xs))
    assert found == np.flatnonzero(cascade.predict(xt) == 1).tolist()


def test_detect_multiscale_finds_the_astronaut(cascade):
    images, boxes = sample_images()
    found = cascade.detect_multiscale(images["astronaut"], min_size=(60, 60))
    assert found.shape[1] == 4 and len(found) >= 1
    # a 4-stage cascade: the face is among its detections (the full one is tested in the slow test)
    assert max(iou(b.tolist(), boxes["astronaut"]) for b in found) >= 0.4
    rgb = (np.stack([images["astronaut"]] * 3, -1) * 255).round().astype(np.uint8)
    again = cascade.detect_multiscale(rgb, min_size=(60, 60))
    assert abs(len(again) - len(found)) <= 2


def test_save_load_round_trip(cascade, data, tmp_path):
    path = tmp_path / "cascade.safetensors"
    cascade.save(path)
    again = HaarCascade.load(path)
    np.testing.assert_array_equal(again.predict(data[2]), cascade.predict(data[2]))
    assert again.get_params() == {**cascade.get_params(), "negative_images": "builtin"}
    (tmp_path / "bad.safetensors").write_bytes(b"\x80\x04pickle")
    with pytest.raises(StorageError):
        HaarCascade.load(tmp_path / "bad.safetensors")


def test_group_rectangles_like_opencv():
    b = torch.tensor([[0., 0, 10, 10], [1, 0, 11, 10], [0, 1, 10, 11], [50, 50, 60, 60]])
    out = group_rectangles(b, min_neighbors=1)
    torch.testing.assert_close(out, torch.tensor([[1 / 3, 1 / 3, 31 / 3, 31 / 3]]))
    assert len(group_rectangles(b, min_neighbors=3)) == 0
    assert len(group_rectangles(b, min_neighbors=0)) == 4


def test_bad_input(cascade, data):
    x, y = data[0], data[1]
    with pytest.raises(DataError, match=r"two classes \(faces and non-faces\), received 1 class"):
        HaarCascade(negative_images=None).fit(x[y == 1], y[y == 1])
    with pytest.raises(ShapeError, match=r"received shape \(512, 512, 3\), which looks like one colour image"):
        HaarCascade().fit(np.zeros((512, 512, 3)), np.zeros(512))
    with pytest.raises(DataError, match=r"at least as large as the detector window \(25, 25\), "
                                        r"received an image of \(20, 30\)"):
        cascade.detect_multiscale(np.zeros((20, 30)))
    with pytest.raises(ShapeError, match=r"grey image \(H, W\) or a colour image \(H, W, 3\)"):
        cascade.detect_multiscale(np.zeros((4, 30, 30)))
    with pytest.raises(ShapeError, match=r"windows of size \(25, 25\) \(the training window\), received \(24, 24\)"):
        cascade.predict(np.zeros((2, 24, 24)))
    with pytest.raises(ConfigError, match="expected `scale_factor` to be a finite number > 1"):
        cascade.detect_multiscale(np.zeros((40, 40)), scale_factor=1.0)
    with pytest.raises(ConfigError, match="expected `min_detection_rate`"):
        HaarCascade(min_detection_rate=1.5).fit(x, y)
    with pytest.raises(NotFittedError, match="not fitted yet"):
        HaarCascade().predict(x)
    colour = np.repeat(x[..., None], 3, -1)
    np.testing.assert_array_equal(cascade.predict(colour), cascade.predict(x))


def test_a_truncated_cascade_accepts_a_superset(cascade, data):
    short = cascade.truncated(2)
    assert len(short.stages_) == 2 and short.n_stumps_ < cascade.n_stumps_
    full, part = cascade.predict(data[2]), short.predict(data[2])
    assert (part >= full).all()
    np.testing.assert_array_equal(part, (cascade.stages_passed(data[2]) >= 2).astype(int))
    with pytest.raises(ConfigError, match=r"expected `n_stages` to be an integer >= 1 and <= 4"):
        cascade.truncated(5)


def test_threshold_slack_lowers_each_stage_threshold_below_the_faces(data):
    x, y = data[0], data[1]
    slack = 0.1
    one = HaarCascade(n_stages=1, features_per_stage=300, max_stumps_per_stage=10,
                      min_detection_rate=1.0, threshold_slack=slack, negative_images=None).fit(x, y)
    stage = one.stages_[0]
    _, margin = one._evaluate_windows(torch.as_tensor(x[y == 1]), all_stages=True)
    # Θ = (lowest training-face score) − slack · Σα, so the lowest face clears Θ by slack · Σα
    assert float(margin.min()) == pytest.approx(slack * stage["alphas"].sum(), abs=1e-6)
    with pytest.raises(ConfigError, match=r"expected `threshold_slack` to be a finite number >= 0 and <= 1"):
        HaarCascade(threshold_slack=1.5).fit(x, y)


def test_scan_of_several_levels_equals_predict_on_every_window(cascade):
    """A level large enough for the sliced stages and a small one go through one pooled gather."""
    image = torch.as_tensor(sample_images()[0]["astronaut"])
    big, small = image[60:135, 170:245], image[70:110, 180:220]  # 51² windows (sliced), 16² (pool)
    found = cascade._scan_levels([(big, 1), (small, 1)])
    for level, (ys, xs) in zip((big, small), found):
        windows = level.unfold(0, 25, 1).unfold(1, 25, 1)  # (ny, nx, 25, 25)
        ny, nx = windows.shape[:2]
        accepted = np.flatnonzero(cascade.predict(windows.reshape(-1, 25, 25)) == 1)
        assert sorted((ys * nx + xs).tolist()) == accepted.tolist()
    assert len(found[0][0]) > 0  # the face region has accepted windows


def test_per_stage_stump_limits_and_slack(data):
    x, y = data[0], data[1]
    limited = HaarCascade(n_stages=3, features_per_stage=300, max_stumps_per_stage=[1, 2],
                          max_false_positive_rate=0.01, negative_images=None).fit(x, y)
    assert [len(s["alphas"]) for s in limited.stages_] == [1, 2, 2]
    slack = [0.1, 0.2]
    two = HaarCascade(n_stages=2, features_per_stage=300, max_stumps_per_stage=10,
                      min_detection_rate=1.0, threshold_slack=slack, negative_images=None).fit(x, y)
    faces = torch.as_tensor(x[y == 1]).double()
    ii = torch.nn.functional.pad(faces.cumsum(-1).cumsum(-2), (1, 0, 1, 0)).reshape(-1)
    ii2 = torch.nn.functional.pad((faces * faces).cumsum(-1).cumsum(-2), (1, 0, 1, 0)).reshape(-1)
    base = torch.arange(len(faces)) * 26 * 26
    from neuralab.vision.face._cascade import _window_stats
    mu, sigma = _window_stats(ii, ii2, base, 26, 25, 25)
    for st, stage, s in zip(two._stage_tensors, two.stages_, slack):
        score = two._stage_gather(st, ii, 26, base, mu, sigma)
        # every training face passes; the lowest clears Θ by that stage's slack · Σα
        assert float(score.min() - stage["threshold"]) == pytest.approx(s * stage["alphas"].sum(),
                                                                         abs=1e-6)
    with pytest.raises(ConfigError, match=r"expected `max_stumps_per_stage\[1\]` to be an integer >= 1"):
        HaarCascade(max_stumps_per_stage=[3, 0]).fit(x, y)
    with pytest.raises(ConfigError, match=r"expected `threshold_slack` to be a finite number >= 0 and <= 1 or a non-empty list"):
        HaarCascade(threshold_slack=[]).fit(x, y)

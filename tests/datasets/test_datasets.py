import numpy as np
import pytest

from neuralab.datasets import is_reber, load_digits, make_reber, make_shapes, make_spirals
from neuralab.errors import ConfigError


def test_digits_split_is_fixed_stratified_and_scaled():
    a, b = load_digits(), load_digits()
    assert a.x_train.shape == (1437, 1, 8, 8) and a.x_test.shape == (360, 1, 8, 8)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert a.x_train.min() >= 0 and a.x_train.max() <= 1
    assert np.bincount(a.y_test).min() >= 35  # stratified: ~36 per class
    big = load_digits(size=32)
    assert big.x_train.shape == (1437, 1, 32, 32)
    # resizing keeps the picture: the mean intensity barely changes
    assert abs(big.x_train.mean() - a.x_train.mean()) < 0.01
    assert load_digits(flat=True).x_train.shape == (1437, 64)
    with pytest.raises(ConfigError, match="`size` must be a positive int, received 0"):
        load_digits(size=0)


def test_spirals_are_separated_by_class_angle():
    X, y = make_spirals(600, 3, noise=0.0)
    assert X.shape == (600, 2) and np.bincount(y).tolist() == [200, 200, 200]
    assert np.all(np.linalg.norm(X, axis=1) <= 1.0 + 1e-6)
    with pytest.raises(ConfigError, match=r"`n_classes` must be an int >= 2, received 1"):
        make_spirals(10, 1)


def test_reber_labels_agree_with_the_grammar():
    X, y, words = make_reber(300, seed=1)
    assert X.shape == (300, 20, 7)
    assert all(is_reber(w) == bool(t) for w, t in zip(words, y))
    assert 0.2 < y.mean() < 0.8
    # one-hot rows: each symbol position has exactly one 1
    lengths = [len(w) for w in words]
    assert all(X[i, :n].sum(1).tolist() == [1.0] * n for i, n in enumerate(lengths))
    assert is_reber("BPVVE") and is_reber("BTSSXXTVVE") and not is_reber("BTSSE")


def test_shapes_boxes_cover_the_painted_pixels():
    images, targets = make_shapes(20, size=32, seed=3)
    assert images.shape == (20, 1, 32, 32)
    for img, t in zip(images, targets):
        painted = img[0] > 0
        inside = np.zeros_like(painted)
        for x1, y1, x2, y2 in t["boxes"].astype(int):
            inside[y1:y2, x1:x2] = True
        assert not (painted & ~inside).any()
        assert set(t["labels"].tolist()) <= {0, 1, 2}


def test_random_shift_moves_images_without_wrapping():
    import torch

    from neuralab.datasets import RandomShift
    from neuralab.errors import DataError

    x = np.zeros((1, 1, 5, 5), np.float32)
    x[0, 0, 2, 2] = 1.0
    x[0, 0, 0, 0] = 5.0  # a corner pixel must never reappear on the far side
    data = RandomShift(x, np.array([7]), max_shift=1, seed=3)
    seen = set()
    for _ in range(300):
        image, label = data[0]
        assert int(label) == 7 and image.shape == (1, 5, 5)
        ones = torch.nonzero(image[0] == 1.0)
        seen.add(tuple(ones[0].tolist()))
        fives = torch.nonzero(image[0] == 5.0).tolist()
        assert fives in ([], [[0, 0]], [[0, 1]], [[1, 0]], [[1, 1]])
    assert seen == {(r, c) for r in (1, 2, 3) for c in (1, 2, 3)}
    with pytest.raises(ConfigError, match="`max_shift` must be a non-negative int, received -1"):
        RandomShift(x, np.array([7]), max_shift=-1)
    with pytest.raises(DataError, match=r"expects images \(N, C, H, W\), received shape \(1, 5\)"):
        RandomShift(np.zeros((1, 5)), np.array([7]))


def test_random_shift_rejects_mismatched_lengths():
    from neuralab.datasets import RandomShift
    from neuralab.errors import DataError

    with pytest.raises(DataError, match="RandomShift: x has 2 samples but y has 3"):
        RandomShift(np.zeros((2, 1, 4, 4)), np.zeros(3))

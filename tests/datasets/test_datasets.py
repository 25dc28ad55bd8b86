import re

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
    with pytest.raises(ConfigError, match="load_digits: expected `size` to be an integer >= 1, received 0"):
        load_digits(size=0)


def test_spirals_are_separated_by_class_angle():
    X, y = make_spirals(600, 3, noise=0.0)
    assert X.shape == (600, 2) and np.bincount(y).tolist() == [200, 200, 200]
    assert np.all(np.linalg.norm(X, axis=1) <= 1.0 + 1e-6)
    with pytest.raises(ConfigError, match=r"make_spirals: expected `n_classes` to be an integer >= 2, received 1"):
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
    images, targets = make_shapes(20, 32, seed=3, channels=1, noise=0.0, background=0.0)
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


# Reber grammar as a regular expression, derived by hand from the transition graph
# (independent of the generator's table): from state 3 the tail is (XT*VP)*(S|XT*VV),
# from state 4 it is V | P·(tail of 3).
_TAIL3 = r"(?:XT*VP)*(?:S|XT*VV)"
REBER_RE = re.compile(rf"^B(?:TS*X{_TAIL3}|PT*V(?:V|P{_TAIL3}))E$")


def test_reber_regex_agrees_with_the_examples():
    for word in ("BTXSE", "BPVVE", "BTSSXXTVVE", "BPTVPSE", "BTXXVPXVVE"):
        assert REBER_RE.match(word), word
    for word in ("BTSSE", "BTXE", "BPVE", "TXSE"):
        assert not REBER_RE.match(word), word


@pytest.mark.parametrize("fraction", [1.0, 0.0, 0.3])
def test_reber_invalid_fraction_is_honoured(fraction):
    X, y, words = make_reber(400, invalid_fraction=fraction, seed=2)
    grammatical = np.array([bool(REBER_RE.match(w)) for w in words])
    np.testing.assert_array_equal(grammatical, y.astype(bool))  # labels = an independent check
    if fraction in (0.0, 1.0):
        assert grammatical.mean() == 1.0 - fraction
    else:  # 400 draws of a 30% coin: within 5 points
        assert abs((1 - grammatical.mean()) - fraction) < 0.05
    with pytest.raises(ConfigError, match=r"`invalid_fraction` must be in \[0, 1\], received -1"):
        make_reber(10, invalid_fraction=-1)


def test_discrete_digits_are_ten_distinct_6x4_patterns():
    from neuralab.datasets._digits import DIGIT_SHAPE

    X, y = load_digits(discrete=True)
    assert X.shape == (10, 24) and DIGIT_SHAPE == (6, 4) and y.tolist() == list(range(10))
    assert set(np.unique(X).tolist()) == {0.0, 1.0}
    distance = np.abs(X[:, None] - X[None]).sum(-1) + 99 * np.eye(10)
    assert distance.min() >= 2  # every pair differs in at least two pixels
    # the 1 is a vertical stroke in column 2 with a foot
    assert X.reshape(10, 6, 4)[1, :, 2].tolist() == [1.0] * 6


def test_make_digits_noise_levels_and_modes():
    from neuralab.datasets._digits import make_digits

    clean, _ = load_digits(discrete=True)
    X, y = make_digits(2000, noise_level=0.1, mode="flip", seed=0)
    assert X.shape == (2000, 24) and X.dtype == np.float32 and np.bincount(y).min() > 150
    flipped = (X != clean[y]).mean()
    assert 0.09 < flipped < 0.11  # 48,000 pixels at p = 0.1
    X, y = make_digits(2000, noise_level=0.3, mode="remove", seed=1)
    assert not (X > clean[y]).any()  # "remove" only switches lit pixels off
    lit = clean[y] == 1
    assert 0.28 < (X[lit] == 0).mean() < 0.32
    X0, y0 = make_digits(20, noise_level=0.0, seed=5)
    np.testing.assert_array_equal(X0, clean[y0])
    a, b = make_digits(30, seed=7), make_digits(30, seed=7)
    np.testing.assert_array_equal(a[0], b[0])


@pytest.mark.parametrize("kwargs,match", [
    ({"noise_level": 1.5}, "make_digits: expected `noise_level` to be a finite number >= 0 and <= 1, "
                           "received 1.5"),
    ({"mode": "blur"}, "make_digits: expected `mode` to be one of 'flip', 'remove', received 'blur'"),
    ({"n_samples": 0}, "make_digits: expected `n_samples` to be an integer >= 1, received 0"),
])
def test_make_digits_bad_input(kwargs, match):
    from neuralab.datasets._digits import make_digits

    with pytest.raises(ConfigError, match=match):
        make_digits(**kwargs)

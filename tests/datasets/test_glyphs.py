"""make_glyphs: font glyphs drawn and counted like the UCI optdigits (scikit-learn's digits)."""

import numpy as np
import pytest

from neuralab.datasets import GLYPH_EXCLUDED, GLYPHS, make_glyphs
from neuralab.errors import ConfigError, DataError

pytest.importorskip("matplotlib")


def test_every_glyph_is_drawn_in_the_optdigits_format():
    X, y, names, bitmaps = make_glyphs(1, seed=0, return_bitmaps=True)
    assert names == GLYPHS and len(names) == 233
    assert X.shape == (233, 8, 8) and X.dtype == np.float64 and bitmaps.shape == (233, 32, 32)
    assert y.tolist() == list(range(233))
    # 8×8 values 0–16: the number of ink pixels in each non-overlapping 4×4 block
    assert np.array_equal(X, np.round(X)) and X.min() >= 0 and X.max() <= 16
    for i, j in [(0, 0), (3, 5), (7, 7)]:
        np.testing.assert_array_equal(X[:, i, j], bitmaps[:, 4 * i:4 * i + 4, 4 * j:4 * j + 4].sum((1, 2)))
    # the longer side of every glyph is fitted to the frame, as the UCI bitmaps were normalised
    tall = bitmaps[:, 0].any(1) & bitmaps[:, -1].any(1)
    wide = bitmaps[:, :, 0].any(1) & bitmaps[:, :, -1].any(1)
    assert (tall | wide).all()
    # and the ink covers a share of the frame like the digits' (sklearn's digits: 0.31 on average)
    assert 0.2 < X.sum() / (16 * 64 * len(X)) < 0.45


def test_samples_are_fixed_by_seed_and_independent_of_the_other_classes():
    a, ya, _ = make_glyphs(4, classes="AΩ", seed=1)
    b, _, _ = make_glyphs(4, classes=["A", "Ω"], seed=1)
    np.testing.assert_array_equal(a, b)
    alone, _, _ = make_glyphs(4, classes="Ω", seed=1)
    np.testing.assert_array_equal(a[ya == 1], alone)
    other, _, _ = make_glyphs(4, classes="AΩ", seed=2)
    assert not np.array_equal(a, other)
    x16, _, _ = make_glyphs(2, classes="A", size=4)
    assert x16.shape == (2, 4, 4) and x16.max() <= 16


def test_no_digit_or_lookalike_of_6_to_9_is_ever_drawn():
    assert not set(GLYPHS) & set(GLYPH_EXCLUDED)
    assert not set("0123456789") & set(GLYPHS)
    for g in "bgqGB":  # close to 6, 9, 9, 6, 8
        assert GLYPH_EXCLUDED[g].startswith("looks like a ")
    assert {GLYPH_EXCLUDED[g][-1] for g in GLYPH_EXCLUDED if g.isdigit() is False
            and GLYPH_EXCLUDED[g].startswith("looks")} == set("6789")
    for g in "7bП":
        with pytest.raises(DataError, match=f"left out: {GLYPH_EXCLUDED[g]}"):
            make_glyphs(1, classes=g)


def test_each_glyph_is_one_identity():
    # a nearest-class-mean classifier on fresh samples: the writers of one glyph agree
    # (measured 0.74 with seed 0, scikit-learn's digits 0.90 the same way; chance 0.1)
    X, y, names = make_glyphs(30, classes="AEKMRWxλЖЮ", seed=0)
    train, test = np.arange(len(y)) % 30 < 20, np.arange(len(y)) % 30 >= 20
    means = np.stack([X[train & (y == k)].mean(0) for k in range(10)]).reshape(10, -1)
    d = ((X[test].reshape(-1, 1, 64) - means[None]) ** 2).sum(-1)
    assert (d.argmin(1) == y[test]).mean() >= 0.6


@pytest.mark.parametrize("kwargs, error, message", [
    ({"n_per_class": 0}, ConfigError, "`n_per_class` to be an integer >= 1, received 0"),
    ({"n_per_class": 2, "size": 0}, ConfigError, "`size` to be an integer >= 1, received 0"),
    ({"n_per_class": 2, "seed": -1}, ConfigError, "`seed` to be an integer >= 0, received -1"),
    ({"n_per_class": 2, "classes": 5}, ConfigError, "`classes` to be a string or a sequence"),
    ({"n_per_class": 2, "classes": ""}, DataError, "at least one glyph"),
    ({"n_per_class": 2, "classes": "AA"}, DataError, "distinct glyphs, received 'AA'"),
    ({"n_per_class": 2, "classes": ["A", "Ab"]}, DataError, "glyphs of GLYPHS, received 'Ab'"),
    ({"n_per_class": 2, "classes": [["A"]]}, DataError, r"glyphs of GLYPHS, received \[\'A\'\]"),
    ({"n_per_class": 2, "return_bitmaps": "yes"}, ConfigError, "`return_bitmaps` to be True or False"),
])
def test_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        make_glyphs(**kwargs)

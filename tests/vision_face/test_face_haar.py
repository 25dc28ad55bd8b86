"""Integral images and Haar-like features against direct sums and scikit-image."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from neuralab.errors import DTypeError, ShapeError
from neuralab.vision.face import FEATURE_TYPES, HaarFeatures, haar_feature_rects, integral_image
from neuralab.vision.face._haar import as_grey_images

skimage_feature = pytest.importorskip("skimage.feature")
skimage_transform = pytest.importorskip("skimage.transform")


@settings(max_examples=25, deadline=None)
@given(h=st.integers(1, 12), w=st.integers(1, 12), n=st.integers(1, 3), seed=st.integers(0, 99))
def test_integral_image_is_a_double_cumsum_with_a_zero_border(h, w, n, seed):
    x = np.random.default_rng(seed).random((n, h, w))
    ii = integral_image(x).numpy()
    assert ii.shape == (n, h + 1, w + 1)
    assert np.all(ii[:, 0] == 0) and np.all(ii[:, :, 0] == 0)
    np.testing.assert_allclose(ii[:, 1:, 1:], np.cumsum(np.cumsum(x, 1), 2), rtol=1e-12)


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_four_lookups_give_the_rectangle_sum(data):
    h, w = data.draw(st.integers(1, 10)), data.draw(st.integers(1, 10))
    r, c = data.draw(st.integers(0, h - 1)), data.draw(st.integers(0, w - 1))
    rh, rw = data.draw(st.integers(1, h - r)), data.draw(st.integers(1, w - c))
    x = np.random.default_rng(h * 31 + w).random((h, w))
    ii = integral_image(x).numpy()
    box = ii[r + rh, c + rw] - ii[r, c + rw] - ii[r + rh, c] + ii[r, c]
    assert box == pytest.approx(x[r:r + rh, c:c + rw].sum(), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("size", [(4, 5), (7, 6), (9, 9)])
def test_every_feature_value_equals_skimage(size):
    h, w = size
    rng = np.random.default_rng(h * w)
    images = rng.random((3, h, w))
    ours = HaarFeatures(h, w)(images).numpy()
    for k, image in enumerate(images):
        ref = skimage_feature.haar_like_feature(skimage_transform.integral_image(image), 0, 0, w, h)
        np.testing.assert_allclose(ours[k], ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("feature_type", FEATURE_TYPES)
def test_rectangles_and_order_equal_skimage_coordinates(feature_type):
    rects, types = haar_feature_rects(6, 5, [feature_type])
    coords, ref_types = skimage_feature.haar_like_feature_coord(5, 6, feature_type)
    assert len(rects) == len(coords) and set(ref_types) == {feature_type}
    for ours, ref in zip(rects, coords):
        used = ours[ours[:, 4] != 0]
        got = [[(r, c), (r + h - 1, c + w - 1)] for r, c, h, w, _ in used]
        assert got == [[tuple(a), tuple(b)] for a, b in ref]


def test_a_25x25_window_has_190736_features():
    # Σ over types of (positions × sizes): 2 · 156·325 + 2 · 100·325 + 156·156
    assert len(HaarFeatures(25, 25)) == 190736 == 2 * 156 * 325 + 2 * 100 * 325 + 156 * 156
    assert len(HaarFeatures(6, 5)) == len(skimage_feature.haar_like_feature_coord(5, 6)[0])


def test_a_hand_computed_two_rectangle_feature():
    haar = HaarFeatures(4, 4)
    x = np.zeros((1, 4, 4))
    x[0, :, 2:] = 1.0
    assert float(haar(x)[0, haar.index("type-2-x", 0, 0, 4, 4)]) == 8.0   # right − left
    assert float(haar(x)[0, haar.index("type-2-y", 0, 0, 4, 4)]) == 0.0


def test_colour_images_become_bt709_grey_like_skimage():
    color = pytest.importorskip("skimage.color")
    rgb = np.random.default_rng(0).integers(0, 256, (6, 7, 3)).astype(np.uint8)
    ours = as_grey_images(rgb, "test", batched=False).numpy()
    np.testing.assert_allclose(ours, color.rgb2gray(rgb), atol=1e-12)


def test_bad_images_name_the_expected_shape():
    with pytest.raises(ShapeError, match=r"grey image \(H, W\) or a colour image \(H, W, 3\)"):
        as_grey_images(np.zeros((5, 5, 2)), "detect", batched=False)
    with pytest.raises(DTypeError, match="an array of numbers"):
        as_grey_images(np.array([["a"]]), "detect", batched=False)
    with pytest.raises(ShapeError, match=r"expected windows \(N, 4, 4\), received \(2, 5, 5\)"):
        HaarFeatures(4, 4)(torch.zeros(2, 5, 5))
    with pytest.raises(ShapeError, match=r"\(H, W\) or \(N, H, W\)"):
        integral_image(np.zeros(3))

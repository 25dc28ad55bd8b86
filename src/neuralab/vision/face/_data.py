"""Offline face data: LFW crops, face-free background images, augmentation.

Everything here ships with scikit-image, scikit-learn or matplotlib; nothing
is downloaded. ``load_lfw_windows`` splits scikit-image's ``lfw_subset`` (100
face crops and 100 non-face patches, 25 × 25) into train and test halves with a
seed; ``background_images`` returns pictures that contain no human face (the
hard negatives of the cascade are mined from them); ``augment_windows`` makes
more positives by mirroring and small random rotations, scalings and shifts.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ...errors import ConfigError
from ...validation import check_int, check_number

__all__ = ["load_lfw_windows", "background_images", "augment_windows", "sample_images",
           "BACKGROUND_NAMES"]

# scikit-image pictures without a human face (camera, astronaut … are left out)
BACKGROUND_NAMES = ("coffee", "rocket", "brick", "grass", "gravel", "coins", "moon", "page",
                    "text", "horse", "hubble_deep_field", "immunohistochemistry", "colorwheel",
                    "cell", "clock", "chelsea", "retina", "microaneurysms", "logo",
                    "stereo_motorcycle")


def _require_skimage(what: str):
    try:
        import skimage.data  # noqa: F401
    except ModuleNotFoundError:  # pragma: no cover - skimage is in the dev/vision extras
        raise ConfigError(f"{what} needs scikit-image (pip install 'neuralab[vision]')") from None
    import skimage.data

    return skimage.data


def _grey(image) -> np.ndarray:
    from ._haar import as_grey_images

    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 4:
        image = image[..., :3]
    return as_grey_images(image, "background_images", batched=False).numpy()


def load_lfw_windows(test_size: float = 0.25, seed: int = 0):
    """scikit-image's ``lfw_subset`` split into train and test.

    Returns ``(x_train, y_train, x_test, y_test)``: float windows ``(N, 25, 25)``
    in [0, 1] and labels (1 face, 0 non-face); faces and non-faces are split
    in the same proportion.
    """
    test_size = check_number("load_lfw_windows", "test_size", test_size, low=0.0, high=1.0,
                             low_open=True, high_open=True)
    data = _require_skimage("load_lfw_windows").lfw_subset().astype(np.float64)
    labels = np.r_[np.ones(100, np.int64), np.zeros(100, np.int64)]
    rng = np.random.default_rng(seed)
    test = np.zeros(200, bool)
    for cls in (0, 1):
        idx = np.flatnonzero(labels == cls)
        test[rng.choice(idx, int(round(test_size * len(idx))), replace=False)] = True
    return data[~test], labels[~test], data[test], labels[test]


def background_images(max_side: int | None = 400) -> list[np.ndarray]:
    """Face-free grey images in [0, 1]: scikit-image's pictures plus scikit-learn's flower and china.

    Args:
        max_side: images are shrunk so their longer side is at most this (None: full size).
    """
    data = _require_skimage("background_images")
    images = []
    for name in BACKGROUND_NAMES:
        try:
            image = getattr(data, name)()
            if isinstance(image, tuple):  # stereo_motorcycle: (left, right, disparity)
                image = image[0]
            images.append(_grey(image))
        except (AttributeError, ModuleNotFoundError, OSError, ValueError):  # not in this version
            continue
    try:
        from sklearn.datasets import load_sample_image

        for name in ("flower.jpg", "china.jpg"):
            images.append(_grey(load_sample_image(name)))
    except (ImportError, OSError, ValueError):  # pragma: no cover - needs Pillow
        pass
    if max_side is not None:
        images = [_shrink(im, max_side) for im in images]
    return images


def _shrink(image: np.ndarray, max_side: int) -> np.ndarray:
    h, w = image.shape
    factor = max(h, w) / max_side
    if factor <= 1:
        return image
    size = (max(1, round(h / factor)), max(1, round(w / factor)))
    t = torch.from_numpy(image)[None, None]
    return F.interpolate(t, size=size, mode="bilinear", antialias=True,
                         align_corners=False)[0, 0].numpy()


def sample_images():
    """``{"astronaut": grey (512, 512), "grace_hopper": grey (600, 512)}`` with their face boxes.

    Returns ``(images, boxes)``; ``boxes[name]`` is the face box in xyxy pixels
    (the box OpenCV 4's bundled frontal-face cascade reports, rounded).
    """
    data = _require_skimage("sample_images")
    import matplotlib.cbook as cbook
    import matplotlib.image as mpimg

    with cbook.get_sample_data("grace_hopper.jpg") as fh:
        hopper = mpimg.imread(fh, format="jpg")
    images = {"astronaut": _grey(data.astronaut()), "grace_hopper": _grey(hopper)}
    boxes = {"astronaut": (177.0, 66.0, 272.0, 161.0), "grace_hopper": (155.0, 105.0, 377.0, 327.0)}
    return images, boxes


def augment_windows(windows, n_copies: int = 4, *, max_angle: float = 12.0,
                    max_scale: float = 0.1, max_shift: float = 1.5, flip: bool = True,
                    seed: int = 0) -> np.ndarray:
    """More training windows: the originals, their mirror images and random small warps.

    Each original yields itself, its mirror (``flip``) and ``n_copies`` warped
    copies (rotation within ±``max_angle`` degrees, scale within 1 ± ``max_scale``,
    shift within ±``max_shift`` pixels, mirrored at random when ``flip``),
    resampled bilinearly with the border replicated.

    Shape: ``(N, H, W)`` → ``(N · (1 + flip + n_copies), H, W)``.

    Example:
        >>> augment_windows(np.zeros((3, 25, 25)), 2).shape
        (12, 25, 25)
    """
    n_copies = check_int("augment_windows", "n_copies", n_copies, low=0)
    x = torch.as_tensor(np.asarray(windows, dtype=np.float64))
    parts = [x] + ([x.flip(-1)] if flip else [])
    if n_copies:
        gen = torch.Generator().manual_seed(seed)
        rep = x.repeat(n_copies, 1, 1)
        m = len(rep)
        u = torch.rand(m, 5, generator=gen, dtype=torch.float64) * 2 - 1
        angle = u[:, 0] * math.radians(max_angle)
        scale = 1 + u[:, 1] * max_scale
        h, w = x.shape[1:]
        tx, ty = u[:, 2] * max_shift * 2 / w, u[:, 3] * max_shift * 2 / h
        mirror = torch.where((u[:, 4] > 0) & flip, -1.0, 1.0).to(torch.float64)
        cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
        theta = torch.stack([torch.stack([cos * mirror, -sin, tx], 1),
                             torch.stack([sin * mirror, cos, ty], 1)], 1)
        grid = F.affine_grid(theta, (m, 1, h, w), align_corners=False)
        warped = F.grid_sample(rep[:, None], grid, mode="bilinear", padding_mode="border",
                               align_corners=False)[:, 0]
        parts.append(warped)
    return torch.cat(parts).numpy()

"""Synthetic detection data: coloured shapes on noisy backgrounds, with every annotation."""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ..validation import check_int, check_number, expected

__all__ = ["make_shapes", "SHAPE_CLASSES"]

#: class names of :func:`make_shapes`, indexed by label
SHAPE_CLASSES = ("square", "circle", "triangle")


def _cross(px, py, ax, ay, bx, by):
    """z of (p − a) × (b − a): its sign says on which side of a→b the point p lies."""
    return (px - ax) * (by - ay) - (py - ay) * (bx - ax)


def _render(kind: int, x1: int, y1: int, side: int, apex: float, size: int):
    """Mask (pixel centres inside the shape) and 3 keypoints of one shape."""
    x2, y2 = x1 + side, y1 + side
    yy, xx = np.mgrid[y1:y2, x1:x2] + 0.5               # pixel centres inside the box
    if kind == 0:                                      # square: corners TL, TR, BR
        inside = np.ones(xx.shape, dtype=bool)
        points = [(x1, y1), (x2, y1), (x2, y2)]
    elif kind == 1:                                    # circle: centre, top, right
        cx, cy, r = x1 + side / 2, y1 + side / 2, side / 2
        inside = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
        points = [(cx, cy), (cx, y1), (x2, cy)]
    else:                                              # triangle: apex, base-left, base-right
        ax = x1 + apex * side
        points = [(ax, y1), (x1, y2), (x2, y2)]
        (p0x, p0y), (p1x, p1y), (p2x, p2y) = points
        d = np.stack([_cross(xx, yy, p0x, p0y, p1x, p1y), _cross(xx, yy, p1x, p1y, p2x, p2y),
                      _cross(xx, yy, p2x, p2y, p0x, p0y)])
        inside = (d >= 0).all(0) | (d <= 0).all(0)
    mask = np.zeros((size, size), dtype=bool)
    mask[y1:y2, x1:x2] = inside
    return mask, np.asarray(points, dtype=np.float32)


def make_shapes(n_samples: int = 100, image_size: int = 32, max_objects: int = 3,
                seed: int | None = 0, *, min_objects: int = 1, min_size: int | None = None,
                max_size: int | None = None, kinds=SHAPE_CLASSES, channels: int = 3,
                noise: float = 0.05, background: float | None = None):
    """Images of coloured squares, circles and triangles with boxes, labels, masks and keypoints.

    Each image has a random dark background colour plus Gaussian noise of std
    ``noise`` (clipped to [0, 1]) and ``min_objects``–``max_objects`` shapes
    of random bright colours (colour says nothing about the class), sides in
    ``[min_size, max_size]`` pixels, placed so that their boxes do not touch
    (so every mask is the whole shape). Triangles have a horizontal base and an
    apex anywhere above it, so their keypoints are not given by their box.

    Args:
        n_samples: number of images.
        image_size: side S of the square images (≥ 8).
        max_objects, min_objects: objects per image.
        seed: NumPy seed (the same seed gives the same data).
        min_size, max_size: object sides in pixels (default S/6 and S/2.5).
        kinds: which of "square", "circle", "triangle" to draw (labels keep the
            indices of :data:`SHAPE_CLASSES`: 0 square, 1 circle, 2 triangle).
        channels: 3 (RGB) or 1 (grey).
        noise: std of the background noise.
        background: a fixed background level instead of random dark colours.

    Returns:
        ``(images, targets)``: float32 ``(N, C, S, S)`` images and a list of N
        dicts with ``boxes`` (k, 4) float32 xyxy pixels, ``labels`` (k,) int64,
        ``masks`` (k, S, S) bool and ``keypoints`` (k, 3, 2) float32 (x, y):
        a triangle's apex, base-left and base-right vertices; a square's
        top-left, top-right and bottom-right corners; a circle's centre, top
        and rightmost points.

    Example:
        >>> images, targets = make_shapes(4, 32, seed=0)
        >>> images.shape, images.dtype, sorted(targets[0])
        ((4, 3, 32, 32), dtype('float32'), ['boxes', 'keypoints', 'labels', 'masks'])
    """
    owner = "make_shapes"
    n_samples = check_int(owner, "n_samples", n_samples, low=1)
    size = check_int(owner, "image_size", image_size, low=8)
    max_objects = check_int(owner, "max_objects", max_objects, low=1)
    min_objects = check_int(owner, "min_objects", min_objects, low=0, high=max_objects)
    channels = check_int(owner, "channels", channels, low=1, high=3)
    if channels == 2:
        raise expected(owner, "channels", "1 (grey) or 3 (RGB)", channels)
    noise = check_number(owner, "noise", noise, low=0.0)
    background = check_number(owner, "background", background, low=0.0, high=1.0,
                              allow_none=True)
    min_size = check_int(owner, "min_size", size // 6 if min_size is None else min_size, low=3)
    max_size = check_int(owner, "max_size", int(size / 2.5) if max_size is None else max_size,
                         low=min_size, high=size - 2)
    if isinstance(kinds, str):
        kinds = (kinds,)
    try:
        kind_ids = sorted({SHAPE_CLASSES.index(k) for k in kinds})
    except (ValueError, TypeError):
        raise expected(owner, "kinds", f"a sequence of {', '.join(map(repr, SHAPE_CLASSES))}",
                       kinds) from None
    if not kind_ids:
        raise expected(owner, "kinds", "a non-empty sequence of shape names", kinds)
    rng = np.random.default_rng(seed)
    images = np.empty((n_samples, channels, size, size), dtype=np.float32)
    targets = []
    for i in range(n_samples):
        if background is None:
            base = rng.uniform(0.0, 0.35, (channels, 1, 1))
        else:
            base = np.full((channels, 1, 1), background)
        image = base + rng.normal(0.0, noise, (channels, size, size)) if noise else \
            np.broadcast_to(base, (channels, size, size)).copy()
        boxes, labels, masks, points = [], [], [], []
        wanted = int(rng.integers(min_objects, max_objects + 1))
        attempts = 0
        while len(boxes) < wanted and attempts < 50 * wanted:
            attempts += 1
            side = int(rng.integers(min_size, max_size + 1))
            x1, y1 = (int(v) for v in rng.integers(0, size - side + 1, 2))
            box = (x1, y1, x1 + side, y1 + side)
            # keep a one-pixel gap between boxes
            if any(box[0] <= b[2] and b[0] <= box[2] and box[1] <= b[3] and b[1] <= box[3]
                   for b in boxes):
                continue
            kind = kind_ids[int(rng.integers(len(kind_ids)))]
            mask, kp = _render(kind, x1, y1, side, float(rng.uniform(0.15, 0.85)), size)
            colour = rng.uniform(0.55, 1.0, channels)
            if channels == 3:   # saturated colours: one channel may be dim
                colour[int(rng.integers(3))] *= rng.uniform(0.2, 1.0)
            image[:, mask] = colour[:, None] + rng.normal(0.0, noise / 2, (channels, 1))
            boxes.append(box)
            labels.append(kind)
            masks.append(mask)
            points.append(kp)
        if len(boxes) < min_objects:
            raise ConfigError(f"{owner}: could not place {min_objects} objects of side "
                              f"{min_size}-{max_size} without overlap in a {size}×{size} image; "
                              "use fewer or smaller objects")
        images[i] = np.clip(image, 0.0, 1.0)
        k = len(boxes)
        targets.append({
            "boxes": np.asarray(boxes, dtype=np.float32).reshape(k, 4),
            "labels": np.asarray(labels, dtype=np.int64),
            "masks": np.asarray(masks, dtype=bool).reshape(k, size, size),
            "keypoints": np.asarray(points, dtype=np.float32).reshape(k, 3, 2),
        })
    return images, targets

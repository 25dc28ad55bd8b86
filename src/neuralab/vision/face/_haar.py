"""Integral images and the five Haar-like feature types of Viola and Jones.

An integral image holds at ``(r, c)`` the sum of every pixel above and to the
left. We pad it with a zero row and column, ``ii[r, c] = Σ_{i<r, j<c} x[i, j]``,
so the sum of any rectangle is four look-ups:

    Σ x[r:r+h, c:c+w] = ii[r+h, c+w] − ii[r, c+w] − ii[r+h, c] + ii[r, c]

A Haar-like feature is a signed sum of two, three or four adjacent rectangles
of equal size. The five types follow scikit-image's names and signs (``−`` on
the first rectangle, then alternating):

- ``type-2-x``: left | right, value = right − left;
- ``type-2-y``: top / bottom, value = bottom − top;
- ``type-3-x``: left | centre | right, value = centre − left − right;
- ``type-3-y``: the same stacked vertically;
- ``type-4``: a 2 × 2 checkerboard, value = (top-right + bottom-left) − (top-left + bottom-right).

Every feature of a window is one row of a sparse matrix over the padded
integral image's entries (at most nine non-zero corners per feature), so the
features of ``N`` windows are one sparse × dense product.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from ...errors import DTypeError, ShapeError, format_shape
from ...validation import expected

__all__ = ["FEATURE_TYPES", "integral_image", "haar_feature_rects", "HaarFeatures",
           "as_grey_images"]

FEATURE_TYPES = ("type-2-x", "type-2-y", "type-3-x", "type-3-y", "type-4")

# (rectangles across, rectangles down) of each type
_GRID = {"type-2-x": (2, 1), "type-2-y": (1, 2), "type-3-x": (3, 1), "type-3-y": (1, 3),
         "type-4": (2, 2)}

_LUMA = (0.2125, 0.7154, 0.0721)  # ITU-R BT.709, as skimage.color.rgb2gray


def as_grey_images(images, owner: str, *, name: str = "images", batched: bool = True,
                   dtype=torch.float64) -> torch.Tensor:
    """Images as a float tensor ``(N, H, W)`` (``batched``) or ``(H, W)`` with values in [0, 1].

    Grey images pass unchanged; colour images (a last axis of 3 or 4 channels,
    RGB(A)) are converted with the BT.709 luma weights. Integer images are
    divided by 255.

    Raises:
        ShapeError: an array of the wrong rank or a last axis that is neither grey nor colour.
        DTypeError: a non-numeric array.
    """
    if isinstance(images, torch.Tensor):
        array = images.detach().cpu()
        is_int = not (array.is_floating_point() or array.is_complex()) and array.dtype != torch.bool
    else:
        try:
            array = np.asarray(images)
        except (TypeError, ValueError):
            raise expected(owner, name, "an array of pixels", type(images).__name__,
                           error=DTypeError) from None
        if array.dtype == object or not (np.issubdtype(array.dtype, np.number)
                                         or array.dtype == bool):
            raise expected(owner, name, "an array of numbers", f"dtype {array.dtype}",
                           error=DTypeError)
        is_int = np.issubdtype(array.dtype, np.integer)
        array = torch.from_numpy(np.ascontiguousarray(array).astype(np.float64, copy=False))
    base = 3 if batched else 2
    what = ("grey windows (N, H, W) or colour windows (N, H, W, 3)" if batched
            else "a grey image (H, W) or a colour image (H, W, 3)")
    if array.dim() == base + 1:
        if array.shape[-1] not in (3, 4):
            raise ShapeError(f"{owner}: expected `{name}` to be {what}, received shape "
                             f"{format_shape(array.shape)} (a last axis of {array.shape[-1]} "
                             "is neither grey nor RGB/RGBA)")
        weights = torch.tensor(_LUMA, dtype=torch.float64)
        array = (array[..., :3].to(torch.float64) * weights).sum(-1)
    elif array.dim() != base:
        raise ShapeError(f"{owner}: expected `{name}` to be {what}, received shape "
                         f"{format_shape(array.shape)}")
    array = array.to(dtype)
    if is_int:
        array = array / 255.0
    return array


def integral_image(images, *, dtype=torch.float64) -> torch.Tensor:
    """The zero-padded integral image ``ii[r, c] = Σ_{i<r, j<c} x[i, j]``.

    Args:
        images: one image ``(H, W)`` or a batch ``(N, H, W)`` (array or tensor).
        dtype: floating dtype of the result (default float64: exact sums of
            8-bit images of any practical size).

    Shape:
        ``(H, W)`` → ``(H + 1, W + 1)``; ``(N, H, W)`` → ``(N, H + 1, W + 1)``.
        ``ii[1:, 1:]`` is the unpadded integral image (scikit-image's
        ``integral_image``).

    Example:
        >>> import numpy as np
        >>> ii = integral_image(np.ones((2, 3)))
        >>> ii.tolist()
        [[0.0, 0.0, 0.0, 0.0], [0.0, 1.0, 2.0, 3.0], [0.0, 2.0, 4.0, 6.0]]
    """
    x = images if isinstance(images, torch.Tensor) else torch.as_tensor(np.asarray(images))
    if x.dim() not in (2, 3):
        raise ShapeError(f"integral_image: expected `images` to be (H, W) or (N, H, W), "
                         f"received shape {format_shape(x.shape)}")
    x = x.to(dtype)
    ii = x.cumsum(-1).cumsum(-2)
    return torch.nn.functional.pad(ii, (1, 0, 1, 0))


def haar_feature_rects(height: int, width: int, feature_types=None) -> tuple[np.ndarray, np.ndarray]:
    """Every Haar-like feature of a ``height × width`` window, in scikit-image's order.

    Features are enumerated by type, then top row ``r``, left column ``c``,
    rectangle height ``dh`` and rectangle width ``dw`` (the order of
    ``skimage.feature.haar_like_feature_coord``).

    Returns:
        ``rects`` ``(F, 4, 5)`` int64 rows ``(r, c, h, w, sign)`` of each feature's
        rectangles (unused slots have sign 0), and ``types`` ``(F,)``: the index
        of each feature's type in :data:`FEATURE_TYPES`.

    Example:
        >>> rects, types = haar_feature_rects(2, 2, ["type-2-x"])
        >>> rects[0, :2].tolist()     # a 1x1 left rectangle (−) and its right neighbour (+)
        [[0, 0, 1, 1, -1], [0, 1, 1, 1, 1]]
    """
    if feature_types is None:
        feature_types = FEATURE_TYPES
    if isinstance(feature_types, str):
        feature_types = [feature_types]
    all_rects, all_types = [], []
    for name in feature_types:
        if name not in _GRID:
            raise expected("haar_feature_rects", "feature_types",
                           "a list of " + ", ".join(repr(t) for t in FEATURE_TYPES), name)
        nx, ny = _GRID[name]
        r, c, dh, dw = np.meshgrid(np.arange(height), np.arange(width), np.arange(1, height + 1),
                                   np.arange(1, width + 1), indexing="ij")
        r, c, dh, dw = (a.ravel() for a in (r, c, dh, dw))
        ok = (r + ny * dh <= height) & (c + nx * dw <= width)
        r, c, dh, dw = r[ok], c[ok], dh[ok], dw[ok]
        if name == "type-4":  # top-left, top-right, bottom-right, bottom-left
            offsets = [(0, 0), (0, 1), (1, 1), (1, 0)]
        else:
            offsets = [(k * (ny > 1), k * (nx > 1)) for k in range(max(nx, ny))]
        rects = np.zeros((len(r), 4, 5), dtype=np.int64)
        for k, (oy, ox) in enumerate(offsets):
            rects[:, k, 0] = r + oy * dh
            rects[:, k, 1] = c + ox * dw
            rects[:, k, 2] = dh
            rects[:, k, 3] = dw
            rects[:, k, 4] = -1 if k % 2 == 0 else 1
        all_rects.append(rects)
        all_types.append(np.full(len(r), FEATURE_TYPES.index(name), dtype=np.int64))
    if not all_rects:
        return np.zeros((0, 4, 5), np.int64), np.zeros(0, np.int64)
    return np.concatenate(all_rects), np.concatenate(all_types)


def rect_corners(rects: np.ndarray, row_stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Each feature as (flat corner offsets, coefficients) on a padded integral image.

    ``row_stride`` is the padded image's width (``W + 1``). Returns two
    ``(F, 16)`` arrays (four corners per rectangle; unused ones have coefficient 0).
    """
    r, c, h, w, s = (rects[..., k] for k in range(5))
    corners = np.stack([(r + h) * row_stride + (c + w), r * row_stride + (c + w),
                        (r + h) * row_stride + c, r * row_stride + c], axis=-1)  # (F, 4, 4)
    signs = np.array([1, -1, -1, 1])
    coef = s[..., None] * signs  # (F, 4, 4)
    return corners.reshape(len(rects), 16), coef.reshape(len(rects), 16).astype(np.float64)


class HaarFeatures:
    """The Haar-like features of one window size, evaluated as one sparse product.

    Args:
        height, width: the window size.
        feature_types: a list from :data:`FEATURE_TYPES` (default all five).
        rects: instead of the enumeration, explicit rectangles ``(F, 4, 5)``.

    Attributes:
        rects: ``(F, 4, 5)`` rows ``(r, c, h, w, sign)``.
        types: ``(F,)`` type index (−1 when ``rects`` were given).
        weight_sums: ``(F,)`` Σ sign · area, the feature of an all-ones window.

    Example:
        >>> import numpy as np
        >>> haar = HaarFeatures(4, 4)
        >>> len(haar)
        136
        >>> x = np.zeros((1, 4, 4)); x[0, :, 2:] = 1.0      # dark left half, bright right half
        >>> float(haar(x)[0, haar.index("type-2-x", 0, 0, 4, 4)])
        8.0
    """

    def __init__(self, height: int, width: int, feature_types=None, *, rects=None):
        self.height, self.width = int(height), int(width)
        if rects is None:
            self.rects, self.types = haar_feature_rects(self.height, self.width, feature_types)
        else:
            self.rects = np.asarray(rects, dtype=np.int64).reshape(-1, 4, 5)
            self.types = np.full(len(self.rects), -1, dtype=np.int64)
        self.weight_sums = (self.rects[..., 2] * self.rects[..., 3] * self.rects[..., 4]).sum(-1)
        self._matrix = {}

    def __len__(self) -> int:
        return len(self.rects)

    def index(self, feature_type: str, r: int, c: int, height: int, width: int) -> int:
        """Position of the feature of ``feature_type`` at ``(r, c)`` whose whole extent is ``height × width``."""
        t = FEATURE_TYPES.index(feature_type)
        nx, ny = _GRID[feature_type]
        first = self.rects[:, 0]
        hits = np.flatnonzero((self.types == t) & (first[:, 0] == r) & (first[:, 1] == c)
                              & (first[:, 2] * ny == height) & (first[:, 3] * nx == width))
        if len(hits) == 0:
            raise expected("HaarFeatures.index", "feature", "a feature inside the window",
                           (feature_type, r, c, height, width))
        return int(hits[0])

    def subset(self, indices) -> "HaarFeatures":
        """The features at ``indices`` as a new :class:`HaarFeatures`."""
        out = HaarFeatures(self.height, self.width, rects=self.rects[np.asarray(indices)])
        out.types = self.types[np.asarray(indices)]
        return out

    def matrix(self, dtype=torch.float32) -> torch.Tensor:
        """The sparse CSR matrix ``(F, (H + 1)(W + 1))`` mapping integral images to features."""
        if dtype not in self._matrix:
            stride = self.width + 1
            corners, coef = rect_corners(self.rects, stride)
            rows = np.repeat(np.arange(len(self.rects)), 16)
            keep = coef.ravel() != 0
            index = torch.from_numpy(np.stack([rows[keep], corners.ravel()[keep]]))
            size = (len(self.rects), (self.height + 1) * stride)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
                coo = torch.sparse_coo_tensor(index, torch.from_numpy(coef.ravel()[keep]).to(dtype),
                                              size).coalesce()
                self._matrix[dtype] = coo.to_sparse_csr()
        return self._matrix[dtype]

    def from_integral(self, ii: torch.Tensor, *, transposed: bool = False) -> torch.Tensor:
        """Features of padded integral images ``(N, H + 1, W + 1)`` → ``(N, F)`` (``(F, N)`` if transposed)."""
        if ii.dim() != 3 or tuple(ii.shape[1:]) != (self.height + 1, self.width + 1):
            raise ShapeError(f"HaarFeatures: expected integral images (N, {self.height + 1}, "
                             f"{self.width + 1}), received {format_shape(ii.shape)}")
        flat = ii.reshape(len(ii), -1).T.contiguous()  # (P, N)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            out = self.matrix(flat.dtype) @ flat  # (F, N)
        return out if transposed else out.T

    def __call__(self, windows, *, transposed: bool = False, dtype=torch.float64) -> torch.Tensor:
        """Raw feature values of windows ``(N, H, W)`` (or one ``(H, W)``) → ``(N, F)``."""
        x = windows if isinstance(windows, torch.Tensor) else torch.as_tensor(np.asarray(windows))
        if x.dim() == 2:
            x = x.unsqueeze(0)
        if x.dim() != 3 or tuple(x.shape[1:]) != (self.height, self.width):
            raise ShapeError(f"HaarFeatures: expected windows (N, {self.height}, {self.width}), "
                             f"received {format_shape(x.shape)}")
        return self.from_integral(integral_image(x, dtype=dtype), transposed=transposed)

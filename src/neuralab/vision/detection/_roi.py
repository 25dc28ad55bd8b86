"""Region proposals by sliding windows, RoI max pooling and RoI bilinear pooling."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ...errors import DataError, ShapeError
from ...validation import check_int, check_number, expected
from ..boxes import as_boxes
from ._anchors import _positive_list

__all__ = ["region_proposals", "roi_pool", "roi_align"]


def region_proposals(image_size, window_sizes=(16.0, 24.0, 32.0), *, step: float = 0.25,
                     ratios=(1.0,)) -> torch.Tensor:
    """Sliding windows at several scales: R-CNN's slow proposal baseline.

    For every window size ``s`` and ratio ``r`` (``h/w``), windows of
    ``w = s/√r, h = s·√r`` slide over the image with a step of ``step·s``
    pixels (default a quarter window), the last one flush with the border.

    Args:
        image_size: ``S`` or ``(H, W)``.
        window_sizes: window sides in pixels.
        step: stride as a fraction of the window size, in (0, 1].
        ratios: aspect ratios ``h / w``.

    Returns:
        ``(R, 4)`` xyxy windows.

    Example:
        >>> region_proposals(8, (4.0,), step=1.0)
        tensor([[0., 0., 4., 4.],
                [4., 0., 8., 4.],
                [0., 4., 4., 8.],
                [4., 4., 8., 8.]])
    """
    owner = "region_proposals"
    if isinstance(image_size, (tuple, list)) and len(image_size) == 2:
        h, w = (check_number(owner, "image_size", v, low=1.0) for v in image_size)
    else:
        h = w = check_number(owner, "image_size", image_size, low=1.0)
    sizes = _positive_list(owner, "window_sizes", window_sizes)
    ratios = _positive_list(owner, "ratios", ratios)
    step = check_number(owner, "step", step, low=0.0, high=1.0, low_open=True)
    out = []
    for s in sizes:
        for r in ratios:
            bw, bh = min(s / r ** 0.5, w), min(s * r ** 0.5, h)

            def starts(extent, size, stride):
                n = int((extent - size) // stride) + 1
                pos = torch.arange(n, dtype=torch.float32) * stride
                if float(pos[-1]) + size < extent:
                    pos = torch.cat((pos, torch.tensor([extent - size])))
                return pos

            ys, xs = starts(h, bh, step * s), starts(w, bw, step * s)
            yy, xx = torch.meshgrid(ys, xs, indexing="ij")
            out.append(torch.stack((xx, yy, xx + bw, yy + bh), -1).reshape(-1, 4))
    return torch.cat(out)


def _rois(owner: str, rois, n_images: int, device) -> torch.Tensor:
    """``(R, 5)`` rows ``[image index, x1, y1, x2, y2]`` from (R, 5) or a list of (R_i, 4)."""
    if isinstance(rois, (list, tuple)):
        if len(rois) != n_images:
            raise DataError(f"{owner}: expected one box tensor per image ({n_images}), received "
                            f"{len(rois)}")
        parts = []
        for i, b in enumerate(rois):
            b = as_boxes(b, owner=owner, name=f"rois[{i}]").reshape(-1, 4).to(device)
            parts.append(torch.cat((torch.full((len(b), 1), float(i), device=device,
                                               dtype=b.dtype), b), 1))
        return torch.cat(parts) if parts else torch.zeros(0, 5, device=device)
    rois = torch.as_tensor(rois)
    if rois.dim() != 2 or rois.shape[1] != 5:
        raise ShapeError(f"{owner}: expected `rois` of shape (R, 5) as [image index, x1, y1, x2, "
                         f"y2] or a list of (R_i, 4) boxes, received shape {tuple(rois.shape)}")
    as_boxes(rois[:, 1:], owner=owner, name="rois")
    idx = rois[:, 0]
    if len(idx) and (idx.min() < 0 or idx.max() >= n_images or not bool((idx == idx.round()).all())):
        raise DataError(f"{owner}: expected image indices in [0, {n_images}) in rois[:, 0], "
                        f"received {sorted(set(idx.tolist()))[:5]}")
    return rois.to(device)


def _roi_inputs(owner: str, features, rois, output_size, spatial_scale):
    """The checked arguments of the RoI poolings: ``(R, 5)`` rois in the features' dtype,
    ``(out_h, out_w)`` and the spatial scale."""
    if not isinstance(features, torch.Tensor) or features.dim() != 4:
        raise ShapeError(f"{owner}: expected `features` of shape (N, C, H, W), received "
                         f"{tuple(getattr(features, 'shape', ()))}")
    if isinstance(output_size, int) and not isinstance(output_size, bool):
        output_size = (output_size, output_size)
    if (not isinstance(output_size, (tuple, list)) or len(output_size) != 2
            or not all(isinstance(v, int) and v >= 1 for v in output_size)):
        raise expected(owner, "output_size", "a positive integer or a pair of them", output_size)
    scale = check_number(owner, "spatial_scale", spatial_scale, low=0.0, low_open=True)
    rois = _rois(owner, rois, features.shape[0], features.device).to(features.dtype)
    return rois, tuple(output_size), scale


def _round_half_away(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.floor(x.abs() + 0.5)


def roi_pool(features: torch.Tensor, rois, output_size=7, spatial_scale: float = 1.0) -> torch.Tensor:
    """RoI max pooling (Fast R-CNN): each region's features max-pooled to a fixed grid.

    A region ``(x1, y1, x2, y2)`` in image pixels maps to feature cells
    ``round(x·scale)`` (both ends inclusive), is split into ``out_h × out_w``
    bins of ``⌊i·h/out_h⌋ … ⌈(i+1)·h/out_h⌉`` cells, and each bin keeps its
    maximum (an empty bin gives 0): torchvision's ``roi_pool`` semantics,
    computed as one gather of every bin's cells and a masked maximum (differentiable).

    Args:
        features: ``(N, C, H, W)`` feature maps.
        rois: ``(R, 5)`` rows ``[image index, x1, y1, x2, y2]`` or a list of N ``(R_i, 4)`` boxes.
        output_size: ``out`` or ``(out_h, out_w)``.
        spatial_scale: feature cells per image pixel (1 / the backbone's stride).

    Shape: ``(N, C, H, W)`` → ``(R, C, out_h, out_w)``.

    Example:
        >>> f = torch.arange(16.).reshape(1, 1, 4, 4)
        >>> roi_pool(f, [torch.tensor([[0., 0., 3., 3.]])], 2)
        tensor([[[[ 5.,  7.],
                  [13., 15.]]]])
    """
    rois, (out_h, out_w), scale = _roi_inputs("roi_pool", features, rois, output_size,
                                              spatial_scale)
    n, c, h, w = features.shape
    r = rois.shape[0]
    if r == 0:
        return features.new_zeros(0, c, out_h, out_w)
    x1, y1, x2, y2 = (_round_half_away(rois[:, k] * scale) for k in range(1, 5))
    roi_w = (x2 - x1 + 1).clamp(min=1)
    roi_h = (y2 - y1 + 1).clamp(min=1)

    def bins(start, length, size, out):
        i = torch.arange(out, device=features.device, dtype=features.dtype)
        lo = (torch.floor(i * (length[:, None] / out)) + start[:, None]).clamp(0, size).long()
        hi = (torch.ceil((i + 1) * (length[:, None] / out)) + start[:, None]).clamp(0, size).long()
        return lo, hi                                                    # (R, out) each

    hs, he = bins(y1, roi_h, h, out_h)
    ws, we = bins(x1, roi_w, w, out_w)
    bh = max(int((he - hs).max()), 1)
    bw = max(int((we - ws).max()), 1)
    ry = hs[..., None] + torch.arange(bh, device=features.device)        # (R, out_h, bh)
    rx = ws[..., None] + torch.arange(bw, device=features.device)        # (R, out_w, bw)
    valid = ((ry < he[..., None])[:, :, None, :, None]
             & (rx < we[..., None])[:, None, :, None, :])                 # (R, oh, ow, bh, bw)
    image = rois[:, 0].long()[:, None, None, None, None]
    flat = ((image * h + ry.clamp(max=h - 1)[:, :, None, :, None]) * w
            + rx.clamp(max=w - 1)[:, None, :, None, :])                    # (R, oh, ow, bh, bw)
    flat = flat.masked_fill(~valid, n * h * w)                           # → the -inf row
    # one row of C channels per (RoI, bin, cell): a gather whose backward is an index_add
    table = torch.cat((features.permute(0, 2, 3, 1).reshape(n * h * w, c),
                       features.new_full((1, c), float("-inf"))))
    cells = table.index_select(0, flat.reshape(-1)).view(r, out_h, out_w, bh * bw, c)
    pooled = cells.max(3).values                                         # (R, oh, ow, C)
    empty = ~valid.reshape(r, out_h, out_w, bh * bw).any(3)
    pooled = pooled.masked_fill(empty[..., None], 0.0)                   # empty bins give 0
    return pooled.permute(0, 3, 1, 2)


def roi_align(features: torch.Tensor, rois, output_size=7, spatial_scale: float = 1.0,
              sampling_ratio: int = 2) -> torch.Tensor:
    """RoI bilinear pooling (Mask R-CNN's RoIAlign): no rounding of the region.

    Each bin is the mean of ``sampling_ratio²`` bilinear samples of the
    features at continuous positions (pixel ``i`` covers ``[i, i+1)``;
    zero outside the map), so masks and small objects keep sub-cell accuracy.

    Args and shapes as :func:`roi_pool`.

    Example:
        >>> f = torch.ones(1, 2, 8, 8)
        >>> roi_align(f, [torch.tensor([[1., 1., 5., 5.]])], 2).shape
        torch.Size([1, 2, 2, 2])
    """
    rois, (out_h, out_w), scale = _roi_inputs("roi_align", features, rois, output_size,
                                              spatial_scale)
    s = check_int("roi_align", "sampling_ratio", sampling_ratio, low=1)
    n, c, h, w = features.shape
    if rois.shape[0] == 0:
        return features.new_zeros(0, c, out_h, out_w)
    x1, y1, x2, y2 = (rois[:, k] * scale for k in range(1, 5))
    fy = (torch.arange(out_h * s, device=features.device, dtype=features.dtype) + 0.5) / (out_h * s)
    fx = (torch.arange(out_w * s, device=features.device, dtype=features.dtype) + 0.5) / (out_w * s)
    ys = y1[:, None] + fy * (y2 - y1)[:, None]                            # (R, out_h·s)
    xs = x1[:, None] + fx * (x2 - x1)[:, None]
    grid = torch.stack((xs[:, None, :].expand(-1, out_h * s, -1) * (2 / w) - 1,
                        ys[:, :, None].expand(-1, -1, out_w * s) * (2 / h) - 1), -1)
    feats = features.index_select(0, rois[:, 0].long())
    samples = F.grid_sample(feats, grid, mode="bilinear", padding_mode="zeros",
                            align_corners=False)                          # (R, C, out_h·s, out_w·s)
    return F.avg_pool2d(samples, s) if s > 1 else samples

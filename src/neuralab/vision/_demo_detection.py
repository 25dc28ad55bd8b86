"""`neuralab demo detection`: tiny YOLO, R-CNN and Faster/Mask R-CNN on make_shapes, and landmarks.

Writes ``boxes.png`` (ground truth vs each detector), ``anchors.png`` (YOLO's
k-means anchors over the grid), ``masks.png`` and ``landmarks.png`` into
``out_dir`` and returns the metrics (``metrics.json`` is written by the CLI).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch

from ..datasets._shapes import SHAPE_CLASSES, make_shapes
from ..training import fit
from .boxes import iou
from .detection import (COCO_IOU_THRESHOLDS, RCNN, FasterRCNN, YoloEncoder, decode, fit_detector,
                        kmeans_anchors, landmark_error, landmark_net, make_anchors,
                        mean_average_precision, tiny_yolo)

__all__ = ["run"]

logger = logging.getLogger("neuralab.demo")

FULL = {"image_size": 64, "test_images": 500, "yolo": (2000, 15), "faster_rcnn": (600, 6),
        "rcnn": (400, 3), "rcnn_test_images": 100, "landmarks": (2000, 12)}
QUICK = {"image_size": 32, "test_images": 16, "yolo": (48, 1), "faster_rcnn": (16, 1),
         "rcnn": (16, 1), "rcnn_test_images": 2, "landmarks": (48, 1)}


def _scores(dets, targets, seconds, n):
    return {"map_50": mean_average_precision(dets, targets, (0.5,), "voc"),
            "map_50_95": mean_average_precision(dets, targets, COCO_IOU_THRESHOLDS, "coco"),
            "ms_per_image": 1000.0 * seconds / max(n, 1)}


def _timed(fn, *args):
    start = time.perf_counter()
    with torch.no_grad():
        out = fn(*args)
    return out, time.perf_counter() - start


def _mean_mask_iou(dets, targets) -> float:
    """For each object: the mask IoU with the same-class detection of highest box IoU (0 if none)."""
    values = []
    for d, t in zip(dets, targets):
        for box, label, mask in zip(t["boxes"], t["labels"], t["masks"]):
            same = (d["labels"] == int(label)).nonzero().squeeze(1)
            if not len(same):
                values.append(0.0)
                continue
            best = same[int(iou(torch.as_tensor(box[None]), d["boxes"][same])[0].argmax())]
            pred = d["masks"][best].numpy()
            union = (pred | mask).sum()
            values.append(float((pred & mask).sum() / union) if union else 0.0)
    return float(np.mean(values)) if values else float("nan")


def _draw(ax, image, boxes, labels, scores=None, colour="lime"):
    ax.imshow(np.clip(image.transpose(1, 2, 0), 0, 1), interpolation="nearest")
    for i, (x1, y1, x2, y2) in enumerate(np.asarray(boxes)):
        ax.add_patch(_rect(x1, y1, x2, y2, colour))
        text = SHAPE_CLASSES[int(labels[i])]
        if scores is not None:
            text += f" {float(scores[i]):.2f}"
        ax.text(x1, y1 - 1, text, color=colour, fontsize=5, va="bottom")
    ax.set_axis_off()


def _rect(x1, y1, x2, y2, colour):
    from matplotlib.patches import Rectangle

    return Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False, edgecolor=colour, lw=1)


def run(out_dir, *, quick: bool = False, seed: int = 0) -> dict:
    """Train and evaluate the chapter's detectors; write the pictures; return the metrics."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg = QUICK if quick else FULL
    size = cfg["image_size"]
    grid = size // 8
    n_test = cfg["test_images"]
    torch.manual_seed(seed)
    x_test, t_test = make_shapes(n_test, size, 3, seed=seed + 1)
    metrics: dict = {"config": {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()},
                     "seed": seed}

    # -- tiny YOLO ---------------------------------------------------------------------------
    n, epochs = cfg["yolo"]
    x, t = make_shapes(n, size, 3, seed=seed)
    wh = np.concatenate([b["boxes"][:, 2:] - b["boxes"][:, :2] for b in t])
    anchors = kmeans_anchors(wh, 3, seed=seed)
    encoder = YoloEncoder(size, grid, anchors, len(SHAPE_CLASSES))
    yolo = tiny_yolo(len(SHAPE_CLASSES), (3, size, size), grid_size=grid, num_anchors=3, width=8)
    start = time.perf_counter()
    fit(yolo, torch.from_numpy(x), encoder.encode(t), loss=encoder.loss, lr=3e-3, epochs=epochs,
        batch_size=32, progress=False, seed=seed)
    train_s = time.perf_counter() - start
    yolo.eval()
    raw, seconds = _timed(yolo, torch.from_numpy(x_test))
    start = time.perf_counter()
    yolo_dets = decode(raw, encoder, score_threshold=0.05)
    seconds += time.perf_counter() - start
    metrics["tiny_yolo"] = {**_scores(yolo_dets, t_test, seconds, n_test), "train_s": train_s}

    # -- Faster R-CNN with a mask head ---------------------------------------------------------
    n, epochs = cfg["faster_rcnn"]
    x, t = make_shapes(n, size, 3, seed=seed + 2)
    torch.manual_seed(seed)
    frcnn = FasterRCNN(len(SHAPE_CLASSES), (3, size, size), anchor_sizes=(
        size * 12 / 64, size * 18 / 64, size * 26 / 64), width=8, mask=True)
    start = time.perf_counter()
    fit_detector(frcnn, x, t, epochs=epochs, batch_size=16, lr=2e-3, masks=True, seed=seed)
    train_s = time.perf_counter() - start
    frcnn.eval()
    frcnn_dets, seconds = _timed(frcnn, torch.from_numpy(x_test))
    metrics["faster_rcnn"] = {**_scores(frcnn_dets, t_test, seconds, n_test), "train_s": train_s}
    metrics["mask_iou"] = _mean_mask_iou(frcnn_dets, t_test)

    # -- R-CNN (sliding windows, one CNN pass per window) ---------------------------------------
    n, epochs = cfg["rcnn"]
    x, t = make_shapes(n, size, 3, seed=seed + 3)
    torch.manual_seed(seed)
    rcnn = RCNN(len(SHAPE_CLASSES), (3, size, size), window_sizes=(
        size * 12 / 64, size * 18 / 64, size * 26 / 64), width=8)
    start = time.perf_counter()
    fit_detector(rcnn, x, t, epochs=epochs, batch_size=16, lr=2e-3, seed=seed)
    train_s = time.perf_counter() - start
    rcnn.eval()
    n_rcnn = cfg["rcnn_test_images"]
    rcnn_dets, seconds = _timed(rcnn, torch.from_numpy(x_test[:n_rcnn]))
    metrics["rcnn"] = {**_scores(rcnn_dets, t_test[:n_rcnn], seconds, n_rcnn),
                       "train_s": train_s, "windows_per_image": len(rcnn.windows),
                       "test_images": n_rcnn}

    # -- landmarks: triangle vertices on 32×32 images -------------------------------------------
    n, epochs = cfg["landmarks"]

    def triangles(count, s):
        xs, ts = make_shapes(count, 32, 1, seed=s, kinds=("triangle",), min_size=10, max_size=24)
        return torch.from_numpy(xs), torch.stack([torch.from_numpy(d["keypoints"][0]) for d in ts])

    x_lm, k_lm = triangles(n, seed + 4)
    x_lmt, k_lmt = triangles(n_test, seed + 5)
    torch.manual_seed(seed)
    lm = landmark_net(3, (3, 32, 32))
    fit(lm, x_lm, lm.encode(k_lm), loss="mse", lr=1e-3, epochs=epochs, batch_size=16,
        progress=False, seed=seed)
    lm.eval()
    with torch.no_grad():
        points = lm.decode(lm(x_lmt))
    metrics["landmark_error_px"] = landmark_error(points, k_lmt)

    # -- pictures ------------------------------------------------------------------------------
    show = min(4, n_test)
    fig, axes = plt.subplots(show, 4, figsize=(8, 2 * show), squeeze=False)
    columns = [("ground truth", None), ("tiny YOLO", yolo_dets), ("Faster R-CNN", frcnn_dets),
               ("R-CNN", rcnn_dets)]
    for row in range(show):
        for col, (title, dets) in enumerate(columns):
            ax = axes[row, col]
            if dets is None:
                _draw(ax, x_test[row], t_test[row]["boxes"], t_test[row]["labels"])
            elif row < len(dets):
                d = dets[row]
                keep = d["scores"] >= 0.5
                _draw(ax, x_test[row], d["boxes"][keep], d["labels"][keep], d["scores"][keep],
                      colour="yellow")
            else:
                ax.set_axis_off()
            if row == 0:
                ax.set_title(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(out_dir / "boxes.png", dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(np.clip(x_test[0].transpose(1, 2, 0), 0, 1))
    for k in range(grid + 1):
        ax.axhline(k * size / grid - 0.5, color="white", lw=0.3)
        ax.axvline(k * size / grid - 0.5, color="white", lw=0.3)
    centre = (grid // 2) * grid + grid // 2
    for a, (x1, y1, x2, y2) in enumerate(make_anchors(grid, size / grid, shapes=anchors)[
            centre * 3:centre * 3 + 3].tolist()):
        ax.add_patch(_rect(x1, y1, x2, y2, ["red", "orange", "cyan"][a]))
    ax.set_title(f"{grid}×{grid} grid, k-means anchors (1 − IoU)", fontsize=8)
    ax.set_axis_off()
    fig.savefig(out_dir / "anchors.png", dpi=120)
    plt.close(fig)

    fig, axes = plt.subplots(2, show, figsize=(2 * show, 4), squeeze=False)
    for i in range(show):
        axes[0, i].imshow(t_test[i]["masks"].any(0), cmap="gray")
        masks = frcnn_dets[i].get("masks")
        keep = frcnn_dets[i]["scores"] >= 0.5
        axes[1, i].imshow(masks[keep].any(0) if masks is not None and bool(keep.any())
                          else np.zeros((size, size)), cmap="gray")
        axes[0, i].set_axis_off()
        axes[1, i].set_axis_off()
    axes[0, 0].set_title("true masks", fontsize=8)
    axes[1, 0].set_title("Mask R-CNN", fontsize=8)
    fig.savefig(out_dir / "masks.png", dpi=120)
    plt.close(fig)

    fig, axes = plt.subplots(1, show, figsize=(2 * show, 2), squeeze=False)
    for i in range(show):
        ax = axes[0, i]
        ax.imshow(np.clip(x_lmt[i].numpy().transpose(1, 2, 0), 0, 1))
        ax.scatter(*(k_lmt[i] - 0.5).T.numpy(), s=12, c="lime", marker="o")
        ax.scatter(*(points[i] - 0.5).T.numpy(), s=12, c="red", marker="x")
        ax.set_axis_off()
    fig.suptitle(f"landmarks (green true, red predicted): {metrics['landmark_error_px']:.2f} px",
                 fontsize=8)
    fig.savefig(out_dir / "landmarks.png", dpi=120)
    plt.close(fig)
    logger.info("detection demo: %s", metrics)
    return metrics

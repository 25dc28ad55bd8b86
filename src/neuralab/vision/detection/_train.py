"""Training two-stage detectors on the Trainer: targets padded to tensors, losses from the model."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ...errors import DataError
from ...training import Trainer

__all__ = ["pad_targets", "unpad_targets", "DetectorTrainer", "fit_detector"]


def pad_targets(targets, *, masks: bool = False):
    """A list of ``{"boxes", "labels"[, "masks"]}`` dicts → padded tensors the Trainer can batch.

    Returns ``(boxes (N, M, 4), labels (N, M))`` (and ``masks (N, M, H, W)`` as
    uint8 when ``masks``), with label −1 marking padding; M is the largest
    object count.

    Example:
        >>> b, l = pad_targets([{"boxes": [[0, 0, 2, 2]], "labels": [1]}, {"boxes": [], "labels": []}])
        >>> b.shape, l.tolist()
        (torch.Size([2, 1, 4]), [[1], [-1]])
    """
    if not isinstance(targets, (list, tuple)) or not targets:
        raise DataError("pad_targets: expected a non-empty list of target dicts")
    m = max(1, max(len(np.asarray(t["labels"]).reshape(-1)) for t in targets))
    n = len(targets)
    boxes = torch.zeros(n, m, 4)
    labels = torch.full((n, m), -1, dtype=torch.long)
    out_masks = None
    for i, t in enumerate(targets):
        k = len(np.asarray(t["labels"]).reshape(-1))
        if k:
            boxes[i, :k] = torch.as_tensor(np.asarray(t["boxes"]), dtype=torch.float32).reshape(k, 4)
            labels[i, :k] = torch.as_tensor(np.asarray(t["labels"])).reshape(k).long()
        if masks:
            mk = torch.as_tensor(np.asarray(t["masks"]))
            if out_masks is None:
                out_masks = torch.zeros(n, m, *mk.shape[-2:], dtype=torch.uint8)
            if k:
                out_masks[i, :k] = mk.reshape(k, *mk.shape[-2:]).to(torch.uint8)
    return (boxes, labels, out_masks) if masks else (boxes, labels)


def unpad_targets(boxes, labels, masks=None) -> list[dict]:
    """The inverse of :func:`pad_targets`: a list of per-image dicts without the padding."""
    out = []
    for i in range(len(labels)):
        keep = labels[i] >= 0
        entry = {"boxes": boxes[i][keep], "labels": labels[i][keep]}
        if masks is not None:
            entry["masks"] = masks[i][keep].float()
        out.append(entry)
    return out


class _Trainable(nn.Module):
    """The detector as the Trainer sees it: its forward returns the raw tensor output
    (``raw_output``), since the detector's own forward returns per-image dicts."""

    def __init__(self, detector: nn.Module):
        super().__init__()
        self.detector = detector

    def forward(self, x):
        return self.detector.raw_output(x)


class DetectorTrainer(Trainer):
    """The Trainer for models with a ``loss(images, targets) -> dict`` (RCNN, FasterRCNN).

    ``y`` is the tuple of :func:`pad_targets`; each step unpads it, sums the
    model's losses, steps the optimizer and logs every term.
    """

    def __init__(self, detector, **kwargs):
        kwargs.setdefault("loss", None)
        kwargs.setdefault("progress", False)
        self.detector = detector
        super().__init__(_Trainable(detector), **kwargs)

    def train_step(self, batch) -> dict:
        (x,), y = batch
        targets = unpad_targets(*y)
        losses = self.detector.loss(x, targets)
        total = sum(losses.values())
        self.optimizer.zero_grad()
        total.backward()
        self.optimizer.step()
        return {"loss": total.detach(), **{k: v.detach() for k, v in losses.items()}}


def fit_detector(model, images, targets, *, epochs: int = 10, batch_size: int = 16,
                 lr: float = 1e-3, seed: int | None = 0, masks: bool = False, **kwargs):
    """Train a two-stage detector on images and target dicts; returns the History.

    Example:
        >>> from neuralab.datasets._shapes import make_shapes
        >>> from neuralab.vision.detection import FasterRCNN
        >>> x, t = make_shapes(8, 32, seed=0)
        >>> net = FasterRCNN(3, (3, 32, 32), anchor_sizes=(8.0,))
        >>> h = fit_detector(net, x, t, epochs=1, batch_size=4)
        >>> sorted(h.history)[:3]
        ['box', 'cls', 'loss']
    """
    y = pad_targets(targets, masks=masks)
    x = torch.as_tensor(np.asarray(images)) if not isinstance(images, torch.Tensor) else images
    trainer = DetectorTrainer(model, optimizer="adam", lr=lr, seed=seed, **kwargs)
    return trainer.fit(x, y, epochs=epochs, batch_size=batch_size)

"""Two-stage detectors: R-CNN (windows → crops → CNN), Faster R-CNN (RPN + RoI head), MaskHead."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError, DataError, ShapeError
from ...validation import check_bool, check_int, check_probability
from ..boxes import as_boxes, iou
from ._anchors import _positive_list, make_anchors
from ._nms import nms
from ._roi import region_proposals, roi_align, roi_pool

__all__ = ["BoxCoder", "RCNN", "FasterRCNN", "MaskHead", "paste_masks"]


class BoxCoder:
    """Faster R-CNN's box deltas relative to a reference box (anchor or proposal).

    ``t_x = w_x (x − x_a)/w_a``, ``t_y = w_y (y − y_a)/h_a``,
    ``t_w = w_w log(w / w_a)``, ``t_h = w_h log(h / h_a)`` on centres and sizes,
    with weights ``(w_x, w_y, w_w, w_h)`` (1, 1, 1, 1 for the RPN; 10, 10, 5, 5
    for the RoI head, as in torchvision).

    Example:
        >>> coder = BoxCoder()
        >>> ref = torch.tensor([[0., 0., 10., 10.]]); box = torch.tensor([[2., 1., 12., 21.]])
        >>> torch.allclose(coder.decode(ref, coder.encode(ref, box)), box)
        True
    """

    def __init__(self, weights=(1.0, 1.0, 1.0, 1.0)):
        self.weights = tuple(float(w) for w in weights)

    @staticmethod
    def _centre(b):
        w, h = b[..., 2] - b[..., 0], b[..., 3] - b[..., 1]
        return b[..., 0] + w / 2, b[..., 1] + h / 2, w, h

    def encode(self, ref: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        wx, wy, ww, wh = self.weights
        ax, ay, aw, ah = self._centre(ref)
        bx, by, bw, bh = self._centre(boxes)
        aw, ah = aw.clamp(min=1e-6), ah.clamp(min=1e-6)
        return torch.stack((wx * (bx - ax) / aw, wy * (by - ay) / ah,
                            ww * torch.log(bw.clamp(min=1e-6) / aw),
                            wh * torch.log(bh.clamp(min=1e-6) / ah)), -1)

    def decode(self, ref: torch.Tensor, deltas: torch.Tensor) -> torch.Tensor:
        wx, wy, ww, wh = self.weights
        ax, ay, aw, ah = self._centre(ref)
        clip = math.log(1000.0 / 16)
        cx = deltas[..., 0] / wx * aw + ax
        cy = deltas[..., 1] / wy * ah + ay
        w = torch.exp((deltas[..., 2] / ww).clamp(max=clip)) * aw
        h = torch.exp((deltas[..., 3] / wh).clamp(max=clip)) * ah
        return torch.stack((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), -1)


def _clip(boxes: torch.Tensor, h: int, w: int) -> torch.Tensor:
    return torch.stack((boxes[..., 0].clamp(0, w), boxes[..., 1].clamp(0, h),
                        boxes[..., 2].clamp(0, w), boxes[..., 3].clamp(0, h)), -1)


def _check_images(owner: str, images, shape) -> torch.Tensor:
    if not isinstance(images, torch.Tensor):
        images = torch.as_tensor(images)
    if images.dim() != 4 or tuple(images.shape[1:]) != tuple(shape):
        raise ShapeError(f"{owner}: expected images of shape (N, {', '.join(map(str, shape))}), "
                         f"received {tuple(images.shape)}")
    return images.float() if not images.is_floating_point() else images


def _check_targets(owner: str, targets, n: int, num_classes: int, device) -> list[dict]:
    if isinstance(targets, dict):
        targets = [targets]
    if not isinstance(targets, (list, tuple)) or len(targets) != n:
        raise DataError(f"{owner}: expected a list of {n} target dicts (one per image), received "
                        f"{len(targets) if isinstance(targets, (list, tuple)) else type(targets).__name__}")
    out = []
    for i, t in enumerate(targets):
        if not isinstance(t, dict) or "boxes" not in t or "labels" not in t:
            raise DataError(f"{owner}: expected targets[{i}] to be a dict with 'boxes' and 'labels'")
        boxes = as_boxes(t["boxes"], owner=owner, name=f"targets[{i}]['boxes']")
        boxes = boxes.reshape(-1, 4).float().to(device)
        labels = torch.as_tensor(t["labels"]).reshape(-1).long().to(device)
        if len(labels) != len(boxes):
            raise DataError(f"{owner}: expected one label per box in targets[{i}], received "
                            f"{len(boxes)} boxes and {len(labels)} labels")
        if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
            raise DataError(f"{owner}: expected labels in [0, {num_classes}), received "
                            f"{labels.tolist()} in targets[{i}]")
        entry = {"boxes": boxes, "labels": labels}
        if t.get("masks") is not None:
            entry["masks"] = torch.as_tensor(t["masks"]).to(device).float()
        out.append(entry)
    return out


def _sample(labels: torch.Tensor, total: int, fg_fraction: float, gen) -> torch.Tensor:
    """Indices of a balanced sample: at most fg_fraction·total positives (label > 0), rest negatives."""
    pos = (labels > 0).nonzero().squeeze(1)
    neg = (labels == 0).nonzero().squeeze(1)
    n_pos = min(len(pos), int(total * fg_fraction))
    n_neg = min(len(neg), total - n_pos)
    pos = pos[torch.randperm(len(pos), generator=gen)[:n_pos].to(pos.device)]
    neg = neg[torch.randperm(len(neg), generator=gen)[:n_neg].to(neg.device)]
    return torch.cat((pos, neg))


def paste_masks(masks: torch.Tensor, boxes: torch.Tensor, image_size) -> torch.Tensor:
    """Paste per-box mask probabilities ``(D, M, M)`` into ``(D, H, W)`` images (bilinear)."""
    h, w = image_size
    d = masks.shape[0]
    if d == 0:
        return masks.new_zeros(0, h, w)
    ys = torch.arange(h, device=masks.device, dtype=masks.dtype) + 0.5
    xs = torch.arange(w, device=masks.device, dtype=masks.dtype) + 0.5
    bw = (boxes[:, 2] - boxes[:, 0]).clamp(min=1e-3)
    bh = (boxes[:, 3] - boxes[:, 1]).clamp(min=1e-3)
    gx = (xs[None] - boxes[:, :1]) / bw[:, None] * 2 - 1                  # (D, W)
    gy = (ys[None] - boxes[:, 1:2]) / bh[:, None] * 2 - 1                 # (D, H)
    grid = torch.stack((gx[:, None, :].expand(d, h, w), gy[:, :, None].expand(d, h, w)), -1)
    return F.grid_sample(masks[:, None], grid, mode="bilinear", padding_mode="zeros",
                         align_corners=False)[:, 0]


class MaskHead(nn.Module):
    """Mask R-CNN's mask branch: a small FCN predicting one ``M × M`` binary mask per class per RoI.

    ``RoIAlign(features) → [conv 3×3 → ReLU] × 2 → deconv 2×2/2 → ReLU → conv 1×1 (p)``;
    trained with per-pixel binary cross-entropy on the channel of the RoI's
    ground-truth class only (masks of different classes do not compete).

    Args:
        in_channels: feature channels.
        num_classes: ``p``.
        roi_size: RoIAlign output side (the mask side is twice it).
        width: hidden channels.

    Shape: ``(R, C, roi, roi)`` → ``(R, p, 2·roi, 2·roi)`` logits.

    Example:
        >>> MaskHead(8, 3, roi_size=7)(torch.zeros(2, 8, 7, 7)).shape
        torch.Size([2, 3, 14, 14])
    """

    def __init__(self, in_channels: int, num_classes: int, roi_size: int = 7, width: int = 32):
        super().__init__()
        self.roi_size = check_int("MaskHead", "roi_size", roi_size, low=1)
        self.num_classes = check_int("MaskHead", "num_classes", num_classes, low=1)
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(width, width, 2, stride=2), nn.ReLU(),
            nn.Conv2d(width, num_classes, 1))

    @property
    def mask_size(self) -> int:
        return 2 * self.roi_size

    def forward(self, roi_features: torch.Tensor) -> torch.Tensor:
        return self.body(roi_features)

    def loss(self, logits: torch.Tensor, labels: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """BCE between the logits of each RoI's class and its ``(R, M, M)`` target mask."""
        if logits.shape[0] == 0:
            return logits.sum() * 0
        picked = logits[torch.arange(len(labels), device=logits.device), labels]
        return F.binary_cross_entropy_with_logits(picked, targets)


def _backbone(in_channels: int, width: int, stages: int) -> nn.Sequential:
    layers, c = [], in_channels
    for i in range(stages + 1):
        out = width * 2 ** i
        layers += [nn.Conv2d(c, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU()]
        if i < stages:
            layers.append(nn.MaxPool2d(2))
        c = out
    return nn.Sequential(*layers)


class _BoxHead(nn.Module):
    """Flattened RoI features → two FC layers → class scores (p+1) and per-class deltas."""

    def __init__(self, in_features: int, num_classes: int, hidden: int, class_specific: bool):
        super().__init__()
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(in_features, hidden), nn.ReLU(),
                                nn.Linear(hidden, hidden), nn.ReLU())
        self.cls = nn.Linear(hidden, num_classes + 1)
        self.box = nn.Linear(hidden, 4 * (num_classes + 1 if class_specific else 1))
        nn.init.normal_(self.box.weight, std=0.001)
        nn.init.zeros_(self.box.bias)

    def forward(self, x):
        h = self.fc(x)
        return self.cls(h), self.box(h).reshape(x.shape[0], -1, 4)


def _box_losses(scores, deltas, labels, target_deltas):
    """CE over all sampled RoIs + smooth-L1 of the true class's deltas on foreground ones."""
    cls = F.cross_entropy(scores, labels)
    fg = (labels > 0).nonzero().squeeze(1)
    if fg.numel() == 0:
        return cls, deltas.sum() * 0
    k = labels[fg] if deltas.shape[1] > 1 else torch.zeros_like(fg)
    pred = deltas[fg, k]
    box = F.smooth_l1_loss(pred, target_deltas[fg], beta=1 / 9, reduction="sum") / labels.numel()
    return cls, box


def _detections(boxes, scores, labels, score_threshold, iou_threshold, max_detections):
    keep = (scores >= score_threshold).nonzero().squeeze(1)
    boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
    kept = nms(boxes, scores, labels, iou_threshold=iou_threshold,
               score_threshold=score_threshold, max_detections=max_detections)
    return {"boxes": boxes[kept], "scores": scores[kept], "labels": labels[kept]}


class _TwoStage(nn.Module):
    """What R-CNN and Faster R-CNN share: configuration checks and detection post-processing."""

    def _setup(self, owner, num_classes, input_shape, score_threshold, iou_threshold,
               max_detections):
        self.num_classes = check_int(owner, "num_classes", num_classes, low=1)
        if (not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3
                or not all(isinstance(v, int) and v > 0 for v in input_shape)):
            raise ConfigError(f"{owner}: expected `input_shape` (C, H, W) of positive integers, "
                              f"received {input_shape!r}")
        self.input_shape = tuple(input_shape)
        self.score_threshold = check_probability(owner, "score_threshold", score_threshold)
        self.iou_threshold = check_probability(owner, "iou_threshold", iou_threshold)
        self.max_detections = check_int(owner, "max_detections", max_detections, low=1)
        self.generator = torch.Generator().manual_seed(0)

    def _classify(self, rois, scores, deltas, coder):
        """Per-class boxes and scores of a set of RoIs → one detections dict."""
        _, h, w = self.input_shape
        probs = torch.softmax(scores, -1)[:, 1:]                          # (R, p)
        p = self.num_classes
        if deltas.shape[1] == 1:
            deltas = deltas.expand(-1, p + 1, -1)
        boxes = _clip(coder.decode(rois[:, None, :], deltas[:, 1:]), h, w)   # (R, p, 4)
        labels = torch.arange(p, device=rois.device).expand(len(rois), p)
        return _detections(boxes.reshape(-1, 4), probs.reshape(-1), labels.reshape(-1),
                           self.score_threshold, self.iou_threshold, self.max_detections)


class RCNN(_TwoStage):
    """R-CNN (Girshick et al., 2014) on fixed sliding windows: the slow, simple two-stage detector.

    1. Proposals: :func:`region_proposals` (sliding windows at several scales;
       the paper used selective search).
    2. Each window is cropped from the *image* and resized to ``crop × crop``
       (bilinear, :func:`roi_align`), and a CNN classifies it into p classes
       + background and regresses a box correction.
    3. Per-class NMS.

    The CNN runs once per window, hundreds of times per image: that is why the
    sheet calls R-CNN computationally expensive, and what Faster R-CNN fixes by
    sharing one feature map.

    Args:
        num_classes: p.
        input_shape: ``(C, H, W)``.
        window_sizes, step: the proposals (see :func:`region_proposals`).
        crop: side of the resized crops (default 24).
        width: first-layer filters of the CNN.
        score_threshold, iou_threshold, max_detections: post-processing.

    Example:
        >>> net = RCNN(3, (3, 32, 32), window_sizes=(12.0,), step=0.5).eval()
        >>> out = net(torch.rand(1, 3, 32, 32))
        >>> sorted(out[0])
        ['boxes', 'labels', 'scores']
    """

    def __init__(self, num_classes: int = 3, input_shape=(3, 64, 64),
                 window_sizes=(12.0, 18.0, 26.0), *, step: float = 0.25, crop: int = 24,
                 width: int = 16, score_threshold: float = 0.05, iou_threshold: float = 0.5,
                 max_detections: int = 100):
        super().__init__()
        owner = "RCNN"
        self._setup(owner, num_classes, input_shape, score_threshold, iou_threshold,
                    max_detections)
        self.crop = check_int(owner, "crop", crop, low=4)
        c, h, w = self.input_shape
        self.register_buffer("windows", region_proposals((h, w), _positive_list(
            owner, "window_sizes", window_sizes), step=step), persistent=False)
        self.features = _backbone(c, width, 2)
        side = self.crop // 4
        self.head = _BoxHead(4 * width * side * side, self.num_classes, 128, class_specific=False)
        self.coder = BoxCoder((10.0, 10.0, 5.0, 5.0))

    def _score(self, images, rois):
        crops = roi_align(images, rois, self.crop, 1.0)
        return self.head(self.features(crops))

    def loss(self, images, targets, *, rois_per_image: int = 32) -> dict:
        """Losses on a batch: window classification (CE) and box regression (smooth L1)."""
        images = _check_images("RCNN.loss", images, self.input_shape)
        targets = _check_targets("RCNN.loss", targets, len(images), self.num_classes,
                                 images.device)
        rois, labels, deltas = [], [], []
        for i, t in enumerate(targets):
            gt = t["boxes"]
            # the windows plus jittered copies of the objects, so every object has positives
            jitter = gt.repeat(2, 1) + torch.randn(2 * len(gt), 4, generator=self.generator) * 1.5
            cand = torch.cat((self.windows, _clip(jitter, *self.input_shape[1:]), gt))
            cand = cand[(cand[:, 2] > cand[:, 0] + 1) & (cand[:, 3] > cand[:, 1] + 1)]
            lab, match = self._label(cand, gt, t["labels"])
            pick = _sample(lab, rois_per_image, 0.25, self.generator)
            cand, lab, match = cand[pick], lab[pick], match[pick]
            rois.append(torch.cat((torch.full((len(cand), 1), float(i)), cand), 1))
            labels.append(lab)
            deltas.append(self.coder.encode(cand, gt[match]) if len(gt) else torch.zeros_like(cand))
        rois, labels, deltas = torch.cat(rois), torch.cat(labels), torch.cat(deltas)
        scores, pred = self._score(images, rois)
        cls, box = _box_losses(scores, pred, labels, deltas)
        return {"cls": cls, "box": box}

    @staticmethod
    def _label(cand, gt, gt_labels, fg=0.5, bg=0.3):
        """Label +1 = class for IoU ≥ fg, 0 = background below bg, -1 ignored in between."""
        if len(gt) == 0:
            return torch.zeros(len(cand), dtype=torch.long), torch.zeros(len(cand), dtype=torch.long)
        best, match = iou(cand, gt).max(1)
        labels = torch.full((len(cand),), -1, dtype=torch.long)
        labels[best < bg] = 0
        labels[best >= fg] = gt_labels[match[best >= fg]] + 1
        return labels, match

    def raw_output(self, images) -> torch.Tensor:
        """The class scores of the first 64 windows ``(N, 64, p + 1)``: a tensor view for the Trainer."""
        images = _check_images("RCNN", images, self.input_shape)
        rois = [self.windows[:64]] * len(images)
        return self._score(images, rois)[0].reshape(len(images), -1, self.num_classes + 1)

    @torch.no_grad()
    def forward(self, images) -> list[dict]:
        """Detections per image: ``{"boxes", "scores", "labels"}`` (every window through the CNN)."""
        images = _check_images("RCNN", images, self.input_shape)
        out = []
        for i in range(len(images)):
            scores, deltas = [], []
            for chunk in self.windows.split(512):
                s, d = self._score(images[i:i + 1], [chunk])
                scores.append(s)
                deltas.append(d)
            out.append(self._classify(self.windows, torch.cat(scores), torch.cat(deltas),
                                      self.coder))
        return out


class FasterRCNN(_TwoStage):
    """Faster R-CNN (Ren et al., 2015): a region proposal network over anchors, then a RoI head.

    1. A CNN backbone computes one feature map (stride 4) for the whole image.
    2. The RPN (3×3 conv, then 1×1 objectness and box-delta convolutions)
       scores the k anchors of every cell (:func:`make_anchors`); the decoded
       boxes go through NMS (IoU 0.7) and the best become proposals.
    3. :func:`roi_pool` crops each proposal's features to a fixed size; two FC
       layers give p + 1 class scores and per-class box deltas (:class:`BoxCoder`).
    4. Per-class NMS (:func:`nms`); with ``mask=True`` a :class:`MaskHead`
       predicts each detection's mask (Mask R-CNN, on :func:`roi_align`).

    Training (:meth:`loss`): anchors with IoU ≥ 0.7 to an object (and each
    object's best anchor) are RPN positives, IoU < 0.3 negatives, 128 sampled
    per image; RoIs with IoU ≥ 0.5 are foreground, ``rois_per_image`` (32) with ≤ 25 %
    foreground. Losses: RPN BCE + smooth L1, head CE + smooth L1 (+ mask BCE).

    Args:
        num_classes: p.
        input_shape: ``(C, H, W)``, H and W multiples of 4.
        anchor_sizes, ratios: anchor shapes (k = len(sizes)·len(ratios)).
        width: backbone width (feature channels = 4·width).
        roi_size: output side of roi_pool.
        mask: add a :class:`MaskHead`.
        score_threshold, iou_threshold, max_detections: post-processing.

    Example:
        >>> net = FasterRCNN(3, (3, 32, 32), anchor_sizes=(8.0,), mask=True).eval()
        >>> out = net(torch.rand(2, 3, 32, 32))
        >>> len(out), sorted(out[0])
        (2, ['boxes', 'labels', 'masks', 'scores'])
    """

    stride = 4

    def __init__(self, num_classes: int = 3, input_shape=(3, 64, 64),
                 anchor_sizes=(12.0, 18.0, 26.0), ratios=(1.0,), *, width: int = 16,
                 roi_size: int = 7, mask: bool = False, rpn_pre_nms: int = 200,
                 rpn_post_nms: int = 64, rois_per_image: int = 32, score_threshold: float = 0.05,
                 iou_threshold: float = 0.5, max_detections: int = 100):
        super().__init__()
        owner = "FasterRCNN"
        self._setup(owner, num_classes, input_shape, score_threshold, iou_threshold,
                    max_detections)
        c, h, w = self.input_shape
        if h % self.stride or w % self.stride:
            raise ConfigError(f"{owner}: expected an image side divisible by the stride "
                              f"{self.stride}, received input {self.input_shape}")
        self.roi_size = check_int(owner, "roi_size", roi_size, low=1)
        self.rpn_pre_nms = check_int(owner, "rpn_pre_nms", rpn_pre_nms, low=1)
        self.rpn_post_nms = check_int(owner, "rpn_post_nms", rpn_post_nms, low=1)
        self.rois_per_image = check_int(owner, "rois_per_image", rois_per_image, low=1)
        sizes = _positive_list(owner, "anchor_sizes", anchor_sizes)
        ratios = _positive_list(owner, "ratios", ratios)
        self.num_anchors = len(sizes) * len(ratios)
        self.register_buffer("anchors", make_anchors((h // self.stride, w // self.stride),
                                                     self.stride, sizes, ratios), persistent=False)
        channels = 4 * width
        self.backbone = _backbone(c, width, 2)
        self.rpn_conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.rpn_objectness = nn.Conv2d(channels, self.num_anchors, 1)
        self.rpn_deltas = nn.Conv2d(channels, 4 * self.num_anchors, 1)
        for m in (self.rpn_conv, self.rpn_objectness, self.rpn_deltas):
            nn.init.normal_(m.weight, std=0.01)
            nn.init.zeros_(m.bias)
        self.box_head = _BoxHead(channels * self.roi_size ** 2, self.num_classes, 128,
                                 class_specific=True)
        self.mask_head = MaskHead(channels, self.num_classes, 7) if check_bool(
            owner, "mask", mask) else None
        self.rpn_coder = BoxCoder()
        self.coder = BoxCoder((10.0, 10.0, 5.0, 5.0))

    # -- stage 1 -----------------------------------------------------------------------------
    def _rpn(self, feats):
        h = F.relu(self.rpn_conv(feats))
        n = feats.shape[0]
        k = self.num_anchors
        obj = self.rpn_objectness(h).permute(0, 2, 3, 1).reshape(n, -1)            # (N, HWk)
        deltas = self.rpn_deltas(h).reshape(n, k, 4, *h.shape[2:]).permute(0, 3, 4, 1, 2)
        return obj, deltas.reshape(n, -1, 4)

    def _proposals(self, obj, deltas, post_nms):
        _, h, w = self.input_shape
        out = []
        boxes = _clip(self.rpn_coder.decode(self.anchors, deltas.detach()), h, w)
        scores = torch.sigmoid(obj.detach())
        for b, s in zip(boxes, scores):
            ok = ((b[:, 2] - b[:, 0]) > 1) & ((b[:, 3] - b[:, 1]) > 1)
            b, s = b[ok], s[ok]
            top = torch.topk(s, min(self.rpn_pre_nms, len(s))).indices
            b, s = b[top], s[top]
            kept = nms(b, s, iou_threshold=0.7, score_threshold=0.0, max_detections=post_nms,
                       inclusive=False)
            out.append(b[kept])
        return out

    # -- training ----------------------------------------------------------------------------
    def loss(self, images, targets) -> dict:
        """RPN, box-head (and mask) losses on a batch of images and their target dicts."""
        images = _check_images("FasterRCNN.loss", images, self.input_shape)
        targets = _check_targets("FasterRCNN.loss", targets, len(images), self.num_classes,
                                 images.device)
        feats = self.backbone(images)
        obj, deltas = self._rpn(feats)
        # RPN targets: IoU >= 0.7 (or an object's best anchor) positive, < 0.3 negative
        n_img, n_anchor = obj.shape
        labels = torch.zeros(n_img, n_anchor, dtype=torch.long)
        target = torch.zeros(n_img, n_anchor, 4)
        with torch.no_grad():
            for i, t in enumerate(targets):
                gt = t["boxes"]
                if len(gt):
                    ious = iou(self.anchors, gt)                                 # (A, G)
                    best, match = ious.max(1)
                    labels[i, (best >= 0.3) & (best < 0.7)] = -1
                    labels[i, best >= 0.7] = 1
                    top = ious.max(0).values
                    labels[i, ((ious == top) & (top > 0)).any(1)] = 1
                    target[i] = self.rpn_coder.encode(self.anchors, gt[match])
                pick = _sample(labels[i], 128, 0.5, self.generator)
                keep = torch.full((n_anchor,), -1, dtype=torch.long)
                keep[pick] = labels[i, pick]
                labels[i] = keep
        sampled = labels >= 0
        pos = labels > 0
        count = max(int(sampled.sum()), 1)
        losses = {"rpn_cls": F.binary_cross_entropy_with_logits(
                      obj[sampled], pos[sampled].float(), reduction="sum") / count,
                  "rpn_box": F.smooth_l1_loss(deltas[pos], target[pos], beta=1 / 9,
                                              reduction="sum") / count}
        # RoI head targets
        proposals = self._proposals(obj, deltas, self.rpn_post_nms)
        rois, labels, target_deltas, fg_info = [], [], [], []
        for i, (t, props) in enumerate(zip(targets, proposals)):
            gt = t["boxes"]
            cand = torch.cat((props, gt))
            lab, match = RCNN._label(cand, gt, t["labels"], fg=0.5, bg=0.5)
            pick = _sample(lab, self.rois_per_image, 0.25, self.generator)
            cand, lab, match = cand[pick], lab[pick], match[pick]
            rois.append(torch.cat((torch.full((len(cand), 1), float(i)), cand), 1))
            labels.append(lab)
            target_deltas.append(self.coder.encode(cand, gt[match]) if len(gt)
                                 else torch.zeros_like(cand))
            fg = lab > 0
            fg_info.append((i, cand[fg], match[fg], lab[fg] - 1))
        rois, labels, target_deltas = torch.cat(rois), torch.cat(labels), torch.cat(target_deltas)
        pooled = roi_pool(feats, rois, self.roi_size, 1 / self.stride)
        scores, pred = self.box_head(pooled)
        losses["cls"], losses["box"] = _box_losses(scores, pred, labels, target_deltas)
        if self.mask_head is not None:
            losses["mask"] = self._mask_loss(feats, targets, fg_info)
        return losses

    def _mask_loss(self, feats, targets, fg_info):
        rois, masks, classes = [], [], []
        for i, boxes, match, cls in fg_info:
            if not len(boxes):
                continue
            if "masks" not in targets[i]:
                raise DataError("FasterRCNN.loss: mask=True needs 'masks' (k, H, W) in every "
                                "target dict")
            rois.append(torch.cat((torch.full((len(boxes), 1), float(i)), boxes), 1))
            masks.append(targets[i]["masks"][match])
            classes.append(cls)
        if not rois:
            return feats.sum() * 0
        rois, masks, classes = torch.cat(rois), torch.cat(masks), torch.cat(classes)
        head = self.mask_head
        logits = head(roi_align(feats, rois, head.roi_size, 1 / self.stride))
        own = torch.cat((torch.arange(len(rois), dtype=rois.dtype)[:, None], rois[:, 1:]), 1)
        target = (roi_align(masks[:, None], own, head.mask_size, 1.0)[:, 0] >= 0.5).float()
        return head.loss(logits, classes, target)

    # -- inference ---------------------------------------------------------------------------
    def raw_output(self, images) -> torch.Tensor:
        """The RPN objectness logits ``(N, H/4 · W/4 · k)``: a tensor view for the Trainer."""
        images = _check_images("FasterRCNN", images, self.input_shape)
        return self._rpn(self.backbone(images))[0]

    @torch.no_grad()
    def forward(self, images) -> list[dict]:
        """Detections per image: ``{"boxes", "scores", "labels"}`` (+ ``"masks"`` (D, H, W) bool)."""
        images = _check_images("FasterRCNN", images, self.input_shape)
        feats = self.backbone(images)
        obj, deltas = self._rpn(feats)
        proposals = self._proposals(obj, deltas, self.rpn_post_nms)
        rois = torch.cat([torch.cat((torch.full((len(p), 1), float(i)), p), 1)
                          for i, p in enumerate(proposals)])
        scores, pred = self.box_head(roi_pool(feats, rois, self.roi_size, 1 / self.stride))
        out = []
        for i, p in enumerate(proposals):
            sel = rois[:, 0] == i
            det = self._classify(p, scores[sel], pred[sel], self.coder)
            if self.mask_head is not None:
                det["masks"] = self._masks(feats[i:i + 1], det)
            out.append(det)
        return out

    def _masks(self, feats, det):
        _, h, w = self.input_shape
        boxes = det["boxes"]
        if not len(boxes):
            return torch.zeros(0, h, w, dtype=torch.bool)
        head = self.mask_head
        logits = head(roi_align(feats, [boxes], head.roi_size, 1 / self.stride))
        probs = torch.sigmoid(logits[torch.arange(len(boxes)), det["labels"]])
        return paste_masks(probs, boxes, (h, w)) >= 0.5

"""YOLO: the target tensor y ∈ R^{G×G×k×(5+p)}, its loss, decoding, and a tiny network."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ... import layers as L
from ... import registry
from ...architectures._base import Model, build_model, check_image_shape, check_num_classes
from ...errors import ConfigError, DataError, ShapeError
from ...validation import check_int, check_number, check_probability, check_type
from ._anchors import _shape_iou
from ._metrics import _entries
from ._nms import nms

__all__ = ["YoloEncoder", "yolo_loss", "decode", "TinyYolo", "tiny_yolo"]


def _as_pair(owner: str, name: str, value) -> tuple[int, int]:
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return tuple(check_int(owner, name, v, low=1) for v in value)
    v = check_int(owner, name, value, low=1)
    return (v, v)


class YoloEncoder:
    """Turns boxes and labels into YOLO's target tensor and back (CS230's y).

    The image is divided into a ``G × G`` grid; each cell has ``k`` anchors and
    each anchor a vector ``[p_c, b_x, b_y, b_h, b_w, c_1, …, c_p]``:

    - ``p_c`` = 1 if an object is assigned here (else 0 and the rest is ignored);
    - ``b_x, b_y`` ∈ [0, 1): the box centre inside its cell (cell-relative);
    - ``b_h, b_w``: the box height and width as fractions of the image;
    - ``c_1 … c_p``: the one-hot class.

    An object goes to the cell holding its centre and to the anchor whose shape
    has the largest IoU with its own (both placed at one corner, as YOLOv2);
    if that slot is taken the next-best free anchor is used, and an object with
    no free anchor is dropped (counted in :attr:`dropped`).

    The network predicts raw values ``t`` per slot (:class:`TinyYolo`):
    ``p_c = σ(t_o)``, ``b_x = σ(t_x)``, ``b_y = σ(t_y)``,
    ``b_h = a_h·e^{t_h}/H``, ``b_w = a_w·e^{t_w}/W`` (``a`` the anchor in pixels)
    and class probabilities ``softmax(t_c)``; see :meth:`activate`.

    Args:
        image_size: ``S`` or ``(H, W)`` in pixels.
        grid_size: ``G`` or ``(G_h, G_w)``; the image must have at least one pixel per cell.
        anchors: ``(k, 2)`` anchor shapes ``(w, h)`` in pixels (e.g. :func:`kmeans_anchors`).
        num_classes: ``p``.

    Example:
        >>> enc = YoloEncoder(64, 4, anchors=[[16.0, 16.0]], num_classes=2)
        >>> y = enc.encode([{"boxes": [[0., 0., 16., 16.]], "labels": [1]}])
        >>> tuple(y.shape), y[0, 0, 0, 0].tolist()
        ((1, 4, 4, 1, 7), [1.0, 0.5, 0.5, 0.25, 0.25, 0.0, 1.0])
        >>> enc.decode(y)[0]["boxes"]
        tensor([[ 0.,  0., 16., 16.]])
    """

    def __init__(self, image_size, grid_size, anchors, num_classes: int):
        owner = "YoloEncoder"
        self.image_size = _as_pair(owner, "image_size", image_size)
        self.grid_size = _as_pair(owner, "grid_size", grid_size)
        if any(g > s for g, s in zip(self.grid_size, self.image_size)):
            raise ConfigError(f"{owner}: expected an image at least as large as the grid, received "
                              f"image {self.image_size} for grid {self.grid_size}")
        anchors = torch.as_tensor(anchors, dtype=torch.float32)
        if anchors.dim() != 2 or anchors.shape[1] != 2 or anchors.shape[0] == 0:
            raise ConfigError(f"{owner}: expected `anchors` of shape (k, 2) as (w, h) in pixels, "
                              f"received shape {tuple(anchors.shape)}")
        if not bool(torch.isfinite(anchors).all() & (anchors > 0).all()):
            raise ConfigError(f"{owner}: expected positive anchor sizes, received {anchors.tolist()}")
        self.anchors = anchors
        self.num_classes = check_int(owner, "num_classes", num_classes, low=1)
        self.dropped = 0

    @property
    def num_anchors(self) -> int:
        return self.anchors.shape[0]

    @property
    def channels(self) -> int:
        """Output channels a head needs: ``k·(5 + p)``."""
        return self.num_anchors * (5 + self.num_classes)

    def __repr__(self) -> str:
        return (f"YoloEncoder(image_size={self.image_size}, grid_size={self.grid_size}, "
                f"anchors={self.anchors.tolist()}, num_classes={self.num_classes})")

    # -- targets -> y ------------------------------------------------------------------------
    def encode(self, targets) -> torch.Tensor:
        """``y`` of shape ``(N, G_h, G_w, k, 5 + p)`` for a list of ``{"boxes", "labels"}`` dicts."""
        targets = _entries("YoloEncoder.encode", "targets", targets, with_scores=False)
        (gh, gw), (h, w) = self.grid_size, self.image_size
        k, p = self.num_anchors, self.num_classes
        y = torch.zeros(len(targets), gh, gw, k, 5 + p)
        self.dropped = 0
        for n, t in enumerate(targets):
            boxes, labels = t["boxes"].float(), t["labels"]
            if len(labels) and (labels.min() < 0 or labels.max() >= p):
                raise DataError(f"YoloEncoder.encode: expected labels in [0, {p}), received "
                                f"{labels.tolist()} in targets[{n}]")
            if not len(boxes):
                continue
            cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
            bw, bh = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
            outside = (cx < 0) | (cx >= w) | (cy < 0) | (cy >= h) | (bw <= 0) | (bh <= 0)
            if bool(outside.any()):
                i = int(outside.nonzero()[0, 0])
                raise DataError(f"YoloEncoder.encode: expected boxes of positive size with centres "
                                f"inside the {w}×{h} image, received box {boxes[i].tolist()} in "
                                f"targets[{n}]")
            col = (cx * gw / w).floor().long().clamp(max=gw - 1)
            row = (cy * gh / h).floor().long().clamp(max=gh - 1)
            ranking = torch.argsort(_shape_iou(torch.stack((bw, bh), 1), self.anchors),
                                    dim=1, descending=True)
            for j in range(len(boxes)):
                for a in ranking[j].tolist():
                    slot = y[n, row[j], col[j], a]
                    if slot[0] == 0:
                        slot[0] = 1.0
                        slot[1] = cx[j] * gw / w - col[j]
                        slot[2] = cy[j] * gh / h - row[j]
                        slot[3] = bh[j] / h
                        slot[4] = bw[j] / w
                        slot[5 + labels[j]] = 1.0
                        break
                else:
                    self.dropped += 1
        return y

    # -- raw network output -> y-space -------------------------------------------------------
    def _check_output(self, output: torch.Tensor, owner: str) -> torch.Tensor:
        """Accept ``(N, k(5+p), G_h, G_w)`` (a conv head) or ``(N, G_h, G_w, k, 5+p)``."""
        (gh, gw), k, p = self.grid_size, self.num_anchors, self.num_classes
        if output.dim() == 4 and output.shape[1:] == (k * (5 + p), gh, gw):
            n = output.shape[0]
            return output.reshape(n, k, 5 + p, gh, gw).permute(0, 3, 4, 1, 2)
        if output.dim() == 5 and output.shape[1:] == (gh, gw, k, 5 + p):
            return output
        raise ShapeError(f"{owner}: expected a head output of shape (N, {k * (5 + p)}, {gh}, {gw}) "
                         f"= (N, k·(5+p), G, G) for k={k} anchors and p={p} classes (or "
                         f"(N, {gh}, {gw}, {k}, {5 + p})), received {tuple(output.shape)}")

    def activate(self, output: torch.Tensor) -> torch.Tensor:
        """Raw head output → y-space ``(N, G_h, G_w, k, 5+p)`` (probabilities, fractions)."""
        t = self._check_output(output, "YoloEncoder.activate")
        (h, w) = self.image_size
        anchors = self.anchors.to(t.device, t.dtype)
        b_h = anchors[:, 1] / h * torch.exp(t[..., 3].clamp(max=10))
        b_w = anchors[:, 0] / w * torch.exp(t[..., 4].clamp(max=10))
        return torch.cat((torch.sigmoid(t[..., :3]), b_h[..., None], b_w[..., None],
                          torch.softmax(t[..., 5:], -1)), -1)

    def loss(self, output: torch.Tensor, y: torch.Tensor, **weights) -> torch.Tensor:
        """:func:`yolo_loss` with this encoder: a ``loss(y_pred, y_true)`` for ``fit``."""
        return yolo_loss(output, y, self, **weights)

    # -- y -> boxes --------------------------------------------------------------------------
    def decode(self, y: torch.Tensor, *, raw: bool = False, score_threshold: float = 0.5,
               iou_threshold: float = 0.5, max_detections: int | None = 100, nms_: bool = True):
        """Boxes of a y-space tensor (or a raw head output with ``raw=True``); see :func:`decode`."""
        return decode(y, self, raw=raw, score_threshold=score_threshold,
                      iou_threshold=iou_threshold, max_detections=max_detections, apply_nms=nms_)


def yolo_loss(output: torch.Tensor, y: torch.Tensor, encoder: YoloEncoder, *,
              lambda_coord: float = 5.0, lambda_noobj: float = 0.5,
              lambda_class: float = 1.0) -> torch.Tensor:
    """YOLO's loss: coordinates, objectness, no-object and class terms, per image.

    With ``1_obj`` the slots holding an object (``p_c = 1``) and ``1_noobj`` the others::

        L = λ_coord Σ 1_obj [(σ(t_x) − b_x)² + (σ(t_y) − b_y)²
                             + (t_h − log(b_h H / a_h))² + (t_w − log(b_w W / a_w))²]
          + Σ 1_obj BCE(t_o, 1) + λ_noobj Σ 1_noobj BCE(t_o, 0)
          + λ_class Σ 1_obj CE(t_c, class)

    summed over slots and averaged over the batch. As CS230 says, where
    ``p_c = 0`` the box and class entries are ignored; only the objectness
    term sees those slots. Defaults λ_coord = 5 and λ_noobj = 0.5 are YOLOv1's;
    sizes are regressed in log space around the anchor (YOLOv2).

    Args:
        output: the raw head output ``(N, k(5+p), G, G)`` (or ``(N, G, G, k, 5+p)``).
        y: targets from :meth:`YoloEncoder.encode`, ``(N, G, G, k, 5+p)``.
        encoder: the :class:`YoloEncoder` (anchors, sizes).

    Example:
        >>> enc = YoloEncoder(32, 2, [[8.0, 8.0]], 2)
        >>> y = enc.encode([{"boxes": [[0., 0., 8., 8.]], "labels": [0]}])
        >>> float(yolo_loss(torch.zeros(1, 7, 2, 2), y, enc)) > 0
        True
    """
    t = encoder._check_output(output, "yolo_loss")
    check_type("yolo_loss", "y", y, torch.Tensor, "the encoded targets encoder.encode(targets), a tensor")
    if y.shape != t.shape:
        raise ShapeError(f"yolo_loss: expected targets of shape {tuple(t.shape)} matching the "
                         f"output, received {tuple(y.shape)}")
    weights = {n: check_number("yolo_loss", n, v, low=0.0) for n, v in
               (("lambda_coord", lambda_coord), ("lambda_noobj", lambda_noobj),
                ("lambda_class", lambda_class))}
    y = y.to(t.dtype)
    obj = y[..., 0] > 0.5
    n = max(t.shape[0], 1)
    objectness = F.binary_cross_entropy_with_logits(t[..., 0], y[..., 0], reduction="none")
    loss = (objectness[obj].sum() + weights["lambda_noobj"] * objectness[~obj].sum())
    if bool(obj.any()):
        to, yo = t[obj], y[obj]                                      # (M, 5+p)
        anchors = encoder.anchors.to(t.device, t.dtype)
        a_idx = obj.nonzero()[:, 3]
        (h, w) = encoder.image_size
        target_th = torch.log(yo[:, 3] * h / anchors[a_idx, 1])
        target_tw = torch.log(yo[:, 4] * w / anchors[a_idx, 0])
        coord = ((torch.sigmoid(to[:, 1]) - yo[:, 1]) ** 2 + (torch.sigmoid(to[:, 2]) - yo[:, 2]) ** 2
                 + (to[:, 3] - target_th) ** 2 + (to[:, 4] - target_tw) ** 2)
        classes = F.cross_entropy(to[:, 5:], yo[:, 5:].argmax(1), reduction="sum")
        loss = loss + weights["lambda_coord"] * coord.sum() + weights["lambda_class"] * classes
    return loss / n


def decode(y: torch.Tensor, encoder: YoloEncoder, *, raw: bool = True,
           score_threshold: float = 0.5, iou_threshold: float = 0.5,
           max_detections: int | None = 100, apply_nms: bool = True) -> list[dict]:
    """YOLO output → per-image detections: boxes, scores and labels, after per-class NMS.

    The score of a slot is YOLO's class-specific confidence
    ``p_c · max_i c_i`` with label ``argmax_i c_i``; slots scoring below
    ``score_threshold`` are dropped, then :func:`nms` runs per class (CS230's
    step 3) and keeps at most ``max_detections``.

    Args:
        y: raw head output (``raw=True``, the default) or a y-space tensor
            ``(N, G, G, k, 5+p)`` (``raw=False``, e.g. encoded targets).
        encoder: the :class:`YoloEncoder`.

    Returns:
        a list of N dicts ``{"boxes": (D, 4) xyxy pixels, "scores": (D,), "labels": (D,)}``.
    """
    score_threshold = check_probability("decode", "score_threshold", score_threshold)
    iou_threshold = check_probability("decode", "iou_threshold", iou_threshold)
    if raw:
        y = encoder.activate(y)
    else:
        y = encoder._check_output(y, "decode")
    (gh, gw), (h, w) = encoder.grid_size, encoder.image_size
    rows = torch.arange(gh, device=y.device, dtype=y.dtype).view(gh, 1, 1)
    cols = torch.arange(gw, device=y.device, dtype=y.dtype).view(1, gw, 1)
    cx = (y[..., 1] + cols) * (w / gw)
    cy = (y[..., 2] + rows) * (h / gh)
    bh, bw = y[..., 3] * h, y[..., 4] * w
    boxes = torch.stack((cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2), -1)
    probs, labels = y[..., 5:].max(-1)
    scores = y[..., 0] * probs
    out = []
    for i in range(y.shape[0]):
        b, s, c = boxes[i].reshape(-1, 4), scores[i].reshape(-1), labels[i].reshape(-1)
        keep = (s >= score_threshold).nonzero().squeeze(1)
        b, s, c = b[keep], s[keep], c[keep]
        b = torch.stack((b[:, 0].clamp(0, w), b[:, 1].clamp(0, h), b[:, 2].clamp(0, w),
                         b[:, 3].clamp(0, h)), 1)
        if apply_nms:
            kept = nms(b, s, c, iou_threshold=iou_threshold, score_threshold=score_threshold,
                       max_detections=max_detections)
        else:
            kept = torch.argsort(s, descending=True, stable=True)[:max_detections]
        out.append({"boxes": b[kept].detach(), "scores": s[kept].detach(),
                    "labels": c[kept].detach()})
    return out


@registry.layers.register("TinyYolo")
class TinyYolo(Model):
    """A small YOLO: conv–BN–leaky-ReLU–pool stages down to the grid, then a 1×1 head.

    ``S/G = 2^d`` halvings (d stages with ``width·2^i`` filters), one more 3×3
    block, and a 1×1 convolution with ``k·(5+p)`` filters: the raw ``t`` values
    of :class:`YoloEncoder` for each of the ``G × G`` cells.

    Args:
        num_classes: ``p``.
        input_shape: ``(C, S, S)`` with S a power-of-two multiple of the grid (default (3, 64, 64)).
        grid_size: ``G`` (default 8).
        num_anchors: ``k`` (default 3).
        width: filters of the first stage (default 16).

    Shape: ``(N, C, S, S)`` → ``(N, k(5+p), G, G)``.

    Example:
        >>> net = TinyYolo(3, (3, 64, 64), grid_size=8, num_anchors=2)
        >>> net.output_shape
        (16, 8, 8)
    """

    def __init__(self, num_classes: int = 3, input_shape=(3, 64, 64), grid_size: int = 8,
                 num_anchors: int = 3, width: int = 16, *, name: str = "tiny_yolo"):
        owner = "TinyYolo"
        num_classes = check_num_classes(owner, num_classes)
        input_shape = check_image_shape(owner, input_shape)
        grid_size = check_int(owner, "grid_size", grid_size, low=1)
        num_anchors = check_int(owner, "num_anchors", num_anchors, low=1)
        width = check_int(owner, "width", width, low=1)
        _, s_h, s_w = input_shape
        ratio = s_h / grid_size
        if s_h != s_w or s_h < grid_size or ratio != 2 ** round(math.log2(ratio)):
            raise ConfigError(f"{owner}: expected a square image whose side is the grid size times a "
                              f"power of two (>= the grid), received input {input_shape} for grid "
                              f"{grid_size}")
        depth = round(math.log2(ratio))
        self.num_anchors = num_anchors
        self.grid_size = grid_size
        self._args = {"input_shape": list(input_shape), "grid_size": grid_size,
                      "num_anchors": num_anchors, "width": width}

        def block(filters, i):
            return (L.Convolution(filters, 3, padding="same", bias=None, name=f"conv{i}")
                    >> L.BatchNorm(name=f"bn{i}") >> L.LeakyRelu(alpha=0.1, name=f"act{i}"))

        def build():
            net = L.Input(input_shape, name="input")
            for i in range(depth):
                net = net >> block(width * 2 ** i, i + 1) >> L.MaxPooling(2, name=f"pool{i + 1}")
            net = net >> block(width * 2 ** depth, depth + 1)
            return net >> L.Convolution(num_anchors * (5 + num_classes), 1, name="output")

        graph = build_model(owner, build, grid_size, input_shape)
        super().__init__(graph, name=name, feature_layer=f"act{depth + 1}",
                         classifier_layer="output", num_classes=num_classes)

    minimum_input_size = 1

    def reset_classifier(self, num_classes: int) -> "TinyYolo":
        """A fresh head for ``num_classes`` classes (``k·(5+p)`` filters); other weights kept."""
        num_classes = check_num_classes(type(self).__name__, num_classes)
        old = self.layer("output")
        config = old.get_config()
        config["filters"] = self.num_anchors * (5 + num_classes)
        new = type(old).from_config(config)
        reference = next(iter(self.parameters()))
        self.replace({old: new})
        self._views = {}
        new.to(device=reference.device, dtype=reference.dtype)
        self.num_classes = num_classes
        return self


@registry.architectures.register("tiny_yolo")
def tiny_yolo(num_classes: int = 3, input_shape=(3, 64, 64), grid_size: int = 8,
              num_anchors: int = 3, **kwargs) -> TinyYolo:
    """Tiny YOLO for :func:`~neuralab.datasets.make_shapes` (64×64, an 8×8 grid); see :class:`TinyYolo`."""
    return TinyYolo(num_classes, input_shape, grid_size, num_anchors, **kwargs)

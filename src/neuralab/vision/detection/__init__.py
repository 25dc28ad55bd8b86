"""Object detection from the CS230 sheet: NMS, anchors, YOLO, mAP, the R-CNN family, landmarks.

- :func:`nms`: CS230's non-max suppression (``inclusive=False`` for torchvision's rule),
  per class in one pass;
- :func:`make_anchors`, :func:`anchor_shapes`, :func:`kmeans_anchors`: anchor boxes;
- :func:`average_precision`, :func:`mean_average_precision`: VOC and COCO metrics.

    >>> from neuralab.vision.detection import nms
    >>> nms([[0., 0., 4., 4.], [0., 0., 4., 3.]], [0.9, 0.7]).tolist()
    [0]
"""

from ._anchors import anchor_shapes, kmeans_anchors, make_anchors
from ._metrics import COCO_IOU_THRESHOLDS, average_precision, mean_average_precision
from ._nms import nms

__all__ = ["nms", "make_anchors", "anchor_shapes", "kmeans_anchors", "average_precision",
           "mean_average_precision", "COCO_IOU_THRESHOLDS"]

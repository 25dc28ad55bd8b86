"""Object detection from the CS230 sheet: NMS, anchors, YOLO, mAP, the R-CNN family, landmarks.

- :func:`nms`: CS230's non-max suppression (``inclusive=False`` for torchvision's rule),
  per class in one pass;
- :func:`make_anchors`, :func:`anchor_shapes`, :func:`kmeans_anchors`: anchor boxes;
- :class:`YoloEncoder`, :func:`yolo_loss`, :func:`decode`, :class:`TinyYolo` (``tiny_yolo``);
- :class:`Darknet53` (``darknet53``): YOLOv3's backbone;
- :func:`region_proposals`, :func:`roi_pool`, :func:`roi_align`, :class:`RCNN`,
  :class:`FasterRCNN` (RPN + RoI head), :class:`MaskHead` (Mask R-CNN);
- :func:`landmark_error`, :class:`LandmarkNet` (``landmark_net``): landmark detection;
- :class:`DetectorTrainer`, :func:`fit_detector`: two-stage detectors on the Trainer;
- :func:`average_precision`, :func:`mean_average_precision`: VOC and COCO metrics.

    >>> from neuralab.vision.detection import nms
    >>> nms([[0., 0., 4., 4.], [0., 0., 4., 3.]], [0.9, 0.7]).tolist()
    [0]
"""

from ._anchors import anchor_shapes, kmeans_anchors, make_anchors
from ._darknet import DARKNET53_BLOCKS, Darknet53, darknet53
from ._landmarks import LandmarkNet, landmark_error, landmark_net
from ._metrics import COCO_IOU_THRESHOLDS, average_precision, mean_average_precision
from ._nms import nms
from ._rcnn import RCNN, BoxCoder, FasterRCNN, MaskHead, paste_masks
from ._roi import region_proposals, roi_align, roi_pool
from ._train import DetectorTrainer, fit_detector, pad_targets, unpad_targets
from ._yolo import TinyYolo, YoloEncoder, decode, tiny_yolo, yolo_loss

__all__ = ["nms", "make_anchors", "anchor_shapes", "kmeans_anchors", "average_precision",
           "mean_average_precision", "COCO_IOU_THRESHOLDS", "YoloEncoder", "yolo_loss", "decode",
           "TinyYolo", "tiny_yolo", "region_proposals", "roi_pool", "roi_align", "RCNN", "FasterRCNN",
           "MaskHead", "BoxCoder", "paste_masks", "landmark_error", "LandmarkNet", "landmark_net",
           "DetectorTrainer", "fit_detector", "pad_targets", "unpad_targets", "Darknet53",
           "darknet53", "DARKNET53_BLOCKS"]

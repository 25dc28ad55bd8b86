"""Computer vision from the CS230 sheet: boxes and detection, faces, style transfer.

The chapters are subpackages, imported when first used::

    neuralab.vision.boxes       # box_convert, box_area, iou, giou
    neuralab.vision.detection   # nms, anchors, YOLO, mAP, R-CNN family, landmarks
    neuralab.vision.face        # Haar cascade, Siamese networks, triplet loss, verification
    neuralab.vision.style       # Gram matrices, content/style costs, style transfer
"""

from __future__ import annotations

import importlib

_SUBMODULES = ("boxes", "detection", "face", "style")
__all__ = list(_SUBMODULES)


def __getattr__(name: str):
    if name in _SUBMODULES:
        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'neuralab.vision' has no attribute {name!r}")

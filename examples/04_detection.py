"""Object detection in a few lines: IoU, CS230's non-max suppression, and a tiny YOLO.

Run: python examples/04_detection.py
"""

import numpy as np
import torch

from neuralab.datasets._shapes import make_shapes
from neuralab.training import fit
from neuralab.vision.boxes import iou
from neuralab.vision.detection import (YoloEncoder, decode, kmeans_anchors,
                                       mean_average_precision, nms, tiny_yolo)

torch.manual_seed(0)

# 1. IoU of two boxes (x1, y1, x2, y2): overlap 1x2 over union 4 + 4 - 2
a, b = torch.tensor([[0.0, 0.0, 2.0, 2.0]]), torch.tensor([[1.0, 0.0, 3.0, 2.0]])
print(f"IoU = {float(iou(a, b)):.3f}")

# 2. Non-max suppression: drop p < 0.6, then per class keep the best, discard IoU >= 0.5
boxes = torch.tensor([[0.0, 0, 10, 10], [1.0, 1, 11, 11], [20.0, 20, 30, 30], [0.0, 0, 9, 9]])
scores = torch.tensor([0.9, 0.8, 0.7, 0.5])
print("kept by nms:", nms(boxes, scores).tolist())

# 3. A tiny YOLO on coloured shapes (32x32 images, a 4x4 grid, 2 k-means anchors)
x, targets = make_shapes(256, 32, 2, seed=0, min_size=8, max_size=13)
x_test, t_test = make_shapes(64, 32, 2, seed=1, min_size=8, max_size=13)
wh = np.concatenate([t["boxes"][:, 2:] - t["boxes"][:, :2] for t in targets])
encoder = YoloEncoder(32, 4, kmeans_anchors(wh, 2), num_classes=3)
net = tiny_yolo(3, (3, 32, 32), grid_size=4, num_anchors=2, width=8)
history = fit(net, torch.from_numpy(x), encoder.encode(targets), loss=encoder.loss, lr=3e-3,
              epochs=3, batch_size=16, progress=False, seed=0)
net.eval()
with torch.no_grad():
    detections = decode(net(torch.from_numpy(x_test)), encoder, score_threshold=0.05)
print(f"YOLO loss {history['loss'][0]:.2f} -> {history['loss'][-1]:.2f}")
print(f"mAP@0.5 on 64 test images: {mean_average_precision(detections, t_test):.3f}")

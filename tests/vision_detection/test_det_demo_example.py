"""The demo's quick mode writes its metrics and pictures; the example prints what it claims."""

import json
import runpy
from pathlib import Path


ROOT = Path(__file__).resolve().parents[2]


def test_demo_detection_quick(tmp_path):
    from neuralab.cli import main

    assert main(["demo", "detection", "--quick", "--out", str(tmp_path)]) in (0, None)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    for key in ("tiny_yolo", "faster_rcnn", "rcnn"):
        assert set(metrics[key]) >= {"map_50", "map_50_95", "ms_per_image"}
        assert 0.0 <= metrics[key]["map_50"] <= 1.0
    assert 0.0 <= metrics["mask_iou"] <= 1.0 and metrics["landmark_error_px"] > 0
    for picture in ("boxes.png", "anchors.png", "masks.png", "landmarks.png"):
        assert (tmp_path / picture).stat().st_size > 1000


def test_example_runs(capsys):
    runpy.run_path(str(ROOT / "examples" / "04_detection.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "IoU = 0.333" in out
    assert "kept by nms: [0, 2]" in out
    loss = [line for line in out.splitlines() if line.startswith("YOLO loss")][0].split()
    assert float(loss[4]) < float(loss[2]) / 2
    assert "mAP@0.5 on 64 test images" in out

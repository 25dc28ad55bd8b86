"""Detection box ops against a NumPy reference and torchvision's C++ kernels, in one run.

1. ``nms``: 1,000 and 10,000 boxes, "random" (uniform in a 1000×1000 image,
   sides 10–100) and "overlap" (jittered copies around N/100 centres), and
   batched over 80 classes. neuralab ``nms(..., score_threshold=0,
   inclusive=False)`` (torchvision's rule) against a vectorised NumPy greedy
   NMS written here (the classic reference: sort, IoU of the best box with
   the rest, drop, repeat) and, when the environment variable
   ``NL_TORCHVISION_PYTHON`` names an interpreter that has torchvision, against
   ``torchvision.ops.nms`` / ``batched_nms`` run there in a subprocess on the
   same boxes (saved as .npy). ``same_indices`` compares the kept indices.
   Targets: ≤ 1.5× torchvision's time at 1,000 boxes, ≤ 1.0× at 10,000.
2. ``iou``: pairwise IoU of 1,000 × 10,000 boxes (the same peers).
3. ``detectors``: ms per 64×64 image of untrained tiny YOLO (+ decode/NMS),
   Faster R-CNN and R-CNN (every sliding window through the CNN): the sheet's
   point that R-CNN is slow, measured.

Times are medians of ``--repeats`` runs on one thread (``torch.set_num_threads(1)``,
the subprocess pinned the same way); ratios are ours / peer (< 1 is faster).

    python benchmarks/detection.py [--repeats 7] [--skip-detectors]
    NL_TORCHVISION_PYTHON=/path/to/python-with-torchvision python benchmarks/detection.py

Prints JSON, with the 1-minute load average before and after (the machine may
be shared).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import torch

from neuralab.vision.boxes import iou
from neuralab.vision.detection import RCNN, FasterRCNN, YoloEncoder, decode, nms, tiny_yolo


def numpy_nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """The classic vectorised greedy NMS (torchvision's rule: discard IoU > threshold)."""
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1) * (y2 - y1)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
        inter = w * h
        overlap = inter / (areas[i] + areas[rest] - inter)
        order = rest[~(overlap > threshold)]
    return np.asarray(keep, dtype=np.int64)


def numpy_batched_nms(boxes, scores, classes, threshold):
    keep = []
    for c in np.unique(classes):
        idx = np.nonzero(classes == c)[0]
        keep.append(idx[numpy_nms(boxes[idx], scores[idx], threshold)])
    keep = np.sort(np.concatenate(keep)) if keep else np.zeros(0, np.int64)
    return keep[np.argsort(-scores[keep], kind="stable")]      # by score, ties by index


def numpy_iou(a, b):
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / (area_a[:, None] + area_b[None, :] - inter)


def make_boxes(n: int, kind: str, seed: int):
    rng = np.random.default_rng(seed)
    if kind == "random":
        xy = rng.uniform(0, 1000, (n, 2))
        wh = rng.uniform(10, 100, (n, 2))
    else:
        centres = rng.uniform(0, 1000, (max(n // 100, 1), 2))
        xy = centres[rng.integers(0, len(centres), n)] + rng.normal(0, 5, (n, 2))
        wh = 50 + rng.normal(0, 5, (n, 2))
    boxes = np.concatenate([xy, xy + np.abs(wh)], 1).astype(np.float32)
    return boxes, rng.random(n).astype(np.float32), rng.integers(0, 80, n)


def median_time(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


_PEER = textwrap.dedent("""
    import json, statistics, sys, time
    import numpy as np, torch, torchvision
    torch.set_num_threads(1)
    folder, repeats = sys.argv[1], int(sys.argv[2])
    cases = json.load(open(folder + "/cases.json"))
    out = {"torchvision": torchvision.__version__}
    def timed(fn):
        fn(); ts = []
        for _ in range(repeats):
            t = time.perf_counter(); r = fn(); ts.append(time.perf_counter() - t)
        return statistics.median(ts), r
    for name in cases:
        b = torch.from_numpy(np.load(f"{folder}/{name}_boxes.npy"))
        s = torch.from_numpy(np.load(f"{folder}/{name}_scores.npy"))
        c = torch.from_numpy(np.load(f"{folder}/{name}_classes.npy"))
        if name.startswith("iou"):
            q = torch.from_numpy(np.load(f"{folder}/{name}_other.npy"))
            t, _ = timed(lambda: torchvision.ops.box_iou(q, b))
            out[name] = {"s": t}
        elif name.endswith("80cls"):
            t, k = timed(lambda: torchvision.ops.batched_nms(b, s, c, 0.5))
            out[name] = {"s": t, "kept": k.tolist()}
        else:
            t, k = timed(lambda: torchvision.ops.nms(b, s, 0.5))
            out[name] = {"s": t, "kept": k.tolist()}
    print(json.dumps(out))
""")


def run_torchvision(cases: dict, repeats: int):
    python = os.environ.get("NL_TORCHVISION_PYTHON")
    if not python:
        return None, "skipped: NL_TORCHVISION_PYTHON is not set (torchvision's wheels do not load " \
                     "against the pinned CPU torch; point it at an interpreter that has torchvision)"
    with tempfile.TemporaryDirectory() as folder:
        for name, (boxes, scores, classes, other) in cases.items():
            np.save(f"{folder}/{name}_boxes.npy", boxes)
            np.save(f"{folder}/{name}_scores.npy", scores)
            np.save(f"{folder}/{name}_classes.npy", classes)
            if other is not None:
                np.save(f"{folder}/{name}_other.npy", other)
        Path(folder, "cases.json").write_text(json.dumps(list(cases)))
        env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        proc = subprocess.run([python, "-c", _PEER, folder, str(repeats)], capture_output=True,
                              text=True, env=env, timeout=1800)
        if proc.returncode:
            return None, f"failed: {proc.stderr.strip().splitlines()[-1:]}"
        return json.loads(proc.stdout), "ran"


def bench_ops(repeats: int) -> dict:
    cases, report = {}, {}
    for n in (1000, 10000):
        for kind in ("random", "overlap"):
            boxes, scores, classes = make_boxes(n, kind, seed=n)
            cases[f"nms_{n}_{kind}"] = (boxes, scores, classes, None)
            cases[f"nms_{n}_{kind}_80cls"] = (boxes, scores, classes, None)
    a, _, _ = make_boxes(1000, "random", 1)
    b, _, _ = make_boxes(10000, "random", 2)
    cases["iou_1000x10000"] = (b, np.zeros(len(b), np.float32), np.zeros(len(b), np.int64), a)

    for name, (boxes, scores, classes, other) in cases.items():
        tb, ts, tc = torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(classes)
        if other is not None:
            ta = torch.from_numpy(other)
            ours = median_time(lambda: iou(ta, tb), repeats)
            ref = median_time(lambda: numpy_iou(other, boxes), repeats)
            report[name] = {"neuralab_s": ours, "numpy_s": ref, "vs_numpy": ours / ref}
            continue
        batched = name.endswith("80cls")
        if batched:
            def ours_fn():
                return nms(tb, ts, tc, 0.5, 0.0, inclusive=False)

            def ref_fn():
                return numpy_batched_nms(boxes, scores, classes, 0.5)
        else:
            def ours_fn():
                return nms(tb, ts, None, 0.5, 0.0, inclusive=False)

            def ref_fn():
                return numpy_nms(boxes, scores, 0.5)
        t_ours = median_time(ours_fn, repeats)
        t_ref = median_time(ref_fn, repeats)
        kept, kept_ref = ours_fn().numpy(), ref_fn()
        report[name] = {"boxes": len(boxes), "kept": int(len(kept)), "neuralab_s": t_ours,
                        "numpy_s": t_ref, "vs_numpy": t_ours / t_ref,
                        "same_indices_as_numpy": bool(np.array_equal(kept, kept_ref))}
        report[name]["_kept"] = kept.tolist()
    peer, status = run_torchvision(cases, repeats)
    for name, entry in report.items():
        kept = entry.pop("_kept", None)
        if peer is not None and name in peer:
            entry["torchvision_s"] = peer[name]["s"]
            entry["vs_torchvision"] = entry["neuralab_s"] / peer[name]["s"]
            if kept is not None:
                entry["same_indices_as_torchvision"] = kept == peer[name]["kept"]
    return {"torchvision": status if peer is None else peer.get("torchvision"), "cases": report}


def bench_detectors(repeats: int) -> dict:
    torch.manual_seed(0)
    x = torch.rand(8, 3, 64, 64)
    enc = YoloEncoder(64, 8, [[11.0, 11.0], [16.0, 16.0], [22.0, 22.0]], 3)
    yolo = tiny_yolo(3, (3, 64, 64), width=8).eval()
    frcnn = FasterRCNN(3, (3, 64, 64), width=8).eval()
    rcnn = RCNN(3, (3, 64, 64), width=8).eval()
    out = {}
    with torch.no_grad():
        for name, fn in (("tiny_yolo", lambda: decode(yolo(x), enc, score_threshold=0.05)),
                         ("faster_rcnn", lambda: frcnn(x)), ("rcnn", lambda: rcnn(x[:2]))):
            n = 2 if name == "rcnn" else len(x)
            out[name] = {"ms_per_image": 1000 * median_time(fn, max(1, repeats // 2)) / n}
    out["rcnn"]["windows_per_image"] = len(rcnn.windows)
    out["rcnn_vs_faster_rcnn"] = out["rcnn"]["ms_per_image"] / out["faster_rcnn"]["ms_per_image"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--skip-detectors", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    report = {"load_before": os.getloadavg()[0], "threads": 1, "python": sys.version.split()[0],
              "torch": torch.__version__}
    report["ops"] = bench_ops(args.repeats)
    if not args.skip_detectors:
        report["detectors"] = bench_detectors(args.repeats)
    report["load_after"] = os.getloadavg()[0]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

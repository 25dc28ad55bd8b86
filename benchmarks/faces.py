"""Faces against their peers, side by side: cascade detection vs OpenCV, Haar features vs skimage.

1. ``detect``: ``HaarCascade.detect_multiscale`` on ``astronaut()`` (512 × 512,
   grey) against OpenCV 4's ``CascadeClassifier.detectMultiScale`` with its
   bundled ``haarcascade_frontalface_default.xml``, both with scale factor 1.25
   and 3 neighbours, one thread each (``torch.set_num_threads(1)``,
   ``cv2.setNumThreads(1)``); median of ``--repeats`` runs, interleaved. Also
   the IoU of each one's best box with the reference face box and its number
   of detections. ``ratio = ours / opencv`` (target <= 3). Our cascade is the
   demo's recipe trained here (minutes), or read with ``--cascade FILE``
   (written by ``--save FILE``).
2. ``features``: all 190,736 Haar-like features of ``--windows`` 25 × 25
   lfw windows: ``HaarFeatures`` (one sparse product) against
   ``skimage.feature.haar_like_feature`` window by window.
   ``speedup = skimage / ours`` (target >= 10); values are checked equal.

    python benchmarks/faces.py [--repeats 5] [--windows 20] [--cascade FILE | --save FILE] [--quick]

Prints JSON, with the 1-minute load average before and after (the machine may be shared).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np
import torch


def _median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_detect(args) -> dict:
    from neuralab.vision._demo_face import cascade_recipe, iou
    from neuralab.vision.face import HaarCascade, load_lfw_windows, sample_images

    images, truth = sample_images()
    grey = images["astronaut"]
    if args.cascade:
        cascade = HaarCascade.load(args.cascade)
        trained = None
    else:
        x, y, _, _ = load_lfw_windows(test_size=0.25, seed=0)
        t0 = time.perf_counter()
        cascade = HaarCascade(**cascade_recipe(args.quick, 0)).fit(x, y)
        trained = round(time.perf_counter() - t0, 2)
        if args.save:
            cascade.save(args.save)
    ours_boxes = cascade.detect_multiscale(grey, 1.25, 3).tolist()
    out = {"ours": {"stages": len(cascade.stages_), "stumps": cascade.n_stumps_,
                    "fit_seconds": trained, "detections": len(ours_boxes),
                    "face_iou": round(max((iou(b, truth["astronaut"]) for b in ours_boxes),
                                          default=0.0), 3)}}
    try:
        import cv2
    except ImportError:
        out["opencv"] = "not installed (pip install 'neuralab[bench]')"
        out["ours"]["seconds"] = round(_median_time(lambda: cascade.detect_multiscale(grey), args.repeats), 4)
        return out
    cv2.setNumThreads(1)
    model = cv2.CascadeClassifier(os.path.join(cv2.data.haarcascades,
                                               "haarcascade_frontalface_default.xml"))
    u8 = (grey * 255).round().astype(np.uint8)
    cv_boxes = [[x, y, x + w, y + h] for x, y, w, h in
                model.detectMultiScale(u8, scaleFactor=1.25, minNeighbors=3)]
    ours_t, cv_t = [], []
    for _ in range(args.repeats):  # interleaved
        ours_t.append(_median_time(lambda: cascade.detect_multiscale(grey, 1.25, 3), 1))
        cv_t.append(_median_time(lambda: model.detectMultiScale(u8, scaleFactor=1.25,
                                                                minNeighbors=3), 1))
    out["ours"]["seconds"] = round(statistics.median(ours_t), 4)
    out["opencv"] = {"version": cv2.__version__, "seconds": round(statistics.median(cv_t), 4),
                     "detections": len(cv_boxes),
                     "face_iou": round(max((iou(b, truth["astronaut"]) for b in cv_boxes),
                                           default=0.0), 3)}
    out["ratio"] = round(out["ours"]["seconds"] / out["opencv"]["seconds"], 2)
    out["target"] = "ratio <= 3"
    return out


def bench_features(args) -> dict:
    from neuralab.vision.face import HaarFeatures, load_lfw_windows

    x = load_lfw_windows(test_size=0.25, seed=0)[0][:args.windows]
    haar = HaarFeatures(25, 25)
    haar.matrix(torch.float64)  # built once per window size, like skimage's coordinates
    ours = _median_time(lambda: haar(x), args.repeats)
    out = {"windows": len(x), "features": len(haar), "ours_seconds": round(ours, 4)}
    try:
        from skimage.feature import haar_like_feature
        from skimage.transform import integral_image
    except ImportError:
        out["skimage"] = "not installed"
        return out

    def sk():
        return np.stack([haar_like_feature(integral_image(w), 0, 0, 25, 25) for w in x])

    t0 = time.perf_counter()
    ref = sk()
    out["skimage_seconds"] = round(time.perf_counter() - t0, 4)
    out["max_abs_difference"] = float(np.abs(ref - haar(x).numpy()).max())
    out["speedup"] = round(out["skimage_seconds"] / ours, 1)
    out["target"] = "speedup >= 10"
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--windows", type=int, default=20)
    parser.add_argument("--cascade", help="a cascade saved with HaarCascade.save / --save")
    parser.add_argument("--save", help="write the trained cascade here")
    parser.add_argument("--quick", action="store_true", help="the demo's quick cascade")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    result = {"threads": 1, "load_before": os.getloadavg()[0]}
    result["features"] = bench_features(args)
    result["detect"] = bench_detect(args)
    result["load_after"] = os.getloadavg()[0]
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()

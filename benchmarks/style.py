"""Seconds per style-transfer step against the floor: one forward and backward of the backbone.

``transfer`` (pretrained EfficientNet-Lite0, L-BFGS, china.jpg in the style of
scikit-image's immunohistochemistry image, longer side ``--size``) is timed per
step through the Trainer's per-epoch ``time`` log (one step = one epoch), median
over the steps after the first. Two floors, in a plain torch loop on the same
image and the same (frozen, eval-mode) network:

- ``floor_full``: ``net(preprocess(x)).sum().backward()``, the whole classifier;
- ``floor_layers``: the same but only up to the deepest layer the costs read
  (what a step has to compute at least), summing those layers' outputs.

Target: ``step / floor_full <= 1.2``. Floors and steps alternate ``--repeats``
times in one process; medians of wall-clock and of process CPU time are
reported (CPU time decides: it is less sensitive to other jobs on the machine).

    python benchmarks/style.py [--size 256] [--steps 12] [--repeats 3] [--threads 1]

Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch


def _floor(fn, x, n):
    """Median wall and process-CPU seconds of one forward + backward (the first run dropped)."""
    wall, cpu = [], []
    for _ in range(n):
        x.grad = None
        t, c = time.perf_counter(), time.process_time()
        out = fn(x)
        total = sum(v.sum() for v in out.values()) if isinstance(out, dict) else out.sum()
        total.backward()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return statistics.median(wall[1:]), statistics.median(cpu[1:])


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    from skimage import data
    from sklearn.datasets import load_sample_image

    from neuralab import architectures
    from neuralab.training import Callback
    from neuralab.vision import style

    content, style_image = load_sample_image("china.jpg"), data.immunohistochemistry()
    h, w = content.shape[:2]
    s = args.size / max(h, w)
    hw = (round(h * s), round(w * s))
    net = architectures.create("efficientnet_lite0", pretrained=True, input_shape=(3, *hw))
    for p in net.parameters():
        p.requires_grad_(False)
    content_layers, style_layers = style.DEFAULT_LAYERS["efficientnet_lite0"]
    layers = list(dict.fromkeys(content_layers + style_layers))
    extractor = style.FeatureExtractor(net, layers)
    x = torch.rand(1, 3, *hw, requires_grad=True)

    class Times(Callback):
        """Wall (the Trainer's per-epoch "time") and process-CPU seconds of every step."""

        def __init__(self):
            self.wall, self.cpu = [], []

        def on_epoch_begin(self, epoch, logs=None):
            self._c = time.process_time()

        def on_epoch_end(self, epoch, logs=None):
            self.cpu.append(time.process_time() - self._c)
            self.wall.append(logs["time"])

    runs = {"full": [], "layers": [], "step": []}
    drop = None
    for _ in range(args.repeats):
        runs["full"].append(_floor(lambda v: net(net.preprocess(v)), x, args.steps))
        runs["layers"].append(_floor(lambda v: extractor(net.preprocess(v)), x, args.steps))
        timer = Times()
        result = style.transfer(content, style_image, backbone=net, steps=args.steps,
                                size=args.size, callbacks=[timer])
        runs["step"].append((statistics.median(timer.wall[1:]), statistics.median(timer.cpu[1:])))
        drop = 1 - result.history["style"][-1] / result.history["style"][0]
    med = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v))
           for k, v in runs.items()}
    report = {
        "benchmark": "style transfer step vs one forward+backward of the backbone",
        "backbone": "efficientnet_lite0 (pretrained)",
        "image": list(hw),
        "threads": args.threads,
        "steps_timed": args.steps,
        "style_layers": list(style_layers),
    }
    for i, clock in enumerate(("wall", "cpu")):
        step, full, layers = med["step"][i], med["full"][i], med["layers"][i]
        report[clock] = {"seconds_per_step": step, "floor_full_seconds": full,
                         "floor_layers_seconds": layers, "step_over_floor_full": step / full,
                         "step_over_floor_layers": step / layers}
    report["target"] = "step_over_floor_full <= 1.2 (cpu: the shared machine's wall clock is noisy)"
    report["meets_target"] = report["cpu"]["step_over_floor_full"] <= 1.2
    report[f"style_cost_drop_after_{args.steps}_steps"] = drop
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()

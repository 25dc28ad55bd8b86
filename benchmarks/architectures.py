"""Forward throughput of every neuralab architecture, the cost of the layer algebra, torch.compile.

Three measurements, all on CPU, batch 8, evaluation mode, ``torch.no_grad``:

1. ``throughput``: images/s of each registered architecture at ``--size``
   (default 112×112, smaller than 224 to keep the run short; LeNet-5 uses its
   1×32×32 and an architecture is never run below its minimum input).
2. ``algebra_vs_plain``: ResNet-18 and ResNet-50 built with the algebra against
   an equivalent plain ``nn.Module`` written without it (torchvision's layout:
   in-place ReLU, ``out += identity``), with the same weights (checked: same
   outputs), alternated in one process, ``--repeats`` times. Reported:
   ``ratio = plain time / neuralab time`` from the medians, for wall-clock time
   and for process CPU time (less sensitive to other jobs on a shared machine).
   Target: ratio >= 0.97 (the algebra adds no cost).
3. ``compile``: ``torch.compile(model)`` speed-up (eager time / compiled time) at
   ``--compile-size`` (default 64), for the architectures in ``--compile``
   (default a representative subset: compiling all takes minutes; ``all`` or
   ``none`` are accepted).

    python benchmarks/architectures.py [--repeats 7] [--size 112] [--compare-size 224]
                                       [--compile lenet5,resnet18,...|all|none] [--threads 1]

Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from torch import nn

from neuralab import architectures as A
from neuralab.errors import NeuralabError


# -- the plain reference (no algebra) ------------------------------------------------------------
class _Basic(nn.Module):
    expansion = 1

    def __init__(self, cin, planes, stride, downsample):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return self.relu(out)


class _Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin, planes, stride, downsample):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out += identity
        return self.relu(out)


class PlainResNet(nn.Module):
    """ResNet as a hand-written nn.Module, with torchvision's module names."""

    def __init__(self, block, layers, num_classes=1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = 64
        for stage, n in enumerate(layers, start=1):
            planes = 64 * 2 ** (stage - 1)
            blocks = []
            for b in range(n):
                stride = 2 if stage > 1 and b == 0 else 1
                down = None
                if stride != 1 or cin != planes * block.expansion:
                    down = nn.Sequential(nn.Conv2d(cin, planes * block.expansion, 1, stride,
                                                   bias=False),
                                         nn.BatchNorm2d(planes * block.expansion))
                blocks.append(block(cin, planes, stride, down))
                cin = planes * block.expansion
            setattr(self, f"layer{stage}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


# -- timing --------------------------------------------------------------------------------------
def _time(model, x):
    wall, cpu = time.perf_counter(), time.process_time()
    with torch.no_grad():
        model(x)
    return time.perf_counter() - wall, time.process_time() - cpu


def _median_times(model, x, repeats):
    _time(model, x)  # warm-up
    runs = [_time(model, x) for _ in range(repeats)]
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def _input_shape(name, size):
    if name == "lenet5":
        return (1, 32, 32)
    if name == "mixture_of_experts":
        return (1, 32, 32)
    minimum = {"alexnet": 63, "googlenet": 31, "squeezenet1_0": 29, "squeezenet1_1": 25,
               "vgg16": 32, "vgg19": 32}.get(name, 1)
    size = max(size, minimum)
    return (3, size, size)


def throughput(names, size, batch, repeats):
    out = {}
    for name in names:
        shape = _input_shape(name, size)
        torch.manual_seed(0)
        try:
            net = A.create(name, input_shape=shape).eval()
        except NeuralabError:  # an input this architecture does not take (detection grids): its own
            net = A.create(name).eval()
            shape = tuple(net.input_shape)
        x = torch.randn(batch, *shape)
        wall, _ = _median_times(net, x, repeats)
        out[name] = {"input_shape": list(shape), "images_per_s": round(batch / wall, 2),
                     "median_s": round(wall, 5)}
    return out


def algebra_vs_plain(depth, size, batch, repeats):
    layers, block = A.RESNET_LAYERS[depth]
    torch.manual_seed(0)
    net = A.create(f"resnet{depth}", input_shape=(3, size, size)).eval()
    plain = PlainResNet(_Basic if block == "basic" else _Bottleneck, layers).eval()
    plain.load_state_dict(A.to_torchvision_state_dict(net))
    x = torch.randn(batch, 3, size, size)
    with torch.no_grad():
        max_diff = float((net(x) - plain(x)).abs().max())
    _time(net, x), _time(plain, x)  # warm-up both
    runs = {"neuralab": [], "plain": []}
    for _ in range(repeats):  # alternate, so both see the same machine load
        runs["neuralab"].append(_time(net, x))
        runs["plain"].append(_time(plain, x))
    med = {k: (statistics.median(r[0] for r in v), statistics.median(r[1] for r in v))
           for k, v in runs.items()}
    return {
        "input_shape": [3, size, size], "batch": batch, "repeats": repeats,
        "max_abs_output_difference": max_diff,
        "neuralab_median_s": round(med["neuralab"][0], 5),
        "plain_median_s": round(med["plain"][0], 5),
        "ratio": round(med["plain"][0] / med["neuralab"][0], 4),
        "cpu_ratio": round(med["plain"][1] / med["neuralab"][1], 4),
        "target": ">= 0.97",
    }


def compile_speedup(names, size, batch, repeats):
    out = {}
    for name in names:
        shape = _input_shape(name, size)
        torch.manual_seed(0)
        try:
            net = A.create(name, input_shape=shape).eval()
        except NeuralabError:  # an input this architecture does not take (detection grids): its own
            net = A.create(name).eval()
            shape = tuple(net.input_shape)
        x = torch.randn(batch, *shape)
        start = time.perf_counter()
        compiled = torch.compile(net)
        with torch.no_grad():
            same = torch.allclose(compiled(x), net(x), rtol=1e-3, atol=1e-3)
        compile_s = time.perf_counter() - start
        eager = []
        fast = []
        _time(net, x)
        for _ in range(repeats):
            eager.append(_time(net, x)[0])
            fast.append(_time(compiled, x)[0])
        out[name] = {"input_shape": list(shape), "compile_s": round(compile_s, 2),
                     "same_outputs": bool(same),
                     "speedup": round(statistics.median(eager) / statistics.median(fast), 3)}
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--size", type=int, default=112, help="throughput input size (112)")
    parser.add_argument("--compare-size", type=int, default=224,
                        help="input size of the algebra-vs-plain ResNet comparison (224)")
    parser.add_argument("--compile", default="lenet5,resnet18,squeezenet1_1,mixture_of_experts",
                        help="architectures to torch.compile: comma-separated, 'all' or 'none'")
    parser.add_argument("--compile-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    names = A.names()
    if args.compile == "all":
        to_compile = names
    elif args.compile == "none":
        to_compile = []
    else:
        to_compile = [n for n in args.compile.split(",") if n]
    start = time.perf_counter()
    report = {
        "device": "cpu", "threads": args.threads, "torch": torch.__version__,
        "note": f"throughput at {args.size}x{args.size} (LeNet-5 and the mixture of experts "
                f"at 1x32x32; never below an architecture's minimum), not 224, to keep the "
                f"run short; compile at {args.compile_size}x{args.compile_size}",
        "throughput": throughput(names, args.size, args.batch_size, args.repeats),
        "algebra_vs_plain": {
            f"resnet{d}": algebra_vs_plain(d, args.compare_size, args.batch_size, args.repeats)
            for d in (18, 50)},
    }
    if to_compile:
        report["compile"] = compile_speedup(to_compile, args.compile_size, args.batch_size,
                                            args.repeats)
    report["total_s"] = round(time.perf_counter() - start, 1)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

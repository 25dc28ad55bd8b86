"""How much does ``neuralab.training.fit`` cost over a minimal hand-written PyTorch loop?

The same model (same initial weights), data, batches (the same shuffled order),
loss and optimizer run through ``fit(..., progress=False)`` and through the
shortest honest loop (data already on the device, batches by a permutation,
loss summed on the device and read once per epoch). The two alternate in one
process, ``--repeats`` times; the ratio of the medians is reported, for wall-clock
time (``ratio``) and for the process's CPU time (``cpu_ratio``, less sensitive
to other jobs on a shared machine). Two models:
a small MLP on 8×8 digits (sklearn's bundled set) and a LeNet-5-like
``nn.Sequential`` on 32×32 inputs (the digits upscaled).

    python benchmarks/fit_overhead.py [--repeats 7] [--epochs 4] [--threads 1]

Prints JSON: per model, the median seconds of each and ``ratio = fit / hand``
(target: <= 1.05). Progress output is off (``progress=False``): the hand loop
prints nothing either.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from neuralab.training import fit


def digits(size: int | None = None):
    from sklearn.datasets import load_digits

    data = load_digits()
    x = torch.tensor(data.images, dtype=torch.float32).unsqueeze(1) / 16.0  # (N, 1, 8, 8)
    if size is not None:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return x, torch.tensor(data.target, dtype=torch.long)


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))


def lenet5():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.Tanh(), nn.AvgPool2d(2),       # (6, 14, 14)
        nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2),      # (16, 5, 5)
        nn.Flatten(), nn.Linear(400, 120), nn.Tanh(), nn.Linear(120, 84), nn.Tanh(), nn.Linear(84, 10),
    )


def hand_loop(model, x, y, *, epochs, batch_size, lr, seed, device):
    """The reference: what a careful user writes by hand (same shuffling as fit with this seed)."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model.to(device).train()
    x, y = x.to(device), y.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    n = x.shape[0]
    losses = []
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen).to(device)
        total = torch.zeros((), device=device)
        for i in range(0, n, batch_size):
            idx = order[i:i + batch_size]
            xb, yb = x.index_select(0, idx), y.index_select(0, idx)
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            total += loss.detach() * xb.shape[0]
        losses.append(float(total) / n)
    return losses


def run_fit(model, x, y, *, epochs, batch_size, lr, seed, device):
    h = fit(model, x, y, optimizer="adam", lr=lr, loss="softmax_crossentropy", epochs=epochs,
            batch_size=batch_size, progress=False, seed=seed, device=device)
    return h["loss"]


def compare(name, make, x, y, *, repeats, epochs, batch_size, lr, device):
    torch.manual_seed(0)
    initial = make()
    times = {"fit": [], "hand": []}
    cpu = {"fit": [], "hand": []}
    check = None
    # warm-up (allocator, kernels) for both
    run_fit(copy.deepcopy(initial), x, y, epochs=1, batch_size=batch_size, lr=lr, seed=0, device=device)
    hand_loop(copy.deepcopy(initial), x, y, epochs=1, batch_size=batch_size, lr=lr, seed=0, device=device)
    for r in range(repeats):
        order = [("fit", run_fit), ("hand", hand_loop)]
        if r % 2:
            order.reverse()
        results = {}
        for label, fn in order:
            model = copy.deepcopy(initial)
            t0, c0 = time.perf_counter(), time.process_time()
            results[label] = fn(model, x, y, epochs=epochs, batch_size=batch_size, lr=lr, seed=r, device=device)
            times[label].append(time.perf_counter() - t0)
            cpu[label].append(time.process_time() - c0)
        diff = max(abs(a - b) for a, b in zip(results["fit"], results["hand"]))
        check = diff if check is None else max(check, diff)
    fit_s, hand_s = statistics.median(times["fit"]), statistics.median(times["hand"])
    fit_c, hand_c = statistics.median(cpu["fit"]), statistics.median(cpu["hand"])
    return {
        "model": name,
        "samples": int(x.shape[0]),
        "input_shape": list(x.shape[1:]),
        "epochs": epochs,
        "batch_size": batch_size,
        "repeats": repeats,
        "fit_seconds": round(fit_s, 4),
        "hand_seconds": round(hand_s, 4),
        "ratio": round(fit_s / hand_s, 4),
        "fit_cpu_seconds": round(fit_c, 4),
        "hand_cpu_seconds": round(hand_c, 4),
        "cpu_ratio": round(fit_c / hand_c, 4),
        "max_epoch_loss_difference": check,  # same batches, same math: should be ~0
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    x8, y = digits()
    x32, _ = digits(32)
    report = {
        "benchmark": "fit_overhead",
        "torch": torch.__version__,
        "device": str(device),
        "threads": args.threads,
        "results": [
            compare("mlp", mlp, x8, y, repeats=args.repeats, epochs=args.epochs, batch_size=args.batch_size,
                    lr=1e-3, device=device),
            compare("lenet5", lenet5, x32, y, repeats=args.repeats, epochs=args.epochs,
                    batch_size=args.batch_size, lr=1e-3, device=device),
        ],
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

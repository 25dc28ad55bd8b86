"""Classic estimators against their peers and their floors, side by side in one run.

1. ``sofm``: SOFM 20×20 on sklearn's digits against MiniSom with the same grid,
   sigma (``std``), learning rate, initialisation (samples from the data),
   schedule (MiniSom's default asymptotic decay per epoch = our
   ``reduce_*_after = epochs / 2``) and number of sample presentations
   (``--som-epochs`` × 1797, shuffled; MiniSom ``train(..., use_epochs=True)``).
   Seeds 0 … ``--som-repeats − 1``, alternated; time = median (ours: median of
   three fits per seed), quantization error = mean over seeds with its
   standard error. ``speedup = minisom time / neuralab time``; target >= 10 at
   no worse error, "no worse" = our mean QE not above MiniSom's by more than
   two standard errors of the difference (both are random over seeds).
2. ``kernel``: GRNN and PNN with 100,000 training points × 64 features
   predicting 10,000 queries, beside the floor — the bare matrix product
   ``queries @ train.T`` on the same shapes (every distance is needed), written
   in chunks of 250, 500, 1,000 and 2,000 query rows into a reused buffer; the
   fastest chunking is the floor. Wall time (median of ``--repeats``, cases
   interleaved) and peak extra resident memory (sampled every 2 ms; CUDA: the
   allocator's peak). ``ratio = time / fastest chunked product`` (target <= 1.25,
   peak extra memory < 1 GB). ``--kernel-threads 1,2`` measures on one and two
   threads (one is steadier on a busy machine).
3. ``rbm``: ``run()`` from ``benchmarks/_classic_rbm.py`` when that file exists.

    python benchmarks/classic.py [--repeats 3] [--som-repeats 5] [--som-epochs 10]
                                 [--kernel-threads 0,1] [--threads 1] [--skip-kernel]
                                 [--skip-sofm] [--skip-rbm]

Prints JSON, including the 1-minute load average before and after (the
machine may be shared). Takes about 1–3 minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import threading
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits

from neuralab.classic import GRNN, PNN, SOFM
from neuralab.classic._base import resolve_device

_PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


def measure(fn, device):
    """(seconds, peak extra bytes, result) of ``fn()``."""
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        start = time.perf_counter()
        out = fn()
        torch.cuda.synchronize()
        return time.perf_counter() - start, torch.cuda.max_memory_allocated() - base, out
    base = _rss()
    peak = [base]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], _rss())
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    out = fn()
    elapsed = time.perf_counter() - start
    stop.set()
    sampler.join()
    peak[0] = max(peak[0], _rss())
    return elapsed, peak[0] - base, out


def _mean_se(values):
    values = np.asarray(values, dtype=np.float64)
    se = values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else float("nan")
    return float(values.mean()), float(se)


def bench_sofm(repeats: int, epochs: int) -> dict:
    from minisom import MiniSom

    X = load_digits().data
    grid, sigma, lr = (20, 20), 3.0, 0.5
    res = {"ours": {"time": [], "qe": [], "te": []}, "minisom": {"time": [], "qe": [], "te": []}}
    for seed in range(repeats):
        start = time.perf_counter()
        ms = MiniSom(*grid, X.shape[1], sigma=sigma, learning_rate=lr, random_seed=seed)
        ms.random_weights_init(X)
        ms.train(X, epochs, random_order=True, use_epochs=True)
        res["minisom"]["time"].append(time.perf_counter() - start)
        res["minisom"]["qe"].append(float(ms.quantization_error(X)))
        res["minisom"]["te"].append(float(ms.topographic_error(X)))

        # Same seed fitted three times (deterministic): the median damps load spikes.
        fits = []
        for _ in range(3):
            start = time.perf_counter()
            som = SOFM(grid, std=sigma, learning_rate=lr, max_iter=epochs,
                       reduce_step_after=epochs / 2, reduce_std_after=epochs / 2,
                       random_state=seed)
            som.fit(X)
            fits.append(time.perf_counter() - start)
        res["ours"]["time"].append(statistics.median(fits))
        res["ours"]["qe"].append(som.quantization_error(X))
        res["ours"]["te"].append(som.topographic_error(X))
    out = {"grid": list(grid), "sigma": sigma, "learning_rate": lr, "epochs": epochs,
           "samples": len(X), "presentations": epochs * len(X), "repeats": repeats,
           "batch_size": SOFM().batch_size}
    for who in ("ours", "minisom"):
        qe_mean, qe_se = _mean_se(res[who]["qe"])
        out[who] = {"time": statistics.median(res[who]["time"]), "qe_mean": qe_mean,
                    "qe_se": qe_se, "te_mean": float(np.mean(res[who]["te"])),
                    "qe_per_seed": [round(v, 4) for v in res[who]["qe"]]}
    out["speedup"] = out["minisom"]["time"] / out["ours"]["time"]
    out["qe_ratio"] = out["ours"]["qe_mean"] / out["minisom"]["qe_mean"]
    # "No worse": mean over seeds not above MiniSom's by more than 2 standard
    # errors of the difference (both maps are random over seeds).
    diff_se = float(np.hypot(out["ours"]["qe_se"], out["minisom"]["qe_se"]))
    out["qe_difference"] = out["ours"]["qe_mean"] - out["minisom"]["qe_mean"]
    out["qe_difference_se"] = diff_se
    out["meets_target"] = bool(out["speedup"] >= 10 and out["qe_difference"] <= 2 * diff_se)
    return out


def bench_kernel(repeats: int, threads: int = 0) -> dict:
    """Kernel-sum cases; ``threads > 0`` runs them on that many CPU threads."""
    previous = torch.get_num_threads()
    if threads > 0:
        torch.set_num_threads(threads)
    try:
        return _bench_kernel(repeats)
    finally:
        torch.set_num_threads(previous)


def _bench_kernel(repeats: int) -> dict:
    device = resolve_device("auto")
    rng = np.random.default_rng(0)
    n_train, n_query, d = 100_000, 10_000, 64
    X = rng.normal(size=(n_train, d)).astype(np.float32)
    y = rng.normal(size=n_train)
    labels = rng.integers(0, 10, size=n_train)
    Q = rng.normal(size=(n_query, d)).astype(np.float32)
    Qt, Xt = torch.as_tensor(Q, device=device), torch.as_tensor(X, device=device)
    chunks = (250, 500, 1000, 2000)
    chunk_out = torch.empty(max(chunks), n_train, device=device)

    def bare_chunked(rows):
        for i in range(0, n_query, rows):
            torch.mm(Qt[i:i + rows], Xt.T, out=chunk_out[:rows])

    grnn = GRNN(std=8.0).fit(X, y)
    pnn = PNN(std=8.0).fit(X, labels)
    cases = {f"bare_matmul_chunked_{rows}": (lambda rows=rows: bare_chunked(rows))
             for rows in chunks}
    cases.update(grnn=lambda: grnn.predict(Q), pnn=lambda: pnn.predict(Q))
    times = {k: [] for k in cases}
    peaks = {k: [] for k in cases}
    for _ in range(repeats):
        for name, fn in cases.items():
            elapsed, peak, out = measure(fn, device)
            del out
            times[name].append(elapsed)
            peaks[name].append(peak)
    out = {"n_train": n_train, "n_queries": n_query, "n_features": d, "device": str(device),
           "repeats": repeats, "threads": torch.get_num_threads()}
    for name in cases:
        out[name] = {"time": statistics.median(times[name]),
                     "peak_extra_mb": max(peaks[name]) / 2**20}
    fastest = min((name for name in cases if name.startswith("bare")),
                  key=lambda name: out[name]["time"])
    floor = out[fastest]["time"]
    out["floor"] = fastest
    for name in cases:
        out[name]["ratio_to_fastest_chunked_matmul"] = out[name]["time"] / floor
    out["meets_target"] = bool(
        all(out[m]["ratio_to_fastest_chunked_matmul"] <= 1.25 and out[m]["peak_extra_mb"] < 1024
            for m in ("grnn", "pnn"))
    )
    return out


def bench_rbm():
    path = Path(__file__).with_name("_classic_rbm.py")
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location("_classic_rbm", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.run()
    return json.loads(result) if isinstance(result, str) else result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="kernel repeats")
    parser.add_argument("--som-repeats", type=int, default=5, help="SOFM/MiniSom seeds")
    parser.add_argument("--som-epochs", type=int, default=10)
    parser.add_argument("--kernel-threads", default="0",
                        help="comma-separated CPU thread counts for the kernel cases "
                             "(0 = the --threads value)")
    parser.add_argument("--skip-kernel", action="store_true")
    parser.add_argument("--skip-sofm", action="store_true")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads for the SOFM and RBM cases (tiny kernels: 1 is fastest)")
    parser.add_argument("--skip-rbm", action="store_true")
    args = parser.parse_args(argv)
    report = {"load_average_before": os.getloadavg()[0], "cpu_count": os.cpu_count(),
              "threads": args.threads}
    torch.set_num_threads(args.threads)
    if not args.skip_sofm:
        report["sofm"] = bench_sofm(args.som_repeats, args.som_epochs)
    if not args.skip_kernel:
        for threads in (int(t) for t in args.kernel_threads.split(",")):
            key = "kernel" if threads == 0 else f"kernel_{threads}_thread"
            report[key] = bench_kernel(args.repeats, threads)
    if not args.skip_rbm:
        rbm = bench_rbm()
        if rbm is not None:
            report["rbm"] = rbm
    report["load_average_after"] = os.getloadavg()[0]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

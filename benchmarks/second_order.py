"""Second-order training: neuralab's Levenberg–Marquardt against its peers.

Small case: a 1-10-1 tanh network fit to y = sin(x) on 200 points in [-3, 3]
(float64) until the MSE is below 1e-4, each method from the same initial
weights: neuralab LM, torch-levenberg-marquardt, scipy.optimize.least_squares
(method="lm", MINPACK, on the same network with flat parameters and the
Jacobian from torch.func), torch.optim.LBFGS (strong Wolfe) and Adam. The
target check (one forward pass) is the same for all; scipy is stopped by an
exception from its residual function once the target is reached. Reported:
median wall time and iterations over several seeds, and how many reached it.

Large case: an 8-64-64-1 tanh MLP (4,801 parameters) on 20,000 samples
(float32): seconds per full-batch LM epoch, neuralab vs torch-levenberg-marquardt.

Run:  .venv/bin/python benchmarks/second_order.py [--repeats 5] [--large-repeats 1] [--skip-large]
Prints JSON. The small case runs with one torch thread (tiny tensors: thread
spin-up costs more than it gains on a shared machine); the large case with the default.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import scipy.optimize
import torch
import torch_levenberg_marquardt as tlm
from torch.func import functional_call, jacrev

import neuralab.optimizers as nopt

TARGET = 1e-4


def sin_problem(seed, dtype=torch.float64):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(1, 10), torch.nn.Tanh(), torch.nn.Linear(10, 1))
    net = net.to(dtype)
    x = torch.linspace(-3, 3, 200, dtype=dtype).unsqueeze(1)
    return net, x, torch.sin(x)


def mse(net, x, y) -> float:
    with torch.no_grad():
        return float(torch.nn.functional.mse_loss(net(x), y))


def run_neuralab_lm(net, x, y, max_iter=500):
    opt = nopt.LevenbergMarquardt(net.parameters())
    closure = nopt.ResidualClosure(net, x, y)
    for it in range(1, max_iter + 1):
        opt.step(closure)
        if mse(net, x, y) < TARGET:
            return it
    return None


def run_tlm(net, x, y, max_iter=500):
    module = tlm.training.LevenbergMarquardtModule(
        model=net, loss_fn=tlm.loss.MSELoss(), learning_rate=1.0, attempts_per_step=10,
        solve_method="cholesky")
    for it in range(1, max_iter + 1):
        module.training_step(x, y)
        if mse(net, x, y) < TARGET:
            return it
    return None


class _Reached(Exception):
    pass


def run_scipy_lm(net, x, y, max_iter=500):
    names = [n for n, _ in net.named_parameters()]
    params = [p.detach() for p in net.parameters()]
    sizes = [p.numel() for p in params]
    shapes = [p.shape for p in params]

    def residual(flat):
        state = {n: t.view(s) for n, t, s in zip(names, torch.split(flat, sizes), shapes)}
        return (functional_call(net, state, (x,)) - y).reshape(-1)

    jac_fn = jacrev(residual)
    calls = {"jac": 0}

    def fun(v):
        r = residual(torch.from_numpy(v)).detach()
        if float(r.pow(2).mean()) < TARGET:
            raise _Reached
        return r.numpy()

    def jac(v):
        calls["jac"] += 1
        return jac_fn(torch.from_numpy(v)).numpy()

    x0 = torch.cat([p.reshape(-1) for p in params]).numpy().copy()
    try:
        scipy.optimize.least_squares(fun, x0, jac=jac, method="lm", max_nfev=max_iter * 10)
    except _Reached:
        return calls["jac"]
    return None


def run_lbfgs(net, x, y, max_iter=500):
    opt = torch.optim.LBFGS(net.parameters(), lr=1, max_iter=1, history_size=50,
                            tolerance_grad=0, tolerance_change=0,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(net(x), y)
        loss.backward()
        return loss

    for it in range(1, max_iter * 4 + 1):
        opt.step(closure)
        if mse(net, x, y) < TARGET:
            return it
    return None


def run_adam(net, x, y, max_iter=20000):
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    for it in range(1, max_iter + 1):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(net(x), y)
        loss.backward()
        opt.step()
        if float(loss.detach()) < TARGET and mse(net, x, y) < TARGET:
            return it
    return None


SMALL = {
    "neuralab_lm": run_neuralab_lm,
    "torch_levenberg_marquardt": run_tlm,
    "scipy_least_squares_lm": run_scipy_lm,
    "torch_lbfgs": run_lbfgs,
    "torch_adam": run_adam,
}


def small_case(repeats: int) -> dict:
    torch.set_num_threads(1)
    results = {}
    for name, run in SMALL.items():
        times, iters, reached = [], [], 0
        for seed in range(repeats):
            net, x, y = sin_problem(seed)
            t0 = time.perf_counter()
            it = run(net, x, y)
            elapsed = time.perf_counter() - t0
            if it is not None:
                reached += 1
                times.append(elapsed)
                iters.append(it)
        results[name] = {
            "median_seconds": statistics.median(times) if times else None,
            "median_iterations": statistics.median(iters) if iters else None,
            "reached_target": f"{reached}/{repeats}",
        }
    return results


def large_problem(seed=0):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(8, 64), torch.nn.Tanh(), torch.nn.Linear(64, 64),
                              torch.nn.Tanh(), torch.nn.Linear(64, 1))
    x = torch.randn(20000, 8)
    y = (torch.sin(x[:, :1] * x[:, 1:2]) + 0.5 * x[:, 2:3] ** 2 - x[:, 3:4]).contiguous()
    return net, x, y


def large_case(repeats: int, threads: int) -> dict:
    torch.set_num_threads(threads)
    out = {}
    for name in ("neuralab_lm", "torch_levenberg_marquardt"):
        per_epoch, losses = [], []
        for rep in range(repeats):
            net, x, y = large_problem(rep)
            if name == "neuralab_lm":
                opt = nopt.LevenbergMarquardt(net.parameters())
                closure = nopt.ResidualClosure(net, x, y)
                step = lambda: opt.step(closure)  # noqa: E731
            else:
                module = tlm.training.LevenbergMarquardtModule(
                    model=net, loss_fn=tlm.loss.MSELoss(), solve_method="cholesky")
                step = lambda: module.training_step(x, y)  # noqa: E731
            step()  # warm-up epoch (not timed)
            t0 = time.perf_counter()
            step()
            per_epoch.append(time.perf_counter() - t0)
            losses.append(mse(net, x, y))
        out[name] = {"median_seconds_per_epoch": statistics.median(per_epoch),
                     "median_mse_after_2_epochs": statistics.median(losses)}
    out["n_parameters"] = sum(p.numel() for p in large_problem()[0].parameters())
    out["n_samples"] = 20000
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--large-repeats", type=int, default=1)
    parser.add_argument("--skip-large", action="store_true")
    args = parser.parse_args()
    default_threads = torch.get_num_threads()
    report = {"target_mse": TARGET, "small_sin_1_10_1": small_case(args.repeats)}
    if not args.skip_large:
        report["large_mlp_8_64_64_1"] = large_case(args.large_repeats, default_threads)
    np.set_printoptions(precision=4)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

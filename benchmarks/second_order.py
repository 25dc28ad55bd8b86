"""Second-order training: neuralab's Levenberg–Marquardt against its peers.

Small case: a 1-10-1 tanh network fit to y = sin(x) on 200 points in [-3, 3]
(float64) until the MSE is below 1e-4. Every method starts from the same
initial weights (the network is rebuilt from the same seed for each) and is
stopped by the same check: one forward pass computing the MSE after each of its
iterations (scipy: inside its residual function, which it calls once per
trial point, so the check costs the same forward pass). Methods: neuralab LM
and torch-levenberg-marquardt with their default damping schedules (x10 on a
rejected step, x0.1 on an accepted one; initial damping 0.01 and 1e-3), up to
10 attempts per step and Cholesky solves for both; scipy.optimize.least_squares
(method="lm", MINPACK, on the same network with flat parameters and the
Jacobian from torch.func's per-sample vmap(grad)); torch.optim.LBFGS (strong
Wolfe, torch's default max_iter=20 iterations per ``step`` call, iterations
counted inside; with max_iter=1 it does not reach the target); Adam (lr 0.01).
Reported per method: median wall time and iterations over the seeds, and how
many reached the target. The methods are interleaved seed by seed and
repeated, so machine load hits all of them alike; the median over repeats is
taken per seed.

Large case: an 8-64-64-1 tanh MLP (4,801 parameters) on 20,000 samples
(float32): seconds per full-batch LM epoch, neuralab vs torch-levenberg-marquardt.

Huge case (only with --huge): the issue's memory-bounded scale, a 16-128-60-1
tanh MLP (9,977 parameters) on 100,000 samples in float32 with a 1 GiB budget
for J: J would be 3.7 GiB, so neuralab accumulates JᵀJ and Jᵀr over 4 chunks
of 26,905 samples (each chunk's J is ≤ 1 GiB; nothing of size samples ×
parameters is allocated). One full epoch takes several minutes on 2 cores, so
by default one chunk (J and its JᵀJ contribution) and one damped solve are
timed and the epoch is extrapolated (chunks × chunk time + solve time ×
attempts); --huge-full runs the whole epoch instead.

LeNet-5 case (--lenet): LeNet-5 (61,706 parameters) on the digits resized to
32×32 (1,437 training images, float32), one epoch of each method, each in a
fresh subprocess so that its peak resident memory (ru_maxrss) is its own (wall
and CPU seconds; the ratios to Adam use CPU seconds, which machine load shifts
less than wall time): Adam
(mini-batches of 64), "lbfgs" (neuralab's name for torch.optim.LBFGS: one
full-batch step of max_iter=20, strong Wolfe), "newton_cg" (one full-batch
truncated-Newton step, at most 20 Hessian-vector products, softmax
cross-entropy), "lm" (one full-batch Levenberg–Marquardt step on the one-hot
residuals of the logits: 14,370 residuals, so the automatic choice is the
matrix-free solver: J would be 3.5 GB, JᵀJ 15 GB) and "bfgs" (built by name:
its 15 GB inverse Hessian does not fit, so it is mapped, with a warning, to the
limited-memory QuasiNewton(update="bfgs", history=10): one full-batch step).

Overfit case (--overfit): NeuPy's assertCanNetworkOverfit problem (NeuPy's
tests/base.py): 10 points x ∈ [-1, 1]², targets y ∈ [0, 1] uniform, a
2-20-1 network Relu(20) (XavierNormal gain 4, zero bias) → Sigmoid(1)
(XavierNormal gain 2), mse, full batch, float64. Per method the final loss after
--overfit-epochs epochs (default 50; NeuPy's own tests allow 200 for CG
Fletcher–Reeves and Dai–Yuan, 500 Hestenes–Stiefel, 1200 Polak–Ribière and
Liu–Storey, 350 Newton, 250 SR1 at 2e-3) on seeds 0–9, and how many are < 1e-3
("sr1_trust_region" is QuasiNewton(update="sr1", trust_region=True)). Peers on
the same problems, one iteration per epoch: scipy.optimize.minimize's "CG"
(Polak–Ribière+ with a Wolfe line search), "BFGS" and "L-BFGS-B" (maxiter =
epochs, gtol 0), and torch.optim.LBFGS (max_iter=1, strong Wolfe).
--overfit-neupy-budgets runs each method NeuPy tested with the epochs and
threshold of NeuPy's own test instead (CG Fletcher–Reeves and Dai–Yuan 200,
Hestenes–Stiefel 500, Polak–Ribière and Liu–Storey 1200, Newton 350, all 1e-3;
SR1 250, BFGS 100, DFP 350, all 2e-3). NeuPy runs each once, from its fixed seed.

Run:  .venv/bin/python benchmarks/second_order.py [--repeats 3] [--seeds 3]
          [--large-repeats 1] [--skip-small] [--skip-large] [--huge [--huge-full]]
          [--lenet] [--overfit [--overfit-epochs 50]] [--overfit-neupy-budgets]
Prints JSON. The small case runs with one torch thread (tiny tensors: thread
spin-up costs more than it gains on a shared machine); the others with the default.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import statistics
import time

import numpy as np
import scipy.optimize
import torch
import torch_levenberg_marquardt as tlm
from torch.func import functional_call, grad, vmap

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

    def residual(flat, xs=x, ys=y):
        state = {n: t.view(s) for n, t, s in zip(names, torch.split(flat, sizes), shapes)}
        return (functional_call(net, state, (xs,)) - ys).reshape(-1)

    # one residual per sample: J's rows are per-sample gradients (torch.func's usual recipe,
    # about 4x faster here than jacrev over the whole batch)
    jac_fn = vmap(grad(lambda flat, xi, yi: residual(flat, xi[None], yi[None]).sum()),
                  in_dims=(None, 0, 0))
    calls = {"jac": 0}

    def fun(v):
        r = residual(torch.from_numpy(v)).detach()
        if float(r.pow(2).mean()) < TARGET:
            raise _Reached
        return r.numpy()

    def jac(v):
        calls["jac"] += 1
        return jac_fn(torch.from_numpy(v), x, y).numpy()

    x0 = torch.cat([p.reshape(-1) for p in params]).numpy().copy()
    try:
        scipy.optimize.least_squares(fun, x0, jac=jac, method="lm", max_nfev=max_iter * 10)
    except _Reached:
        return calls["jac"]
    return None


def torch_closure(opt, net, x, y, loss_fn=torch.nn.functional.mse_loss):
    """torch.optim's closure rule: zero the gradients, the loss, backward, return it."""
    def closure():
        opt.zero_grad()
        loss = loss_fn(net(x), y)
        loss.backward()
        return loss

    return closure


def run_lbfgs(net, x, y, max_iter=500):
    """torch.optim.LBFGS with torch's default max_iter=20 per step; returns inner iterations."""
    opt = torch.optim.LBFGS(net.parameters(), lr=1, max_iter=20, history_size=50,
                            tolerance_grad=0, tolerance_change=0,
                            line_search_fn="strong_wolfe")
    closure = torch_closure(opt, net, x, y)
    for _ in range(max_iter):
        opt.step(closure)
        if mse(net, x, y) < TARGET:
            return opt.state[opt._params[0]]["n_iter"]
    return None


def run_adam(net, x, y, max_iter=20000):
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    for it in range(1, max_iter + 1):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(net(x), y)
        loss.backward()
        opt.step()
        if mse(net, x, y) < TARGET:
            return it
    return None


SMALL = {
    "neuralab_lm": run_neuralab_lm,
    "torch_levenberg_marquardt": run_tlm,
    "scipy_least_squares_lm": run_scipy_lm,
    "torch_lbfgs": run_lbfgs,
    "torch_adam": run_adam,
}


def small_case(repeats: int, seeds: int) -> dict:
    torch.set_num_threads(1)
    times = {name: {seed: [] for seed in range(seeds)} for name in SMALL}
    iters = {name: {} for name in SMALL}
    for _ in range(repeats):
        for seed in range(seeds):
            for name, run in SMALL.items():  # interleaved: load hits every method alike
                net, x, y = sin_problem(seed)
                t0 = time.perf_counter()
                it = run(net, x, y)
                elapsed = time.perf_counter() - t0
                iters[name][seed] = it
                if it is not None:
                    times[name][seed].append(elapsed)
    results = {}
    for name in SMALL:
        reached = [s for s in range(seeds) if iters[name][s] is not None]
        per_seed = [statistics.median(times[name][s]) for s in reached]
        results[name] = {
            "median_seconds": statistics.median(per_seed) if per_seed else None,
            "median_iterations": statistics.median([iters[name][s] for s in reached])
            if reached else None,
            "seconds_per_seed": [round(t, 5) for t in per_seed],
            "iterations_per_seed": [iters[name][s] for s in range(seeds)],
            "reached_target": f"{len(reached)}/{seeds}",
        }
    best = min((r["median_seconds"], n) for n, r in results.items() if r["median_seconds"])
    results["fastest"] = best[1]
    lm, peer = results["neuralab_lm"], results["torch_levenberg_marquardt"]
    if lm["median_seconds"] and peer["median_seconds"]:
        results["neuralab_lm_time_ratio_vs_torch_levenberg_marquardt"] = round(
            lm["median_seconds"] / peer["median_seconds"], 3)
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
    names = ("neuralab_lm", "torch_levenberg_marquardt")
    per_epoch = {name: [] for name in names}
    losses = {name: [] for name in names}
    for rep in range(repeats):
        for name in names:  # interleaved, same initial weights and data
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
            per_epoch[name].append(time.perf_counter() - t0)
            losses[name].append(mse(net, x, y))
    out = {name: {"median_seconds_per_epoch": statistics.median(per_epoch[name]),
                  "median_mse_after_2_epochs": statistics.median(losses[name])}
           for name in names}
    out["neuralab_lm_time_ratio_vs_torch_levenberg_marquardt"] = round(
        out[names[0]]["median_seconds_per_epoch"] / out[names[1]]["median_seconds_per_epoch"], 3)
    out["n_parameters"] = sum(p.numel() for p in large_problem()[0].parameters())
    out["n_samples"] = 20000
    return out


def huge_problem(seed=0):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(16, 128), torch.nn.Tanh(), torch.nn.Linear(128, 60),
                              torch.nn.Tanh(), torch.nn.Linear(60, 1))
    x = torch.randn(100_000, 16)
    y = (torch.sin(x[:, :1] * x[:, 1:2]) + 0.5 * x[:, 2:3] ** 2 - x[:, 3:4]).contiguous()
    return net, x, y


def huge_case(threads: int, full: bool, budget: float = 2**30) -> dict:
    """One LM epoch at the issue's scale (see the module docstring)."""
    from neuralab.optimizers._derivatives import _add_lower_gram, _rows_per_chunk, jacobian_chunks
    from neuralab.optimizers._linalg import solve_spd

    torch.set_num_threads(threads)
    net, x, y = huge_problem()
    params = list(net.parameters())
    P, n = sum(p.numel() for p in params), x.shape[0]
    rows = _rows_per_chunk(P, 4, budget)
    chunks = math.ceil(n / rows)
    out = {"n_parameters": P, "n_samples": n, "dtype": "float32", "memory_budget_bytes": budget,
           "full_jacobian_bytes": n * P * 4, "samples_per_chunk": rows, "chunks": chunks,
           "threads": threads}
    closure = nopt.ResidualClosure(net, x, y)
    if full:
        opt = nopt.LevenbergMarquardt(params, memory_budget=budget)
        before = mse(net, x, y)
        t0 = time.perf_counter()
        opt.step(closure)
        out["measured"] = "full epoch"
        out["seconds_per_epoch"] = time.perf_counter() - t0
        out["mse_before_after"] = [before, mse(net, x, y)]
        out["lm_info"] = opt.last_info
    else:
        t0 = time.perf_counter()
        Jt, r = jacobian_chunks(closure, params, budget)[0]()
        t_jac = time.perf_counter() - t0
        JtJ = torch.zeros(P, P)
        t0 = time.perf_counter()
        _add_lower_gram(JtJ, Jt)
        t_gram = time.perf_counter() - t0
        out["chunk_jacobian_bytes"] = Jt.numel() * Jt.element_size()
        del Jt
        JtJ.add_(JtJ.tril(-1).T)
        JtJ.diagonal().add_(0.01)
        b = torch.randn(P)
        t0 = time.perf_counter()
        solve_spd(JtJ, b)
        t_solve = time.perf_counter() - t0
        t0 = time.perf_counter()
        with torch.no_grad():
            closure()
        t_forward = time.perf_counter() - t0
        attempts = 2  # a typical early LM epoch: one rejected attempt, one accepted
        out["measured"] = "one chunk + one solve, epoch extrapolated"
        out["seconds_chunk_jacobian"] = t_jac
        out["seconds_chunk_gram"] = t_gram
        out["seconds_solve"] = t_solve
        out["seconds_trial_forward"] = t_forward
        out["extrapolated_seconds_per_epoch"] = (
            chunks * (t_jac + t_gram) + attempts * (t_solve + t_forward))
        out["extrapolation"] = f"{chunks} chunks x (J + JtJ) + {attempts} x (solve + forward)"
    out["peak_rss_gib_process"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return out


LENET_METHODS = ("adam", "lbfgs", "newton_cg", "lm", "bfgs")


def lenet_one(method: str) -> dict:
    """One epoch of ``method`` on LeNet-5 / digits; run in its own process."""
    import warnings

    from neuralab import registry
    from neuralab.datasets import load_digits
    from neuralab.errors import ConfigError

    torch.manual_seed(0)
    data = load_digits(size=32)
    x, y = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    net = registry.architectures.get("lenet5")
    loss_fn = torch.nn.functional.cross_entropy  # LeNet5 ends in logits
    with torch.no_grad():
        out = net(x[:2])
    if torch.allclose(out.sum(1), torch.ones(2)):  # a probability output: use NLL of its log
        def loss_fn(p, t):
            return torch.nn.functional.nll_loss(torch.log(p.clamp_min(1e-12)), t)
    params = list(net.parameters())
    start_loss = float(loss_fn(net(x), y).detach())
    info: dict = {}
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        if method == "adam":
            opt = torch.optim.Adam(params, lr=1e-3)
            for i in range(0, len(x), 64):
                opt.zero_grad()
                loss_fn(net(x[i:i + 64]), y[i:i + 64]).backward()
                opt.step()
        else:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                opt = nopt.create(method, params, **({"max_iter": 20} if method == "lbfgs" else {}))
            if caught:
                info["warning"] = str(caught[0].message)
            info["optimizer"] = type(opt).__name__
            if isinstance(opt, torch.optim.LBFGS):
                closure = torch_closure(opt, net, x, y, loss_fn)
            elif method == "lm":
                closure = nopt.ResidualClosure(net, x, y)
            else:
                closure = nopt.LossClosure(net, x, y, loss_fn)
            opt.step(closure)
            if method == "lm":
                info["solver"] = opt.solver_used
                info.update({k: opt.last_info[k] for k in ("cg_iterations", "attempts", "mu")})
    except ConfigError as exc:
        return {"refused": str(exc), "seconds": round(time.perf_counter() - t0, 3),
                "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 3)}
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2),
            "loss_before": round(start_loss, 4),
            "loss_after": round(float(loss_fn(net(x), y).detach()), 4),
            "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 3),
            **info}


def lenet_case(threads: int) -> dict:
    import subprocess
    import sys

    out = {"parameters": 61_706, "threads": threads}
    for method in LENET_METHODS:
        proc = subprocess.run([sys.executable, __file__, "--lenet-method", method,
                               "--threads", str(threads)],
                              capture_output=True, text=True, check=True)
        out[method] = json.loads(proc.stdout)
    adam = out["adam"]["cpu_seconds"]  # CPU time: the machine's load varies between processes
    out["cpu_seconds_ratio_vs_adam"] = {m: round(out[m]["cpu_seconds"] / adam, 2)
                                        for m in LENET_METHODS if "cpu_seconds" in out[m]}
    return out


def neupy_overfit_problem(seed: int, dtype=torch.float64):
    """NeuPy's assertCanNetworkOverfit: 10 points, Relu(20) → Sigmoid(1), its initialisation."""
    g = torch.Generator().manual_seed(seed)
    x = 2 * torch.rand(10, 2, generator=g, dtype=dtype) - 1
    y = torch.rand(10, 1, generator=g, dtype=dtype)
    hidden, out = torch.nn.Linear(2, 20), torch.nn.Linear(20, 1)
    with torch.no_grad():  # XavierNormal(gain): std = gain·sqrt(2 / (fan_in + fan_out))
        hidden.weight.copy_(torch.randn(20, 2, generator=g) * 4 * math.sqrt(2 / 22))
        out.weight.copy_(torch.randn(1, 20, generator=g) * 2 * math.sqrt(2 / 21))
        hidden.bias.zero_()
        out.bias.zero_()
    return torch.nn.Sequential(hidden, torch.nn.ReLU(), out, torch.nn.Sigmoid()).to(dtype), x, y


OVERFIT_METHODS = {
    "cg_fletcher_reeves": ("cg", {"update": "fletcher_reeves"}),
    "cg_polak_ribiere": ("cg", {"update": "polak_ribiere"}),
    "cg_hestenes_stiefel": ("cg", {"update": "hestenes_stiefel"}),
    "cg_dai_yuan": ("cg", {"update": "dai_yuan"}),
    "cg_liu_storey": ("cg", {"update": "liu_storey"}),
    "newton": ("newton", {}), "sr1": ("sr1", {}), "sr1_trust_region": ("sr1", {"trust_region": True}),
    "bfgs": ("bfgs", {}), "dfp": ("dfp", {}),
    "newton_cg": ("newton_cg", {}), "hessian_diagonal": ("hessian_diagonal", {}), "lm": ("lm", {}),
}


# NeuPy's own overfit tests (tests/algorithms/gd/test_conjgrad.py, test_hessian.py,
# test_quasi_newton.py): the epochs each method gets and the loss it must end below
NEUPY_BUDGETS = {
    "cg_fletcher_reeves": (200, 1e-3), "cg_dai_yuan": (200, 1e-3),
    "cg_hestenes_stiefel": (500, 1e-3), "cg_polak_ribiere": (1200, 1e-3),
    "cg_liu_storey": (1200, 1e-3), "newton": (350, 1e-3), "sr1": (250, 2e-3),
    "bfgs": (100, 2e-3), "dfp": (350, 2e-3),
}


def overfit_neuralab(name: str, options: dict, seed: int, epochs: int) -> float:
    """Final MSE of one neuralab method on one seed: one full-batch step per epoch."""
    import warnings

    net, x, y = neupy_overfit_problem(seed)
    opt = nopt.create(name, net.parameters(), **options)
    closure = (nopt.ResidualClosure(net, x, y) if name == "lm"
               else nopt.LossClosure(net, x, y, torch.nn.functional.mse_loss))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the kink fallbacks warn once per run
        for _ in range(epochs):
            opt.step(closure)
    return mse(net, x, y)


def overfit_scipy(method: str, seed: int, epochs: int) -> float:
    """Final MSE of scipy.optimize.minimize(method) after ``epochs`` iterations (gtol 0)."""
    net, x, y = neupy_overfit_problem(seed)
    params = list(net.parameters())
    flat = torch.nn.utils.parameters_to_vector

    def loss_and_grad(v):
        torch.nn.utils.vector_to_parameters(torch.from_numpy(v), params)
        loss = torch.nn.functional.mse_loss(net(x), y)
        grads = torch.autograd.grad(loss, params)
        return float(loss.detach()), flat(grads).numpy().copy()

    scipy.optimize.minimize(loss_and_grad, flat(params).detach().numpy().copy(), jac=True,
                            method=method, options={"maxiter": epochs, "gtol": 0.0})
    return mse(net, x, y)


def overfit_torch_lbfgs(seed: int, epochs: int) -> float:
    """torch.optim.LBFGS, one iteration (max_iter=1, strong Wolfe) per epoch."""
    net, x, y = neupy_overfit_problem(seed)
    opt = torch.optim.LBFGS(net.parameters(), max_iter=1, line_search_fn="strong_wolfe",
                            tolerance_grad=0.0, tolerance_change=0.0)
    closure = torch_closure(opt, net, x, y)
    for _ in range(epochs):
        opt.step(closure)
    return mse(net, x, y)


OVERFIT_PEERS = {
    "peer_scipy_cg": lambda seed, epochs: overfit_scipy("CG", seed, epochs),
    "peer_scipy_bfgs": lambda seed, epochs: overfit_scipy("BFGS", seed, epochs),
    "peer_scipy_lbfgsb": lambda seed, epochs: overfit_scipy("L-BFGS-B", seed, epochs),
    "peer_torch_lbfgs": overfit_torch_lbfgs,
}


def _overfit_row(losses: list[float], below: float, **extra) -> dict:
    return {**extra, "below": f"{sum(v < below for v in losses)}/{len(losses)}",
            "median_loss": float(f"{statistics.median(losses):.3g}"),
            "losses": [float(f"{v:.3g}") for v in losses]}


def overfit_case(epochs: int, seeds: int = 10) -> dict:
    """Every method and peer for ``epochs`` epochs on seeds 0..seeds-1, threshold 1e-3."""
    torch.set_num_threads(1)
    out = {"epochs": epochs, "threshold": 1e-3}
    for label, (name, options) in OVERFIT_METHODS.items():
        out[label] = _overfit_row([overfit_neuralab(name, options, s, epochs)
                                   for s in range(seeds)], 1e-3)
    for label, run in OVERFIT_PEERS.items():
        out[label] = _overfit_row([run(s, epochs) for s in range(seeds)], 1e-3)
    return out


def overfit_neupy_budgets(seeds: int = 10) -> dict:
    """Each method with the epochs and threshold of NeuPy's own overfit test."""
    torch.set_num_threads(1)
    out = {}
    for label, (epochs, threshold) in NEUPY_BUDGETS.items():
        name, options = OVERFIT_METHODS[label]
        out[label] = _overfit_row([overfit_neuralab(name, options, s, epochs)
                                   for s in range(seeds)], threshold,
                                  epochs=epochs, threshold=threshold)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="repeats of the small case")
    parser.add_argument("--seeds", type=int, default=3, help="initial weights (seeds) per method")
    parser.add_argument("--large-repeats", type=int, default=1)
    parser.add_argument("--skip-small", action="store_true")
    parser.add_argument("--skip-large", action="store_true")
    parser.add_argument("--huge", action="store_true",
                        help="also the 9,977-parameter / 100,000-sample memory-bounded case")
    parser.add_argument("--huge-full", action="store_true",
                        help="run the whole huge epoch (several minutes) instead of one chunk")
    parser.add_argument("--lenet", action="store_true",
                        help="LeNet-5 on digits: one epoch of adam, lbfgs, newton_cg, lm, bfgs")
    parser.add_argument("--lenet-method", choices=LENET_METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--overfit", action="store_true",
                        help="NeuPy's overfit check on 10 seeds (a few minutes)")
    parser.add_argument("--overfit-epochs", type=int, default=50)
    parser.add_argument("--overfit-neupy-budgets", action="store_true",
                        help="NeuPy's overfit check with the epochs of NeuPy's own tests (minutes)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads of the large, huge and LeNet cases (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.lenet_method:
        print(json.dumps(lenet_one(args.lenet_method)))
        return
    default_threads = torch.get_num_threads()
    report = {"target_mse": TARGET}
    if not args.skip_small:
        report["small_sin_1_10_1"] = small_case(args.repeats, args.seeds)
    if not args.skip_large:
        report["large_mlp_8_64_64_1"] = large_case(args.large_repeats, default_threads)
    if args.huge or args.huge_full:
        report["huge_mlp_16_128_60_1"] = huge_case(default_threads, full=args.huge_full)
    if args.lenet:
        report["lenet5_digits_one_epoch"] = lenet_case(default_threads)
    if args.overfit:
        report["neupy_overfit"] = overfit_case(args.overfit_epochs)
    if args.overfit_neupy_budgets:
        report["neupy_overfit_neupy_budgets"] = overfit_neupy_budgets()
    np.set_printoptions(precision=4)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

"""Levenberg–Marquardt's three solvers (P×P, N×N, matrix-free) give the dense step, and the
automatic choice follows the sizes and the memory."""

import pytest
import torch

import neuralab.optimizers as nopt
from neuralab.errors import ConfigError
from neuralab.optimizers.levenberg_marquardt import choose_solver

from _opt_helpers import mlp, xor_data

SOLVERS = ("normal", "dual", "matrix_free")


def dense_step(net, residuals, mu, damping):
    """δ = −(JᵀJ + mu·D)⁻¹Jᵀr with J from torch.autograd.functional.jacobian (independent)."""
    params = list(net.parameters())
    x0 = torch.nn.utils.parameters_to_vector(params).detach()
    names = [n for n, _ in net.named_parameters()]
    shapes = [p.shape for p in params]

    def r_of(flat):
        pieces = torch.split(flat, [s.numel() for s in shapes])
        state = {n: t.view(s) for n, t, s in zip(names, pieces, shapes)}
        return residuals(lambda x: torch.func.functional_call(net, state, (x,)))

    J = torch.autograd.functional.jacobian(r_of, x0)
    r = r_of(x0).detach()
    A = J.T @ J
    D = torch.eye(len(x0), dtype=x0.dtype) if damping == "identity" else torch.diag(A.diagonal())
    return x0, torch.linalg.solve(A + mu * D, -J.T @ r)


def conv_net(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(),
        torch.nn.Linear(8, 3), torch.nn.Softmax(dim=1)).double()


def problems():
    x, y = xor_data()  # m = 4 < P = 13
    g = torch.Generator().manual_seed(0)
    xs = torch.linspace(-3, 3, 30, dtype=torch.float64).unsqueeze(1)  # m = 30 > P = 19
    images = torch.randn(5, 1, 6, 6, generator=g, dtype=torch.float64)  # m = 15 < P = 47
    labels = torch.tensor([0, 1, 2, 1, 0])
    onehot = torch.nn.functional.one_hot(labels, 3).double()
    return {
        "xor-2-3-1": (mlp([2, 3, 1], seed=2), x, y, y),
        "sin-1-6-1": (mlp([1, 6, 1], seed=1), xs, torch.sin(xs), torch.sin(xs)),
        "conv-softmax": (conv_net(), images, labels, onehot),
    }


@pytest.mark.parametrize("problem", ["xor-2-3-1", "sin-1-6-1", "conv-softmax"])
@pytest.mark.parametrize("damping", ["identity", "marquardt"])
def test_every_solver_takes_the_dense_step(problem, damping):
    net, x, targets, dense_targets = problems()[problem]
    x0, delta = dense_step(net, lambda f: (f(x) - dense_targets).reshape(-1), 0.3, damping)
    P = len(x0)
    for solver in SOLVERS:
        torch.nn.utils.vector_to_parameters(x0.clone(), net.parameters())
        opt = nopt.LevenbergMarquardt(net.parameters(), mu=0.3, mu_decrease=0.5, damping=damping,
                                      solver=solver, max_cg=P, cg_tol=1e-13, max_attempts=1)
        opt.step(nopt.ResidualClosure(net, x, targets))
        assert opt.solver_used == solver
        if opt.last_info["accepted"]:  # a rejected step restores x0 (checked below)
            got = torch.nn.utils.parameters_to_vector(net.parameters()).detach() - x0
            torch.testing.assert_close(got, delta, rtol=1e-9, atol=1e-11, msg=solver)
        else:
            assert torch.equal(torch.nn.utils.parameters_to_vector(net.parameters()), x0)
    assert opt.last_info["cg_iterations"] <= min(P, len(dense_targets.reshape(-1)))


def test_matrix_free_step_with_a_plain_closure_equals_the_dense_step():
    net, x, y, _ = problems()["sin-1-6-1"]
    x0, delta = dense_step(net, lambda f: (f(x) - y).reshape(-1), 0.01, "identity")
    opt = nopt.LevenbergMarquardt(net.parameters(), solver="matrix_free", max_cg=19, cg_tol=1e-13)
    opt.step(lambda: (net(x) - y).reshape(-1))
    assert opt.last_info["accepted"] == 1.0
    torch.testing.assert_close(torch.nn.utils.parameters_to_vector(net.parameters()).detach() - x0,
                               delta, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("m,P,budget,limit,expected", [
    (60, 31, 2**30, 1e9, "normal"),  # the 1-10-1 sin fit: m ≥ P
    (4, 13, 2**30, 1e9, "dual"),  # fewer residuals than parameters
    (14_370, 61_706, 2**30, 4e9, "matrix_free"),  # LeNet-5 on digits: J is 3.5 GB
    (14_370, 61_706, 4e9, 8e9, "dual"),  # ... unless J and three 14,370² matrices fit
    (1_000, 5_000, 2**30, 1e9, "dual"),  # J 20 MB + 3 × 4 MB
    (1_000, 5_000, 1e6, 1e9, "normal"),  # J over the chunk budget: P×P (300 MB) fits
    (1_000, 5_000, 1e6, 2e8, "matrix_free"),  # ... and now it does not
    (100_000, 3_000, 2**30, 4e9, "normal"),  # many samples, small net: 108 MB + chunks
    (100_000, 30_000, 2**30, 4e9, "matrix_free"),  # 10.8 GB of P×P
])
def test_the_automatic_choice_follows_sizes_and_memory(m, P, budget, limit, expected):
    assert choose_solver(m, P, 4, budget, limit) == expected


def lenet_sized():
    return [torch.nn.Parameter(torch.zeros(61_706))]


def test_lm_at_lenet_size_is_planned_not_refused_and_refused_only_when_nothing_fits():
    nopt.LevenbergMarquardt(lenet_sized(), memory_limit=4e9)  # matrix-free needs ~13 MB
    with pytest.raises(ConfigError, match=r"LevenbergMarquardt\(solver='matrix_free'\): needs "
                       r"about 12.8 MB for 61,706 parameters \(a Krylov basis of 52 vectors.*"
                       r"more than the 1.0 MB allowed.*Even the matrix-free solver does not fit"):
        nopt.LevenbergMarquardt(lenet_sized(), memory_limit=1e6)
    with pytest.raises(ConfigError, match=r"solver='dual'.*the Jacobian \(14,370×61,706\)"):
        opt = nopt.LevenbergMarquardt(lenet_sized(), solver="dual", memory_limit=4e9)
        opt._plan(14_370, "dual")


def test_auto_switches_to_matrix_free_under_a_small_limit_and_still_descends():
    net, x, y, _ = problems()["sin-1-6-1"]
    closure = nopt.ResidualClosure(net, x, y)
    start = float(closure().detach().pow(2).mean())
    # P = 19, m = 30: P×P needs 3·19²·8 + 30·19·8 = 13,224 bytes, matrix-free 21·49·8 = 8,232
    opt = nopt.LevenbergMarquardt(net.parameters(), max_cg=19, memory_limit=10_000)
    for _ in range(5):
        loss = opt.step(closure)
    assert opt.solver_used == "matrix_free" and 1 <= opt.last_info["cg_iterations"] <= 19
    assert float(loss) < 0.5 * start


def test_a_state_saved_before_the_solver_options_existed_still_steps():
    net, x, y, _ = problems()["xor-2-3-1"]
    opt = nopt.LevenbergMarquardt(net.parameters())
    state = opt.state_dict()
    for key in ("solver", "max_cg", "cg_tol"):
        del state["param_groups"][0][key]
    opt = nopt.LevenbergMarquardt(net.parameters())
    opt.load_state_dict(state)
    opt.step(nopt.ResidualClosure(net, x, y))
    assert opt.solver_used == "dual" and opt.param_groups[0]["solver"] == "auto"

"""Levenberg–Marquardt against scipy.optimize.least_squares(method="lm") and known answers."""

import numpy as np
import pytest
import scipy.optimize
import torch

import neuralab.optimizers as nopt
from neuralab.errors import TrainingError

from _opt_helpers import mlp, xor_data


def run_lm(params, closure, steps=200, tol=0.0, **kwargs):
    opt = nopt.LevenbergMarquardt(params, **kwargs)
    loss = None
    for _ in range(steps):
        loss = opt.step(closure)
        if float(loss) <= tol or opt.param_groups[0]["mu"] >= 1e10:
            break
    return opt, loss


def test_rosenbrock_matches_scipy():
    w = torch.nn.Parameter(torch.tensor([-1.2, 1.0], dtype=torch.float64))

    def residuals():
        return torch.stack([10 * (w[1] - w[0] ** 2), 1 - w[0]])

    run_lm([w], residuals)
    ref = scipy.optimize.least_squares(
        lambda v: [10 * (v[1] - v[0] ** 2), 1 - v[0]], [-1.2, 1.0], method="lm",
        xtol=1e-15, ftol=1e-15, gtol=1e-15)
    np.testing.assert_allclose(w.detach().numpy(), ref.x, rtol=1e-6)
    np.testing.assert_allclose(w.detach().numpy(), [1.0, 1.0], rtol=1e-10)


def test_exponential_decay_fit_matches_scipy():
    rng = np.random.default_rng(0)
    t = np.linspace(0, 4, 40)
    y = 2.5 * np.exp(-1.3 * t) + 0.5 + 0.02 * rng.standard_normal(t.size)
    tt, yy = torch.tensor(t), torch.tensor(y)
    w = torch.nn.Parameter(torch.tensor([1.0, 1.0, 0.0], dtype=torch.float64))
    run_lm([w], lambda: w[0] * torch.exp(-w[1] * tt) + w[2] - yy, damping="marquardt")
    ref = scipy.optimize.least_squares(
        lambda v: v[0] * np.exp(-v[1] * t) + v[2] - y, [1.0, 1.0, 0.0], method="lm",
        xtol=1e-15, ftol=1e-15, gtol=1e-15)
    np.testing.assert_allclose(w.detach().numpy(), ref.x, rtol=1e-6)
    assert w.dtype == torch.float64


def test_xor_reaches_1e_6_in_under_50_steps():
    x, y = xor_data()
    net = mlp([2, 2, 1], seed=0)
    closure = nopt.ResidualClosure(net, x, y)
    opt = nopt.LevenbergMarquardt(net.parameters())
    for step in range(1, 50):
        loss = opt.step(closure)
        if float(loss) < 1e-6:
            break
    assert float(loss) < 1e-6 and step < 50
    assert float(torch.nn.functional.mse_loss(net(x), y).detach()) == pytest.approx(float(loss), rel=1e-9)
    assert loss.dtype == torch.float64 and set(opt.last_info) >= {"mu", "loss"}
    assert all(isinstance(v, float) for v in opt.last_info.values())


def test_plain_closure_and_residual_closure_take_identical_steps():
    x, y = xor_data()
    a, b = mlp([2, 3, 1], seed=3), mlp([2, 3, 1], seed=3)
    oa, ob = nopt.LevenbergMarquardt(a.parameters()), nopt.LevenbergMarquardt(b.parameters())
    for _ in range(5):
        la = oa.step(nopt.ResidualClosure(a, x, y))
        lb = ob.step(lambda: (b(x) - y).reshape(-1))
        assert float(la) == pytest.approx(float(lb), rel=1e-10, abs=1e-300)
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("damping", ["identity", "marquardt"])
def test_chunked_and_unchunked_steps_agree(damping):
    torch.manual_seed(0)
    x = torch.linspace(-3, 3, 60, dtype=torch.float64).unsqueeze(1)
    y = torch.sin(x)
    a, b = mlp([1, 6, 1], seed=1), mlp([1, 6, 1], seed=1)
    P = sum(p.numel() for p in a.parameters())
    oa = nopt.LevenbergMarquardt(a.parameters(), damping=damping)
    ob = nopt.LevenbergMarquardt(b.parameters(), damping=damping, memory_budget=7 * P * 8)
    for _ in range(4):
        la, lb = oa.step(nopt.ResidualClosure(a, x, y)), ob.step(nopt.ResidualClosure(b, x, y))
        assert ob.last_info["chunks"] == 9 and oa.last_info["chunks"] == 1
        assert float(la) == pytest.approx(float(lb), rel=1e-10)
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("damping", ["identity", "marquardt"])
def test_underdetermined_dual_form_equals_primal_solution(damping):
    # 4 residuals, 13 parameters: the m×m system is used; check δ against the P×P formula
    x, y = xor_data()
    net = mlp([2, 3, 1], seed=2)
    params = list(net.parameters())
    J, r = nopt.residual_jacobian(nopt.ResidualClosure(net, x, y), params)
    A = J.T @ J
    D = torch.eye(13, dtype=torch.float64) if damping == "identity" else torch.diag(A.diagonal())
    x0 = torch.cat([p.detach().reshape(-1) for p in params])
    opt = nopt.LevenbergMarquardt(params, mu=0.5, damping=damping, mu_decrease=0.5)
    opt.step(nopt.ResidualClosure(net, x, y))
    assert opt.last_info["attempts"] == 1.0
    delta = torch.linalg.solve(A + 0.5 * D, -J.T @ r)
    torch.testing.assert_close(torch.cat([p.detach().reshape(-1) for p in params]), x0 + delta,
                               rtol=1e-8, atol=1e-10)


def test_singular_system_falls_back():
    # a parameter the residuals do not depend on + mu=0: JᵀJ is singular
    w = torch.nn.Parameter(torch.tensor([0.0, 5.0], dtype=torch.float64))
    t = torch.linspace(0, 1, 5, dtype=torch.float64)
    opt = nopt.LevenbergMarquardt([w], mu=0.0)
    loss = opt.step(lambda: w[0] * t - 2 * t + 0 * w[1])
    assert float(loss) < 1e-20 and float(w.detach()[0]) == pytest.approx(2.0)
    assert float(w.detach()[1]) == pytest.approx(5.0)


def test_nan_residuals_raise_and_restore():
    w = torch.nn.Parameter(torch.tensor([1.0, 2.0], dtype=torch.float64))
    opt = nopt.LevenbergMarquardt([w])
    poisoned = {"on": False}

    def residuals():
        r = torch.stack([w[0] - 3, w[1] + 1])
        return r * float("nan") if poisoned["on"] else r

    opt.step(residuals)
    good = w.detach().clone()
    with torch.no_grad():
        w[0] = float("nan")
    with pytest.raises(TrainingError, match="parameters contain NaN or inf.*restored"):
        opt.step(residuals)
    assert torch.equal(w.detach(), good)
    poisoned["on"] = True
    with pytest.raises(TrainingError, match=r"the loss is nan at the current parameters"):
        opt.step(residuals)
    assert torch.equal(w.detach(), good)


def test_rejected_steps_keep_parameters_and_raise_mu():
    w = torch.nn.Parameter(torch.tensor([0.0], dtype=torch.float64))
    opt = nopt.LevenbergMarquardt([w], mu=1e-3, max_attempts=3)
    # at the minimum every step is rejected
    opt.step(lambda: w - 0.0)
    assert opt.last_info["accepted"] == 0.0 and opt.last_info["attempts"] == 3.0
    assert opt.param_groups[0]["mu"] == pytest.approx(1.0)
    assert float(w.detach()) == 0.0


def test_float32_model_stays_float32():
    x, y = xor_data()
    net = mlp([2, 2, 1], seed=0).float()
    opt = nopt.LevenbergMarquardt(net.parameters())
    loss = opt.step(nopt.ResidualClosure(net, x.float(), y.float()))
    assert loss.dtype == torch.float32 and all(p.dtype == torch.float32 for p in net.parameters())


def test_big_problem_is_chunked_under_a_tiny_budget():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 40), torch.nn.Tanh(), torch.nn.Linear(40, 2))
    x = torch.randn(5000, 4)
    y = torch.stack([x[:, 0] * x[:, 1], torch.sin(x[:, 2])], 1)
    opt = nopt.LevenbergMarquardt(net.parameters(), memory_budget=2**20)  # 1 MiB
    before = float(torch.nn.functional.mse_loss(net(x), y).detach())
    for _ in range(2):
        loss = opt.step(nopt.ResidualClosure(net, x, y))
    # J would be 10000 × 282 floats = 11 MB; 1 MiB holds 929 rows = 464 samples → 11 chunks
    assert opt.last_info["chunks"] == 11.0
    assert float(loss) < before

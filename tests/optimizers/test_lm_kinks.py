"""Levenberg–Marquardt at V-shaped kinks: plain LM stalls there, LM with kinks follows them."""

import warnings

import pytest
import torch

import neuralab.optimizers as nopt
from neuralab.errors import ConfigError

from _opt_helpers import mlp, neupy_overfit_problem, sin_data

# r(a, b) = (1 + relu(u), u − s, 2(a − 3)) with u = a − b. For s = 0.5 the loss Σr² is a V in
# u at u = 0 (slope 2s − 2 = −1 from the left, 2 + 2s = 3 from the right), so its minimiser
# lies on the kink: a = b = 3, Σr² = 1 + s² = 1.25, mean 1.25 / 3. For s = −0.5 the kink is
# no longer a valley (both slopes positive): the minimiser is u = s, a = 3, b = 3.5, Σr² = 1.
V_MINIMISER = torch.tensor([3.0, 3.0], dtype=torch.float64)
V_MIN_LOSS = 1.25 / 3


def v_kink(start=(0.3, -0.2)):
    w = torch.nn.Parameter(torch.tensor(start, dtype=torch.float64))
    shift = {"s": 0.5}

    def residuals():
        u = w[0] - w[1]
        return torch.stack([1 + torch.relu(u), u - shift["s"], 2 * (w[0] - 3)])

    return w, residuals, shift


def test_plain_lm_stalls_beside_the_kink():
    """The reference failure: mu at its ceiling, the loss stopped 1e-3 above the minimum."""
    w, residuals, _ = v_kink()
    opt = nopt.LevenbergMarquardt([w], kinks=False)
    for _ in range(50):
        opt.step(residuals)
    assert opt.param_groups[0]["mu"] == 1e10 and opt.last_info["accepted"] == 0.0
    assert opt.last_info["loss"] - V_MIN_LOSS > 1e-3
    assert float((w.detach() - V_MINIMISER).abs().max()) > 1e-2
    assert opt.last_info["kinks"] == 0.0


@pytest.mark.parametrize("solver", ["normal", "dual", "matrix_free"])
@pytest.mark.parametrize("start", [(0.3, -0.2), (-1.0, 0.5), (5.0, -1.0)])
def test_lm_finds_the_kink_and_reaches_the_minimiser_on_it(solver, start):
    w, residuals, _ = v_kink(start)
    opt = nopt.LevenbergMarquardt([w], solver=solver)
    found = 0.0
    for _ in range(15):  # on the kink in 3-4 steps
        opt.step(residuals)
        found += opt.last_info["kink_found"]
    torch.testing.assert_close(w.detach(), V_MINIMISER, atol=1e-6, rtol=0)
    assert opt.last_info["loss"] == pytest.approx(V_MIN_LOSS, abs=1e-7)
    assert found >= 1 and opt.last_info["kinks"] == 1.0


def test_a_kink_that_stops_being_a_valley_is_released():
    w, residuals, shift = v_kink()
    opt = nopt.LevenbergMarquardt([w])
    for _ in range(10):
        opt.step(residuals)
    assert opt.last_info["kinks"] == 1.0
    shift["s"] = -0.5  # the data changed: the loss now falls across the kink, towards u = s
    for _ in range(20):
        opt.step(residuals)
    assert opt.last_info["kinks"] == 0.0
    torch.testing.assert_close(w.detach(), torch.tensor([3.0, 3.5], dtype=torch.float64),
                               atol=1e-8, rtol=0)
    assert opt.last_info["loss"] == pytest.approx(1.0 / 3, abs=1e-12)


def test_smooth_fits_take_the_same_steps_with_and_without_kinks():
    """No kink on a tanh network: the steps are Marquardt's, bit for bit."""
    x, y = sin_data()
    a, b = mlp([1, 10, 1], seed=2), mlp([1, 10, 1], seed=2)
    oa = nopt.LevenbergMarquardt(a.parameters())
    ob = nopt.LevenbergMarquardt(b.parameters(), kinks=False)
    for _ in range(30):
        la = oa.step(nopt.ResidualClosure(a, x, y))
        lb = ob.step(nopt.ResidualClosure(b, x, y))
        assert float(la) == float(lb) and oa.last_info["kinks"] == 0.0
    assert float(la) < 1e-3
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)


@pytest.mark.parametrize("seed", [3, 4])
def test_neupy_overfit_seeds_that_plain_lm_failed(seed):
    """NeuPy's assertCanNetworkOverfit (MSE < 1e-3, Relu(20) → Sigmoid), 200 epochs: plain LM
    stops on a kink at 8.6e-3 (seed 3) and 1.0e-2 (seed 4)."""
    losses = {}
    for kinks in (False, True):
        net, x, y = neupy_overfit_problem(seed)
        opt = nopt.LevenbergMarquardt(net.parameters(), kinks=kinks)
        closure = nopt.ResidualClosure(net, x, y)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for _ in range(200):
                opt.step(closure)
        with torch.no_grad():
            losses[kinks] = float(torch.nn.functional.mse_loss(net(x), y))
    assert losses[False] > 5e-3
    assert losses[True] < 1e-3


def test_kinks_option_is_validated():
    w = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    with pytest.raises(ConfigError, match=r"LevenbergMarquardt.*kinks.*True or False.*'yes'"):
        nopt.LevenbergMarquardt([w], kinks="yes")
    assert nopt.create("lm", [w]).param_groups[0]["kinks"] is True

"""Kinks of piecewise-smooth losses: found, followed, and never imagined on smooth ones."""

import math
import warnings

import pytest
import torch

import neuralab.optimizers as nopt

from _opt_helpers import mlp, sin_data

# f(u, v) = (u − 1)² + 0.1(v − 2)² + 5|v − u/2|: a V-shaped valley along v = u/2 whose
# minimiser lies on it. On the kink f = (u − 1)² + 0.1(u/2 − 2)², minimal at u = 2.2/2.05
# (the smooth part's gradient there is 0.0585·5·(1, −2)/1, inside the subdifferential)
U_STAR = 2.2 / 2.05
MINIMISER = torch.tensor([U_STAR, U_STAR / 2], dtype=torch.float64)
NORMAL = torch.tensor([1.0, -2.0], dtype=torch.float64) / math.sqrt(5.0)


def valley():
    w = torch.nn.Parameter(torch.tensor([-1.0, 1.0], dtype=torch.float64))

    def f():
        return (w[0] - 1) ** 2 + 0.1 * (w[1] - 2) ** 2 + 5 * (w[1] - 0.5 * w[0]).abs()

    return w, f


@pytest.mark.parametrize("name,options", [
    ("newton", {}), ("hessian_diagonal", {}), ("newton_cg", {}),
    ("cg", {"update": "polak_ribiere"}), ("sr1", {})])
def test_a_v_shaped_kink_is_found_and_followed_to_the_minimiser(name, options):
    """Without the kink, Newton, HessianDiagonal and NewtonCG stopped 1.4–2.0 away (their
    smooth models point across the valley); along it every method gets within 1e-6."""
    w, f = valley()
    opt = nopt.create(name, [w], **options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(20):
            opt.step(f)
    assert float((w.detach() - MINIMISER).norm()) < 1e-6
    kinks = opt.state[w]["kinks"]
    assert kinks.shape == (1, 2)
    assert abs(float(kinks[0] @ NORMAL)) == pytest.approx(1.0, abs=1e-6)


def test_a_kink_that_stops_being_a_valley_is_dropped():
    """When the loss changes so that the valley's minimiser moves off the kink (a
    smaller weight of |v − u/2|), the review drops the kink and Newton converges to
    the new, smooth minimiser."""
    w = torch.nn.Parameter(torch.tensor([-1.0, 1.0], dtype=torch.float64))
    weight = {"abs": 5.0}

    def f():
        return ((w[0] - 1) ** 2 + 0.1 * (w[1] - 2) ** 2
                + weight["abs"] * (w[1] - 0.5 * w[0]).abs())

    opt = nopt.Newton([w])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(20):
            opt.step(f)
        assert "kinks" in opt.state[w]
        weight["abs"] = 0.01  # now the smooth part wins: the minimiser (1, 2) ± a little
        for _ in range(20):
            opt.step(f)
    assert "kinks" not in opt.state[w]
    # minimiser of (u − 1)² + 0.1(v − 2)² + 0.01(v − u/2) (v > u/2 there): u = 1 + 0.0025,
    # v = 2 − 0.05
    torch.testing.assert_close(w.detach(), torch.tensor([1.0025, 1.95], dtype=torch.float64),
                               rtol=0, atol=1e-8)


@pytest.mark.parametrize("name", ["newton", "cg", "hessian_diagonal", "sr1"])
def test_smooth_losses_get_no_kinks(name):
    """A tanh network is smooth: the bisections after cut steps find smooth minima only."""
    x, y = sin_data(50)
    net = mlp([1, 10, 1], 0)
    opt = nopt.create(name, net.parameters())
    closure = nopt.LossClosure(net, x, y, torch.nn.functional.mse_loss)
    for _ in range(30):
        opt.step(closure)
        assert "kinks" not in opt.state[opt._params[0]]

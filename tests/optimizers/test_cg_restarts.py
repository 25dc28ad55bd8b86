"""CG's restart test (Powell's orthogonality test with ν = ``orthogonality``): hand-made
numbers, finite termination on a quadratic for every ν, and what ν does on a ReLU net."""

import warnings

import pytest
import torch

import neuralab.optimizers as nopt
from neuralab.errors import ConfigError

from _opt_helpers import neupy_overfit_problem

# f(w) = ½(w₁² + 10w₂²) from w = (1, 1): g₀ = (1, 10). The first step is Armijo's first
# trial t₀ = 1/‖g₀‖₁ = 1/11 (accepted: f drops from 5.5 to 55/121), so w₁ = (10/11, 1/11)
# and g₁ = (10/11, 10/11): g₁ᵀg₀ = 10, g₁ᵀg₁ = 200/121, the ratio |g₁ᵀg₀|/g₁ᵀg₁ = 6.05.
A = torch.diag(torch.tensor([1.0, 10.0], dtype=torch.float64))
RATIO = 10 / (200 / 121)
BETA_FR = (200 / 121) / 101  # g₁ᵀg₁ / g₀ᵀg₀


def two_steps(orthogonality):
    w = torch.nn.Parameter(torch.ones(2, dtype=torch.float64))
    opt = nopt.ConjugateGradient([w], line_search="armijo", c2=0.5, orthogonality=orthogonality)

    def f():
        return 0.5 * w @ A @ w

    opt.step(f)
    torch.testing.assert_close(w.detach(), torch.tensor([10 / 11, 1 / 11], dtype=torch.float64))
    opt.step(f)
    return opt.last_info


@pytest.mark.parametrize("orthogonality,restarts", [
    (0.2, True), (0.9, True), (RATIO - 0.01, True), (RATIO + 0.01, False), (None, False)])
def test_powell_test_restarts_exactly_when_the_gradients_lose_orthogonality(orthogonality,
                                                                           restarts):
    info = two_steps(orthogonality)
    assert info["restarted"] == float(restarts)
    assert info["beta"] == (0.0 if restarts else pytest.approx(BETA_FR, rel=1e-12))


@pytest.mark.parametrize("orthogonality", [0.2, 0.9, None])
@pytest.mark.parametrize("update", nopt.CG_UPDATES)
def test_every_nu_keeps_finite_termination_on_a_quadratic(update, orthogonality):
    """With an exact search the gradients are mutually orthogonal: the test never fires and
    CG reaches the minimiser of a 6-dimensional strictly convex quadratic in 6 steps."""
    g = torch.Generator().manual_seed(3)
    M = torch.randn(6, 6, generator=g, dtype=torch.float64)
    H = M @ M.T + torch.diag(torch.arange(1.0, 7.0, dtype=torch.float64))
    b = torch.randn(6, generator=g, dtype=torch.float64)
    w = torch.nn.Parameter(torch.zeros(6, dtype=torch.float64))
    opt = nopt.ConjugateGradient([w], update=update, c2=1e-10, orthogonality=orthogonality)
    restarts = 0
    for _ in range(6):
        opt.step(lambda: 0.5 * w @ H @ w - b @ w)
        restarts += opt.last_info["restarted"]
    assert restarts == 1  # the first step only
    torch.testing.assert_close(w.detach(), torch.linalg.solve(H, b), rtol=0, atol=1e-8)


def test_powell_at_0_2_slows_cg_on_neupy_s_relu_overfit_problem():
    """Seeds where Polak–Ribière ends below NeuPy's 1e-3 in 50 epochs with the default
    ν = 0.9, and stays at 4e-3–2e-2 with Powell's 0.2 (which restarts every other step)."""
    for seed in (1, 2, 7):
        losses = {}
        for nu in (0.9, 0.2):
            net, x, y = neupy_overfit_problem(seed)
            opt = nopt.ConjugateGradient(net.parameters(), update="polak_ribiere",
                                         orthogonality=nu)
            closure = nopt.LossClosure(net, x, y, torch.nn.functional.mse_loss)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # kink fallbacks warn once
                for _ in range(50):
                    opt.step(closure)
            losses[nu] = float(closure().detach())
        assert losses[0.9] < 1e-3 < losses[0.2], (seed, losses)


@pytest.mark.parametrize("value,shown", [
    (0, "0"), (-0.5, "-0.5"), (float("inf"), "inf"), ("0.2", "'0.2'"), (True, "True")])
def test_a_bad_orthogonality_is_a_config_error(value, shown):
    w = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    with pytest.raises(ConfigError, match=r"ConjugateGradient: expected `orthogonality` to be a "
                       r"finite number > 0 or None, received " + shown):
        nopt.ConjugateGradient([w], orthogonality=value)

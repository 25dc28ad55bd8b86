"""The adversarial losses against their formulas, computed by hand."""

import math

import pytest
import torch

from neuralab.errors import ConfigError, ShapeError
from neuralab.generative import discriminator_loss, generator_loss, gradient_penalty


def _sig(v):
    return 1.0 / (1.0 + math.exp(-v))


REAL = [2.0, -0.5, 1.0]
FAKE = [-1.0, 0.3]


def test_discriminator_bce_equals_formula():
    # −mean log σ(D(x)) − mean log(1 − σ(D(G(z))))
    want = (-sum(math.log(_sig(v)) for v in REAL) / 3
            - sum(math.log(1 - _sig(v)) for v in FAKE) / 2)
    for kind in ("non_saturating", "minimax"):
        got = discriminator_loss(torch.tensor(REAL), torch.tensor(FAKE), kind).item()
        assert got == pytest.approx(want, rel=1e-6)


def test_one_sided_label_smoothing_changes_only_the_real_term():
    t = 0.9
    want = (-sum(t * math.log(_sig(v)) + (1 - t) * math.log(1 - _sig(v)) for v in REAL) / 3
            - sum(math.log(1 - _sig(v)) for v in FAKE) / 2)
    got = discriminator_loss(torch.tensor(REAL), torch.tensor(FAKE), real_label=t).item()
    assert got == pytest.approx(want, rel=1e-6)


def test_generator_losses_equal_formulas():
    fake = torch.tensor(FAKE).reshape(-1, 1)          # (N, 1) is accepted like (N,)
    assert generator_loss(fake, "minimax").item() == pytest.approx(
        sum(math.log(1 - _sig(v)) for v in FAKE) / 2, rel=1e-6)
    assert generator_loss(fake, "non_saturating").item() == pytest.approx(
        -sum(math.log(_sig(v)) for v in FAKE) / 2, rel=1e-6)
    assert generator_loss(fake, "wasserstein_gp").item() == pytest.approx(-sum(FAKE) / 2, rel=1e-6)
    assert discriminator_loss(torch.tensor(REAL), fake, "wasserstein_gp").item() == pytest.approx(
        sum(FAKE) / 2 - sum(REAL) / 3, rel=1e-6)


def test_minimax_saturates_where_non_saturating_does_not():
    # a confident discriminator (D(G(z)) = −8): the minimax gradient nearly vanishes
    logit = torch.tensor([-8.0], requires_grad=True)
    (g_mm,) = torch.autograd.grad(generator_loss(logit, "minimax"), logit)
    (g_ns,) = torch.autograd.grad(generator_loss(logit, "non_saturating"), logit)
    assert abs(g_mm.item()) == pytest.approx(_sig(-8.0), rel=1e-5)       # d/dl −softplus(l) = −σ(l)
    assert abs(g_ns.item()) == pytest.approx(1 - _sig(-8.0), rel=1e-5)   # d/dl softplus(−l) = −σ(−l)
    assert abs(g_ns.item()) > 1000 * abs(g_mm.item())


def test_gradient_penalty_linear_critic():
    # D(x) = w·x: ‖∇D‖ = ‖w‖ everywhere, penalty = λ (‖w‖ − 1)²
    w = torch.tensor([1.0, 2.0, 2.0])                 # ‖w‖ = 3
    real, fake = torch.randn(5, 3), torch.randn(5, 3)
    assert gradient_penalty(lambda x: x @ w, real, fake, weight=2.0).item() == pytest.approx(2.0 * 4)


def test_gradient_penalty_quadratic_critic_by_hand():
    # D(x) = ½‖x‖²: ∇D(x̂) = x̂ = ε x + (1 − ε) x̃
    real = torch.tensor([[3.0, 0.0], [0.0, 0.0]])
    fake = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    eps = torch.tensor([0.5, 0.25])
    # sample 1: x̂ = (2, 0), ‖·‖ = 2; sample 2: x̂ = (0, 1.5), ‖·‖ = 1.5
    want = 10.0 * ((2 - 1) ** 2 + (1.5 - 1) ** 2) / 2
    got = gradient_penalty(lambda x: 0.5 * (x ** 2).sum(1), real, fake, epsilon=eps)
    assert got.item() == pytest.approx(want)


def test_gradient_penalty_trains_the_critic():
    # the penalty is differentiable in the critic's weights: d/dw λ(‖w‖ − 1)² = 2λ(‖w‖ − 1) w/‖w‖
    w = torch.tensor([3.0, 4.0], requires_grad=True)
    gp = gradient_penalty(lambda x: x @ w, torch.zeros(4, 2), torch.ones(4, 2), weight=1.0)
    (g,) = torch.autograd.grad(gp, w)
    assert torch.allclose(g, 2 * (5 - 1) * torch.tensor([3.0, 4.0]) / 5)


def test_gradient_penalty_gradient_through_a_conv_critic_matches_finite_differences():
    # the penalty's own gradient (a double backward through conv + leaky ReLU) is right
    F = torch.nn.functional
    torch.manual_seed(0)
    real = torch.randn(3, 1, 4, 4, dtype=torch.float64)
    fake = torch.randn(3, 1, 4, 4, dtype=torch.float64)
    eps = torch.rand(3, dtype=torch.float64)
    bias = torch.randn(1, dtype=torch.float64)

    def penalty(weight):
        def critic(x):
            return F.leaky_relu(F.conv2d(x, weight, bias), 0.2).sum((1, 2, 3))
        return gradient_penalty(critic, real, fake, epsilon=eps)

    weight = torch.randn(1, 1, 2, 2, dtype=torch.float64, requires_grad=True)
    (analytic,) = torch.autograd.grad(penalty(weight), weight)
    numeric = torch.zeros_like(weight)
    h = 1e-6
    for i in range(weight.numel()):
        step = torch.zeros(weight.numel(), dtype=torch.float64)
        step[i] = h
        step = step.reshape(weight.shape)
        w = weight.detach()
        numeric.view(-1)[i] = (penalty(w + step) - penalty(w - step)).item() / (2 * h)
    assert torch.allclose(analytic, numeric, rtol=1e-5, atol=1e-8)


def test_bad_input_messages():
    with pytest.raises(ConfigError, match="expected `loss` to be one of 'non_saturating'"):
        generator_loss(torch.zeros(2), "hinge")
    with pytest.raises(ShapeError, match=r"one score per sample.*received shape \(4, 2\)"):
        discriminator_loss(torch.zeros(4, 2), torch.zeros(4))
    with pytest.raises(ConfigError, match="real_label"):
        discriminator_loss(torch.zeros(2), torch.zeros(2), real_label=0.0)
    with pytest.raises(ShapeError, match="same shape"):
        gradient_penalty(lambda x: x.sum(1), torch.zeros(2, 3), torch.zeros(3, 3))

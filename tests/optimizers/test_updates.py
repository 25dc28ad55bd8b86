"""Update rules checked on hand-made numbers: the holes a one-line bug could slip through.

Secant conditions of every quasi-Newton update, the trust-region step against
the Moré–Sorensen optimality conditions and a brute-force search, CG β on hand-made gradient pairs (a
negative Polak–Ribière β among them), HessianDiagonal on negative curvature, Rprop+
against a NumPy transcription of Riedmiller & Braun's rule.
"""

import numpy as np
import pytest
import torch

import neuralab.optimizers as nopt
from neuralab.optimizers.quasi_newton import (_grow, _update_inverse, _update_psb,
                                               trust_region_step)


def random_pair(n=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    Q = torch.randn(n, n, generator=g, dtype=torch.float64)
    M = Q @ Q.T + n * torch.eye(n, dtype=torch.float64)  # SPD start
    s = torch.randn(n, generator=g, dtype=torch.float64)
    A = torch.randn(n, n, generator=g, dtype=torch.float64)
    y = (A @ A.T + torch.eye(n, dtype=torch.float64)) @ s  # sᵀy > 0, like a convex function's
    return M, s, y


@pytest.mark.parametrize("update", ["bfgs", "dfp", "sr1"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_inverse_updates_satisfy_the_secant_condition(update, seed):
    """H₊ y = s for the inverse-Hessian updates, and H₊ stays symmetric."""
    H, s, y = random_pair(seed=seed)
    H0 = H.clone()
    assert _update_inverse(H, s, y, update)
    torch.testing.assert_close(H @ y, s, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(H, H.T, rtol=0, atol=1e-12)
    assert not torch.allclose(H, H0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_psb_update_satisfies_the_secant_condition(seed):
    """PSB keeps B (the Hessian approximation): B₊ s = y."""
    B, s, y = random_pair(seed=seed)
    assert _update_psb(B, s, y)
    torch.testing.assert_close(B @ s, y, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(B, B.T, rtol=0, atol=1e-12)


def _quartic_bowl(**options):
    """``(w, opt, f, grad)``: ``QuasiNewton(**options)`` on 0.5 wᵀAw − bᵀw + 0.1 Σw⁴ (A SPD)."""
    g = torch.Generator().manual_seed(3)
    Q = torch.randn(4, 4, generator=g, dtype=torch.float64)
    A = Q @ Q.T + torch.eye(4, dtype=torch.float64)
    b = torch.randn(4, generator=g, dtype=torch.float64)
    w = torch.nn.Parameter(torch.zeros(4, dtype=torch.float64))
    opt = nopt.QuasiNewton([w], **options)

    def f():
        return 0.5 * w @ A @ w - b @ w + 0.1 * (w ** 4).sum()

    def grad():
        v = w.detach()
        return A @ v - b + 0.4 * v ** 3

    return w, opt, f, grad


def _secant_checks(steps: int, hessian: bool, w, opt, f, grad) -> int:
    """After each of ``steps`` steps that updated, the matrix maps s = θ₊ − θ to y = g₊ − g
    (``hessian``: B s = y) or y to s (H y = s); returns how many updates were checked (SR1
    skips an update when |vᵀy| is tiny)."""
    checked = 0
    for _ in range(steps):
        x0, g0 = w.detach().clone(), grad()
        opt.step(f)
        if opt.last_info["updated"] != 1.0:
            continue
        s, y = w.detach() - x0, grad() - g0
        M = opt.state[w]["matrix"]
        if hessian:
            torch.testing.assert_close(M @ s, y, rtol=1e-8, atol=1e-10)
        else:
            torch.testing.assert_close(M @ y, s, rtol=1e-8, atol=1e-10)
        checked += 1
    return checked


@pytest.mark.parametrize("update", ["bfgs", "dfp", "sr1", "psb"])
def test_optimizer_state_satisfies_the_secant_condition_of_its_last_step(update):
    """Through the optimizer: after a step, its matrix maps y = g₊ − g to s = θ₊ − θ (or back)."""
    assert _secant_checks(4, update == "psb", *_quartic_bowl(update=update)) >= 2


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("radius", [0.05, 0.5, 50.0])
def test_trust_region_step_meets_the_optimality_conditions(seed, radius):
    """Moré & Sorensen: s is optimal iff (B + μI)s = −g, B + μI ⪰ 0, μ ≥ 0, μ(Δ − ‖s‖) = 0."""
    g = torch.Generator().manual_seed(seed)
    Q = torch.randn(6, 6, generator=g, dtype=torch.float64)
    B = (Q + Q.T) / 2 + (2.0 if seed % 2 else 0.0) * torch.eye(6, dtype=torch.float64)
    grad = torch.randn(6, generator=g, dtype=torch.float64)
    s = trust_region_step(B, grad, radius)
    assert float(s.norm()) <= radius * (1 + 1e-9)
    r = B @ s + grad  # = −μ s
    mu = -float(r @ s) / float(s @ s)
    torch.testing.assert_close(r, -mu * s, rtol=0, atol=1e-8 * (1 + float(grad.norm())))
    assert mu >= -1e-9
    assert mu * (radius - float(s.norm())) <= 1e-8 * radius
    assert float(torch.linalg.eigvalsh(B + mu * torch.eye(6, dtype=torch.float64))[0]) >= -1e-8


def test_trust_region_step_beats_a_brute_force_search_in_the_plane():
    """Indefinite 2×2 model: no point of a fine polar grid of the disc has a lower model value."""
    B = torch.tensor([[1.0, 2.0], [2.0, -3.0]], dtype=torch.float64)
    grad = torch.tensor([0.5, -1.0], dtype=torch.float64)
    radius = 0.7
    s = trust_region_step(B, grad, radius)

    def model(p):
        return p @ grad + 0.5 * ((p @ B) * p).sum(-1)

    angle = torch.linspace(0, 2 * torch.pi, 3601, dtype=torch.float64)
    rr = torch.linspace(0, radius, 201, dtype=torch.float64)
    grid = (rr[:, None, None] * torch.stack([angle.cos(), angle.sin()], -1)[None]).reshape(-1, 2)
    assert float(model(s)) <= float(model(grid).min()) + 1e-12


def test_sr1_trust_region_keeps_the_secant_condition_of_its_last_trial():
    """B₊ s = y for the accepted trial, and B is the Hessian approximation (not its inverse)."""
    w, opt, f, grad = _quartic_bowl(update="sr1", trust_region=True)
    assert _secant_checks(6, True, w, opt, f, grad) >= 2
    for _ in range(30):
        opt.step(f)
    assert float(grad().norm()) < 1e-10  # the minimiser (the quartic makes it non-quadratic)



def test_sr1_with_an_indefinite_h_moves_along_the_absolute_value_of_h():
    """−Hg ascends (gᵀHg < 0): the direction is −Q|Λ|Qᵀg (NumPy's eigh), H is kept; PSB resets."""
    w = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    Q, _ = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(1),
                                       dtype=torch.float64))
    H = Q @ torch.diag(torch.tensor([-4.0, 0.5, 1.0], dtype=torch.float64)) @ Q.T
    g = Q[:, 0] + 0.3 * Q[:, 1]  # gᵀHg = −4 + 0.045 < 0
    opt = nopt.QuasiNewton([w], update="sr1")
    opt.state[w]["matrix"] = H.clone()
    d = opt._direction(opt.state[w], g, "sr1")
    lam, V = np.linalg.eigh(H.numpy())
    np.testing.assert_allclose(d.numpy(), -V @ (np.abs(lam) * (V.T @ g.numpy())), atol=1e-12)
    assert float(g @ d) < 0 and torch.equal(opt.state[w]["matrix"], H)
    psb = nopt.QuasiNewton([w], update="psb")
    psb.state[w]["matrix"] = torch.linalg.inv(H)
    torch.testing.assert_close(psb._direction(psb.state[w], g, "psb"), -g)
    assert "matrix" not in psb.state[w]


def test_self_scaling_grows_h_by_the_square_root_of_the_curvature_ratio():
    """_grow: H ← √(sᵀy / yᵀHy)·H when that ratio exceeds 1, else H stays."""
    H = torch.eye(2, dtype=torch.float64)
    s, y = torch.tensor([2.0, 0.0], dtype=torch.float64), torch.tensor([1.0, 0.0], dtype=torch.float64)
    assert _grow(H, s, y)  # sᵀy = 2, yᵀHy = 1
    torch.testing.assert_close(H, 2 ** 0.5 * torch.eye(2, dtype=torch.float64))
    assert not _grow(H, 0.5 * s, y)  # sᵀy = 1 < yᵀHy = √2: unchanged
    torch.testing.assert_close(H, 2 ** 0.5 * torch.eye(2, dtype=torch.float64))


def test_sr1_step_with_self_scaling_is_the_grown_matrix_plus_the_sr1_update():
    """After a step: H₊ = H' + v vᵀ / vᵀy, H' = √γ·H (γ = sᵀy / yᵀHy > 1) or H, v = s − H'y,
    computed by hand from the step's s and y; off, H₊ is the plain SR1 update."""
    for scaling in (True, False):
        w, opt, f, grad = _quartic_bowl(update="sr1", self_scaling=scaling)
        assert opt.param_groups[0]["self_scaling"] is scaling
        grown = 0
        for _ in range(6):
            H = opt.state[w].get("matrix")
            H = None if H is None else H.clone()
            x0, g0 = w.detach().clone(), grad()
            opt.step(f)
            if H is None or opt.last_info["updated"] != 1.0:
                continue
            s, y = w.detach() - x0, grad() - g0
            ratio = float(s @ y) / float(y @ H @ y)
            if scaling and ratio > 1:
                H, grown = ratio ** 0.5 * H, grown + 1
            v = s - H @ y
            torch.testing.assert_close(opt.state[w]["matrix"], H + torch.outer(v, v) / float(v @ y),
                                       rtol=1e-9, atol=1e-12)
        assert grown >= (1 if scaling else 0)

def test_cg_beta_on_hand_made_gradients():
    """β of every update, computed by hand; PR, HS and LS are clamped at 0 when negative."""
    g_prev, d_prev = torch.tensor([1.0, 0.0]), torch.tensor([-1.0, -0.5])
    g = torch.tensor([0.2, 0.6])  # y = g − g_prev = (−0.8, 0.6)
    # gᵀg = 0.4, gᵀy = 0.2, g_prevᵀg_prev = 1, d_prevᵀy = 0.5, −d_prevᵀg_prev = 1
    expected = {"fletcher_reeves": 0.4, "polak_ribiere": 0.2, "hestenes_stiefel": 0.4,
                "dai_yuan": 0.8, "liu_storey": 0.2}
    for update, beta in expected.items():
        assert nopt.cg_beta(update, g, g_prev, d_prev) == pytest.approx(beta, rel=1e-6), update
    g = torch.tensor([0.5, 0.1])  # y = (−0.5, 0.1): gᵀy = −0.24 < 0
    # d_prevᵀy = 0.5 − 0.05 = 0.45
    raw = {"polak_ribiere": -0.24 / 1.0, "hestenes_stiefel": -0.24 / 0.45, "liu_storey": -0.24 / 1.0}
    for update in raw:  # the raw values are negative; the "+" variants clamp them
        assert raw[update] < 0
        assert nopt.cg_beta(update, g, g_prev, d_prev) == 0.0, update
    assert nopt.cg_beta("fletcher_reeves", g, g_prev, d_prev) == pytest.approx(0.26, rel=1e-6)
    assert nopt.cg_beta("dai_yuan", g, g_prev, d_prev) == pytest.approx(0.26 / 0.45, rel=1e-6)
    assert nopt.cg_beta("dai_yuan", g, g_prev, torch.tensor([0.1, 0.5])) == 0.0  # dᵀy = 0


def test_liu_storey_reaches_the_minimiser_of_a_quadratic_in_n_steps():
    g = torch.Generator().manual_seed(0)
    Q = torch.randn(6, 6, generator=g, dtype=torch.float64)
    A = Q @ Q.T + 6 * torch.eye(6, dtype=torch.float64)
    b = torch.randn(6, generator=g, dtype=torch.float64)
    w = torch.nn.Parameter(torch.zeros(6, dtype=torch.float64))
    opt = nopt.ConjugateGradient([w], update="liu_storey", c2=1e-10)
    for _ in range(6):
        opt.step(lambda: 0.5 * w @ A @ w - b @ w)
    torch.testing.assert_close(w.detach(), torch.linalg.solve(A, b), rtol=1e-7, atol=1e-9)


def test_hessian_diagonal_floors_negative_curvature_not_its_magnitude():
    """f = w₀⁴ − 2w₀² + w₁²: at w₀ = 0.1, H₀₀ = 12w₀² − 4 = −3.88 < 0.

    The floor applies to H_ii itself (d₀ = −g₀/min_eigval), not to |H_ii|
    (which would give d₀ = −g₀/3.88, forty times shorter).
    """
    w = torch.nn.Parameter(torch.tensor([0.1, 0.5], dtype=torch.float64))
    opt = nopt.HessianDiagonal([w], lr=1e-3, min_eigval=1e-2)
    opt.step(lambda: w[0] ** 4 - 2 * w[0] ** 2 + w[1] ** 2)
    g0, g1 = 4 * 0.1 ** 3 - 4 * 0.1, 2 * 0.5
    assert opt.last_info["step_size"] == 1e-3  # the first trial step passed Armijo
    expected = torch.tensor([0.1 - 1e-3 * g0 / 1e-2, 0.5 - 1e-3 * g1 / 2.0], dtype=torch.float64)
    torch.testing.assert_close(w.detach(), expected, rtol=1e-12, atol=1e-14)


def riedmiller_rprop_plus(w0, loss_grad, steps, delta0=0.1, eta=(0.5, 1.2), limits=(1e-6, 50.0)):
    """Riedmiller & Braun (1993), Rprop with weight-backtracking, weight by weight."""
    w = w0.copy()
    delta = np.full(w.size, delta0)
    g_prev, dw = np.zeros(w.size), np.zeros(w.size)
    path, reverted = [], []
    for _ in range(steps):
        g = loss_grad(w)
        back = np.zeros(w.size, dtype=bool)
        for i in range(w.size):
            if g_prev[i] * g[i] > 0:
                delta[i] = min(delta[i] * eta[1], limits[1])
                dw[i] = -np.sign(g[i]) * delta[i]
                w[i] += dw[i]
            elif g_prev[i] * g[i] < 0:
                delta[i] = max(delta[i] * eta[0], limits[0])
                w[i] -= dw[i]  # revert the previous move, whatever the loss did
                back[i] = True
                g[i] = 0.0
            else:
                dw[i] = -np.sign(g[i]) * delta[i]
                w[i] += dw[i]
        g_prev = g.copy()
        path.append(w.copy())
        reverted.append(back)
    return path, reverted


def test_rprop_plus_matches_riedmiller_step_by_step_and_backtracks():
    rng = np.random.default_rng(0)
    A, b, w0 = rng.standard_normal((6, 3)), rng.standard_normal(6), rng.standard_normal(3)
    ref, reverted = riedmiller_rprop_plus(w0, lambda w: 2 * A.T @ (A @ w - b), 25)
    p = torch.nn.Parameter(torch.tensor(w0))
    At, bt = torch.tensor(A), torch.tensor(b)
    opt = nopt.create("rprop+", [p], lr=0.1)
    assert type(opt) is nopt.RPropPlus
    before = p.detach().clone()
    history = [before]
    for k in range(25):
        opt.zero_grad()
        (At @ p - bt).pow(2).sum().backward()
        opt.step()
        np.testing.assert_allclose(p.detach().numpy(), ref[k], rtol=1e-12, atol=1e-12)
        assert opt.last_info["backtracked"] == float(reverted[k].sum())
        if reverted[k].any():  # a reverted weight is back where it was two steps ago
            i = int(np.flatnonzero(reverted[k])[0])
            assert float(p.detach()[i]) == pytest.approx(float(history[-2][i]), abs=1e-12)
        history.append(p.detach().clone())
    assert sum(r.sum() for r in reverted) > 0  # the backtracking branch was exercised

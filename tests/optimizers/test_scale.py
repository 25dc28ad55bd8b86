"""Second-order methods where users are: big P (memory preflight), ReLU kinks, classification."""

import re
import warnings

import pytest
import torch

import neuralab.optimizers as nopt
import neuralab.optimizers._memory as memory
from neuralab.errors import ConfigError, DataError

from _opt_helpers import neupy_overfit_problem

LENET_P = 61_706  # LeNet-5's parameter count


def lenet_sized(dtype=torch.float32):
    return [torch.nn.Parameter(torch.zeros(LENET_P, dtype=dtype))]


SCALABLE_ADVICE = r"'lbfgs'.*'cg'.*'hessian_diagonal'"


@pytest.mark.parametrize("make,estimate,what,advice", [
    (lambda p, **kw: nopt.QuasiNewton(p, update="bfgs", **kw), "15.2 GB",
     r"1 × 61,706×61,706 inverse-Hessian approximation", SCALABLE_ADVICE),
    (lambda p, **kw: nopt.QuasiNewton(p, update="psb", **kw), "30.5 GB",
     r"2 × 61,706×61,706 Hessian approximation and its LU factor", SCALABLE_ADVICE),
    (lambda p, **kw: nopt.LevenbergMarquardt(p, solver="normal", **kw), "45.7 GB",
     r"3 × 61,706×61,706 matrices", r"Use solver='auto' \(picks the solver that fits\)"),
    (lambda p, **kw: nopt.Newton(p, **kw), "60.9 GB",
     r"4 × 61,706×61,706 matrices \(H, its eigenvectors, eigh's workspace of 2\)",
     SCALABLE_ADVICE),
    (lambda p, **kw: nopt.Newton(p, modification="shift", **kw), "45.7 GB",
     r"3 × 61,706×61,706 matrices \(H, H \+ c·I, Cholesky factor\)", SCALABLE_ADVICE),
], ids=["bfgs", "psb", "lm-normal", "newton", "newton-shift"])
def test_preflight_refuses_lenet_sized_dense_methods_with_the_numbers(make, estimate, what, advice):
    with pytest.raises(ConfigError) as info:
        make(lenet_sized(), memory_limit=4e9)
    msg = str(info.value)
    assert f"needs about {estimate} for 61,706 parameters" in msg
    assert re.search(what, msg)
    assert "4 bytes per number), more than the 4.0 GB allowed (memory_limit=4.0 GB)" in msg
    assert re.search(advice, msg)


@pytest.mark.parametrize("name", ["newton", "bfgs", "dfp", "psb", "sr1"])
def test_preflight_uses_half_the_available_memory_by_default(name, monkeypatch):
    monkeypatch.setattr(memory, "available_memory", lambda: 8e9)
    with pytest.raises(ConfigError, match=r"allowed \(50% of the 8.0 GB available\)"):
        nopt.create(name, lenet_sized(), strict=True)
    # float64 doubles the estimate; a small network passes and allocates nothing up front
    with pytest.raises(ConfigError, match="8 bytes per number"):
        nopt.create(name, lenet_sized(torch.float64), strict=True)
    nopt.create(name, torch.nn.Linear(30, 10).parameters(), strict=True)


@pytest.mark.parametrize("name,estimate", [
    ("bfgs", "15.2 GB"), ("dfp", "15.2 GB"), ("sr1", "15.2 GB"), ("psb", "30.5 GB"),
    ("newton", "60.9 GB")])
def test_dense_methods_by_name_are_mapped_to_the_method_that_fits(name, estimate):
    replacement = "matrix-free truncated Newton" if name == "newton" else (
        r"limited-memory BFGS: QuasiNewton\(update='bfgs', history=10\)")
    option = {"penalty_const": 2.0} if name == "newton" else {"foo_unused": None}
    if name != "newton":
        option = {"c1": 1e-3}  # L-BFGS takes it: kept, not dropped
    dropped = r"; options it does not take were dropped: penalty_const" if name == "newton" else ""
    with pytest.warns(RuntimeWarning, match=rf"optimizer '{name}' would need about {estimate} for "
                      rf"61,706 parameters .*more than the 4.0 GB allowed; using {replacement}"
                      rf".*{dropped}\. Pass strict=True"):
        opt = nopt.create(name, lenet_sized(), lr=0.5, memory_limit=4e9, **option)
    assert type(opt) is (nopt.NewtonCG if name == "newton" else nopt.QuasiNewton)
    assert opt.param_groups[0]["lr"] == 0.5
    if name != "newton":
        group = opt.param_groups[0]
        assert (group["update"], group["history"], group["c1"]) == ("bfgs", 10, 1e-3)
    with warnings.catch_warnings():  # what fits is built as asked, silently
        warnings.simplefilter("error")
        small = nopt.create(name, torch.nn.Linear(30, 10).parameters(), memory_limit=4e9)
    assert type(small) is (nopt.Newton if name == "newton" else nopt.QuasiNewton)
    assert small.param_groups[0].get("history") is None


def test_limited_memory_bfgs_direction_is_the_bfgs_formula_on_its_pairs():
    """The two-loop recursion against the dense BFGS update applied to H₀ = γI, pair by pair."""
    from neuralab.optimizers.quasi_newton import _update_inverse

    g = torch.Generator().manual_seed(0)
    Q = torch.randn(8, 8, generator=g, dtype=torch.float64)
    A, b = Q @ Q.T + torch.eye(8, dtype=torch.float64), torch.randn(8, generator=g, dtype=torch.float64)
    w = torch.nn.Parameter(torch.zeros(8, dtype=torch.float64))
    opt = nopt.QuasiNewton([w], history=3)
    for _ in range(5):
        opt.step(lambda: 0.5 * w @ A @ w - b @ w + 0.05 * (w ** 4).sum())
    state = opt.state[w]
    S, Y = state["s_history"], state["y_history"]
    assert S.shape == (3, 8)
    H = torch.eye(8, dtype=torch.float64) * float(S[-1] @ Y[-1] / (Y[-1] @ Y[-1]))
    for s, y in zip(S, Y):
        _update_inverse(H, s, y, "bfgs")
    v = torch.randn(8, generator=g, dtype=torch.float64)
    torch.testing.assert_close(opt._direction(state, v, "bfgs"), -H @ v, rtol=1e-12, atol=1e-14)
    w.data.zero_()
    opt = nopt.QuasiNewton([w], history=8)
    for _ in range(25):
        opt.step(lambda: 0.5 * w @ A @ w - b @ w + 0.05 * (w ** 4).sum())
    grad = A @ w.detach() - b + 0.2 * w.detach() ** 3
    assert float(grad.norm()) < 1e-6
    nopt.QuasiNewton(lenet_sized(), history=10, memory_limit=1e7)  # 2·10·P numbers, no preflight
    with pytest.raises(ConfigError, match=r"expected `history` to be None"):
        nopt.QuasiNewton(lenet_sized(), update="sr1", history=10)


def test_lm_plans_with_half_the_available_memory_by_default(monkeypatch):
    monkeypatch.setattr(memory, "available_memory", lambda: 8e9)
    nopt.create("lm", lenet_sized())  # auto: the matrix-free solver fits
    with pytest.raises(ConfigError, match=r"allowed \(50% of the 8.0 GB available\)"):
        nopt.create("lm", lenet_sized(), solver="normal")


def test_preflight_passes_what_fits_and_the_scalable_methods_never_ask():
    small = [torch.nn.Parameter(torch.zeros(100))]
    assert memory.preflight("X", 100, 4, [("m", 3)], memory_limit=120_000) == 120_000
    with pytest.raises(ConfigError, match=r"X: needs about 120.0 kB for 100 parameters"):
        memory.preflight("X", 100, 4, [("m", 3)], memory_limit=119_999)
    nopt.QuasiNewton(small, memory_limit=40_000)
    for name in ("cg", "hessian_diagonal", "lbfgs", "rprop+", "irprop+", "adam"):
        nopt.create(name, lenet_sized())  # O(P) memory: no preflight


def test_available_memory_reads_the_machine():
    avail = memory.available_memory()
    assert avail is None or avail > 0
    assert memory.format_bytes(15.2e9) == "15.2 GB" and memory.format_bytes(512) == "512 B"


def kinked(w):
    """3·relu(w₀) − w₀ + (w₁ − 1)²: at w₀ = 0 autograd's gradient is the left side's."""
    return 3 * torch.relu(w[0]) - w[0] + (w[1] - 1) ** 2


def test_line_search_falls_back_at_a_kink_and_warns_once():
    """HessianDiagonal's direction (100, 1) rises at once (slope +198); −g = (1, 2) descends."""
    w = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    opt = nopt.HessianDiagonal([w], min_eigval=1e-2)
    with pytest.warns(RuntimeWarning, match=r"HessianDiagonal: the line search found no step.*"
                      r"gradient norm 2.24.*fell back to steepest descent.*Shown once"):
        loss = opt.step(lambda: kinked(w))
    assert opt.last_info["fallback"] == 1.0 and opt.last_info["step_size"] > 0
    assert float(loss) < 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per optimizer: later fallbacks are silent
        w.data.zero_()
        opt.step(lambda: kinked(w))


def test_line_search_at_a_true_kink_minimum_says_it_is_stuck():
    """3·relu(w) − w has its minimum at the kink w = 0: no direction lowers it."""
    w = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    opt = nopt.ConjugateGradient([w])
    with pytest.warns(RuntimeWarning, match=r"no step lowers the loss although the gradient norm "
                      r"is 1 .*the parameters did not move"):
        opt.step(lambda: (3 * torch.relu(w) - w).sum())
    assert opt.last_info["fallback"] == -1.0 and float(w.detach()) == 0.0


def relu_regression(seed):
    g = torch.Generator().manual_seed(100 + seed)
    x = torch.rand(20, 2, generator=g, dtype=torch.float64) * 2 - 1
    y = torch.sin(3 * x[:, :1]) * x[:, 1:]
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(2, 10), torch.nn.ReLU(), torch.nn.Linear(10, 1))
    return net.double(), x, y


@pytest.mark.parametrize("update", ["fletcher_reeves"])
def test_cg_on_a_relu_net_never_stalls_at_step_zero(update):
    """This net and seed stalled 27 of 50 steps at step 0 before the fallback existed."""
    net, x, y = relu_regression(1)
    opt = nopt.ConjugateGradient(net.parameters(), update=update)
    closure = nopt.LossClosure(net, x, y, torch.nn.functional.mse_loss)
    start = float(closure().detach())
    zero_steps = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(50):
            opt.step(closure)
            zero_steps += opt.last_info["step_size"] == 0.0
    assert zero_steps <= 1
    assert float(opt.last_info["loss"]) < 0.5 * start
    assert len(caught) <= 2  # warned once per kind, not once per step


def blobs(n_per_class=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    centers = torch.tensor([[0.0, 2.0], [2.0, -1.0], [-2.0, -1.0]], dtype=torch.float64)
    x = torch.cat([c + 0.6 * torch.randn(n_per_class, 2, generator=g, dtype=torch.float64)
                   for c in centers])
    labels = torch.arange(3).repeat_interleave(n_per_class)
    return x, labels


def softmax_net(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(2, 6), torch.nn.Tanh(), torch.nn.Linear(6, 3),
                               torch.nn.Softmax(dim=1)).double()


@pytest.mark.parametrize("method", ["linear", "func"])
def test_lm_residuals_of_class_labels_are_one_hot_residuals(method):
    x, labels = blobs()
    onehot = torch.nn.functional.one_hot(labels, 3).double()
    net = softmax_net()
    by_label = nopt.ResidualClosure(net, x, labels, jacobian="func" if method == "func" else "auto")
    by_onehot = nopt.ResidualClosure(net, x, onehot, jacobian="func" if method == "func" else "auto")
    torch.testing.assert_close(by_label(), (net(x) - onehot).reshape(-1))
    J1, r1 = nopt.residual_jacobian(by_label, net.parameters())
    J2, r2 = nopt.residual_jacobian(by_onehot, net.parameters())
    torch.testing.assert_close(J1, J2, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(r1, r2)


def test_lm_classifies_with_class_labels():
    x, labels = blobs()
    net = softmax_net()
    opt = nopt.LevenbergMarquardt(net.parameters())
    closure = nopt.ResidualClosure(net, x, labels)
    for _ in range(30):
        opt.step(closure)
    accuracy = float((net(x).argmax(1) == labels).double().mean())
    assert accuracy == 1.0 and opt.last_info["loss"] < 0.02


def test_lm_rejects_labels_outside_the_output():
    x, labels = blobs()
    net = softmax_net()
    closure = nopt.ResidualClosure(net, x, labels + 1)  # label 3 for 3 outputs
    with pytest.raises(DataError, match=r"expected class labels in \[0, 3\) for an output of 3 "
                       r"scores, received labels in \[1, 3\]"):
        nopt.LevenbergMarquardt(net.parameters()).step(closure)


def test_newton_cg_hessian_vector_products_match_the_hessian():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)).double()
    x, y = torch.randn(9, 3, dtype=torch.float64), torch.randn(9, 2, dtype=torch.float64)
    params = list(net.parameters())
    closure = nopt.LossClosure(net, x, y, torch.nn.functional.mse_loss)
    H, g, f = nopt.loss_hessian(closure, params)  # exact, independent of NewtonCG
    v = torch.randn(g.numel(), dtype=torch.float64)
    for c in (closure, lambda: torch.nn.functional.mse_loss(net(x), y)):  # torch.func / autograd
        f1, g1, hvp = nopt.NewtonCG(params)._hvp(c)
        torch.testing.assert_close(g1, g, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(hvp(v), H @ v, rtol=1e-9, atol=1e-11)


def test_newton_cg_is_matrix_free_and_converges_like_newton():
    nopt.NewtonCG(lenet_sized())  # no P×P matrix: no preflight, no allocation
    g = torch.Generator().manual_seed(1)
    Q = torch.randn(8, 8, generator=g, dtype=torch.float64)
    A = Q @ Q.T + torch.eye(8, dtype=torch.float64)
    b = torch.randn(8, generator=g, dtype=torch.float64)
    w = torch.nn.Parameter(torch.zeros(8, dtype=torch.float64))
    opt = nopt.create("newton_cg", [w], damping=0.0, max_cg=8)
    for _ in range(8):
        opt.step(lambda: 0.5 * w @ A @ w - b @ w + 0.05 * (w ** 4).sum())
    x = w.detach()
    torch.testing.assert_close(A @ x - b + 0.2 * x ** 3, torch.zeros(8, dtype=torch.float64),
                               rtol=0, atol=1e-9)  # the gradient vanishes
    assert 1 <= opt.last_info["cg_iterations"] <= 8


# (method, options, the seeds of 0–9 below NeuPy's 1e-3 after 50 epochs): the figure of
# benchmarks/second_order.py --overfit (Newton 7/10 with |H| + c·I, 3/10 with NeuPy's shift;
# SR1 with the line search 6/10 with its −|H|g and self-scaling, 1/10 before; SR1 with a
# trust region 3/10; CG with Powell's ν = 0.9: Polak–Ribière 6/10, Liu–Storey 5/10,
# Fletcher–Reeves 4/10; BFGS and NewtonCG 4/10, LM 6/10 with its kink search). Newton, SR1,
# PR and LM: a majority of the ten.
OVERFIT_SEEDS = [
    ("newton", {}, (0, 1, 4, 6, 7, 8)),
    ("sr1", {"trust_region": True}, (0, 6, 8)),
    ("sr1", {}, (0, 1, 2, 6, 7, 8)),
    ("cg", {"update": "polak_ribiere"}, (1, 2, 6, 7, 8)),
    ("cg", {"update": "fletcher_reeves"}, (0, 1, 6, 8)),
    ("cg", {"update": "liu_storey"}, (0, 1, 2, 6, 8)),
]


@pytest.mark.parametrize("name,options,seeds", OVERFIT_SEEDS,
                         ids=["newton", "sr1-trust-region", "sr1", "cg-pr", "cg-fr", "cg-ls"])
def test_neupy_overfit_check_in_50_epochs_on_fixed_seeds(name, options, seeds):
    """NeuPy's assertCanNetworkOverfit in 50 epochs (NeuPy's own tests allow 200–1200) on
    the seeds each method passes; the 10-seed counts are benchmarks/second_order.py
    --overfit. The other seeds stop at 1e-3–3e-2: not minima (BFGS reaches 1e-30 from
    seeds 3, 4, 7, 9 in 47–103 epochs), a slow walk along ReLU kinks."""
    for seed in seeds:
        net, x, y = neupy_overfit_problem(seed)
        opt = nopt.create(name, net.parameters(), **options)
        closure = nopt.LossClosure(net, x, y, torch.nn.functional.mse_loss)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # kink fallbacks warn once
            for _ in range(50):
                opt.step(closure)
        assert float(closure().detach()) < 1e-3, seed


def test_a_direction_that_underflowed_to_zero_falls_back_instead_of_dividing_by_zero():
    """Newton's 350-epoch run on the NeuPy problem once produced d = 0 at a nonzero gradient."""
    w = torch.nn.Parameter(torch.tensor([1e-3, 0.0], dtype=torch.float64))
    opt = nopt.Newton([w])
    g0 = torch.tensor([2.0, -2.0], dtype=torch.float64)
    with pytest.warns(RuntimeWarning, match="found no step that lowers the loss.*fell back to"):
        t, f, _, used = opt._search(lambda: kinked(w), w.detach().clone(),
                                    torch.tensor(1.0, dtype=torch.float64), g0,
                                    torch.zeros(2, dtype=torch.float64), 1.0)
    assert t > 0 and float(f) < 1.0 and float(used @ g0) < 0

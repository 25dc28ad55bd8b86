"""Jacobians and Hessians against torch.autograd.functional (an independent computation)."""

import math

import hypothesis.strategies as st
import pytest
import torch
from hypothesis import given, settings
from torch.autograd.functional import hessian, jacobian
from torch.func import functional_call

import neuralab.optimizers as nopt
from neuralab.errors import ConfigError
from neuralab.optimizers._flat import get_flat, set_flat_

from _opt_helpers import mlp


def unflatten(flat, like):
    return [t.view(p.shape) for t, p in zip(torch.split(flat, [p.numel() for p in like]), like)]


def reference_jacobian(net, x, y, residual_fn=lambda p, t: p - t):
    names = [n for n, _ in net.named_parameters()]
    params = list(net.parameters())
    shapes = [p.shape for p in params]

    def f(flat):
        pieces = unflatten(flat, params)
        return residual_fn(functional_call(net, dict(zip(names, pieces)), (x,)), y).reshape(-1)

    del shapes
    return jacobian(f, get_flat(params))


def net_and_data(outputs=1, seed=0):
    net = mlp([3, 5, outputs], seed)
    torch.manual_seed(seed + 1)
    x = torch.randn(7, 3, dtype=torch.float64)
    y = torch.randn(7, outputs, dtype=torch.float64)
    return net, x, y


def uses_linear_plan(closure, params) -> bool:
    return closure._cache.get(("linear", tuple(id(p) for p in params))) is True


@pytest.mark.parametrize("method", ["linear", "func"])
@pytest.mark.parametrize("outputs", [1, 3])
def test_jacobian_matches_autograd_functional(outputs, method):
    net, x, y = net_and_data(outputs)
    closure = nopt.ResidualClosure(net, x, y, jacobian=method)
    J, r = nopt.residual_jacobian(closure, net.parameters())
    assert J.shape == (7 * outputs, sum(p.numel() for p in net.parameters()))
    torch.testing.assert_close(J, reference_jacobian(net, x, y), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(r, (net(x) - y).reshape(-1).detach())
    assert uses_linear_plan(closure, list(net.parameters())) == (method == "linear")


class SharedSequenceNet(torch.nn.Module):
    """Linear layers over a sequence axis (N, T, F), one of them applied twice (shared weights),
    and a dense layer written with F.linear directly, as neuralab's layers do."""

    def __init__(self):
        super().__init__()
        self.inner = torch.nn.Linear(3, 3)
        self.w = torch.nn.Parameter(torch.randn(2, 3, dtype=torch.float64))
        self.b = torch.nn.Parameter(torch.randn(2, dtype=torch.float64))

    def forward(self, x):  # x: (N, T, 3)
        assert x.shape[-1] == self.inner.weight.shape[1] == self.w.size(1)  # metadata reads are fine
        h = torch.tanh(self.inner(torch.tanh(self.inner(x))))
        return torch.nn.functional.linear(h.mean(1), self.w, self.b)


def test_linear_plan_handles_sequences_and_shared_weights():
    torch.manual_seed(0)
    net = SharedSequenceNet().double()
    x, y = torch.randn(5, 4, 3, dtype=torch.float64), torch.randn(5, 2, dtype=torch.float64)
    closure = nopt.ResidualClosure(net, x, y)
    J, _ = nopt.residual_jacobian(closure, net.parameters())
    assert uses_linear_plan(closure, list(net.parameters()))
    torch.testing.assert_close(J, reference_jacobian(net, x, y), rtol=1e-12, atol=1e-12)


def test_linear_plan_falls_back_when_a_parameter_is_used_elsewhere():
    # PReLU's weight enters through prelu, not F.linear: "auto" falls back to torch.func
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.PReLU(), torch.nn.Linear(4, 1)).double()
    x, y = torch.randn(6, 3, dtype=torch.float64), torch.randn(6, 1, dtype=torch.float64)
    closure = nopt.ResidualClosure(net, x, y)
    J, _ = nopt.residual_jacobian(closure, net.parameters())
    assert not uses_linear_plan(closure, list(net.parameters()))
    torch.testing.assert_close(J, reference_jacobian(net, x, y), rtol=1e-12, atol=1e-12)
    forced = nopt.ResidualClosure(net, x, y, jacobian="linear")
    with pytest.raises(ConfigError, match=r"jacobian='linear'\) does not apply.*prelu.*'auto' or 'func'"):
        nopt.residual_jacobian(forced, net.parameters())
    with pytest.raises(ConfigError, match="ResidualClosure: expected `jacobian` to be one of 'auto', 'linear', 'func', received 'fast'"):
        nopt.ResidualClosure(net, x, y, jacobian="fast")


def test_linear_plan_rejects_a_model_without_samples_on_axis_0():
    # the layer sees the batch flattened into rows (N·T, F): per-sample rows are not on axis 0
    class Flattening(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(3, 1)

        def forward(self, x):
            return self.lin(x.reshape(-1, 3)).reshape(x.shape[0], -1).sum(1, keepdim=True)

    torch.manual_seed(0)
    net = Flattening().double()
    x, y = torch.randn(4, 2, 3, dtype=torch.float64), torch.randn(4, 1, dtype=torch.float64)
    closure = nopt.ResidualClosure(net, x, y)
    J, _ = nopt.residual_jacobian(closure, net.parameters())
    assert not uses_linear_plan(closure, list(net.parameters()))
    torch.testing.assert_close(J, reference_jacobian(net, x, y), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("method,samples_per_chunk", [("linear", 2), ("func", 1)])
def test_jacobian_chunks_stay_within_the_memory_budget(method, samples_per_chunk):
    from neuralab.optimizers._derivatives import jacobian_chunks

    net, x, y = net_and_data(outputs=2)  # 7 samples × 2 residuals, 32 parameters
    budget = 5 * 32 * 8  # 5 rows of J: 2 samples (torch.func: 1, its concatenation copies J)
    plan = jacobian_chunks(nopt.ResidualClosure(net, x, y, jacobian=method),
                           list(net.parameters()), budget)
    assert len(plan) == math.ceil(7 / samples_per_chunk)
    shapes = []
    for make in plan:
        Jt, r = make()
        assert Jt.numel() * Jt.element_size() <= budget
        shapes.append(Jt.shape)
    assert shapes[0] == (32, 2 * samples_per_chunk) and shapes[-1] == (32, 2)


def test_blocked_gram_for_many_parameters_equals_full_product():
    # P > 1024: JᵀJ is accumulated block-row by block-row on the lower triangle, then mirrored
    net = mlp([4, 40, 20, 1], seed=0)
    P = sum(p.numel() for p in net.parameters())
    assert P > 1024
    torch.manual_seed(1)
    x, y = torch.randn(30, 4, dtype=torch.float64), torch.randn(30, 1, dtype=torch.float64)
    J, r = nopt.residual_jacobian(nopt.ResidualClosure(net, x, y), net.parameters())
    for budget in (math.inf, 12 * P * 8):
        ne = nopt.residual_normal_equations(nopt.ResidualClosure(net, x, y),
                                            list(net.parameters()), memory_budget=budget)
        torch.testing.assert_close(ne.JtJ, J.T @ J, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(ne.Jtr, J.T @ r, rtol=1e-12, atol=1e-12)
    assert ne.chunks == 3


def test_jacobian_forward_mode_when_many_outputs_per_sample():
    # 40 residuals per sample > 12 parameters: jacfwd is chosen
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Tanh(), torch.nn.Linear(2, 40)).double()
    for p in list(net.parameters())[2:]:
        p.requires_grad_(False)
    x, y = torch.randn(4, 2, dtype=torch.float64), torch.randn(4, 40, dtype=torch.float64)
    params = [p for p in net.parameters() if p.requires_grad]
    full = reference_jacobian(net, x, y)
    for method in ("func", "linear"):  # torch.func forward mode; linear plan with frozen layers
        J, _ = nopt.residual_jacobian(nopt.ResidualClosure(net, x, y, jacobian=method), params)
        torch.testing.assert_close(J, full[:, :6], rtol=1e-12, atol=1e-12)


def test_jacobian_plain_closure_batched_autograd():
    net, x, y = net_and_data(2)
    J, r = nopt.residual_jacobian(lambda: (net(x) - y).reshape(-1), list(net.parameters()))
    torch.testing.assert_close(J, reference_jacobian(net, x, y), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n", [6, 40])  # 29 parameters: reverse mode for 6 samples, forward for 40
def test_jacobian_with_custom_residual_and_batchnorm_whole_batch(n):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Tanh(),
                              torch.nn.Linear(4, 1)).double().train()
    x, y = torch.randn(n, 3, dtype=torch.float64), torch.randn(n, 1, dtype=torch.float64)
    closure = nopt.ResidualClosure(net, x, y, residual_fn=lambda p, t: 2.0 * (p - t))
    assert not closure.can_split_samples()  # BatchNorm couples the samples
    J, _ = nopt.residual_jacobian(closure, net.parameters())
    ref = reference_jacobian(net, x, y, residual_fn=lambda p, t: 2.0 * (p - t))
    torch.testing.assert_close(J, ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("rows,expected_chunks", [(2, 7), (5, 4), (10**6, 1)])
def test_chunked_normal_equations_equal_full(rows, expected_chunks):
    net, x, y = net_and_data(outputs=2)  # 7 samples, 2 residuals each
    P = sum(p.numel() for p in net.parameters())
    J, r = nopt.residual_jacobian(nopt.ResidualClosure(net, x, y), net.parameters())
    ne = nopt.residual_normal_equations(nopt.ResidualClosure(net, x, y), list(net.parameters()),
                                        memory_budget=rows * P * 8)
    torch.testing.assert_close(ne.JtJ, J.T @ J, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ne.Jtr, J.T @ r, rtol=1e-12, atol=1e-12)
    assert ne.sse == pytest.approx(float(r @ r), rel=1e-12)
    assert ne.chunks == expected_chunks
    assert (ne.J is None) == (expected_chunks > 1)


def reference_hessian(net, x, y):
    names = [n for n, _ in net.named_parameters()]
    params = list(net.parameters())

    def f(flat):
        out = functional_call(net, dict(zip(names, unflatten(flat, params))), (x,))
        return torch.nn.functional.mse_loss(out, y)

    return hessian(f, get_flat(params)), torch.func.grad(f)(get_flat(params))


@pytest.mark.parametrize("kind", ["loss_closure", "plain"])
def test_hessian_and_diagonal_match_autograd_functional(kind):
    net, x, y = net_and_data(outputs=2)
    if kind == "loss_closure":
        closure = nopt.LossClosure(net, x, y, torch.nn.functional.mse_loss)
    else:
        def closure():
            return torch.nn.functional.mse_loss(net(x), y)
    H_ref, g_ref = reference_hessian(net, x, y)
    H, g, loss = nopt.loss_hessian(closure, list(net.parameters()), memory_budget=8 * 32 * 5)
    torch.testing.assert_close(H, H_ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(g, g_ref, rtol=1e-12, atol=1e-14)
    assert float(loss) == pytest.approx(float(torch.nn.functional.mse_loss(net(x), y).detach()), rel=1e-14)
    d, g2, _ = nopt.loss_hessian_diagonal(closure, list(net.parameters()), memory_budget=8 * 32 * 3)
    torch.testing.assert_close(d, H_ref.diagonal(), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(g2, g_ref, rtol=1e-12, atol=1e-14)


def test_hessian_of_unused_and_linear_parameters_is_zero():
    a = torch.nn.Parameter(torch.tensor([1.0, 2.0], dtype=torch.float64))
    unused = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    H, g, _ = nopt.loss_hessian(lambda: a.sum() * 3.0, [a, unused])
    assert torch.equal(H, torch.zeros(5, 5, dtype=torch.float64))
    torch.testing.assert_close(g, torch.tensor([3.0, 3, 0, 0, 0], dtype=torch.float64))


@settings(max_examples=30, deadline=None)
@given(st.lists(st.lists(st.integers(1, 4), min_size=0, max_size=3), min_size=1, max_size=4))
def test_flat_vector_roundtrip_without_aliasing(shapes):
    tensors = [torch.randn(tuple(s), dtype=torch.float64) for s in shapes]
    flat = get_flat(tensors)
    assert torch.equal(flat, torch.cat([t.reshape(-1) for t in tensors]))
    targets = [torch.zeros_like(t) for t in tensors]
    doubled = flat * 2
    set_flat_(targets, doubled)
    assert torch.equal(get_flat(targets), flat * 2)
    doubled.add_(1.0)  # the parameters were copied into, not rebound to views of the vector
    assert torch.equal(get_flat(targets), flat * 2)


def test_linear_plan_detects_a_parameter_used_as_a_linear_input():
    class ParamInput(torch.nn.Module):  # a learned table mixed linearly with the data
        def __init__(self):
            super().__init__()
            self.table = torch.nn.Parameter(torch.randn(2, 3, dtype=torch.float64))

        def forward(self, x):  # x: (N, 3); the parameter is the linear's input, the data its weight
            return torch.nn.functional.linear(self.table, x).T.sum(1, keepdim=True)

    torch.manual_seed(0)
    net = ParamInput()
    x, y = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 1, dtype=torch.float64)
    closure = nopt.ResidualClosure(net, x, y)
    J, _ = nopt.residual_jacobian(closure, net.parameters())
    assert not uses_linear_plan(closure, list(net.parameters()))
    torch.testing.assert_close(J, reference_jacobian(net, x, y), rtol=1e-12, atol=1e-12)

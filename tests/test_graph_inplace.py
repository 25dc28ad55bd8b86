"""The graph runs ReLU and add in place only when nothing else reads their input."""

import torch
import torch.nn.functional as F

from neuralab import layers as L


def _conv_residual():
    torch.manual_seed(0)
    return L.Input((2, 6, 6)) >> L.Convolution(3, 3, padding="same") >> (L.Relu() | L.Identity()) \
        >> L.Elementwise("add")


def test_a_fresh_producer_read_by_two_consumers_is_not_overwritten():
    net = _conv_residual()
    conv = net.layers[1]
    x = torch.randn(4, 2, 6, 6, requires_grad=True)
    y = net(x)
    z = F.conv2d(x, conv.weight, conv.bias, padding=1)
    torch.testing.assert_close(y, F.relu(z) + z)          # not 2·relu(z)
    # gradients agree with the out-of-place computation
    gx, = torch.autograd.grad(y.square().sum(), x)
    x2 = x.detach().clone().requires_grad_(True)
    z2 = F.conv2d(x2, conv.weight, conv.bias, padding=1)
    gx2, = torch.autograd.grad((F.relu(z2) + z2).square().sum(), x2)
    torch.testing.assert_close(gx, gx2)


def test_in_place_steps_still_happen_where_they_are_safe():
    net = L.Input((2, 6, 6)) >> L.Convolution(3, 3) >> L.Relu() >> L.Reshape() >> L.Linear(4)
    plan_types = [type(call).__name__ for call, _ in net._exec]
    assert "_InplaceCall" in plan_types        # the ReLU after a fresh convolution output
    x = torch.randn(2, 2, 6, 6)
    conv, lin = net.layers[1], net.layers[-1]
    ref = F.linear(F.relu(F.conv2d(x, conv.weight, conv.bias)).flatten(1), lin.weight, lin.bias)
    torch.testing.assert_close(net(x), ref)


def test_an_output_is_never_overwritten():
    torch.manual_seed(0)
    net = L.Input(5) >> L.Linear(5) >> (L.Relu() | L.Identity())
    x = torch.randn(3, 5)
    relu, ident = net(x)
    lin = net.layers[1]
    z = F.linear(x, lin.weight, lin.bias)
    torch.testing.assert_close(ident, z)
    torch.testing.assert_close(relu, F.relu(z))

"""Shared data and models for the optimizer tests."""

import torch


def xor_data():
    x = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=torch.float64)
    y = torch.tensor([[0], [1], [1], [0]], dtype=torch.float64)
    return x, y


def sin_data(n=50):
    x = torch.linspace(-3, 3, n, dtype=torch.float64).unsqueeze(1)
    return x, torch.sin(x)


def mlp(sizes, seed):
    torch.manual_seed(seed)
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [torch.nn.Linear(a, b), torch.nn.Tanh()]
    return torch.nn.Sequential(*layers[:-1]).double()


def neupy_overfit_problem(seed):
    """NeuPy's assertCanNetworkOverfit (tests/base.py): 10 points, Relu(20) → Sigmoid(1)."""
    g = torch.Generator().manual_seed(seed)
    x = 2 * torch.rand(10, 2, generator=g, dtype=torch.float64) - 1
    y = torch.rand(10, 1, generator=g, dtype=torch.float64)
    hidden, out = torch.nn.Linear(2, 20), torch.nn.Linear(20, 1)
    with torch.no_grad():  # NeuPy's XavierNormal(gain): std = gain·sqrt(2 / (fan_in + fan_out))
        hidden.weight.copy_(torch.randn(20, 2, generator=g) * 4 * (2 / 22) ** 0.5)
        out.weight.copy_(torch.randn(1, 20, generator=g) * 2 * (2 / 21) ** 0.5)
        hidden.bias.zero_()
        out.bias.zero_()
    net = torch.nn.Sequential(hidden, torch.nn.ReLU(), out, torch.nn.Sigmoid()).double()
    return net, x, y

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

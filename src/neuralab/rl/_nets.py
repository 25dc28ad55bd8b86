"""Small helpers shared by the deep agents: default MLPs, observation encoding, seeded builds."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError, DTypeError
from ..validation import check_int, expected


def mlp(n_in: int, hidden, n_out: int, activation=nn.ReLU) -> nn.Sequential:
    """``Linear → activation`` per hidden size, then a linear output layer."""
    layers, width = [], n_in
    for h in hidden:
        layers += [nn.Linear(width, h), activation()]
        width = h
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


def check_hidden(owner: str, hidden) -> tuple[int, ...]:
    if not isinstance(hidden, (tuple, list)):
        raise expected(owner, "hidden", "a tuple of layer widths such as (64, 64)", hidden)
    return tuple(check_int(owner, "hidden[i]", h, low=1) for h in hidden)


def build_seeded(seed: int | None, factory):
    """Call ``factory()`` with torch's global generator seeded, restoring it afterwards."""
    if seed is None:
        return factory()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return factory()


class ObsEncoder:
    """Observations as float32 vectors: a Box is flattened, a Discrete state one-hot encoded."""

    def __init__(self, owner: str, space):
        kind = type(space).__name__
        if kind == "Box":
            self.shape = (int(np.prod(space.shape)),)
            self.discrete = False
        elif kind == "Discrete":
            self.n, self.start = int(space.n), int(getattr(space, "start", 0))
            self.shape = (self.n,)
            self.discrete = True
        else:
            raise ConfigError(f"{owner}: expected an environment with a Box (or Discrete) "
                              f"observation space, received {space!r}")
        self.size = self.shape[0]

    def __call__(self, obs) -> np.ndarray:
        if self.discrete:
            vec = np.zeros(self.n, dtype=np.float32)
            vec[int(obs) - self.start] = 1.0
            return vec
        return np.asarray(obs, dtype=np.float32).reshape(-1)


def check_module(owner: str, name: str, module, n_in: int, n_out: int) -> nn.Module:
    """A user network: an nn.Module mapping (B, n_in) to (B, n_out)."""
    if not isinstance(module, nn.Module):
        raise expected(owner, name, "a torch.nn.Module", type(module).__name__, error=DTypeError)
    with torch.no_grad():
        probe = torch.zeros(2, n_in, dtype=next(module.parameters()).dtype)
        try:
            out = module(probe)
        except Exception as exc:  # the user's module fails on the observation size
            raise ConfigError(f"{owner}: expected `{name}` to accept inputs of shape ({n_in},), "
                              f"it raised {type(exc).__name__}: {exc}") from None
    if tuple(out.shape) != (2, n_out):
        raise ConfigError(f"{owner}: expected `{name}` to output shape ({n_out},) per "
                          f"observation (one value per action), received {tuple(out.shape[1:])}")
    return module

"""Small helpers shared by the deep agents: default MLPs, observation encoding, seeded builds."""

from __future__ import annotations

import random

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError, DTypeError
from ..training import Trainer
from ..validation import check_int, check_number, check_probability, expected
from ._env import StateIndexer, check_env, discrete_actions


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
            self.n, self.index = int(space.n), StateIndexer(owner, space)
            self.shape = (self.n,)
            self.discrete = True
        else:
            raise ConfigError(f"{owner}: expected an environment with a Box (or Discrete) "
                              f"observation space, received {space!r}")
        self.size = self.shape[0]

    def __call__(self, obs) -> np.ndarray:
        if self.discrete:
            vec = np.zeros(self.n, dtype=np.float32)
            vec[self.index(obs)] = 1.0
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


class DeepAgent:
    """What DQN and Reinforce share: the spaces, γ, the learning rate, the seed, the counters."""

    def _setup(self, owner: str, env, *, gamma, lr, seed, device) -> None:
        """Check and set ``env``, ``n_actions``, ``encode``, ``gamma``, ``lr``, ``seed``,
        ``device``, the exploration generator ``rng`` and the empty episode counters."""
        self.env = check_env(owner, env)
        self.n_actions = discrete_actions(owner, env)
        self.encode = ObsEncoder(owner, env.observation_space)
        self.gamma = check_probability(owner, "gamma", gamma)
        self.lr = check_number(owner, "lr", lr, low=0.0, low_open=True)
        self.seed = check_int(owner, "seed", seed, low=0, allow_none=True)
        self.device = device
        self.rng = random.Random(self.seed)
        self.steps_ = 0
        self.updates_ = 0
        self.episode_returns_: list[float] = []
        self.episode_lengths_: list[int] = []

    def _obs_tensor(self, net: nn.Module, obs) -> torch.Tensor:
        """One observation as a (1, d) batch on ``net``'s device and in its dtype."""
        param = next(net.parameters())
        return torch.from_numpy(self.encode(obs)).to(param.device, param.dtype).unsqueeze(0)


class AgentTrainer(Trainer):
    """A Trainer of a :class:`DeepAgent`'s ``module`` and ``optimizer`` (no loss: the
    subclass's ``train_step`` collects experience and steps); quiet and on the agent's
    device unless told otherwise."""

    def __init__(self, agent: DeepAgent, **kwargs):
        kwargs.setdefault("progress", False)
        kwargs.setdefault("device", agent.device)
        super().__init__(agent.module, optimizer=agent.optimizer, loss=None, seed=agent.seed,
                         **kwargs)
        self.agent = agent

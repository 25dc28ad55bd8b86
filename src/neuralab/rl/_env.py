"""What the agents need to know about a Gymnasium environment's spaces."""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError, DTypeError
from ..validation import check_int, expected


def _space_name(space) -> str:
    return repr(space) if space is not None else "None"


def check_env(owner: str, env):
    """The environment has ``reset``/``step`` and the two spaces."""
    for attribute in ("reset", "step", "observation_space", "action_space"):
        if not hasattr(env, attribute):
            raise expected(owner, "env", "a Gymnasium environment (reset, step, observation_space, "
                           "action_space)", type(env).__name__, error=DTypeError)
    return env


def discrete_actions(owner: str, env) -> int:
    """The number of actions of a ``Discrete`` action space (starting at 0)."""
    space = env.action_space
    if type(space).__name__ != "Discrete":
        raise ConfigError(f"{owner}: expected an environment with a Discrete action space, "
                          f"received {_space_name(space)} (continuous or structured actions need "
                          "another algorithm)")
    if int(getattr(space, "start", 0)) != 0:
        raise ConfigError(f"{owner}: expected a Discrete action space starting at 0, received "
                          f"{_space_name(space)}")
    return int(space.n)


class StateIndexer:
    """Maps observations of Discrete, MultiDiscrete or Tuple-of-Discrete spaces to 0..S−1."""

    def __init__(self, owner: str, space):
        self.owner, self.space = owner, space
        kind = type(space).__name__
        if kind == "Discrete":
            self.sizes, self.starts = (int(space.n),), (int(getattr(space, "start", 0)),)
        elif kind == "MultiDiscrete" and np.ndim(space.nvec) == 1:
            self.sizes = tuple(int(n) for n in space.nvec)
            self.starts = tuple(int(s) for s in np.broadcast_to(getattr(space, "start", 0),
                                                                 np.shape(space.nvec)))
        elif kind == "Tuple" and all(type(s).__name__ == "Discrete" for s in space.spaces):
            self.sizes = tuple(int(s.n) for s in space.spaces)
            self.starts = tuple(int(getattr(s, "start", 0)) for s in space.spaces)
        else:
            raise ConfigError(f"{owner}: expected an observation space a table can index "
                              f"(Discrete, MultiDiscrete or a Tuple of Discrete), received "
                              f"{_space_name(space)}; use DQN or Reinforce for Box observations")
        self.n_states = int(np.prod(self.sizes))
        self._single = len(self.sizes) == 1

    def __call__(self, obs) -> int:
        if self._single:
            return self._coordinate(obs, 0)
        if np.ndim(obs) != 1 or len(obs) != len(self.sizes):
            raise expected(self.owner, "observation", f"{len(self.sizes)} integers, an observation of "
                           f"{_space_name(self.space)}", obs)
        return int(np.ravel_multi_index(tuple(self._coordinate(o, i) for i, o in enumerate(obs)),
                                        self.sizes))

    def _coordinate(self, value, axis: int) -> int:
        """Axis ``axis`` of an observation, checked against the space, counted from 0."""
        if np.ndim(value) == 0 and hasattr(value, "item"):   # NumPy and torch scalars
            value = value.item()
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        start = self.starts[axis]
        return check_int(self.owner, "observation", value, low=start,
                         high=start + self.sizes[axis] - 1) - start


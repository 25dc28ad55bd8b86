"""Experience replay: a fixed-size ring buffer of transitions, sampled uniformly.

Each transition is ``(obs, action, reward, next_obs, terminated)``. Only
``terminated`` is stored as "done": a transition cut by a time limit (truncated)
is stored with ``terminated = 0`` and its true ``next_obs``, so its TD target
bootstraps from ``next_obs`` as it should.

    >>> import torch
    >>> buf = ReplayBuffer(3, obs_shape=(2,), seed=0)
    >>> for i in range(5):       # the oldest two are overwritten
    ...     buf.add([i, i], 1, float(i), [i + 1, i + 1], False)
    >>> len(buf), sorted(buf.rewards[:len(buf)].tolist())
    (3, [2.0, 3.0, 4.0])
    >>> batch = buf.sample(4)
    >>> batch.obs.shape, batch.actions.dtype
    (torch.Size([4, 2]), torch.int64)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from ..errors import DataError, ShapeError, format_shape
from ..validation import check_int

__all__ = ["ReplayBuffer", "Transitions"]


class Transitions(NamedTuple):
    """A batch of transitions (first axis: the batch)."""

    obs: torch.Tensor          # (B, *obs_shape) float32
    actions: torch.Tensor      # (B,) int64
    rewards: torch.Tensor      # (B,) float32
    next_obs: torch.Tensor     # (B, *obs_shape) float32
    terminated: torch.Tensor   # (B,) float32, 1.0 where the episode ended in the MDP


class ReplayBuffer:
    """A ring buffer of ``capacity`` transitions with uniform sampling (with replacement).

    Args:
        capacity: the most transitions kept (the oldest are overwritten).
        obs_shape: shape of one observation.
        seed: seeds the sampling generator.

    Attributes:
        obs, actions, rewards, next_obs, terminated: the storage tensors (first ``len(self)``
        rows are valid once full; while filling, rows ``0..len-1``).
    """

    def __init__(self, capacity: int, obs_shape=(1,), *, seed: int | None = 0):
        self.capacity = check_int("ReplayBuffer", "capacity", capacity, low=1)
        self.obs_shape = tuple(int(d) for d in np.atleast_1d(obs_shape))
        self.obs = torch.zeros((self.capacity, *self.obs_shape), dtype=torch.float32)
        self.next_obs = torch.zeros_like(self.obs)
        self.actions = torch.zeros(self.capacity, dtype=torch.int64)
        self.rewards = torch.zeros(self.capacity, dtype=torch.float32)
        self.terminated = torch.zeros(self.capacity, dtype=torch.float32)
        # NumPy views share memory with the tensors: writing one row through them is cheap
        self._np = {name: getattr(self, name).numpy() for name in
                    ("obs", "next_obs", "actions", "rewards", "terminated")}
        self.generator = torch.Generator()
        self.generator.manual_seed(check_int("ReplayBuffer", "seed", seed, allow_none=True)
                                   if seed is not None else int(torch.seed()))
        self.position = 0
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def add(self, obs, action: int, reward: float, next_obs, terminated: bool) -> None:
        """Store one transition (``terminated``: the MDP ended; never the time limit)."""
        i = self.position
        store = self._np
        try:
            store["obs"][i] = obs
            store["next_obs"][i] = next_obs
        except ValueError:
            raise ShapeError(f"ReplayBuffer: expected observations of shape "
                             f"{format_shape(self.obs_shape)}, received shape "
                             f"{format_shape(np.shape(obs))}") from None
        store["actions"][i] = action
        store["rewards"][i] = reward
        store["terminated"][i] = float(terminated)
        self.position = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int) -> Transitions:
        """``batch_size`` transitions drawn uniformly with replacement."""
        if self.size == 0:
            raise DataError("ReplayBuffer: expected at least one stored transition to sample, "
                            "received an empty buffer")
        index = torch.randint(0, self.size, (batch_size,), generator=self.generator)
        return self.take(index)

    def take(self, index: torch.Tensor) -> Transitions:
        """The transitions at ``index`` (a LongTensor)."""
        return Transitions(self.obs[index], self.actions[index], self.rewards[index],
                           self.next_obs[index], self.terminated[index])

    def __repr__(self) -> str:
        return f"ReplayBuffer(capacity={self.capacity}, size={self.size}, obs_shape={self.obs_shape})"

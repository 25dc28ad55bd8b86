"""Tabular temporal-difference control: Q-learning and SARSA with ε-greedy exploration.

After each transition ``(s, a, r, s')`` the table moves towards a TD target:

    Q-learning (off-policy):  y = r + γ (1 − terminated) max_a' Q(s', a')
    SARSA (on-policy):        y = r + γ (1 − terminated) Q(s', a'),  a' ~ ε-greedy(Q(s', ·))
    Q(s, a) ← Q(s, a) + α (y − Q(s, a))

A *terminated* transition (the MDP ended) does not bootstrap; a *truncated* one
(a time limit cut the episode) does, since the state still has a future.

    >>> import gymnasium as gym
    >>> agent = QLearning(gym.make("FrozenLake-v1", is_slippery=False), lr=0.5, epsilon=0.3,
    ...                   gamma=0.9, seed=0)
    >>> _ = agent.learn(episodes=300)
    >>> agent.greedy_policy().shape, agent.act(0, greedy=True) in (1, 2)
    ((16, 4), True)
"""

from __future__ import annotations

import random

import numpy as np

from ..validation import check_int, check_number, check_probability
from ._env import StateIndexer, check_env, discrete_actions
from .schedules import ExponentialSchedule, as_schedule

__all__ = ["QLearning", "SARSA"]


class _TabularAgent:
    """Shared by QLearning and SARSA: the table, ε-greedy acting, the episode loop."""

    def __init__(self, env, *, gamma: float = 0.99, lr=0.1,
                 epsilon=ExponentialSchedule(1.0, 0.05, 0.995), q_init: float = 0.0,
                 seed: int | None = 0):
        owner = type(self).__name__
        self.env = check_env(owner, env)
        self.n_actions = discrete_actions(owner, env)
        self._index = StateIndexer(owner, env.observation_space)
        self.n_states = self._index.n_states
        self.gamma = check_probability(owner, "gamma", gamma)
        self.lr = lr
        self.epsilon = epsilon
        self._lr = as_schedule(owner, "lr", lr, low=0.0, high=1.0, low_open=True)
        self._epsilon = as_schedule(owner, "epsilon", epsilon, low=0.0, high=1.0)
        self.q_init = check_number(owner, "q_init", q_init)
        self.seed = check_int(owner, "seed", seed, allow_none=True)
        self.rng = random.Random(seed)  # exploration draws: Python's generator is fastest
        self.q_ = np.full((self.n_states, self.n_actions), self.q_init)
        self.episodes_ = 0
        self.steps_ = 0
        self.episode_returns_: list[float] = []
        self.episode_lengths_: list[int] = []
        self._seeded = False

    # ------------------------------------------------------------------ acting
    def state_index(self, obs) -> int:
        """The table row of an observation."""
        return self._index(obs)

    def _greedy_row(self, row) -> int:
        best = max(row)
        if row.count(best) == 1:
            return row.index(best)
        ties = [i for i, v in enumerate(row) if v == best]
        return ties[int(self.rng.random() * len(ties))]

    def _explore_row(self, row, epsilon: float) -> int:
        if self.rng.random() < epsilon:
            return int(self.rng.random() * self.n_actions)
        return self._greedy_row(row)

    def act(self, obs, *, greedy: bool = True) -> int:
        """The greedy action (the first best, as in :meth:`greedy_policy`), or ε-greedy.

        While learning, ties among the best actions are broken at random instead.
        """
        row = self.q_[self._index(obs)]
        if greedy:
            return int(row.argmax())
        return self._explore_row(row.tolist(), self._epsilon(self.episodes_))

    def greedy_policy(self) -> np.ndarray:
        """The greedy policy of the table as (S, A) probabilities (first best action on ties)."""
        return np.eye(self.n_actions)[self.q_.argmax(axis=1)]

    @property
    def values_(self) -> np.ndarray:
        """``V(s) = max_a Q(s, a)``, shape (S,)."""
        return self.q_.max(axis=1)

    # ------------------------------------------------------------------ learning
    def learn(self, episodes: int, *, max_steps: int | None = None) -> "_TabularAgent":
        """Run ``episodes`` episodes of ε-greedy control, updating the table after each step.

        ε and the learning rate are evaluated per episode (``schedule(episode_index)``).
        The first reset of the environment is seeded with ``seed``. Episodes must end:
        give continuing tasks a time limit (``gymnasium.wrappers.TimeLimit``,
        ``GridWorld(max_steps=...)``) or ``max_steps`` here.

        Args:
            episodes: number of episodes.
            max_steps: optional cap on the steps of one episode (a truncation: it bootstraps).

        Returns:
            self (``q_``, ``episode_returns_``, ``episode_lengths_`` updated).
        """
        owner = type(self).__name__
        episodes = check_int(owner, "episodes", episodes, low=1)
        max_steps = check_int(owner, "max_steps", max_steps, low=1, allow_none=True)
        env, index, gamma = self.env, self._index, self.gamma
        explore, bootstrap = self._explore_row, self._bootstrap
        table = self.q_.tolist()  # rows as Python lists: ~10x faster than NumPy per element
        try:
            for _ in range(episodes):
                epsilon = self._epsilon(self.episodes_)
                alpha = self._lr(self.episodes_)
                obs, _ = env.reset(seed=None if self._seeded else self.seed)
                self._seeded = True
                row = table[index(obs)]
                a = explore(row, epsilon)
                total, length = 0.0, 0
                while True:
                    obs, reward, terminated, truncated, _ = env.step(a)
                    row2 = table[index(obs)]
                    length += 1
                    a2 = explore(row2, epsilon)
                    # terminated: no future; truncated (time limit): the future still counts
                    target = reward if terminated else reward + gamma * bootstrap(row2, a2)
                    row[a] += alpha * (target - row[a])
                    total += float(reward)
                    row, a = row2, a2
                    if terminated or truncated or (max_steps is not None and length >= max_steps):
                        break
                self.steps_ += length
                self.episodes_ += 1
                self.episode_returns_.append(total)
                self.episode_lengths_.append(length)
        finally:
            self.q_ = np.array(table, dtype=np.float64)
        return self

    @staticmethod
    def _bootstrap(row, a2: int) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(n_states={self.n_states}, n_actions={self.n_actions}, "
                f"gamma={self.gamma:g}, lr={self.lr!r}, epsilon={self.epsilon!r})")


class QLearning(_TabularAgent):
    """Tabular Q-learning (Watkins): off-policy TD control towards ``max_a' Q(s', a')``.

    Args:
        env: a Gymnasium environment with a Discrete action space and a Discrete,
            MultiDiscrete or Tuple-of-Discrete observation space (FrozenLake,
            CliffWalking, Taxi, Blackjack, :class:`~neuralab.rl.GridWorld`).
        gamma: discount factor in [0, 1].
        lr: learning rate α in (0, 1], a number or a schedule of the episode index.
        epsilon: exploration rate in [0, 1], a number or a schedule of the episode index
            (default ``ExponentialSchedule(1.0, 0.05, 0.995)``).
        q_init: initial table value (optimism explores).
        seed: seeds the agent's generator and the environment's first reset.

    Attributes:
        q_: the action values, shape (S, A). episodes_, steps_, episode_returns_,
        episode_lengths_.

    Example:
        >>> import gymnasium as gym
        >>> agent = QLearning(gym.make("CliffWalking-v1"), lr=0.5, epsilon=0.1, seed=0)
        >>> agent.learn(episodes=200).q_.shape
        (48, 4)
    """

    @staticmethod
    def _bootstrap(row, a2: int) -> float:
        return max(row)


class SARSA(_TabularAgent):
    """Tabular SARSA: on-policy TD control towards ``Q(s', a')`` of the next ε-greedy action.

    Same arguments as :class:`QLearning`. On CliffWalking SARSA learns the safe path
    away from the cliff, Q-learning the optimal one along its edge (Sutton & Barto, Ex. 6.6).

    Example (the greedy path of Q-learning along the cliff edge returns −13):
        >>> import gymnasium as gym
        >>> from neuralab.rl import evaluate
        >>> env = gym.make("CliffWalking-v1")
        >>> sarsa = SARSA(env, gamma=1.0, lr=0.5, epsilon=0.1, seed=0).learn(episodes=300)
        >>> evaluate(sarsa, env, episodes=1, seed=0)   # a detour two rows above the cliff
        (-17.0, 0.0)
    """

    @staticmethod
    def _bootstrap(row, a2: int) -> float:
        return row[a2]

"""Evaluating an agent: the mean and spread of its return over fresh episodes."""

from __future__ import annotations

import numpy as np

from ..validation import check_int, expected
from ._env import check_env

__all__ = ["evaluate", "rollout_returns", "PolicyAgent"]


class PolicyAgent:
    """A tabular policy (an (S, A) matrix, e.g. from :func:`~neuralab.rl.value_iteration`) as an agent.

    ``act(s, greedy=True)`` takes the most probable action; ``greedy=False`` samples.

    >>> PolicyAgent([[0.0, 1.0], [1.0, 0.0]]).act(1)
    0
    """

    def __init__(self, policy, *, seed: int | None = 0):
        self.policy = np.asarray(policy, dtype=np.float64)
        if self.policy.ndim != 2:
            raise expected("PolicyAgent", "policy", "an (S, A) matrix of probabilities",
                           f"an array of shape {self.policy.shape}")
        self.rng = np.random.default_rng(seed)

    def act(self, obs, *, greedy: bool = True) -> int:
        row = self.policy[int(obs)]
        if greedy:
            return int(row.argmax())
        return int(self.rng.choice(len(row), p=row / row.sum()))


def rollout_returns(agent, env, episodes: int = 100, *, seed: int | None = None,
                    max_steps: int | None = None) -> np.ndarray:
    """Undiscounted returns of ``episodes`` greedy episodes (``agent.act(obs, greedy=True)``).

    The first reset is seeded with ``seed`` (the later ones continue its stream), so
    two agents evaluated with the same seed meet the same initial states.
    """
    check_env("evaluate", env)
    if not callable(getattr(agent, "act", None)):
        raise expected("evaluate", "agent", "an agent with act(obs, greedy=True)",
                       type(agent).__name__)
    episodes = check_int("evaluate", "episodes", episodes, low=1)
    max_steps = check_int("evaluate", "max_steps", max_steps, low=1, allow_none=True)
    seed = check_int("evaluate", "seed", seed, allow_none=True)
    returns = np.zeros(episodes)
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed if episode == 0 else None)
        total, length = 0.0, 0
        while True:
            obs, reward, terminated, truncated, _ = env.step(agent.act(obs, greedy=True))
            total += float(reward)
            length += 1
            if terminated or truncated or (max_steps is not None and length >= max_steps):
                break
        returns[episode] = total
    return returns


def evaluate(agent, env, episodes: int = 100, *, seed: int | None = None,
             max_steps: int | None = None) -> tuple[float, float]:
    """Mean and standard deviation of the greedy agent's undiscounted return.

    Args:
        agent: anything with ``act(obs, greedy=True) -> action`` (every agent here).
        env: a Gymnasium environment (its own time limit ends episodes).
        episodes: number of evaluation episodes.
        seed: seeds the first reset.
        max_steps: optional extra cap on an episode's length.

    Returns:
        ``(mean, std)`` of the returns.

    Example:
        >>> import gymnasium as gym
        >>> from neuralab.rl import QLearning
        >>> env = gym.make("FrozenLake-v1", is_slippery=False)
        >>> agent = QLearning(env, lr=0.5, epsilon=0.3, gamma=0.9, seed=0).learn(300)
        >>> evaluate(agent, env, episodes=10, seed=0)
        (1.0, 0.0)
    """
    returns = rollout_returns(agent, env, episodes, seed=seed, max_steps=max_steps)
    return float(returns.mean()), float(returns.std())

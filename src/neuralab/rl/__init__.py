"""Reinforcement learning: MDPs and dynamic programming, tabular and deep agents.

- Known models: :class:`MDP` (``P`` (S, A, S), ``R`` (S, A), ``γ``; from arrays, a
  :class:`GridWorld` or a Gymnasium toy-text ``env.P``), :func:`policy_evaluation`,
  :func:`policy_iteration`, :func:`value_iteration` (each returns ``V, policy`` plus
  iteration counts and the last change).
- Tabular control from experience: :class:`QLearning`, :class:`SARSA` (ε-greedy,
  :class:`LinearSchedule` / :class:`ExponentialSchedule` for ε and the learning rate).
- Deep agents trained by :class:`~neuralab.training.Trainer` subclasses: :class:`DQN`
  (:class:`ReplayBuffer`, target network, double DQN, Huber loss) and
  :class:`Reinforce` (policy gradient, learned baseline).
- :func:`evaluate` (mean, std of greedy returns); pictures in :mod:`neuralab.rl.plot`.

Every agent takes a Gymnasium environment with a Discrete action space; a
truncated episode (a time limit) bootstraps, a terminated one does not.

    >>> from neuralab import rl
    >>> V, policy = rl.value_iteration(rl.GridWorld.sutton_barto_3_5().to_mdp(gamma=0.9))
    >>> round(float(V[1]), 1), policy.shape
    (24.4, (25, 4))
"""

from __future__ import annotations

from . import plot
from .dp import DPResult, greedy_policy, policy_evaluation, policy_iteration, value_iteration
from .dqn import DQN, DQNTrainer, dqn_loss, soft_update, td_target
from .evaluation import PolicyAgent, evaluate, rollout_returns
from .gridworld import ACTION_DELTAS, ACTIONS, GridWorld
from .mdp import MDP
from .reinforce import Reinforce, ReinforceTrainer, discounted_returns, reinforce_loss
from .replay import ReplayBuffer, Transitions
from .schedules import ExponentialSchedule, LinearSchedule
from .tabular import SARSA, QLearning

__all__ = [
    "MDP",
    "DPResult",
    "policy_evaluation",
    "policy_iteration",
    "value_iteration",
    "greedy_policy",
    "GridWorld",
    "ACTIONS",
    "ACTION_DELTAS",
    "QLearning",
    "SARSA",
    "LinearSchedule",
    "ExponentialSchedule",
    "evaluate",
    "rollout_returns",
    "PolicyAgent",
    "DQN",
    "DQNTrainer",
    "ReplayBuffer",
    "Transitions",
    "td_target",
    "dqn_loss",
    "soft_update",
    "Reinforce",
    "ReinforceTrainer",
    "discounted_returns",
    "reinforce_loss",
    "plot",
]

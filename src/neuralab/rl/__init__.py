"""Reinforcement learning: MDPs and dynamic programming, tabular and deep agents."""

from __future__ import annotations

from .dp import DPResult, greedy_policy, policy_evaluation, policy_iteration, value_iteration
from .gridworld import ACTION_DELTAS, ACTIONS, GridWorld
from .evaluation import evaluate, rollout_returns
from .mdp import MDP
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
]

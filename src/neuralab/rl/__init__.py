"""Reinforcement learning: MDPs and dynamic programming, tabular and deep agents."""

from __future__ import annotations

from .dqn import DQN, DQNTrainer, dqn_loss, soft_update, td_target
from .dp import DPResult, greedy_policy, policy_evaluation, policy_iteration, value_iteration
from .gridworld import ACTION_DELTAS, ACTIONS, GridWorld
from .evaluation import PolicyAgent, evaluate, rollout_returns
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
]

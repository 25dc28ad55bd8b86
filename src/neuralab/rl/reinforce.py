"""REINFORCE (Williams 1992): Monte-Carlo policy gradient with an optional learned baseline.

For the episodes of one update, with returns ``G_t = Σ_k γ^k r_{t+k}``:

    A_t  = G_t − b(s_t)                     (b = 0 without a baseline)
    A_t ← (A_t − mean A) / (std A + 1e-8)   (``normalize=True``)
    loss = −mean_t log π(a_t | s_t) · A_t
    baseline loss = mean_t (b(s_t) − G_t)²  (its own optimizer)

The policy gradient ``∇ E[G] = E[Σ_t ∇ log π(a_t|s_t) (G_t − b(s_t))]`` is
unbiased for any baseline that does not depend on the action. An episode cut by
a time limit (truncated) bootstraps its tail from the baseline,
``G_T = γ b(s_T)``; a terminated one ends with ``G_T = 0``.

    >>> discounted_returns([1.0, 1.0, 1.0], gamma=0.5)
    tensor([1.7500, 1.5000, 1.0000])
    >>> discounted_returns([1.0, 1.0], gamma=0.5, bootstrap=4.0)   # truncated: tail value 4
    tensor([2.5000, 3.0000])
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ..validation import check_bool, check_int, check_number
from ._nets import AgentTrainer, DeepAgent, build_seeded, check_hidden, check_module, mlp

__all__ = ["Reinforce", "ReinforceTrainer", "discounted_returns", "reinforce_loss"]


def discounted_returns(rewards, gamma: float, bootstrap: float = 0.0) -> torch.Tensor:
    """``G_t = r_t + γ G_{t+1}`` backwards from ``G_T = bootstrap``; shape (T,) float32."""
    rewards = np.asarray(rewards, dtype=np.float64)
    out = np.empty_like(rewards)
    g = float(bootstrap)
    for t in range(len(rewards) - 1, -1, -1):
        g = rewards[t] + gamma * g
        out[t] = g
    return torch.from_numpy(out.astype(np.float32))


def reinforce_loss(log_probs: torch.Tensor, returns: torch.Tensor,
                   baseline: torch.Tensor | None = None, *, normalize: bool = False
                   ) -> torch.Tensor:
    """``−mean(log π(a_t|s_t) · A_t)`` with ``A_t = G_t − b(s_t)`` (baseline not differentiated).

    >>> lp = torch.log(torch.tensor([0.5, 0.25]))
    >>> round(float(reinforce_loss(lp, torch.tensor([2.0, 1.0]))), 4)   # −(2 ln .5 + ln .25)/2
    1.3863
    """
    advantages = returns if baseline is None else returns - baseline.detach()
    if normalize and advantages.numel() > 1:
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    return -(log_probs * advantages).mean()


class _PolicyModules(nn.Module):
    def __init__(self, policy: nn.Module, baseline: nn.Module | None):
        super().__init__()
        self.policy = policy
        self.baseline = baseline

    def forward(self, obs):
        return self.policy(obs)


class Reinforce(DeepAgent):
    """A REINFORCE agent for any Gymnasium environment with a Discrete action space.

    Args:
        env: the environment (Box or Discrete observations, Discrete actions).
        policy_network: an ``nn.Module`` from observations (B, obs_dim) to action logits
            (B, A); default an MLP with ``hidden`` ReLU layers.
        hidden: hidden widths of the default policy (and baseline) MLP.
        gamma: discount factor.
        lr: Adam learning rate of the policy.
        baseline: learn a state-value baseline ``b(s)`` (True), or use none (False).
        baseline_network: an ``nn.Module`` from observations to one value (B, 1).
        baseline_lr: Adam learning rate of the baseline.
        normalize: standardise the advantages (the returns without a baseline) per update.
        episodes_per_update: episodes collected per gradient step.
        seed: seeds the networks, the action sampling and the environment's first reset.
        device: where the networks train.

    Attributes:
        policy_net, baseline_net, module (both), optimizer, baseline_optimizer, steps_,
        updates_, episode_returns_, episode_lengths_.

    Example:
        >>> import gymnasium as gym
        >>> agent = Reinforce(gym.make("CartPole-v1"), hidden=(16,), seed=0)
        >>> history = agent.learn(episodes=4)
        >>> len(agent.episode_returns_), sorted(history.history)[:3]
        (4, ['baseline_loss', 'length', 'loss'])
    """

    def __init__(self, env, *, policy_network: nn.Module | None = None, hidden=(64,),
                 gamma: float = 0.99, lr: float = 1e-2, baseline: bool = True,
                 baseline_network: nn.Module | None = None, baseline_lr: float = 1e-2,
                 normalize: bool = True, episodes_per_update: int = 1, seed: int | None = 0,
                 device="cpu"):
        owner = "Reinforce"
        self._setup(owner, env, gamma=gamma, lr=lr, seed=seed, device=device)
        self.baseline_lr = check_number(owner, "baseline_lr", baseline_lr, low=0.0, low_open=True)
        self.use_baseline = check_bool(owner, "baseline", baseline)
        self.normalize = check_bool(owner, "normalize", normalize)
        self.episodes_per_update = check_int(owner, "episodes_per_update", episodes_per_update,
                                             low=1)
        hidden = check_hidden(owner, hidden)
        n_in = self.encode.size
        if policy_network is None:
            policy_network = build_seeded(self.seed, lambda: mlp(n_in, hidden, self.n_actions))
        policy_network = check_module(owner, "policy_network", policy_network, n_in,
                                      self.n_actions)
        value = None
        if self.use_baseline:
            if baseline_network is None:
                value_seed = None if self.seed is None else self.seed + 1
                baseline_network = build_seeded(value_seed, lambda: mlp(n_in, hidden, 1))
            value = check_module(owner, "baseline_network", baseline_network, n_in, 1)
        self.module = _PolicyModules(policy_network, value)
        self.optimizer = torch.optim.Adam(policy_network.parameters(), lr=self.lr)
        self.baseline_optimizer = (torch.optim.Adam(value.parameters(), lr=self.baseline_lr)
                                   if value is not None else None)

    @property
    def policy_net(self) -> nn.Module:
        return self.module.policy

    @property
    def baseline_net(self) -> nn.Module | None:
        return self.module.baseline

    # ------------------------------------------------------------------ acting
    def _logits(self, obs) -> torch.Tensor:
        with torch.inference_mode():
            return self.policy_net(self._obs_tensor(self.policy_net, obs))[0]

    def action_probabilities(self, obs) -> np.ndarray:
        """``π(· | obs)``, shape (A,)."""
        return torch.softmax(self._logits(obs), 0).double().cpu().numpy()

    def act(self, obs, *, greedy: bool = True) -> int:
        """The most probable action, or one sampled from ``π(· | obs)``."""
        if greedy:
            return int(self._logits(obs).argmax())
        cumulative = np.cumsum(self.action_probabilities(obs))
        return min(int(np.searchsorted(cumulative, self.rng.random() * cumulative[-1],
                                       side="right")), self.n_actions - 1)

    def run_episode(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """One sampled episode: observations (T, d), actions (T,), rewards (T,) and the final
        observation when the episode was truncated (None when it terminated)."""
        env, encode = self.env, self.encode
        seed = self.seed if not self.episode_returns_ else None
        obs, _ = env.reset(seed=seed)
        observations, actions, rewards = [], [], []
        while True:
            action = self.act(obs, greedy=False)
            next_obs, reward, terminated, truncated, _ = env.step(action)
            observations.append(encode(obs))
            actions.append(action)
            rewards.append(float(reward))
            obs = next_obs
            if terminated or truncated:
                break
        self.steps_ += len(rewards)
        self.episode_returns_.append(float(sum(rewards)))
        self.episode_lengths_.append(len(rewards))
        tail = None if terminated else encode(obs)
        return np.stack(observations), np.asarray(actions), np.asarray(rewards), tail

    # ------------------------------------------------------------------ learning
    def learn(self, episodes: int, *, log_interval: int = 10, callbacks=None,
              progress: bool | str = False):
        """Train on ``episodes`` episodes (``episodes_per_update`` per gradient step).

        Returns:
            the :class:`~neuralab.training.History` (per epoch of ``log_interval`` updates:
            ``loss``, ``baseline_loss``, ``return`` and ``length`` of the episodes).
        """
        episodes = check_int("Reinforce", "episodes", episodes, low=1)
        log_interval = check_int("Reinforce", "log_interval", log_interval, low=1)
        updates = math.ceil(episodes / self.episodes_per_update)
        per_epoch = min(updates, log_interval)
        trainer = ReinforceTrainer(self, callbacks=callbacks, progress=progress,
                                   max_episodes=len(self.episode_returns_) + episodes)
        return trainer.fit(None, epochs=math.ceil(updates / per_epoch), steps_per_epoch=per_epoch)

    def __repr__(self) -> str:
        return (f"Reinforce(n_actions={self.n_actions}, gamma={self.gamma:g}, lr={self.lr:g}, "
                f"baseline={self.use_baseline}, normalize={self.normalize})")


class ReinforceTrainer(AgentTrainer):
    """The Trainer of a :class:`Reinforce` agent: ``train_step`` = episodes + one policy step.

    The baseline's optimizer is ``self.optimizers["baseline"]`` (checkpointed with the rest).
    """

    def __init__(self, agent: Reinforce, *, max_episodes: int | None = None, **kwargs):
        super().__init__(agent, **kwargs)
        if agent.baseline_optimizer is not None:
            self.optimizers["baseline"] = agent.baseline_optimizer
        self.max_episodes = max_episodes

    def train_step(self, batch) -> dict:
        agent = self.agent
        n = agent.episodes_per_update
        if self.max_episodes is not None:
            n = max(1, min(n, self.max_episodes - len(agent.episode_returns_)))
        episodes = [agent.run_episode() for _ in range(n)]
        obs = torch.from_numpy(np.concatenate([e[0] for e in episodes])).to(self.device)
        actions = torch.from_numpy(np.concatenate([e[1] for e in episodes])).to(self.device)
        values = agent.baseline_net(obs).squeeze(1) if agent.baseline_net is not None else None
        returns = []
        for _, _, rewards, tail in episodes:
            bootstrap = 0.0
            if tail is not None and agent.baseline_net is not None:  # truncated: the tail's value
                with torch.no_grad():
                    tail_t = torch.from_numpy(tail).to(self.device).unsqueeze(0)
                    bootstrap = float(agent.baseline_net(tail_t))
            returns.append(discounted_returns(rewards, agent.gamma, bootstrap))
        returns = torch.cat(returns).to(self.device)
        log_probs = torch.log_softmax(agent.policy_net(obs), dim=1)
        log_probs = log_probs.gather(1, actions.unsqueeze(1)).squeeze(1)
        loss = reinforce_loss(log_probs, returns, values, normalize=agent.normalize)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        logs = {"loss": loss.detach()}
        if values is not None:
            baseline_loss = torch.mean((values - returns) ** 2)
            opt = self.optimizers["baseline"]
            opt.zero_grad(set_to_none=True)
            baseline_loss.backward()
            opt.step()
            logs["baseline_loss"] = baseline_loss.detach()
        agent.updates_ += 1
        recent = agent.episode_returns_[-n:]
        logs["return"] = float(np.mean(recent))
        logs["length"] = float(np.mean(agent.episode_lengths_[-n:]))
        return logs

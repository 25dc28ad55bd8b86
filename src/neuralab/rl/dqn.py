"""Deep Q-networks (Mnih et al. 2015) with the usual refinements, trained by the Trainer.

Per gradient step, on a minibatch drawn uniformly from the replay buffer:

    y = r + γ (1 − terminated) Q_target(s', a*)
        a* = argmax_a Q_target(s', a)              (DQN)
        a* = argmax_a Q_online(s', a)              (double DQN, van Hasselt et al. 2016)
    loss = huber(Q_online(s, a) − y)               (δ = 1; or "mse")

The target network is copied from the online one every ``target_update_interval``
gradient steps (``tau = 1``) or moved towards it, ``θ⁻ ← (1 − τ) θ⁻ + τ θ`` (soft
updates). Exploration is ε-greedy with ε a schedule of the environment step.
Episodes cut by a time limit (``truncated``) are stored as not terminated, so
their last transition bootstraps; only a real end (``terminated``) does not.

    >>> import gymnasium as gym
    >>> agent = DQN(gym.make("CartPole-v1"), hidden=(32,), learning_starts=100, seed=0)
    >>> history = agent.learn(300)
    >>> agent.steps_, len(agent.buffer), sorted(history.history)
    (300, 300, ['epsilon', 'loss', 'lr', 'q', 'return_100', 'time'])
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
from torch import nn

from .. import losses
from ..validation import check_bool, check_choice, check_int, check_number
from ._nets import AgentTrainer, DeepAgent, build_seeded, check_hidden, check_module, mlp
from .replay import ReplayBuffer, Transitions
from .schedules import LinearSchedule, as_schedule

__all__ = ["DQN", "DQNTrainer", "td_target", "soft_update", "dqn_loss", "CARTPOLE"]

# The hyperparameters benchmarks/rl.py and the demo measure on CartPole-v1: the RL Zoo's
# recipe (lr 2.3e-3, batch 64, one gradient step per two environment steps, ε 1 → 0.04
# over 8,000 steps, the target refreshed once per burst) with a 128-128 network and
# bursts of 64 gradient steps every 128 environment steps (the Zoo: 256-256, 128 per 256).
CARTPOLE = dict(hidden=(128, 128), lr=2.3e-3, batch_size=64, buffer_size=100_000,
                learning_starts=1_000, gamma=0.99, train_freq=128, gradient_steps=64,
                target_update_interval=64, epsilon=LinearSchedule(1.0, 0.04, 8_000),
                max_grad_norm=10.0)


def td_target(rewards: torch.Tensor, next_q_target: torch.Tensor, terminated: torch.Tensor,
              gamma: float, next_q_online: torch.Tensor | None = None) -> torch.Tensor:
    """``r + γ (1 − terminated) Q_target(s', a*)``; shapes (B,), (B, A), (B,) → (B,).

    ``a*`` maximises ``next_q_online`` when given (double DQN), else ``next_q_target``.

    >>> q_next = torch.tensor([[1.0, 3.0], [1.0, 3.0]])
    >>> td_target(torch.tensor([1.0, 1.0]), q_next, torch.tensor([0.0, 1.0]), 0.5)
    tensor([2.5000, 1.0000])
    >>> td_target(torch.tensor([1.0]), q_next[:1], torch.tensor([0.0]), 0.5,
    ...           next_q_online=torch.tensor([[5.0, 0.0]]))       # double: a* = 0
    tensor([1.5000])
    """
    if next_q_online is None:
        next_v = next_q_target.max(dim=1).values
    else:
        best = next_q_online.argmax(dim=1, keepdim=True)
        next_v = next_q_target.gather(1, best).squeeze(1)
    return rewards + gamma * (1.0 - terminated) * next_v


@torch.no_grad()
def soft_update(target: nn.Module, source: nn.Module, tau: float) -> None:
    """``θ_target ← (1 − τ) θ_target + τ θ_source`` (``τ = 1`` copies); buffers are copied."""
    for t, s in zip(target.parameters(), source.parameters()):
        if tau >= 1.0:
            t.copy_(s)
        else:
            t.lerp_(s, tau)
    for t, s in zip(target.buffers(), source.buffers()):
        t.copy_(s)


def dqn_loss(q_net: nn.Module, target_net: nn.Module, batch: Transitions, gamma: float, *,
             double: bool = False, loss=losses.huber) -> tuple[torch.Tensor, torch.Tensor]:
    """The TD loss of a batch and the mean ``Q(s, a)``: ``loss(Q(s, a), y)`` with :func:`td_target`."""
    if double:  # one forward pass of the online network over s and s'
        q_both = q_net(torch.cat([batch.obs, batch.next_obs]))           # (2B, A)
        q_all, next_online = q_both[:len(batch.obs)], q_both[len(batch.obs):].detach()
    else:
        q_all, next_online = q_net(batch.obs), None                      # (B, A)
    q_taken = q_all.gather(1, batch.actions.unsqueeze(1)).squeeze(1)  # (B,)
    with torch.no_grad():
        next_target = target_net(batch.next_obs)
        y = td_target(batch.rewards, next_target, batch.terminated, gamma, next_online)
    return loss(q_taken, y), q_taken.detach().mean()


def _adam(params, lr: float) -> torch.optim.Adam:
    """Adam with the fused kernel where torch has one (one op per step instead of ~6 per tensor)."""
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, TypeError):  # pragma: no cover - torch builds without the fused kernel
        return torch.optim.Adam(params, lr=lr)


class _QModules(nn.Module):
    """The online and target networks in one module, so checkpoints hold both."""

    def __init__(self, q_net: nn.Module):
        super().__init__()
        self.online = q_net
        self.target = copy.deepcopy(q_net)
        self.target.requires_grad_(False)

    def forward(self, obs):
        return self.online(obs)


class DQN(DeepAgent):
    """A DQN agent for any Gymnasium environment with a Discrete action space.

    Args:
        env: the environment (Box or Discrete observations, Discrete actions).
        q_network: an ``nn.Module`` from observations (B, obs_dim) to Q-values (B, A);
            default an MLP with ``hidden`` ReLU layers.
        hidden: hidden widths of the default MLP.
        gamma: discount factor.
        lr: Adam learning rate.
        buffer_size: replay capacity (transitions).
        batch_size: minibatch size.
        learning_starts: environment steps collected before the first gradient step.
        train_freq: environment steps per training step.
        gradient_steps: gradient steps per training step.
        target_update_interval: gradient steps between target updates.
        tau: 1 for hard copies, in (0, 1) for soft (Polyak) updates.
        epsilon: exploration rate, a number or a schedule of the environment step
            (default linear 1 → 0.05 over 10,000 steps).
        double: double DQN targets.
        loss: ``"huber"`` (δ = 1) or ``"mse"``.
        max_grad_norm: gradient-norm clip (None: no clipping).
        seed: seeds the network initialisation, replay sampling, exploration and the
            environment's first reset.
        device: where the networks train (``"cpu"``, ``"cuda"``, ``"auto"``).

    Attributes:
        q_net, target_net, module (both), optimizer, buffer, steps_ (environment steps),
        updates_ (gradient steps), episode_returns_, episode_lengths_.
    """

    def __init__(self, env, *, q_network: nn.Module | None = None, hidden=(128, 128),
                 gamma: float = 0.99, lr: float = 1e-3, buffer_size: int = 50_000,
                 batch_size: int = 64, learning_starts: int = 1_000, train_freq: int = 1,
                 gradient_steps: int = 1, target_update_interval: int = 500, tau: float = 1.0,
                 epsilon=LinearSchedule(1.0, 0.05, 10_000), double: bool = False,
                 loss: str = "huber", max_grad_norm: float | None = 10.0, seed: int | None = 0,
                 device="cpu"):
        owner = "DQN"
        self._setup(owner, env, gamma=gamma, lr=lr, seed=seed, device=device)
        self.batch_size = check_int(owner, "batch_size", batch_size, low=1)
        self.learning_starts = check_int(owner, "learning_starts", learning_starts, low=0)
        self.train_freq = check_int(owner, "train_freq", train_freq, low=1)
        self.gradient_steps = check_int(owner, "gradient_steps", gradient_steps, low=0)
        self.target_update_interval = check_int(owner, "target_update_interval",
                                                target_update_interval, low=1)
        self.tau = check_number(owner, "tau", tau, low=0.0, high=1.0, low_open=True)
        self.epsilon = epsilon
        self._epsilon = as_schedule(owner, "epsilon", epsilon, low=0.0, high=1.0)
        self.double = check_bool(owner, "double", double)
        self.loss_name = check_choice(owner, "loss", loss, ("huber", "mse"))
        self.loss_fn = losses.huber if self.loss_name == "huber" else losses.mse
        self.max_grad_norm = check_number(owner, "max_grad_norm", max_grad_norm, low=0.0,
                                          low_open=True, allow_none=True)
        if q_network is None:
            hidden = check_hidden(owner, hidden)
            q_network = build_seeded(self.seed, lambda: mlp(self.encode.size, hidden,
                                                            self.n_actions))
        q_network = check_module(owner, "q_network", q_network, self.encode.size, self.n_actions)
        self.module = _QModules(q_network)
        self.optimizer = _adam(self.module.online.parameters(), self.lr)
        self.buffer = ReplayBuffer(check_int(owner, "buffer_size", buffer_size, low=1),
                                   self.encode.shape, seed=self.seed)
        self._obs = None
        self._episode_return = 0.0
        self._episode_length = 0

    @property
    def q_net(self) -> nn.Module:
        return self.module.online

    @property
    def target_net(self) -> nn.Module:
        return self.module.target

    # ------------------------------------------------------------------ acting
    def q_values(self, obs) -> np.ndarray:
        """Q-values of one observation, shape (A,)."""
        with torch.inference_mode():
            return self.q_net(self._obs_tensor(self.q_net, obs))[0].cpu().numpy()

    def act(self, obs, *, greedy: bool = True) -> int:
        """The greedy action, or ε-greedy with ε at the current step."""
        if not greedy and self.rng.random() < self._epsilon(self.steps_):
            return int(self.rng.random() * self.n_actions)
        return int(self.q_values(obs).argmax())

    def collect(self, n_steps: int) -> None:
        """Step the environment ``n_steps`` times ε-greedily, storing every transition."""
        env, encode, buffer = self.env, self.encode, self.buffer
        for _ in range(n_steps):
            if self._obs is None:
                seed = self.seed if not self.episode_returns_ and self.steps_ == 0 else None
                self._obs, _ = env.reset(seed=seed)
            action = self.act(self._obs, greedy=False)
            next_obs, reward, terminated, truncated, _ = env.step(action)
            # a time limit is not the end of the MDP: only `terminated` stops bootstrapping
            buffer.add(encode(self._obs), action, reward, encode(next_obs), terminated)
            self.steps_ += 1
            self._episode_return += float(reward)
            self._episode_length += 1
            if terminated or truncated:
                self.episode_returns_.append(self._episode_return)
                self.episode_lengths_.append(self._episode_length)
                self._episode_return, self._episode_length = 0.0, 0
                self._obs = None
            else:
                self._obs = next_obs

    # ------------------------------------------------------------------ learning
    def learn(self, total_steps: int, *, log_interval: int = 1_000, callbacks=None,
              progress: bool | str = False):
        """Train for ``total_steps`` environment steps through :class:`DQNTrainer`.

        One training step collects ``train_freq`` transitions and then takes
        ``gradient_steps`` gradient steps (once ``learning_starts`` steps are stored);
        one logged epoch covers ``log_interval`` environment steps.

        Returns:
            the :class:`~neuralab.training.History` (per epoch: mean ``loss``, mean ``q``,
            ``epsilon``, ``return_100`` = mean return of the last 100 episodes).
        """
        total_steps = check_int("DQN", "total_steps", total_steps, low=1)
        log_interval = check_int("DQN", "log_interval", log_interval, low=1)
        calls = math.ceil(total_steps / self.train_freq)
        per_epoch = max(1, min(calls, log_interval // self.train_freq))
        epochs = math.ceil(calls / per_epoch)
        trainer = DQNTrainer(self, callbacks=callbacks, progress=progress,
                             max_steps=self.steps_ + total_steps)
        return trainer.fit(None, epochs=epochs, steps_per_epoch=per_epoch)

    def __repr__(self) -> str:
        return (f"DQN(n_actions={self.n_actions}, gamma={self.gamma:g}, lr={self.lr:g}, "
                f"double={self.double}, tau={self.tau:g}, steps={self.steps_})")


class DQNTrainer(AgentTrainer):
    """The Trainer of a :class:`DQN` agent: ``train_step`` collects, samples, updates.

    Everything else (callbacks, progress, checkpoints of both networks and the
    optimizer, the NaN guard, the device) is the Trainer's.

    Args:
        agent: the :class:`DQN`.
        max_steps: stop collecting at this total environment step count.
        **kwargs: :class:`~neuralab.training.Trainer` options (callbacks, progress, device …).
    """

    def __init__(self, agent: DQN, *, max_steps: int | None = None, **kwargs):
        super().__init__(agent, **kwargs)
        self.max_steps = max_steps

    def train_step(self, batch) -> dict:
        agent = self.agent
        n = agent.train_freq
        if self.max_steps is not None:
            n = max(0, min(n, self.max_steps - agent.steps_))
        agent.collect(n)
        loss_sum, q_sum, done = 0.0, 0.0, 0
        if len(agent.buffer) >= max(agent.learning_starts, 1):
            for _ in range(agent.gradient_steps):
                loss, q = self._update()
                loss_sum, q_sum, done = loss_sum + loss, q_sum + q, done + 1
        returns = agent.episode_returns_[-100:]
        return {"loss": loss_sum / done if done else 0.0, "q": q_sum / done if done else 0.0,
                "epsilon": agent._epsilon(agent.steps_),
                "return_100": float(np.mean(returns)) if returns else 0.0}

    def _update(self) -> tuple[float, float]:
        agent = self.agent
        batch = Transitions(*(t.to(self.device) for t in agent.buffer.sample(agent.batch_size)))
        loss, q = dqn_loss(agent.q_net, agent.target_net, batch, agent.gamma,
                           double=agent.double, loss=agent.loss_fn)
        opt = self.optimizer
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if agent.max_grad_norm is not None:
            nn.utils.clip_grad_norm_(agent.q_net.parameters(), agent.max_grad_norm)
        opt.step()
        agent.updates_ += 1
        if agent.updates_ % agent.target_update_interval == 0:
            soft_update(agent.target_net, agent.q_net, agent.tau)
        return float(loss.detach()), float(q)


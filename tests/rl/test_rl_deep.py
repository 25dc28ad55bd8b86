"""Replay buffer, DQN and REINFORCE: pure update rules by hand, Trainer wiring, short seeded runs."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from gymnasium.wrappers import TimeLimit
from scipy import stats

from neuralab.errors import ConfigError, DataError, ShapeError, TrainingError
from neuralab.rl import (
    DQN,
    DQNTrainer,
    GridWorld,
    Reinforce,
    ReplayBuffer,
    Transitions,
    discounted_returns,
    dqn_loss,
    evaluate,
    reinforce_loss,
    soft_update,
    td_target,
    value_iteration,
)
from neuralab.training import Checkpoint, load_checkpoint


# ----------------------------------------------------------------------------- replay buffer
def test_replay_buffer_samples_uniformly():
    buf = ReplayBuffer(40, obs_shape=(1,), seed=0)
    for i in range(100):  # wraps around: transitions 60..99 remain
        buf.add([i], 0, float(i), [i], False)
    assert len(buf) == 40 and sorted(buf.rewards.tolist()) == list(map(float, range(60, 100)))
    draws = torch.cat([buf.sample(500).rewards for _ in range(80)]).long() - 60  # 40,000 draws
    counts = np.bincount(draws.numpy(), minlength=40)
    assert counts.sum() == 40_000
    _, p = stats.chisquare(counts)  # H0: uniform over the 40 stored transitions
    assert p > 1e-3


def test_replay_buffer_is_seeded_and_checks_shapes():
    a, b = ReplayBuffer(10, (2,), seed=5), ReplayBuffer(10, (2,), seed=5)
    for buf in (a, b):
        for i in range(10):
            buf.add([i, -i], i % 3, 1.0, [i, i], i == 9)
    assert torch.equal(a.sample(16).obs, b.sample(16).obs)
    with pytest.raises(ShapeError, match=r"ReplayBuffer: expected observations of shape \(2,\), "
                                         r"received shape \(3,\)"):
        a.add([1, 2, 3], 0, 0.0, [1, 2, 3], False)
    with pytest.raises(DataError, match="at least one stored transition"):
        ReplayBuffer(3, (2,)).sample(1)


# ----------------------------------------------------------------------------- TD targets
def test_truncated_transition_bootstraps_terminated_does_not():
    q_next = torch.tensor([[1.0, 4.0], [1.0, 4.0]])
    rewards = torch.tensor([1.0, 1.0])
    truncated_or_terminated = torch.tensor([0.0, 1.0])  # row 0: cut by a time limit
    y = td_target(rewards, q_next, truncated_or_terminated, gamma=0.9)
    assert y.tolist() == pytest.approx([1.0 + 0.9 * 4.0, 1.0])


def test_double_dqn_takes_the_online_argmax():
    q_target = torch.tensor([[1.0, 4.0]])
    q_online = torch.tensor([[3.0, 2.0]])  # online prefers action 0
    assert td_target(torch.tensor([0.0]), q_target, torch.tensor([0.0]), 0.5,
                     next_q_online=q_online).item() == pytest.approx(0.5)
    assert td_target(torch.tensor([0.0]), q_target, torch.tensor([0.0]), 0.5).item() == 2.0


@pytest.mark.parametrize("double", [False, True])
def test_dqn_loss_by_hand(double):
    torch.manual_seed(0)
    online, target = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    batch = Transitions(torch.randn(5, 3), torch.tensor([0, 1, 1, 0, 1]), torch.randn(5),
                        torch.randn(5, 3), torch.tensor([0.0, 1.0, 0.0, 0.0, 1.0]))
    loss, _ = dqn_loss(online, target, batch, 0.9, double=double)
    with torch.no_grad():
        nt, no = target(batch.next_obs), online(batch.next_obs)
        best = no.argmax(1) if double else nt.argmax(1)
        y = batch.rewards + 0.9 * (1 - batch.terminated) * nt[torch.arange(5), best]
    q = online(batch.obs)[torch.arange(5), batch.actions]
    expected = torch.nn.functional.smooth_l1_loss(q, y)  # Huber with δ = 1
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    loss.backward()
    assert online.weight.grad is not None and target.weight.grad is None


def test_soft_update_is_polyak_averaging():
    torch.manual_seed(0)
    a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    before = a.weight.detach().clone()
    soft_update(a, b, tau=0.25)
    assert torch.allclose(a.weight, 0.75 * before + 0.25 * b.weight)
    soft_update(a, b, tau=1.0)
    assert torch.equal(a.weight, b.weight)


# ----------------------------------------------------------------------------- DQN agent
class _Walk(gym.Env):
    """A Box-observation walk on 0..4; reaching 4 terminates, TimeLimit truncates."""

    observation_space = spaces.Box(0.0, 4.0, (1,), np.float32)
    action_space = spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.x = 0
        return np.array([self.x], np.float32), {}

    def step(self, action):
        self.x = min(4, max(0, self.x + (1 if action == 1 else -1)))
        return np.array([self.x], np.float32), float(self.x == 4), self.x == 4, False, {}


def test_dqn_stores_truncation_as_not_terminated():
    agent = DQN(TimeLimit(_Walk(), 3), epsilon=0.0, hidden=(4,), seed=0)
    with torch.no_grad():  # make "left" greedy: the walk never reaches 4, the limit cuts it
        agent.q_net[-1].bias.copy_(torch.tensor([100.0, -100.0]))
    agent.collect(6)
    assert agent.episode_lengths_ == [3, 3]
    assert agent.buffer.terminated[:6].tolist() == [0.0] * 6
    # the last transition of a truncated episode keeps its real next state, not the reset one
    assert agent.buffer.next_obs[2].item() == 0.0 and agent.buffer.obs[3].item() == 0.0
    agent = DQN(TimeLimit(_Walk(), 10), epsilon=0.0, hidden=(4,), seed=0)
    with torch.no_grad():  # "right" greedy: terminates after 4 steps
        agent.q_net[-1].bias.copy_(torch.tensor([-100.0, 100.0]))
    agent.collect(4)
    assert agent.buffer.terminated[:4].tolist() == [0.0, 0.0, 0.0, 1.0]
    assert agent.buffer.next_obs[3].item() == 4.0


def test_target_network_changes_only_at_update_points():
    agent = DQN(_walk_env(), hidden=(8,), learning_starts=4, batch_size=4, train_freq=1,
                gradient_steps=1, target_update_interval=3, seed=0)
    trainer = DQNTrainer(agent)
    snapshot = [p.detach().clone() for p in agent.target_net.parameters()]
    changes = []
    for _ in range(12):
        trainer.train_step(None)
        now = [p.detach().clone() for p in agent.target_net.parameters()]
        if any(not torch.equal(a, b) for a, b in zip(snapshot, now)):
            changes.append(agent.updates_)
            assert all(torch.equal(t, o) for t, o in zip(agent.target_net.parameters(),
                                                          agent.q_net.parameters()))
        snapshot = now
    assert agent.updates_ == 9  # gradient steps start once 4 transitions are stored
    assert changes == [3, 6, 9]


def test_soft_target_updates_every_gradient_step():
    agent = DQN(_walk_env(), hidden=(8,), learning_starts=2, batch_size=2,
                target_update_interval=1, tau=0.5, seed=0)
    trainer = DQNTrainer(agent)
    trainer.train_step(None)
    trainer.train_step(None)  # first gradient step
    before_target = [p.detach().clone() for p in agent.target_net.parameters()]
    trainer.train_step(None)
    for t, old, o in zip(agent.target_net.parameters(), before_target, agent.q_net.parameters()):
        assert torch.allclose(t, 0.5 * old + 0.5 * o)


def _walk_env():
    return TimeLimit(_Walk(), 20)


def test_dqn_learns_q_star_through_truncations():
    # every episode is cut after one step (max_steps=1): only bootstrapping through the
    # truncation can learn q* of Sutton & Barto's 4×4 world (γ = 0.9) from value iteration;
    # treating the cut as an end would leave Q ≈ −1 everywhere (error up to 2.4)
    world = GridWorld.sutton_barto_4_1(max_steps=1)
    mdp = world.to_mdp(gamma=0.9)
    q_star, live = value_iteration(mdp).q, ~mdp.terminal
    agent = DQN(world, hidden=(32,), lr=3e-3, gamma=0.9, learning_starts=100, train_freq=1,
                target_update_interval=20, epsilon=1.0, seed=0)
    history = agent.learn(1000, log_interval=500)
    q = np.stack([agent.q_values(s) for s in range(16)])
    assert np.abs(q - q_star)[live].max() < 0.05
    assert agent.buffer.terminated[:1000].sum() > 0  # entering a corner does terminate
    assert len(history["loss"]) == 2 and history["epsilon"] == [1.0, 1.0]


def test_dqn_same_seed_same_run():
    runs = []
    for _ in range(2):
        agent = DQN(gym.make("CartPole-v1"), hidden=(16,), learning_starts=50, seed=3)
        agent.learn(200)
        runs.append((agent.episode_returns_, [p.detach().clone() for p in agent.q_net.parameters()]))
    assert runs[0][0] == runs[1][0]
    assert all(torch.equal(a, b) for a, b in zip(runs[0][1], runs[1][1]))


def test_dqn_checkpoints_hold_both_networks(tmp_path):
    agent = DQN(gym.make("CartPole-v1"), hidden=(8,), learning_starts=10, seed=0)
    checkpoint = Checkpoint(tmp_path)
    agent.learn(200, log_interval=100, callbacks=[checkpoint])
    model_state, optim_state, _ = load_checkpoint(checkpoint.path)
    assert {"online.0.weight", "target.0.weight"} <= set(model_state)
    assert torch.equal(model_state["online.0.weight"], agent.q_net[0].weight.detach())


class _NaNReward(_Walk):
    def step(self, action):
        obs, _, terminated, truncated, info = super().step(action)
        return obs, float("nan"), terminated, truncated, info


def test_nan_rewards_stop_training_through_the_trainer():
    agent = DQN(TimeLimit(_NaNReward(), 5), hidden=(4,), learning_starts=2, batch_size=2, seed=0)
    with pytest.raises(TrainingError, match="became NaN"):
        agent.learn(100)


def test_dqn_on_discrete_observations_one_hot():
    agent = DQN(gym.make("FrozenLake-v1"), hidden=(8,), learning_starts=10, seed=0)
    agent.learn(50)
    assert agent.q_values(3).shape == (4,)


# ----------------------------------------------------------------------------- REINFORCE
def test_discounted_returns_by_hand():
    assert discounted_returns([1.0, 2.0, 3.0], 0.9).tolist() == pytest.approx(
        [1 + 0.9 * 2 + 0.81 * 3, 2 + 0.9 * 3, 3.0])
    assert discounted_returns([1.0], 0.9, bootstrap=10.0).tolist() == pytest.approx([10.0])


def test_reinforce_loss_gradient_is_the_score_function():
    logits = torch.tensor([[0.2, -0.4], [1.0, 0.5]], requires_grad=True)
    actions, returns, baseline = torch.tensor([1, 0]), torch.tensor([3.0, -1.0]), torch.tensor(
        [1.0, 1.0], requires_grad=True)
    log_probs = torch.log_softmax(logits, 1)[torch.arange(2), actions]
    reinforce_loss(log_probs, returns, baseline).backward()
    # d/dz of −½ Σ_t (G_t − b_t) log softmax(z_t)[a_t] = −½ (G_t − b_t)(onehot(a_t) − softmax(z_t))
    p = torch.softmax(logits.detach(), 1)
    expected = -0.5 * (returns - 1.0).unsqueeze(1) * (torch.eye(2)[actions] - p)
    assert torch.allclose(logits.grad, expected, atol=1e-6)
    assert baseline.grad is None  # the baseline is not differentiated by the policy loss
    normalized = reinforce_loss(torch.zeros(3), torch.tensor([1.0, 2.0, 3.0]), normalize=True)
    assert normalized.item() == pytest.approx(0.0)


class _Bandit(gym.Env):
    """One-step episodes: the observation's sign says which of two arms pays 1."""

    observation_space = spaces.Box(-1.0, 1.0, (1,), np.float32)
    action_space = spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.s = float(self.np_random.choice([-1.0, 1.0]))
        return np.array([self.s], np.float32), {}

    def step(self, action):
        return np.array([self.s], np.float32), float(action == (self.s > 0)), True, False, {}


@pytest.mark.parametrize("baseline", [False, True])
def test_reinforce_learns_a_contextual_bandit(baseline):
    env = _Bandit()
    agent = Reinforce(env, hidden=(8,), lr=0.05, baseline=baseline, episodes_per_update=8,
                      seed=0)
    history = agent.learn(episodes=800, log_interval=25)
    assert evaluate(agent, env, episodes=50, seed=1)[0] == 1.0
    assert history["return"][-1] > 0.9 > history["return"][0]
    assert ("baseline_loss" in history) is baseline


def test_reinforce_truncated_episodes_bootstrap_from_the_baseline():
    agent = Reinforce(TimeLimit(_Walk(), 3), hidden=(4,), seed=0)
    obs, actions, rewards, tail = agent.run_episode()
    if tail is None:  # the walk reached 4 in 3 steps: impossible from 0
        pytest.fail("a 3-step walk from 0 cannot reach 4")
    assert obs.shape == (3, 1) and actions.shape == (3,) and tail.shape == (1,)


def test_reinforce_improves_on_cartpole_short_run():
    # the full claim (≥ 475 with a baseline) is benchmarks/rl.py
    agent = Reinforce(gym.make("CartPole-v1"), hidden=(32,), lr=1e-2, seed=0)
    agent.learn(episodes=60)
    returns = agent.episode_returns_
    assert np.mean(returns[-15:]) > 2 * np.mean(returns[:15])


# ----------------------------------------------------------------------------- bad input
def test_continuous_actions_are_rejected():
    for cls in (DQN, Reinforce):
        with pytest.raises(ConfigError, match=rf"{cls.__name__}: expected an environment with a "
                                              r"Discrete action space, received Box\(-2\.0, 2\.0"):
            cls(gym.make("Pendulum-v1"))


def test_structured_observations_are_rejected():
    with pytest.raises(ConfigError, match=r"DQN: expected an environment with a Box \(or "
                                          r"Discrete\) observation space, received Tuple\("):
        DQN(gym.make("Blackjack-v1"))


def test_bad_dqn_options():
    env = gym.make("CartPole-v1")
    with pytest.raises(ConfigError, match=r"DQN: expected `epsilon` to be a finite number >= 0 "
                                          r"and <= 1 or a schedule, received 2"):
        DQN(env, epsilon=2)
    with pytest.raises(ConfigError, match=r"expected `tau` to be a finite number > 0 and <= 1"):
        DQN(env, tau=0.0)
    with pytest.raises(ConfigError, match=r"expected `loss` to be one of 'huber', 'mse'"):
        DQN(env, loss="l1")
    with pytest.raises(ConfigError, match=r"expected `q_network` to output shape \(2,\) per "
                                          r"observation .*received \(3,\)"):
        DQN(env, q_network=torch.nn.Linear(4, 3))
    with pytest.raises(ConfigError, match=r"expected `q_network` to accept inputs of shape \(4,\)"):
        DQN(env, q_network=torch.nn.Linear(5, 2))
    with pytest.raises(ConfigError, match=r"expected `hidden` to be a tuple of layer widths"):
        DQN(env, hidden=64)

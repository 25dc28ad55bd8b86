"""Tabular Q-learning and SARSA: learning on FrozenLake and CliffWalking, TD targets, bad input."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from neuralab.errors import ConfigError, DTypeError
from neuralab.rl import (
    MDP,
    SARSA,
    GridWorld,
    ExponentialSchedule,
    LinearSchedule,
    QLearning,
    evaluate,
    rollout_returns,
    value_iteration,
)


def _success_within(mdp_undiscounted: MDP, policy, horizon: int = 100) -> float:
    """Exact probability of reaching FrozenLake's goal from the start within ``horizon`` steps."""
    P, r = mdp_undiscounted.policy_matrices(policy)
    V = np.zeros(mdp_undiscounted.n_states)
    for _ in range(horizon):
        V = r + P @ V
    return float(V[0])


def test_q_learning_on_slippery_frozenlake_is_near_optimal():
    env = gym.make("FrozenLake-v1")  # slippery, 100-step time limit
    lake = MDP.from_gymnasium(env, gamma=1.0)
    optimal = value_iteration(MDP.from_gymnasium(env, gamma=0.99)).q.argmax(axis=1)
    best = _success_within(lake, np.eye(4)[optimal])
    assert best == pytest.approx(0.7402, abs=1e-4)  # the optimum under the time limit
    agent = QLearning(env, gamma=0.99, lr=0.1, epsilon=ExponentialSchedule(1.0, 0.05, 0.999),
                      seed=0).learn(3000)
    learned = _success_within(lake, agent.greedy_policy())
    assert learned >= best - 0.02
    # the success rate over 200 episodes (σ ≈ 0.03): within 0.1 of the exact value
    rate, _ = evaluate(agent, env, episodes=200, seed=0)
    assert abs(rate - learned) < 0.1


def test_cliff_walking_sarsa_is_safer_than_q_learning():
    # Sutton & Barto, Example 6.6: ε = 0.1, α = 0.5
    env = gym.make("CliffWalking-v1")
    q = QLearning(env, gamma=1.0, lr=0.5, epsilon=0.1, seed=0).learn(300)
    sarsa = SARSA(env, gamma=1.0, lr=0.5, epsilon=0.1, seed=0).learn(300)
    assert evaluate(q, env, episodes=1, seed=0)[0] == -13.0  # the optimal path along the cliff
    assert evaluate(sarsa, env, episodes=1, seed=0)[0] in (-15.0, -17.0)  # a safer detour
    # online (ε-greedy) returns: SARSA's are higher since it avoids the cliff edge
    assert np.mean(sarsa.episode_returns_[-100:]) > np.mean(q.episode_returns_[-100:]) + 5


class _Chain(gym.Env):
    """0 --a0--> 1 (reward 0); the episode terminates there only if ``terminal``."""

    def __init__(self, terminal: bool):
        self.observation_space = spaces.Discrete(2)
        self.action_space = spaces.Discrete(2)
        self.terminal = terminal

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return 0, {}

    def step(self, action):
        return 1, 0.0, self.terminal, not self.terminal, {}


@pytest.mark.parametrize("cls", [QLearning, SARSA])
@pytest.mark.parametrize("terminal", [True, False])
def test_truncated_transitions_bootstrap_terminated_do_not(cls, terminal):
    agent = cls(_Chain(terminal), gamma=0.5, lr=1.0, epsilon=0.0, seed=0)
    agent.q_[1] = [10.0, 10.0]
    agent.q_[0] = [0.0, -1.0]  # greedy action 0
    agent.learn(1)
    assert agent.q_[0, 0] == (0.0 if terminal else 0.5 * 10.0)


def test_q_learning_converges_to_q_star_through_truncations():
    # Sutton & Barto's 5×5 world cut after every step: Q-learning still finds q* (γ = 0.9)
    world = GridWorld.sutton_barto_3_5(max_steps=1)
    q_star = value_iteration(world.to_mdp(gamma=0.9)).q
    agent = QLearning(world, gamma=0.9, lr=0.5, epsilon=1.0, seed=0).learn(20_000)
    assert np.abs(agent.q_ - q_star).max() < 0.01


def test_q_learning_update_by_hand():
    # one step with α = 0.25 from Q = 0: Q(0, a) = α (r + γ max Q(1, ·)) = 0.25 (0 + 0.5·4)
    agent = QLearning(_Chain(False), gamma=0.5, lr=0.25, epsilon=0.0, seed=0)
    agent.q_[1] = [4.0, -2.0]
    agent.q_[0] = [0.0, -1.0]
    agent.learn(1)
    assert agent.q_[0, 0] == pytest.approx(0.5)
    assert agent.steps_ == 1 and agent.episode_returns_ == [0.0]


def test_schedules_drive_epsilon_and_lr():
    eps = LinearSchedule(1.0, 0.0, duration=4)
    assert [eps(t) for t in range(6)] == [1.0, 0.75, 0.5, 0.25, 0.0, 0.0]
    lr = ExponentialSchedule(0.5, 0.1, rate=0.5)
    assert [lr(t) for t in range(4)] == [0.5, 0.25, 0.125, 0.1]
    seen = []
    agent = QLearning(_Chain(True), lr=lambda t: seen.append(t) or 0.5, epsilon=eps, seed=0)
    agent.learn(3)
    assert seen == [0, 1, 2]


def test_same_seed_same_table():
    env = gym.make("FrozenLake-v1")
    a = QLearning(env, seed=3).learn(50).q_
    b = QLearning(env, seed=3).learn(50).q_
    c = QLearning(env, seed=4).learn(50).q_
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_tuple_observations_are_indexed():
    agent = QLearning(gym.make("Blackjack-v1"), seed=0).learn(20)
    assert agent.q_.shape == (32 * 11 * 2, 2)
    assert agent.state_index((31, 10, 1)) == 32 * 11 * 2 - 1


def test_rollout_returns_are_seeded():
    env = gym.make("FrozenLake-v1")
    agent = QLearning(env, seed=0)
    np.testing.assert_array_equal(rollout_returns(agent, env, 20, seed=1),
                                  rollout_returns(agent, env, 20, seed=1))


# ----------------------------------------------------------------------------- bad input
def test_continuous_action_space_is_rejected():
    with pytest.raises(ConfigError, match=r"QLearning: expected an environment with a Discrete "
                                          r"action space, received Box\(-2\.0, 2\.0, \(1,\)"):
        QLearning(gym.make("Pendulum-v1"))


def test_box_observations_cannot_be_indexed():
    with pytest.raises(ConfigError, match=r"SARSA: expected an observation space a table can "
                                          r"index .*received Box\("):
        SARSA(gym.make("CartPole-v1"))


@pytest.mark.parametrize("epsilon", [-0.1, 1.5, float("nan"), "greedy"])
def test_epsilon_outside_the_unit_interval(epsilon):
    with pytest.raises(ConfigError, match=r"QLearning: expected `epsilon` to be a finite number "
                                          r">= 0 and <= 1 or a schedule, received"):
        QLearning(gym.make("FrozenLake-v1"), epsilon=epsilon)


def test_bad_schedules_and_rates():
    env = gym.make("FrozenLake-v1")
    with pytest.raises(ConfigError, match=r"expected `epsilon` to be a schedule with values >= 0 "
                                          r"and <= 1, received LinearSchedule\(2, 0"):
        QLearning(env, epsilon=LinearSchedule(2.0, 0.1, 10))
    with pytest.raises(ConfigError, match=r"expected `lr` to be a finite number > 0 and <= 1"):
        QLearning(env, lr=0.0)
    agent = QLearning(env, epsilon=lambda t: 2.0)
    with pytest.raises(ConfigError, match=r"expected `epsilon` to give values >= 0 and <= 1, "
                                          r"received 2\.0 at t=0"):
        agent.learn(1)
    with pytest.raises(ConfigError, match=r"expected `gamma` to be a finite number >= 0 and <= 1"):
        QLearning(env, gamma=1.01)
    with pytest.raises(ConfigError, match=r"expected `episodes` to be an integer >= 1, received 0"):
        agent.learn(0)
    with pytest.raises(DTypeError, match=r"expected `env` to be a Gymnasium environment"):
        QLearning(object())

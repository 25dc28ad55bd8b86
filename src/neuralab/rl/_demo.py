"""``neuralab demo rl``: value iteration on gridworlds, Q-learning on FrozenLake, DQN on CartPole.

Writes into ``out_dir``:

- ``gridworld_values.png``: V* and the optimal arrows of Sutton & Barto's 5×5 gridworld
  (Figure 3.5), and ``gridworld_random.png``: the random policy's values on the 4×4 world
  (Figure 4.1);
- ``frozenlake_values.png``: the Q-learned values and greedy arrows on FrozenLake;
  ``frozenlake_returns.png``: return per episode with its running mean;
- ``cartpole_returns.png``: DQN's return per episode on CartPole-v1.

Returns the metrics (JSON-able): errors against the published values, the success rate
of the learned FrozenLake policy against the optimum, DQN's evaluation return.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

# Sutton & Barto (2nd ed.) Figure 3.5 (γ = 0.9) and Figure 4.1 (γ = 1, k = ∞)
FIG_3_5 = [[22.0, 24.4, 22.0, 19.4, 17.5], [19.8, 22.0, 19.8, 17.8, 16.0],
           [17.8, 19.8, 17.8, 16.0, 14.4], [16.0, 17.8, 16.0, 14.4, 13.0],
           [14.4, 16.0, 14.4, 13.0, 11.7]]
FIG_4_1 = [[0, -14, -20, -22], [-14, -18, -20, -20], [-20, -20, -18, -14], [-22, -20, -14, 0]]


def _gridworlds(out: Path) -> dict:
    from . import GridWorld, policy_evaluation, value_iteration
    from .plot import plot_values

    world = GridWorld.sutton_barto_3_5()
    best = value_iteration(world.to_mdp(gamma=0.9))
    plot_values(best.V, world.shape, out / "gridworld_values.png", policy=best.policy,
                title="Sutton & Barto Fig. 3.5: v* and π* (γ = 0.9)")
    small = GridWorld.sutton_barto_4_1()
    random = policy_evaluation(small.to_mdp(gamma=1.0), small.uniform_policy())
    plot_values(random.V, small.shape, out / "gridworld_random.png",
                title="Sutton & Barto Fig. 4.1: v of the random policy (γ = 1)")
    return {
        "value_iteration_sweeps": best.iterations,
        "fig_3_5_max_abs_error": float(np.abs(best.V.reshape(5, 5) - FIG_3_5).max()),
        "v_star_A": float(best.V[1]),
        "policy_evaluation_sweeps": random.iterations,
        "fig_4_1_max_abs_error": float(np.abs(random.V.reshape(4, 4) - FIG_4_1).max()),
    }


def _success_within(mdp, policy, horizon: int = 100) -> float:
    P, r = mdp.policy_matrices(policy)
    V = np.zeros(mdp.n_states)
    for _ in range(horizon):
        V = r + P @ V
    return float(V[0])


def _frozenlake(out: Path, quick: bool, seed: int) -> dict:
    import gymnasium as gym

    from . import MDP, ExponentialSchedule, PolicyAgent, QLearning, evaluate, value_iteration
    from .plot import FROZENLAKE_DELTAS, plot_returns, plot_values

    env = gym.make("FrozenLake-v1")
    lake = MDP.from_gymnasium(env, gamma=1.0)
    optimal = value_iteration(MDP.from_gymnasium(env, gamma=0.99))
    optimal_policy = np.eye(4)[optimal.q.argmax(axis=1)]
    episodes = 300 if quick else 3000
    start = time.perf_counter()
    agent = QLearning(env, gamma=0.99, lr=0.1, epsilon=ExponentialSchedule(1.0, 0.05, 0.999),
                      seed=seed).learn(episodes)
    seconds = time.perf_counter() - start
    n_eval = 100 if quick else 1000
    rate, _ = evaluate(agent, env, episodes=n_eval, seed=seed)
    optimal_rate, _ = evaluate(PolicyAgent(optimal_policy), env, episodes=n_eval, seed=seed)
    plot_values(agent.values_, (4, 4), out / "frozenlake_values.png",
                policy=agent.greedy_policy(), deltas=FROZENLAKE_DELTAS, mask=lake.terminal,
                title=f"FrozenLake: Q-learning max_a Q and greedy policy ({episodes} episodes)",
                decimals=2)
    plot_returns(agent.episode_returns_, out / "frozenlake_returns.png", window=100,
                 title="Q-learning on FrozenLake-v1 (slippery)")
    return {
        "episodes": episodes,
        "train_s": seconds,
        "success_rate": rate,
        "optimal_success_rate": optimal_rate,
        "exact_success": _success_within(lake, agent.greedy_policy()),
        "optimal_exact_success": _success_within(lake, optimal_policy),
        "evaluation_episodes": n_eval,
    }


def _cartpole(out: Path, quick: bool, seed: int) -> dict:
    import gymnasium as gym

    from . import DQN, evaluate
    from .dqn import CARTPOLE
    from .plot import plot_returns

    env, eval_env = gym.make("CartPole-v1"), gym.make("CartPole-v1")
    if quick:
        agent = DQN(env, **{**CARTPOLE, "hidden": (32,), "learning_starts": 200}, seed=seed)
        budget, chunk = 1_000, 1_000
    else:
        agent = DQN(env, **CARTPOLE, seed=seed)
        budget, chunk = 50_000, 2_500
    train_s, reached, checks = 0.0, None, []
    while agent.steps_ < budget:
        start = time.perf_counter()
        agent.learn(chunk)
        train_s += time.perf_counter() - start
        mean, _ = evaluate(agent, eval_env, episodes=3 if quick else 10, seed=seed + agent.steps_)
        checks.append([agent.steps_, mean])
        if not quick and mean >= 475:
            confirm, _ = evaluate(agent, eval_env, episodes=100, seed=seed)
            checks.append([agent.steps_, confirm])
            if confirm >= 475:
                reached = agent.steps_
                break
    final_mean, final_std = evaluate(agent, eval_env, episodes=5 if quick else 100, seed=seed)
    plot_returns(agent.episode_returns_, out / "cartpole_returns.png", window=20, threshold=475,
                 title="DQN on CartPole-v1: training episodes (ε-greedy)")
    return {"steps": agent.steps_, "gradient_steps": agent.updates_, "train_s": train_s,
            "steps_to_475": reached, "final_mean_return": final_mean,
            "final_std_return": final_std, "evaluations": checks}


def run(out_dir, *, quick: bool = False, seed: int = 0) -> dict:
    """Run the chapter end to end; write the pictures into ``out_dir``; return the metrics."""
    import matplotlib

    matplotlib.use("Agg")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return {
        "gridworld": _gridworlds(out),
        "frozenlake_q_learning": _frozenlake(out, quick, seed),
        "cartpole_dqn": _cartpole(out, quick, seed),
        "quick": quick,
        "seed": seed,
    }

"""Reinforcement learning: solve a gridworld exactly, then learn FrozenLake from experience.

Run: .venv/bin/python examples/09_rl.py
(the whole chapter with pictures: `neuralab demo rl`)
"""

import gymnasium as gym
import numpy as np

from neuralab import rl

# 1. A known MDP: Sutton & Barto's 5x5 gridworld (A -> A' pays +10, B -> B' pays +5).
world = rl.GridWorld.sutton_barto_3_5()
result = rl.value_iteration(world.to_mdp(gamma=0.9))
print(f"value iteration: {result.iterations} sweeps, v*(A) = {result.V[1]:.1f}")  # 24.4
print(np.round(result.V.reshape(5, 5), 1))

# 2. The same solvers on a Gymnasium toy-text environment's transition table.
env = gym.make("FrozenLake-v1")  # slippery: the intended move happens 1 time in 3
mdp = rl.MDP.from_gymnasium(env, gamma=0.99)
V, optimal = rl.policy_iteration(mdp)
print(f"FrozenLake optimal value of the start: {V[0]:.3f}")

# 3. Learning without the model: tabular Q-learning with a decaying exploration rate.
agent = rl.QLearning(env, gamma=0.99, lr=0.1,
                     epsilon=rl.ExponentialSchedule(1.0, 0.05, rate=0.999), seed=0)
agent.learn(episodes=2000)
mean, std = rl.evaluate(agent, env, episodes=200, seed=0)
best, _ = rl.evaluate(rl.PolicyAgent(optimal), env, episodes=200, seed=0)
print(f"Q-learning success rate: {mean:.2f} (optimal policy: {best:.2f})")

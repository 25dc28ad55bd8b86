"""DQN on CartPole-v1: neuralab against Stable-Baselines3, side by side in one run.

SB3 uses the RL Zoo's CartPole-v1 DQN hyperparameters (MLP 256-256, Adam lr
2.3e-3, batch 64, buffer 100,000, learning_starts 1,000, γ 0.99, 128 gradient
steps per 256 environment steps, ε 1 → 0.04 over the first 16 % of 50,000
steps, Huber loss, gradient norm ≤ 10, the target refreshed every 10
environment steps while collecting, i.e. once per burst). neuralab uses
``neuralab.rl.dqn.CARTPOLE``: the same recipe with an MLP 128-128 and bursts of
64 gradient steps every 128 environment steps (the same one gradient step per
two environment steps, the target refreshed after each burst). Per seed, each
trains for at most ``--budget`` environment steps; after every
``--check-every`` steps (a multiple of 256: both have just finished a burst)
the greedy policy plays ``--check-episodes``
episodes; when their mean reaches 475 a ``--confirm-episodes``-episode
evaluation decides. ``steps_to_475`` is the step count of the first confirmed
check (null if none within the budget); ``wall_s`` is the training time up to
it (evaluations excluded); ``final_mean_return`` the last
``--confirm-episodes``-episode mean; ``wall_ratio_at_equal_steps`` divides SB3's
training time by neuralab's at the last check both reached. Seeds alternate between the two libraries.
Torch runs on one thread (``--threads``).

``--reinforce`` adds neuralab's REINFORCE with a learned baseline (episodes to
475, checked every 50 episodes the same way).

    python benchmarks/rl.py [--seeds 0,1,2] [--budget 50000] [--check-every 2560]
                            [--skip-sb3] [--reinforce] [--reinforce-episodes 2000]

Prints JSON with the 1-minute load average before and after (the machine may be
shared): {"cartpole": {"neuralab_dqn": {"steps_to_475": [...], "wall_s": [...],
"final_mean_return": [...]}, "sb3_dqn": {...}, "median": {...}}, ...}.
A full run takes about 10–30 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import gymnasium as gym
import torch

from neuralab.rl import DQN, Reinforce, evaluate
from neuralab.rl.dqn import CARTPOLE

THRESHOLD = 475.0


class _Judge:
    """The shared protocol: quick greedy check, then a confirming evaluation."""

    def __init__(self, agent, seed: int, check_episodes: int, confirm_episodes: int):
        self.agent, self.seed = agent, seed
        self.check_episodes, self.confirm_episodes = check_episodes, confirm_episodes
        self.env = gym.make("CartPole-v1")
        self.eval_s = 0.0
        self.start = time.perf_counter()
        self.reached = None
        self.final = None
        self.checks: list = []

    def check(self, steps: int) -> bool:
        """True when the confirmed mean return is >= 475 (time spent here is not training)."""
        start = time.perf_counter()
        train_s = start - self.start - self.eval_s
        mean, _ = evaluate(self.agent, self.env, self.check_episodes, seed=10_000 + steps)
        self.checks.append([steps, mean, train_s])
        done = False
        if mean >= THRESHOLD:
            confirm, _ = evaluate(self.agent, self.env, self.confirm_episodes, seed=self.seed)
            self.checks.append([steps, confirm, train_s, "confirm"])
            self.final = confirm
            if confirm >= THRESHOLD:
                self.reached, done = steps, True
        self.eval_s += time.perf_counter() - start
        return done

    def finish(self, train_wall: float) -> dict:
        if self.final is None or self.reached is None:
            self.final, _ = evaluate(self.agent, self.env, self.confirm_episodes, seed=self.seed)
        return {"steps_to_475": self.reached, "wall_s": train_wall,
                "final_mean_return": self.final, "checks": self.checks}


# ----------------------------------------------------------------------------- neuralab
def run_neuralab(seed: int, args) -> dict:
    agent = DQN(gym.make("CartPole-v1"), **CARTPOLE, seed=seed)
    judge = _Judge(agent, seed, args.check_episodes, args.confirm_episodes)
    start = judge.start = time.perf_counter()
    while agent.steps_ < args.budget:  # one Trainer epoch per check interval
        n = min(args.check_every, args.budget - agent.steps_)
        agent.learn(n, log_interval=n)
        if n == args.check_every and judge.check(agent.steps_):
            break
    wall = time.perf_counter() - start - judge.eval_s
    out = judge.finish(wall)
    out["gradient_steps"] = agent.updates_
    return out


# ----------------------------------------------------------------------------- SB3
def run_sb3(seed: int, args) -> dict:
    from stable_baselines3 import DQN as SB3DQN
    from stable_baselines3.common.callbacks import BaseCallback

    model = SB3DQN("MlpPolicy", gym.make("CartPole-v1"), learning_rate=2.3e-3, batch_size=64,
                   buffer_size=100_000, learning_starts=1_000, gamma=0.99,
                   target_update_interval=10, train_freq=256, gradient_steps=128,
                   exploration_fraction=0.16, exploration_final_eps=0.04,
                   policy_kwargs=dict(net_arch=[256, 256]), seed=seed, verbose=0, device="cpu")

    class Greedy:
        def act(self, obs, *, greedy=True):
            action, _ = model.predict(obs, deterministic=True)
            return int(action)

    judge = _Judge(Greedy(), seed, args.check_episodes, args.confirm_episodes)

    class Check(BaseCallback):
        stop = False

        def _on_rollout_start(self) -> None:  # after the previous burst's gradient steps
            steps = self.model.num_timesteps
            if steps and steps % args.check_every == 0 and judge.check(steps):
                self.stop = True

        def _on_step(self) -> bool:
            return not self.stop

    callback = Check()
    start = judge.start = time.perf_counter()
    model.learn(total_timesteps=args.budget, callback=callback)
    wall = time.perf_counter() - start - judge.eval_s
    out = judge.finish(wall)
    out["gradient_steps"] = int(model._n_updates)
    return out


# ----------------------------------------------------------------------------- REINFORCE
def run_reinforce(seed: int, args) -> dict:
    agent = Reinforce(gym.make("CartPole-v1"), hidden=(64,), lr=1e-2, baseline=True,
                      normalize=True, seed=seed)
    judge = _Judge(agent, seed, args.check_episodes, args.confirm_episodes)
    start, episodes = time.perf_counter(), 0
    judge.start = start
    while episodes < args.reinforce_episodes:
        agent.learn(50, log_interval=50)
        episodes += 50
        if judge.check(agent.steps_):
            break
    wall = time.perf_counter() - start - judge.eval_s
    out = judge.finish(wall)
    out["episodes"] = len(agent.episode_returns_)
    return out


def _median(values):
    known = [v for v in values if v is not None]
    return statistics.median(known) if len(known) == len(values) and known else None


def _summary(results: dict) -> dict:
    out = {}
    for name, runs in results.items():
        out[name] = {key: [r[key] for r in runs] for key in
                     ("steps_to_475", "wall_s", "final_mean_return")}
        out[name]["checks"] = [r["checks"] for r in runs]
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--budget", type=int, default=50_000)
    parser.add_argument("--check-every", type=int, default=2_560)
    parser.add_argument("--check-episodes", type=int, default=10)
    parser.add_argument("--confirm-episodes", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--skip-sb3", action="store_true")
    parser.add_argument("--reinforce", action="store_true")
    parser.add_argument("--reinforce-episodes", type=int, default=2_000)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    load_before = os.getloadavg()[0]
    results: dict = {"neuralab_dqn": []}
    if not args.skip_sb3:
        results["sb3_dqn"] = []
    for i, seed in enumerate(seeds):  # alternate which library runs first
        order = ["neuralab_dqn", "sb3_dqn"] if i % 2 == 0 else ["sb3_dqn", "neuralab_dqn"]
        for name in order:
            if name in results:
                results[name].append((run_neuralab if name == "neuralab_dqn" else run_sb3)(
                    seed, args))
    cartpole = _summary(results)
    median = {name: {"steps_to_475": _median(v["steps_to_475"]),
                     "wall_s": statistics.median(v["wall_s"])} for name, v in cartpole.items()}
    if "sb3_dqn" in median:
        ours, theirs = median["neuralab_dqn"], median["sb3_dqn"]
        median["wall_ratio_sb3_over_neuralab"] = theirs["wall_s"] / ours["wall_s"]
        if ours["steps_to_475"] and theirs["steps_to_475"]:
            median["steps_ratio_sb3_over_neuralab"] = theirs["steps_to_475"] / ours["steps_to_475"]
    if "sb3_dqn" in cartpole:  # training time at the same environment step, per seed
        ratios = []
        for ours, theirs in zip(results["neuralab_dqn"], results["sb3_dqn"]):
            a = {c[0]: c[2] for c in ours["checks"]}
            b = {c[0]: c[2] for c in theirs["checks"]}
            common = sorted(set(a) & set(b))
            ratios.append(None if not common else
                          {"steps": common[-1], "sb3_over_neuralab": b[common[-1]] / a[common[-1]]})
        cartpole["wall_ratio_at_equal_steps"] = ratios
        known = [r["sb3_over_neuralab"] for r in ratios if r]
        median["wall_ratio_at_equal_steps"] = statistics.median(known) if known else None
    cartpole["median"] = median
    report = {"cartpole": cartpole, "seeds": seeds, "budget": args.budget,
              "check_every": args.check_every, "threads": args.threads,
              "hyperparameters": {k: (repr(v) if not isinstance(v, (int, float, tuple)) else v)
                                  for k, v in CARTPOLE.items()}}
    if args.reinforce:
        runs = [run_reinforce(seed, args) for seed in seeds]
        report["reinforce"] = {key: [r[key] for r in runs] for key in
                               ("steps_to_475", "wall_s", "final_mean_return", "episodes")}
    report["load_average"] = {"before": load_before, "after": os.getloadavg()[0]}
    print(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()

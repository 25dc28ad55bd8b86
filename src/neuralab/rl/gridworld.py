"""GridWorld: the textbook gridworlds as a Gymnasium environment and as an MDP.

A ``rows × cols`` grid; state ``s = row · cols + col``; actions 0 up, 1 right,
2 down, 3 left. A move that would leave the grid or enter a wall leaves the
agent in place. Rewards per transition:

    r = step_reward                     (a move inside the grid)
      = off_grid_reward                 (a bump into the edge or a wall; default step_reward)
      + rewards[cell]                   (on entering ``cell``)
    special[cell] = (target, reward):   every action from ``cell`` moves to ``target``
                                        and earns ``reward`` (Sutton & Barto's A → A′)

With ``slip`` the intended move happens with probability ``1 − slip`` and each
perpendicular move with ``slip / 2`` (Russell & Norvig's 4×3 world: slip = 0.2).
Entering a ``teleports`` cell sends the agent on to its target (a cliff sends it
back to the start). Terminal cells end the episode; their value is 0.

    >>> world = GridWorld((4, 4), terminals=[(0, 0), (3, 3)], step_reward=-1.0)
    >>> world.P[1][3]                        # from cell (0, 1), left: into the terminal corner
    [(1.0, 0, -1.0, True)]
    >>> world.to_mdp(gamma=1.0)
    MDP(n_states=16, n_actions=4, gamma=1, terminal=2)
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ..validation import check_int, check_number, check_probability, expected
from .mdp import MDP

try:  # the environment interface is Gymnasium's when it is installed (the `rl` extra)
    import gymnasium as _gym
    from gymnasium import spaces as _spaces

    _EnvBase = _gym.Env
except ImportError:  # pragma: no cover - MDP construction still works without it
    _gym = _spaces = None
    _EnvBase = object

__all__ = ["GridWorld", "ACTIONS", "ACTION_DELTAS"]

ACTIONS = ("up", "right", "down", "left")
ACTION_DELTAS = ((-1, 0), (0, 1), (1, 0), (0, -1))  # (d_row, d_col) per action


class GridWorld(_EnvBase):
    """A gridworld environment with a toy-text transition table ``P``.

    Args:
        shape: ``(rows, cols)``.
        terminals: terminal cells ``(row, col)``.
        step_reward: reward of every move.
        off_grid_reward: reward of a move off the grid or into a wall (default ``step_reward``).
        rewards: ``{cell: reward}`` earned on entering a cell (added to the move's reward).
        special: ``{cell: (target_cell, reward)}``: from ``cell`` every action jumps to
            ``target_cell`` with exactly ``reward``.
        walls: cells that cannot be entered.
        teleports: ``{cell: target_cell}``: entering ``cell`` lands on ``target_cell``.
        slip: probability of moving perpendicular to the intended direction (split evenly).
        start: start cell; ``None`` starts uniformly on every non-terminal, non-wall cell.
        max_steps: episodes are truncated after this many steps (``None``: never; a world
            without reachable terminal cells then needs it for episodic learners).

    Attributes:
        P: ``P[s][a]`` = list of ``(probability, next_state, reward, terminated)``.
        observation_space, action_space: ``Discrete(rows·cols)``, ``Discrete(4)``.
        n_states, n_actions, shape, terminal_states, wall_states.

    Example:
        >>> world = GridWorld.sutton_barto_3_5()
        >>> world.P[1][0]                       # from A, any action: to A' with +10
        [(1.0, 21, 10.0, False)]
        >>> obs, info = world.reset(seed=0)
        >>> obs, reward, terminated, truncated, info = world.step(2)
    """

    metadata = {"render_modes": []}

    def __init__(self, shape=(4, 4), *, terminals=(), step_reward: float = 0.0,
                 off_grid_reward: float | None = None, rewards=None, special=None, walls=(),
                 teleports=None, slip: float = 0.0, start=None, max_steps: int | None = None):
        owner = "GridWorld"
        if not (isinstance(shape, (tuple, list)) and len(shape) == 2):
            raise expected(owner, "shape", "a pair (rows, cols)", shape)
        rows = check_int(owner, "shape[0]", shape[0], low=1)
        cols = check_int(owner, "shape[1]", shape[1], low=1)
        self.shape = (rows, cols)
        self.step_reward = check_number(owner, "step_reward", step_reward)
        self.off_grid_reward = check_number(owner, "off_grid_reward",
                                            self.step_reward if off_grid_reward is None
                                            else off_grid_reward)
        self.slip = check_probability(owner, "slip", slip)
        self.max_steps = check_int(owner, "max_steps", max_steps, low=1, allow_none=True)
        self.terminal_states = sorted({self._cell(owner, "terminals", c) for c in terminals})
        self.wall_states = sorted({self._cell(owner, "walls", c) for c in walls})
        self.rewards = {self._cell(owner, "rewards", c): check_number(owner, f"rewards[{c}]", r)
                        for c, r in (rewards or {}).items()}
        self.special = {}
        for c, value in (special or {}).items():
            if not (isinstance(value, (tuple, list)) and len(value) == 2):
                raise expected(owner, f"special[{c}]", "a pair (target_cell, reward)", value)
            self.special[self._cell(owner, "special", c)] = (
                self._cell(owner, f"special[{c}]", value[0]),
                check_number(owner, f"special[{c}] reward", value[1]))
        self.teleports = {self._cell(owner, "teleports", c): self._cell(owner, "teleports", t)
                          for c, t in (teleports or {}).items()}
        blocked = set(self.wall_states)
        if blocked & set(self.terminal_states):
            raise ConfigError(f"{owner}: expected walls and terminals to be different cells, "
                              f"received both at state {sorted(blocked & set(self.terminal_states))}")
        if start is None:
            self.start_states = [s for s in range(rows * cols)
                                 if s not in blocked and s not in self.terminal_states]
        else:
            self.start_states = [self._cell(owner, "start", start)]
        if not self.start_states or set(self.start_states) & blocked:
            raise expected(owner, "start", "a cell that is not a wall", start)
        self.P = self._table()
        if _spaces is not None:
            self.observation_space = _spaces.Discrete(rows * cols)
            self.action_space = _spaces.Discrete(len(ACTIONS))
        self.state = self.start_states[0]
        self._steps = 0
        self._rng = np.random.default_rng()

    # ------------------------------------------------------------------ textbook worlds
    @classmethod
    def sutton_barto_4_1(cls, **kwargs) -> "GridWorld":
        """Sutton & Barto's Example 4.1: 4×4, terminal corners, −1 per step (use γ = 1)."""
        return cls((4, 4), terminals=[(0, 0), (3, 3)], step_reward=-1.0, **kwargs)

    @classmethod
    def sutton_barto_3_5(cls, **kwargs) -> "GridWorld":
        """Sutton & Barto's Example 3.5: 5×5, A → A′ +10, B → B′ +5, −1 off the grid (γ = 0.9).

        A continuing task (no terminal state): as an environment its episodes are cut
        after ``max_steps`` (default 100) steps.
        """
        kwargs.setdefault("max_steps", 100)
        return cls((5, 5), step_reward=0.0, off_grid_reward=-1.0,
                   special={(0, 1): ((4, 1), 10.0), (0, 3): ((2, 3), 5.0)}, **kwargs)

    @classmethod
    def russell_norvig_4x3(cls, step_reward: float = -0.04, **kwargs) -> "GridWorld":
        """Russell & Norvig's 4×3 world: wall at (1, 1), +1 at (0, 3), −1 at (1, 3), slip 0.2."""
        return cls((3, 4), terminals=[(0, 3), (1, 3)], walls=[(1, 1)], step_reward=step_reward,
                   rewards={(0, 3): 1.0, (1, 3): -1.0}, slip=0.2, start=(2, 0), **kwargs)

    @classmethod
    def cliff_walking(cls, **kwargs) -> "GridWorld":
        """Sutton & Barto's Example 6.6: 4×12, −1 per step, the cliff costs −100 and resets."""
        cliff = [(3, c) for c in range(1, 11)]
        return cls((4, 12), terminals=[(3, 11)], step_reward=-1.0,
                   rewards={c: -99.0 for c in cliff}, teleports={c: (3, 0) for c in cliff},
                   start=(3, 0), **kwargs)

    # ------------------------------------------------------------------ model
    @property
    def n_states(self) -> int:
        return self.shape[0] * self.shape[1]

    @property
    def n_actions(self) -> int:
        return len(ACTIONS)

    def _cell(self, owner: str, name: str, cell) -> int:
        rows, cols = self.shape
        if (isinstance(cell, (tuple, list)) and len(cell) == 2
                and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in cell)
                and 0 <= cell[0] < rows and 0 <= cell[1] < cols):
            return int(cell[0]) * cols + int(cell[1])
        raise expected(owner, name, f"cells (row, col) inside the {rows}×{cols} grid", cell)

    def cell_of(self, state: int) -> tuple[int, int]:
        """``(row, col)`` of a state index."""
        return divmod(int(state), self.shape[1])

    def _move(self, s: int, direction: int) -> tuple[int, float]:
        rows, cols = self.shape
        r, c = divmod(s, cols)
        dr, dc = ACTION_DELTAS[direction]
        nr, nc = r + dr, c + dc
        if not (0 <= nr < rows and 0 <= nc < cols) or nr * cols + nc in self.wall_states:
            return s, self.off_grid_reward
        target = nr * cols + nc
        reward = self.step_reward + self.rewards.get(target, 0.0)
        return self.teleports.get(target, target), reward

    def _table(self) -> dict:
        terminal = set(self.terminal_states)
        table = {}
        for s in range(self.n_states):
            table[s] = {}
            for a in range(self.n_actions):
                if s in terminal or s in self.wall_states:
                    table[s][a] = [(1.0, s, 0.0, True)]
                    continue
                if s in self.special:
                    target, reward = self.special[s]
                    table[s][a] = [(1.0, target, reward, target in terminal)]
                    continue
                outcomes: dict[tuple[int, float], float] = {}
                for direction, p in ((a, 1.0 - self.slip), ((a + 1) % 4, self.slip / 2),
                                     ((a + 3) % 4, self.slip / 2)):
                    if p > 0:
                        key = self._move(s, direction)
                        outcomes[key] = outcomes.get(key, 0.0) + p
                table[s][a] = [(p, s2, r, s2 in terminal) for (s2, r), p in outcomes.items()]
        return table

    def to_mdp(self, gamma: float) -> MDP:
        """The :class:`MDP` of this world (walls count as terminal: unreachable, worth 0)."""
        return MDP.from_gymnasium(self, gamma)

    def uniform_policy(self) -> np.ndarray:
        """The equiprobable random policy, shape (S, 4)."""
        return np.full((self.n_states, self.n_actions), 1.0 / self.n_actions)

    # ------------------------------------------------------------------ environment
    def reset(self, *, seed: int | None = None, options=None):
        if _gym is not None:
            super().reset(seed=seed)
            self._rng = self.np_random
        elif seed is not None:
            self._rng = np.random.default_rng(seed)
        self.state = int(self.start_states[self._rng.integers(len(self.start_states))])
        self._steps = 0
        return self.state, {}

    def step(self, action):
        outcomes = self.P[self.state][int(action)]
        if len(outcomes) == 1:
            _, s2, r, done = outcomes[0]
        else:
            probs = np.array([o[0] for o in outcomes])
            _, s2, r, done = outcomes[int(self._rng.choice(len(outcomes), p=probs))]
        self.state = int(s2)
        self._steps += 1
        truncated = self.max_steps is not None and self._steps >= self.max_steps and not done
        return self.state, float(r), bool(done), bool(truncated), {}

    def __repr__(self) -> str:
        return f"GridWorld(shape={self.shape}, terminals={len(self.terminal_states)})"

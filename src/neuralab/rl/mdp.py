"""Finite Markov decision processes as arrays.

An MDP is the tuple ``(S, A, P, R, γ)``: ``P[s, a, s'] = Pr(s' | s, a)``, the
expected reward ``R[s, a] = E[r | s, a]`` and the discount ``γ ∈ [0, 1]``.
Terminal states are absorbing and worth 0 (their rows of ``P`` and ``R`` are
ignored); a transition into one ends the episode. ``terminating[s, a, s']``
optionally marks the share of a transition that ends the episode whatever state
it lands in (Gymnasium's ``terminated`` flag). The one-step lookahead every
dynamic-programming method is built on is

    q(s, a) = R[s, a] + γ Σ_s' P_continue[s, a, s'] · V(s'),   P_continue = P · (1 − terminating)

    >>> import numpy as np
    >>> P = np.zeros((2, 1, 2)); P[0, 0, 1] = 1.0; P[1, 0, 1] = 1.0
    >>> mdp = MDP(P, [[1.0], [0.0]], gamma=1.0, terminal=[1])
    >>> mdp.n_states, mdp.n_actions
    (2, 1)
    >>> mdp.q_values(np.array([0.0, 5.0])).tolist()   # the terminal state's 5 counts as 0
    [[1.0], [0.0]]
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError, DTypeError, ShapeError, format_shape
from ..validation import check_number, expected

__all__ = ["MDP"]

_ROW_ATOL = 1e-8


def _as_float_array(owner: str, name: str, value) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise expected(owner, name, "an array of real numbers", value, error=DTypeError) from None
    return array


class MDP:
    """A finite MDP with transition tensor ``P`` (S, A, S) and reward matrix ``R`` (S, A).

    Args:
        P: transition probabilities, shape ``(S, A, S)``; every row ``P[s, a, :]``
            is a probability distribution (non-negative, finite, sums to 1 within 1e-8).
        R: expected rewards, shape ``(S, A)``, or ``(S, A, S)`` rewards per transition
            (reduced to their expectation ``Σ_s' P[s, a, s'] R[s, a, s']``).
        gamma: discount factor in ``[0, 1]``; ``γ = 1`` only for episodic MDPs (some
            terminal state reachable from every state).
        terminal: terminal states: a boolean mask of shape ``(S,)`` or a list of indices.
        terminating: optional ``(S, A, S)`` fractions in [0, 1] of each transition that end
            the episode (transitions into terminal states always do).

    Attributes:
        P, R, gamma, terminal (boolean mask ``(S,)``), terminating, P_continue, n_states,
        n_actions.

    Raises:
        ShapeError: ``P``/``R``/``terminal`` of the wrong shape.
        DataError: negative, non-finite or unnormalised probabilities, non-finite rewards.
        ConfigError: γ outside [0, 1], or γ = 1 for a continuing MDP.

    Example:
        >>> import numpy as np
        >>> MDP(np.full((1, 1, 1), 0.5), [[0.0]], gamma=0.9)
        Traceback (most recent call last):
        ...
        neuralab.errors.DataError: MDP: expected `P[s, a, :]` to sum to 1 for every state s and \
action a, received a sum of 0.5 at s=0, a=0
    """

    def __init__(self, P, R, gamma: float, *, terminal=None, terminating=None):
        P = _as_float_array("MDP", "P", P)
        if P.ndim != 3 or P.shape[0] != P.shape[2] or P.shape[0] == 0 or P.shape[1] == 0:
            raise ShapeError(f"MDP: expected `P` of shape (S, A, S) with S, A >= 1, received "
                             f"shape {format_shape(P.shape)}")
        n_states, n_actions = P.shape[0], P.shape[1]
        if not np.isfinite(P).all():
            s, a, t = np.argwhere(~np.isfinite(P))[0]
            raise DataError(f"MDP: expected `P` to hold finite probabilities, received "
                            f"{P[s, a, t]} at P[{s}, {a}, {t}]")
        if (P < 0).any():
            s, a, t = np.argwhere(P < 0)[0]
            raise DataError(f"MDP: expected `P` to hold non-negative probabilities, received "
                            f"{P[s, a, t]} at P[{s}, {a}, {t}]")
        sums = P.sum(axis=2)
        bad = np.abs(sums - 1.0) > _ROW_ATOL
        if bad.any():
            s, a = np.argwhere(bad)[0]
            raise DataError(f"MDP: expected `P[s, a, :]` to sum to 1 for every state s and action "
                            f"a, received a sum of {sums[s, a]:.10g} at s={s}, a={a}")
        R = _as_float_array("MDP", "R", R)
        if R.shape == P.shape:
            if not np.isfinite(R).all():
                raise DataError("MDP: expected `R` to hold finite rewards, received "
                                f"{R[~np.isfinite(R)][0]}")
            R = (P * R).sum(axis=2)
        elif R.shape != (n_states, n_actions):
            raise ShapeError(f"MDP: expected `R` of shape {format_shape((n_states, n_actions))} or "
                             f"{format_shape(P.shape)}, received shape {format_shape(R.shape)}")
        if not np.isfinite(R).all():
            s, a = np.argwhere(~np.isfinite(R))[0]
            raise DataError(f"MDP: expected `R` to hold finite rewards, received {R[s, a]} "
                            f"at R[{s}, {a}]")
        self.P = P
        self.R = R
        self.terminal = self._terminal_mask(terminal, n_states)
        if terminating is None:
            terminating = np.broadcast_to(self.terminal.astype(np.float64), P.shape)
        else:
            terminating = _as_float_array("MDP", "terminating", terminating)
            if terminating.shape != P.shape:
                raise ShapeError(f"MDP: expected `terminating` of shape {format_shape(P.shape)}, "
                                 f"received shape {format_shape(terminating.shape)}")
            if not np.isfinite(terminating).all() or (terminating < 0).any() or (
                    terminating > 1).any():
                raise DataError("MDP: expected `terminating` to hold fractions in [0, 1]")
            terminating = np.maximum(terminating, self.terminal.astype(np.float64))
        self.terminating = terminating
        # the part of P that continues the episode: q = R + γ P_continue V
        self.P_continue = P * (1.0 - terminating)
        self.gamma = check_number("MDP", "gamma", gamma, low=0.0, high=1.0)
        if self.gamma == 1.0:
            self._check_episodic()

    # ------------------------------------------------------------------ construction
    @staticmethod
    def _terminal_mask(terminal, n_states: int) -> np.ndarray:
        if terminal is None:
            return np.zeros(n_states, dtype=bool)
        array = np.asarray(terminal)
        if array.dtype == bool:
            if array.shape != (n_states,):
                raise ShapeError(f"MDP: expected a `terminal` mask of shape ({n_states},), "
                                 f"received shape {format_shape(array.shape)}")
            return array.copy()
        array = array.ravel()
        if array.size and (not np.issubdtype(array.dtype, np.integer)
                           or array.min() < 0 or array.max() >= n_states):
            raise expected("MDP", "terminal", f"state indices in [0, {n_states - 1}] or a boolean "
                           "mask", terminal)
        mask = np.zeros(n_states, dtype=bool)
        mask[array.astype(np.int64)] = True
        return mask

    def _check_episodic(self) -> None:
        """γ = 1 needs a terminal state reachable from every state (under some policy)."""
        if not (self.terminal.any() or (self.terminating > 0).any()):
            raise expected("MDP", "gamma", "< 1 for an MDP without terminal states (γ = 1 only "
                           "for episodic MDPs)", self.gamma)
        ends = (self.P * self.terminating).sum(axis=2).max(axis=1) > 0  # can end from s
        edges = self.P_continue.max(axis=1) > 0  # (S, S): s -> s' possible under some action
        reach = can_reach(self.terminal | ends, edges)
        if not reach.all():
            s = int(np.flatnonzero(~reach)[0])
            raise expected("MDP", "gamma", f"< 1 when state {s} cannot reach a terminal state "
                           "(γ = 1 only for episodic MDPs)", self.gamma)

    @classmethod
    def from_gymnasium(cls, env, gamma: float) -> "MDP":
        """The MDP of a Gymnasium toy-text environment from its ``env.P`` table.

        ``env.unwrapped.P[s][a]`` lists ``(probability, next_state, reward, terminated)``
        tuples (FrozenLake, CliffWalking, Taxi, :class:`~neuralab.rl.GridWorld`). A
        terminating transition ends the episode whatever state it names (its future is
        worth 0); a state whose every transition terminates with reward 0 is terminal.

        Args:
            env: the environment (wrappers are looked through).
            gamma: discount factor.

        Example:
            >>> import gymnasium as gym
            >>> mdp = MDP.from_gymnasium(gym.make("FrozenLake-v1"), gamma=0.99)
            >>> mdp.P.shape, int(mdp.terminal.sum())
            ((16, 4, 16), 5)
        """
        base = getattr(env, "unwrapped", env)
        table = getattr(base, "P", None)
        if not isinstance(table, dict):
            raise expected("MDP.from_gymnasium", "env", "an environment with a toy-text "
                           "transition table `env.P` (FrozenLake, CliffWalking, Taxi, GridWorld)",
                           type(base).__name__, error=DTypeError)
        n_states = _discrete_size("MDP.from_gymnasium", "env.observation_space",
                                  getattr(base, "observation_space", None))
        n_actions = _discrete_size("MDP.from_gymnasium", "env.action_space",
                                   getattr(base, "action_space", None))
        P = np.zeros((n_states, n_actions, n_states))
        ends = np.zeros((n_states, n_actions, n_states))
        R = np.zeros((n_states, n_actions))
        for s in range(n_states):
            for a in range(n_actions):
                for p, s_next, r, done in table[s][a]:
                    P[s, a, s_next] += p
                    R[s, a] += p * r
                    if done:
                        ends[s, a, s_next] += p
        terminating = np.divide(ends, P, out=np.zeros_like(P), where=P > 0)
        end_mass = ends.sum(axis=2)
        terminal = ((np.abs(end_mass - 1.0) <= _ROW_ATOL) & (R == 0)).all(axis=1)
        return cls(P, R, gamma, terminal=terminal, terminating=np.clip(terminating, 0.0, 1.0))

    # ------------------------------------------------------------------ algebra
    @property
    def n_states(self) -> int:
        return self.P.shape[0]

    @property
    def n_actions(self) -> int:
        return self.P.shape[1]

    def q_values(self, V) -> np.ndarray:
        """``q(s, a) = R[s, a] + γ Σ_s' P[s, a, s'] V(s')``, shape (S, A); 0 on terminal states."""
        V = np.where(self.terminal, 0.0, np.asarray(V, dtype=np.float64))
        q = self.R + self.gamma * (self.P_continue @ V)
        q[self.terminal] = 0.0
        return q

    def check_policy(self, policy, owner: str = "MDP") -> np.ndarray:
        """A policy as an (S, A) matrix of probabilities (an (S,) vector of actions is one-hot)."""
        array = _as_float_array(owner, "policy", policy)
        S, A = self.n_states, self.n_actions
        if array.shape == (S,):
            actions = np.asarray(policy)
            if not np.issubdtype(actions.dtype, np.integer) or actions.min() < 0 or actions.max() >= A:
                raise expected(owner, "policy", f"actions in [0, {A - 1}] or an (S, A) matrix of "
                               "probabilities", policy)
            array = np.eye(A)[actions]
        if array.shape != (S, A):
            raise ShapeError(f"{owner}: expected `policy` of shape {format_shape((S, A))} "
                             f"(probabilities) or ({S},) (actions), received shape "
                             f"{format_shape(array.shape)}")
        if not np.isfinite(array).all() or (array < 0).any():
            raise DataError(f"{owner}: expected `policy` to hold finite non-negative "
                            "probabilities, received a negative or non-finite entry")
        sums = array.sum(axis=1)
        bad = (np.abs(sums - 1.0) > _ROW_ATOL) & ~self.terminal
        if bad.any():
            s = int(np.flatnonzero(bad)[0])
            raise DataError(f"{owner}: expected `policy[s, :]` to sum to 1 for every state, "
                            f"received a sum of {sums[s]:.10g} at s={s}")
        return array

    def policy_matrices(self, policy) -> tuple[np.ndarray, np.ndarray]:
        """``P_π[s, s'] = Σ_a π(a|s) P_continue[s, a, s']`` (S, S) and ``r_π = Σ_a π(a|s) R[s, a]``.

        Only continuing transitions count (terminating ones lead to value 0), so rows may
        sum to less than 1; rows and columns of terminal states are zero.
        """
        policy = self.check_policy(policy)
        P_pi = np.einsum("sa,sat->st", policy, self.P_continue)
        r_pi = (policy * self.R).sum(axis=1)
        P_pi[self.terminal] = 0.0
        P_pi[:, self.terminal] = 0.0
        r_pi[self.terminal] = 0.0
        return P_pi, r_pi

    def __repr__(self) -> str:
        return (f"MDP(n_states={self.n_states}, n_actions={self.n_actions}, gamma={self.gamma:g}, "
                f"terminal={int(self.terminal.sum())})")


def _discrete_size(owner: str, name: str, space) -> int:
    n = getattr(space, "n", None)
    if type(space).__name__ != "Discrete" or n is None:
        raise expected(owner, name, "a Discrete space", space, error=DTypeError)
    if int(getattr(space, "start", 0)) != 0:
        raise expected(owner, name, "a Discrete space starting at 0", space, error=DTypeError)
    return int(n)


def can_reach(targets: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """The states from which some path along ``edges[s, s']`` (an (S, S) boolean matrix)
    leads into ``targets`` (an (S,) boolean mask, its states included).

    >>> can_reach(np.array([False, False, True]),
    ...           np.array([[0, 1, 0], [0, 0, 1], [0, 0, 0]], bool)).tolist()
    [True, True, True]
    """
    reach = targets.copy()
    while True:
        grown = reach | edges[:, reach].any(axis=1)
        if (grown == reach).all():
            return reach
        reach = grown

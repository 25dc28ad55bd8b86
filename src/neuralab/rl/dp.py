"""Dynamic programming on a known MDP: policy evaluation, policy iteration, value iteration.

With the one-step lookahead ``q(s, a) = R[s, a] + γ Σ_s' P[s, a, s'] V(s')``:

- policy evaluation (Bellman expectation): ``V ← Σ_a π(a|s) q(s, a)`` until the
  largest change is below ``tol``, or exactly ``V = (I − γ P_π)⁻¹ r_π``
  (``method="linear"``);
- value iteration (Bellman optimality): ``V ← max_a q(s, a)`` until the largest
  change is below ``tol``; the policy is greedy in the final ``q``;
- policy iteration: evaluate π, make it greedy in ``q_π``, repeat until the
  policy is greedy in its own values.

Each returns a :class:`DPResult` that unpacks as ``V, policy`` (shapes (S,) and
(S, A); tied greedy actions share the probability) and reports ``iterations``,
the last change ``delta`` and ``converged``.

    >>> from neuralab.rl import GridWorld, policy_evaluation
    >>> world = GridWorld((4, 4), terminals=[(0, 0), (3, 3)], step_reward=-1.0)
    >>> mdp = world.to_mdp(gamma=1.0)
    >>> V, _ = policy_evaluation(mdp, world.uniform_policy(), method="linear")
    >>> V.reshape(4, 4)[0].round(6).tolist()      # Sutton & Barto, Figure 4.1
    [0.0, -14.0, -20.0, -22.0]
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from ..validation import check_choice, check_int, check_number, check_type
from .mdp import MDP, can_reach

__all__ = ["DPResult", "policy_evaluation", "policy_iteration", "value_iteration", "greedy_policy"]


@dataclass(frozen=True)
class DPResult:
    """What a dynamic-programming solver returns; unpacks as ``V, policy``.

    Attributes:
        V: state values, shape (S,).
        policy: (S, A) action probabilities (for ``policy_evaluation``: the policy given).
        q: action values ``q(s, a)`` under ``V``, shape (S, A).
        iterations: sweeps (evaluation, value iteration) or improvement steps (policy
            iteration) performed.
        delta: the largest change of ``V`` in the last sweep (0 for an exact solve).
        converged: whether ``delta < tol`` (or the policy became stable) in time.
        evaluations: total evaluation sweeps (policy iteration; else equal to ``iterations``).
    """

    V: np.ndarray
    policy: np.ndarray
    q: np.ndarray
    iterations: int
    delta: float
    converged: bool
    evaluations: int = 0

    def __iter__(self):
        return iter((self.V, self.policy))


def greedy_policy(q, *, atol: float = 1e-9) -> np.ndarray:
    """The (S, A) greedy policy of action values ``q``; actions within ``atol`` of the best tie.

    Tied actions share the probability equally (so arrows of every optimal action can be drawn).

    >>> greedy_policy(np.array([[1.0, 3.0, 3.0], [0.0, -1.0, -2.0]])).tolist()
    [[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]]
    """
    q = np.asarray(q, dtype=np.float64)
    best = q.max(axis=1, keepdims=True)
    ties = q >= best - atol * np.maximum(1.0, np.abs(best))
    return ties / ties.sum(axis=1, keepdims=True)


def _check_mdp(owner: str, mdp) -> MDP:
    return check_type(owner, "mdp", mdp, MDP, "an MDP")


def _check_proper(owner: str, mdp: MDP, P_pi: np.ndarray) -> None:
    """With γ = 1 the policy must reach a terminal state from every state with probability 1."""
    rows_leak = P_pi.sum(axis=1) < 1.0 - 1e-12  # mass flowing into terminal states
    reach = can_reach(mdp.terminal | rows_leak, P_pi > 0)
    if not reach.all():
        s = int(np.flatnonzero(~reach)[0])
        raise ConfigError(f"{owner}: expected a policy that reaches a terminal state from every "
                          f"state when gamma = 1, received one that never leaves the states "
                          f"reachable from state {s} (use gamma < 1)")


def _sweep_options(owner, tol, max_iterations):
    tol = check_number(owner, "tol", tol, low=0.0, low_open=True)
    max_iterations = check_int(owner, "max_iterations", max_iterations, low=1)
    return tol, max_iterations


def _not_converged(owner: str, iterations: int, delta: float, tol: float) -> None:
    warnings.warn(f"{owner}: did not converge in {iterations} iterations (last change "
                  f"{delta:.3g} >= tol {tol:.3g}); raise `max_iterations`", RuntimeWarning,
                  stacklevel=3)


def _evaluate(owner, mdp: MDP, policy, tol, max_iterations, method, V0=None):
    """(V, sweeps, delta, converged) of ``policy`` (already an (S, A) matrix)."""
    P_pi, r_pi = mdp.policy_matrices(policy)
    if mdp.gamma == 1.0:
        _check_proper(owner, mdp, P_pi)
    if method == "linear":
        live = ~mdp.terminal
        V = np.zeros(mdp.n_states)
        A = np.eye(int(live.sum())) - mdp.gamma * P_pi[np.ix_(live, live)]
        V[live] = np.linalg.solve(A, r_pi[live])
        return V, 1, 0.0, True
    V = np.zeros(mdp.n_states) if V0 is None else np.array(V0, dtype=np.float64)
    delta = np.inf
    for sweep in range(1, max_iterations + 1):
        V_new = r_pi + mdp.gamma * (P_pi @ V)
        delta = float(np.abs(V_new - V).max())
        V = V_new
        if delta < tol:
            return V, sweep, delta, True
    return V, max_iterations, delta, False


def policy_evaluation(mdp: MDP, policy, *, tol: float = 1e-10, max_iterations: int = 100_000,
                      method: str = "iterative") -> DPResult:
    """The value ``V_π`` of a policy.

    ``method="iterative"`` sweeps ``V_{k+1} = r_π + γ P_π V_k`` from ``V_0 = 0`` until
    ``max|V_{k+1} − V_k| < tol`` (Sutton & Barto §4.1, synchronous sweeps);
    ``method="linear"`` solves ``(I − γ P_π) V = r_π`` on the non-terminal states.

    Args:
        mdp: the :class:`MDP`.
        policy: (S, A) probabilities or (S,) actions.
        tol: stopping threshold on the largest change of a sweep.
        max_iterations: sweep limit (a ``RuntimeWarning`` if reached first).
        method: ``"iterative"`` or ``"linear"``.

    Returns:
        :class:`DPResult` (``V`` shape (S,), ``policy`` the (S, A) matrix given).

    Raises:
        ConfigError: γ = 1 and a policy that does not reach a terminal state.

    Example:
        >>> import numpy as np
        >>> from neuralab.rl import MDP
        >>> mdp = MDP(np.ones((1, 1, 1)), [[1.0]], gamma=0.5)
        >>> round(float(policy_evaluation(mdp, [0]).V[0]), 8)     # 1 / (1 − γ)
        2.0
    """
    owner = "policy_evaluation"
    mdp = _check_mdp(owner, mdp)
    tol, max_iterations = _sweep_options(owner, tol, max_iterations)
    method = check_choice(owner, "method", method, ("iterative", "linear"))
    policy = mdp.check_policy(policy, owner)
    V, sweeps, delta, converged = _evaluate(owner, mdp, policy, tol, max_iterations, method)
    if not converged:
        _not_converged(owner, sweeps, delta, tol)
    return DPResult(V, policy, mdp.q_values(V), sweeps, delta, converged, sweeps)


def value_iteration(mdp: MDP, *, tol: float = 1e-10, max_iterations: int = 100_000) -> DPResult:
    """The optimal values ``V*`` and a greedy optimal policy by value iteration.

    ``V_{k+1}(s) = max_a [R(s, a) + γ Σ_s' P(s' | s, a) V_k(s')]`` from ``V_0 = 0``
    until ``max|V_{k+1} − V_k| < tol`` (then ``|V_k − V*| ≤ tol γ / (1 − γ)`` for γ < 1).

    Args:
        mdp: the :class:`MDP`.
        tol: stopping threshold on the largest change of a sweep.
        max_iterations: sweep limit (a ``RuntimeWarning`` if reached first).

    Returns:
        :class:`DPResult`; ``policy`` is greedy in ``q`` with ties shared.

    Example:
        >>> from neuralab.rl import GridWorld
        >>> V, policy = value_iteration(GridWorld.sutton_barto_3_5().to_mdp(gamma=0.9))
        >>> round(float(V[1]), 1)     # state A of Sutton & Barto's Figure 3.5
        24.4
    """
    owner = "value_iteration"
    mdp = _check_mdp(owner, mdp)
    tol, max_iterations = _sweep_options(owner, tol, max_iterations)
    V = np.zeros(mdp.n_states)
    delta, converged, sweep = np.inf, False, 0
    for sweep in range(1, max_iterations + 1):
        V_new = mdp.q_values(V).max(axis=1)
        delta = float(np.abs(V_new - V).max())
        V = V_new
        if delta < tol:
            converged = True
            break
    if not converged:
        _not_converged(owner, sweep, delta, tol)
    q = mdp.q_values(V)
    return DPResult(V, greedy_policy(q), q, sweep, delta, converged, sweep)


def policy_iteration(mdp: MDP, *, policy=None, tol: float = 1e-10, max_iterations: int = 1_000,
                     evaluation: str = "linear", max_evaluation_iterations: int = 100_000
                     ) -> DPResult:
    """Optimal values and policy by policy iteration (Howard): evaluate, improve, repeat.

    Starts from ``policy`` (default: uniform random), evaluates it exactly
    (``evaluation="linear"``) or by sweeps (``"iterative"``, to ``tol``), and replaces it
    with the greedy policy in ``q_π`` until the current policy is already greedy in its
    own values (ties do not count as an improvement, so the loop cannot cycle).

    Args:
        mdp: the :class:`MDP`.
        policy: starting policy, (S, A) probabilities or (S,) actions.
        tol: evaluation tolerance (iterative) and the margin an improvement must exceed.
        max_iterations: improvement-step limit.
        evaluation: ``"linear"`` or ``"iterative"``.
        max_evaluation_iterations: sweep limit of each iterative evaluation.

    Returns:
        :class:`DPResult` (``iterations`` = improvement steps, ``evaluations`` = sweeps).

    Example:
        >>> import gymnasium as gym
        >>> from neuralab.rl import MDP
        >>> result = policy_iteration(MDP.from_gymnasium(gym.make("FrozenLake-v1"), gamma=0.99))
        >>> result.converged, round(float(result.V[0]), 3)
        (True, 0.542)
    """
    owner = "policy_iteration"
    mdp = _check_mdp(owner, mdp)
    tol, max_iterations = _sweep_options(owner, tol, max_iterations)
    evaluation = check_choice(owner, "evaluation", evaluation, ("linear", "iterative"))
    max_evaluation_iterations = check_int(owner, "max_evaluation_iterations",
                                          max_evaluation_iterations, low=1)
    if policy is None:
        policy = np.full((mdp.n_states, mdp.n_actions), 1.0 / mdp.n_actions)
    policy = mdp.check_policy(policy, owner)
    V, sweeps_total, converged, delta = None, 0, False, 0.0
    step = 0
    margin = max(tol, 1e-12)
    for step in range(1, max_iterations + 1):
        V, sweeps, delta, ok = _evaluate(owner, mdp, policy, tol, max_evaluation_iterations,
                                         evaluation, V0=V)
        sweeps_total += sweeps
        q = mdp.q_values(V)
        best = q.max(axis=1)
        current = (policy * q).sum(axis=1)
        if (best - current <= margin * np.maximum(1.0, np.abs(best)))[~mdp.terminal].all():
            converged = True
            break
        policy = greedy_policy(q)
    if not converged:
        _not_converged(owner, step, delta, tol)
    q = mdp.q_values(V)
    return DPResult(V, greedy_policy(q), q, step, delta, converged, sweeps_total)

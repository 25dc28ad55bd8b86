"""MDPs, dynamic programming and GridWorld against the textbook's published values."""

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neuralab.errors import ConfigError, DataError, DTypeError, ShapeError
from neuralab.rl import (
    MDP,
    GridWorld,
    greedy_policy,
    policy_evaluation,
    policy_iteration,
    value_iteration,
)

# Sutton & Barto (2nd ed.), Figure 4.1, k = ∞: the equiprobable random policy on the 4×4 world
FIG_4_1 = np.array([[0, -14, -20, -22],
                    [-14, -18, -20, -20],
                    [-20, -20, -18, -14],
                    [-22, -20, -14, 0]], dtype=float)
# Figure 3.2: the random policy on the 5×5 world of Example 3.5 (γ = 0.9), one decimal
FIG_3_2 = np.array([[3.3, 8.8, 4.4, 5.3, 1.5],
                    [1.5, 3.0, 2.3, 1.9, 0.5],
                    [0.1, 0.7, 0.7, 0.4, -0.4],
                    [-1.0, -0.4, -0.4, -0.6, -1.2],
                    [-1.9, -1.3, -1.2, -1.4, -2.0]])
# Figure 3.5: the optimal values v* of the same world, one decimal
FIG_3_5 = np.array([[22.0, 24.4, 22.0, 19.4, 17.5],
                    [19.8, 22.0, 19.8, 17.8, 16.0],
                    [17.8, 19.8, 17.8, 16.0, 14.4],
                    [16.0, 17.8, 16.0, 14.4, 13.0],
                    [14.4, 16.0, 14.4, 13.0, 11.7]])
# Russell & Norvig (3rd ed.), Figure 17.3: utilities of the 4×3 world, r = −0.04, γ = 1
RN_17_3 = np.array([[0.812, 0.868, 0.918, 0.0],
                    [0.762, 0.0, 0.660, 0.0],
                    [0.705, 0.655, 0.611, 0.388]])


@pytest.mark.parametrize("method", ["iterative", "linear"])
def test_policy_evaluation_reproduces_figure_4_1(method):
    world = GridWorld.sutton_barto_4_1()
    result = policy_evaluation(world.to_mdp(gamma=1.0), world.uniform_policy(), method=method)
    np.testing.assert_allclose(result.V.reshape(4, 4), FIG_4_1, atol=1e-8)
    assert result.converged and result.delta < 1e-10
    if method == "iterative":
        assert 100 < result.iterations < 1000  # sweeps are counted and reported


def test_figure_4_1_q_value_of_exercise_4_1():
    # q_π(11, down) = −1 (straight into the terminal state); q_π(7, down) = −1 + v(11) = −15
    world = GridWorld.sutton_barto_4_1()
    result = policy_evaluation(world.to_mdp(gamma=1.0), world.uniform_policy(), method="linear")
    down = 2
    assert result.q[11, down] == pytest.approx(-1.0)
    assert result.q[7, down] == pytest.approx(-15.0)


def test_random_policy_reproduces_figure_3_2():
    world = GridWorld.sutton_barto_3_5()
    V, _ = policy_evaluation(world.to_mdp(gamma=0.9), world.uniform_policy())
    np.testing.assert_allclose(V.reshape(5, 5), FIG_3_2, atol=0.05 + 1e-9)


def test_value_iteration_reproduces_figure_3_5():
    result = value_iteration(GridWorld.sutton_barto_3_5().to_mdp(gamma=0.9))
    np.testing.assert_allclose(result.V.reshape(5, 5), FIG_3_5, atol=0.05 + 1e-9)
    # Exercise 3.24: v*(A) = 10 / (1 − γ⁵) exactly (A → A' → up ×4 → A …)
    assert result.V[1] == pytest.approx(10 / (1 - 0.9 ** 5), abs=1e-8)
    # the optimal policy in A'(4, 1) is "up", in B'(2, 3) "up" or "left" tied (Figure 3.5)
    assert result.policy[21].tolist() == [1.0, 0.0, 0.0, 0.0]
    assert result.policy[13].tolist() == [0.5, 0.0, 0.0, 0.5]
    assert result.converged and result.iterations > 10


def test_policy_iteration_matches_value_iteration_on_figure_3_5():
    mdp = GridWorld.sutton_barto_3_5().to_mdp(gamma=0.9)
    pi = policy_iteration(mdp)
    np.testing.assert_allclose(pi.V.reshape(5, 5), FIG_3_5, atol=0.05 + 1e-9)
    assert pi.converged and pi.iterations <= 6
    iterative = policy_iteration(mdp, evaluation="iterative", tol=1e-12)
    np.testing.assert_allclose(iterative.V, pi.V, atol=1e-9)
    assert iterative.evaluations > iterative.iterations


def test_russell_norvig_4x3_utilities():
    result = value_iteration(GridWorld.russell_norvig_4x3().to_mdp(gamma=1.0))
    np.testing.assert_allclose(result.V.reshape(3, 4), RN_17_3, atol=5e-4 + 1e-9)


def test_frozenlake_dp_methods_agree_with_the_linear_solve():
    mdp = MDP.from_gymnasium(gym.make("FrozenLake-v1"), gamma=0.99)
    vi = value_iteration(mdp, tol=1e-13)
    pi = policy_iteration(mdp)
    exact = policy_evaluation(mdp, pi.policy, method="linear")
    # the linear solve by hand: (I − γ P_π) V = r_π on the non-terminal states
    policy = pi.policy
    P_pi = np.einsum("sa,sat->st", policy, mdp.P)
    r_pi = (policy * mdp.R).sum(axis=1)
    live = ~mdp.terminal
    by_hand = np.zeros(16)
    by_hand[live] = np.linalg.solve(np.eye(live.sum()) - 0.99 * P_pi[np.ix_(live, live)],
                                    r_pi[live])
    for V in (vi.V, pi.V, exact.V):
        np.testing.assert_allclose(V, by_hand, atol=1e-8, rtol=0)
    assert mdp.terminal.nonzero()[0].tolist() == [5, 7, 11, 12, 15]


def test_from_gymnasium_reads_every_toy_text_env():
    lake = MDP.from_gymnasium(gym.make("FrozenLake-v1"), gamma=0.9)
    # the slippery lake: from state 14, "right" reaches the goal with probability 1/3 and +1
    assert lake.P[14, 2, 15] == pytest.approx(1 / 3) and lake.R[14, 2] == pytest.approx(1 / 3)
    cliff = MDP.from_gymnasium(gym.make("CliffWalking-v1"), gamma=1.0)
    assert value_iteration(cliff).V[36] == pytest.approx(-13.0)  # 13 steps round the cliff
    # Taxi: terminating transitions end the episode whatever state they land in
    taxi = MDP.from_gymnasium(gym.make("Taxi-v4"), gamma=1.0)
    assert taxi.P.shape == (500, 6, 500) and (taxi.terminating > 0).sum() > 0


def test_gridworld_is_a_gymnasium_env():
    world = GridWorld.sutton_barto_4_1(max_steps=5)
    from gymnasium.utils.env_checker import check_env

    check_env(world, skip_render_check=True)
    obs, _ = world.reset(seed=3)
    assert world.observation_space.contains(obs)
    world.state = 1
    assert world.step(3) == (0, -1.0, True, False, {})
    world.reset(seed=0)
    world.state = 5
    for _ in range(4):
        *_, terminated, truncated, _ = world.step(0 if world.state > 3 else 2)
    assert terminated is False and truncated is False
    assert world.step(2)[3] is True  # the 5th step truncates


def test_gridworld_slip_and_teleports():
    world = GridWorld.russell_norvig_4x3()
    # from (2, 0) "up": 0.8 up to (1, 0), 0.1 right to (2, 1), 0.1 left bumps and stays
    outcomes = {s2: p for p, s2, _, _ in world.P[8][0]}
    assert outcomes == pytest.approx({4: 0.8, 9: 0.1, 8: 0.1})
    cliff = GridWorld.cliff_walking()
    assert cliff.P[36][1] == [(1.0, 36, -100.0, False)]  # off the start into the cliff: back
    assert value_iteration(cliff.to_mdp(gamma=1.0)).V[36] == pytest.approx(-13.0)


def test_greedy_policy_shares_ties():
    assert greedy_policy(np.array([[2.0, 2.0, 1.0]])).tolist() == [[0.5, 0.5, 0.0]]


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 5), st.integers(1, 3), st.floats(0.0, 0.95), st.integers(0, 2 ** 31))
def test_random_mdps_solvers_agree(n_states, n_actions, gamma, seed):
    rng = np.random.default_rng(seed)
    P = rng.dirichlet(np.ones(n_states), size=(n_states, n_actions))
    R = rng.normal(size=(n_states, n_actions))
    mdp = MDP(P, R, gamma)
    vi = value_iteration(mdp, tol=1e-12)
    pi = policy_iteration(mdp)
    np.testing.assert_allclose(vi.V, pi.V, atol=1e-9)
    # the Bellman optimality equation holds at the solution
    np.testing.assert_allclose(pi.V, mdp.q_values(pi.V).max(axis=1), atol=1e-9)
    random_policy = rng.dirichlet(np.ones(n_actions), size=n_states)
    a = policy_evaluation(mdp, random_policy, tol=1e-12).V
    b = policy_evaluation(mdp, random_policy, method="linear").V
    np.testing.assert_allclose(a, b, atol=1e-9)
    assert (pi.V >= b - 1e-9).all()  # no policy beats the optimum


def test_result_unpacks_as_values_and_policy():
    V, policy = value_iteration(GridWorld.sutton_barto_4_1().to_mdp(gamma=1.0))
    assert V.shape == (16,) and policy.shape == (16, 4)
    np.testing.assert_allclose(policy.sum(axis=1), 1.0)


def test_non_convergence_warns():
    with pytest.warns(RuntimeWarning, match="did not converge in 3 iterations"):
        result = value_iteration(GridWorld.sutton_barto_3_5().to_mdp(gamma=0.9), max_iterations=3)
    assert not result.converged and result.iterations == 3


# ----------------------------------------------------------------------------- bad input
def _P():
    P = np.zeros((2, 1, 2))
    P[:, 0, 1] = 1.0
    return P


def test_rows_that_do_not_sum_to_one():
    P = _P()
    P[0, 0, 1] = 0.7
    with pytest.raises(DataError, match=r"expected `P\[s, a, :\]` to sum to 1 .* received a sum "
                                        r"of 0\.7 at s=0, a=0"):
        MDP(P, np.zeros((2, 1)), 0.9)


def test_negative_and_non_finite_probabilities():
    P = _P()
    P[0, 0] = [-0.5, 1.5]
    with pytest.raises(DataError, match=r"non-negative probabilities, received -0\.5 at P\[0, 0, 0\]"):
        MDP(P, np.zeros((2, 1)), 0.9)
    P[0, 0] = [np.nan, 1.0]
    with pytest.raises(DataError, match=r"finite probabilities, received nan at P\[0, 0, 0\]"):
        MDP(P, np.zeros((2, 1)), 0.9)
    with pytest.raises(DataError, match="finite rewards"):
        MDP(_P(), [[np.inf], [0.0]], 0.9)


@pytest.mark.parametrize("gamma", [-0.1, 1.5, float("nan")])
def test_gamma_outside_the_unit_interval(gamma):
    with pytest.raises(ConfigError, match=r"MDP: expected `gamma` to be a finite number >= 0 and "
                                          r"<= 1, received"):
        MDP(_P(), np.zeros((2, 1)), gamma)


def test_gamma_one_needs_an_episodic_mdp():
    with pytest.raises(ConfigError, match=r"expected `gamma` to be < 1 for an MDP without "
                                          r"terminal states .*received 1\.0"):
        MDP(_P(), np.zeros((2, 1)), 1.0)
    P = np.zeros((3, 1, 3))
    P[0, 0, 0] = P[1, 0, 2] = P[2, 0, 2] = 1.0
    with pytest.raises(ConfigError, match="state 0 cannot reach a terminal state"):
        MDP(P, np.zeros((3, 1)), 1.0, terminal=[2])
    # a policy that never ends: rejected by evaluation with γ = 1
    world = GridWorld((1, 3), terminals=[(0, 2)], step_reward=-1.0)
    left = np.zeros((3, 4))
    left[:, 3] = 1.0
    with pytest.raises(ConfigError, match="reaches a terminal state from every state when gamma"):
        policy_evaluation(world.to_mdp(1.0), left)


def test_shapes_and_types():
    with pytest.raises(ShapeError, match=r"expected `P` of shape \(S, A, S\).*received shape "
                                         r"\(2, 3\)"):
        MDP(np.ones((2, 3)), np.zeros((2, 3)), 0.9)
    with pytest.raises(ShapeError, match=r"expected `R` of shape \(2, 1\) or \(2, 1, 2\), "
                                         r"received shape \(3,\)"):
        MDP(_P(), np.zeros(3), 0.9)
    mdp = MDP(_P(), np.zeros((2, 1)), 0.9)
    with pytest.raises(ShapeError, match=r"expected `policy` of shape \(2, 1\)"):
        policy_evaluation(mdp, np.ones((2, 2)))
    with pytest.raises(DataError, match=r"`policy\[s, :\]` to sum to 1.*0\.5 at s=0"):
        policy_evaluation(mdp, [[0.5], [1.0]])
    with pytest.raises(DTypeError, match="expected `mdp` to be an MDP, received 'ndarray'"):
        value_iteration(np.zeros(3))
    with pytest.raises(ConfigError, match=r"expected `tol` to be a finite number > 0"):
        value_iteration(mdp, tol=0)
    with pytest.raises(ConfigError, match=r"expected `method` to be one of 'iterative', 'linear'"):
        policy_evaluation(mdp, [0, 0], method="exact")


def test_from_gymnasium_needs_a_transition_table():
    with pytest.raises(DTypeError, match=r"expected `env` to be an environment with a toy-text "
                                         r"transition table .*received 'CartPoleEnv'"):
        MDP.from_gymnasium(gym.make("CartPole-v1"), gamma=0.9)


def test_gridworld_bad_cells():
    with pytest.raises(ConfigError, match=r"GridWorld: expected `terminals` to be cells \(row, "
                                          r"col\) inside the 4×4 grid, received \(4, 0\)"):
        GridWorld((4, 4), terminals=[(4, 0)])
    with pytest.raises(ConfigError, match=r"expected `slip` to be a finite number >= 0 and <= 1"):
        GridWorld((2, 2), slip=1.5)
    with pytest.raises(ConfigError, match=r"expected `special\[\(0, 0\)\]` to be a pair"):
        GridWorld((2, 2), special={(0, 0): 5})

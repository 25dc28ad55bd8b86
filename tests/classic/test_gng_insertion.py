"""GrowingNeuralGas: one insertion step worked out by hand (Fritzke 1995, step 8)."""

from __future__ import annotations

import numpy as np

from neuralab.classic import GrowingNeuralGas


def test_insertion_by_hand():
    """Nodes a, b, c with the edge a–c; λ = 1, so the input that moves a also inserts a node.

    Step by step for x = (0.5, 0): s1 = a (d² = 0.25), s2 = b (d² = 2.25); a–c ages to 5;
    E_a = 1 + 0.25; a moves to (0.25, 0), its neighbour c to (0.05, 2.7); edge a–b (age 0).
    Insertion: q = a (largest error), f = c (q's neighbour with the largest error, 0.3 > 0);
    r = (w_q + w_f) / 2 = (0.15, 1.35); edge q–f removed, q–r and f–r added (age 0);
    E_q, E_f ← α·E (α = 0.5), E_r = the new E_q. Then every error decays by d = 0.9.
    """
    gng = GrowingNeuralGas(n_start_nodes=3, step=0.5, neighbour_step=0.1, error_decay_rate=0.9,
                           after_split_error_decay_rate=0.5, n_iter_before_neuron_added=1000,
                           max_nodes=10, shuffle=False, device="cpu")
    gng.fit(np.zeros((3, 2)) + [[0, 0], [1, 0], [0, 1]])  # sets up the attributes
    gng.set_params(n_iter_before_neuron_added=1)
    gng.nodes_ = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 3.0]])
    gng.edges_ = np.array([[0, 2]])
    gng.edge_ages_ = np.array([4])
    gng.errors_ = np.array([1.0, 0.0, 0.3])
    gng.n_nodes_ = 3
    gng.partial_fit(np.array([[0.5, 0.0]]))

    assert gng.n_nodes_ == 4
    np.testing.assert_allclose(gng.nodes_[:3], [[0.25, 0.0], [2.0, 0.0], [0.05, 2.7]], atol=1e-6)
    np.testing.assert_allclose(gng.nodes_[3], [0.15, 1.35], atol=1e-6)       # halfway between q and f
    e_q = (1.0 + 0.25) * 0.5
    np.testing.assert_allclose(gng.errors_, np.array([e_q, 0.0, 0.3 * 0.5, e_q]) * 0.9, atol=1e-6)
    edges = {tuple(sorted(e)): a for e, a in zip(gng.edges_.tolist(), gng.edge_ages_.tolist())}
    assert edges == {(0, 1): 0, (0, 3): 0, (2, 3): 0}                        # q–f gone

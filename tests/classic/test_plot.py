"""neuralab.classic.plot: figures hold the expected data and save to disk."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from neuralab.classic import SOFM, GrowingNeuralGas, plot
from neuralab.errors import DataError, ShapeError


def brute_u_matrix(W):
    rows, cols, _ = W.shape
    out = np.zeros((rows, cols))
    for r in range(rows):
        for c in range(cols):
            d = [np.linalg.norm(W[r, c] - W[rr, cc])
                 for rr in range(max(0, r - 1), min(rows, r + 2))
                 for cc in range(max(0, c - 1), min(cols, c + 2)) if (rr, cc) != (r, c)]
            out[r, c] = np.mean(d)
    return out


def test_u_matrix_values_by_brute_force():
    W = np.random.RandomState(0).rand(4, 6, 3)
    np.testing.assert_allclose(plot.u_matrix_values(W), brute_u_matrix(W))


def test_u_matrix_figure_from_array_and_sofm(tmp_path):
    W = np.random.RandomState(0).rand(4, 5, 3)
    fig = plot.u_matrix(W, path=tmp_path / "u.png")
    assert isinstance(fig, Figure)
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), brute_u_matrix(W))
    assert (tmp_path / "u.png").stat().st_size > 1000
    X = np.random.RandomState(1).rand(100, 3)
    som = SOFM(features_grid=(3, 4), random_state=0, device="cpu").fit(X)
    fig = plot.u_matrix(som)
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), som.distance_map())
    # the rect SOFM's own U-matrix agrees with ours
    np.testing.assert_allclose(plot.u_matrix_values(som), som.distance_map(), rtol=1e-6)


def test_component_planes(tmp_path):
    W = np.random.RandomState(0).rand(3, 4, 5)
    fig = plot.component_planes(W, feature_names=list("abcde"), path=tmp_path / "c.svg")
    assert len(fig.axes) == 10  # five panels, then their five colour bars
    for k, ax in enumerate(fig.axes[:5]):
        np.testing.assert_array_equal(ax.images[0].get_array(), W[:, :, k])
        assert ax.get_title() == "abcde"[k]
        bar = fig.axes[5 + k]
        assert bar is ax.images[0].colorbar.ax  # each panel has its own colour bar
        assert bar.get_ylim() == pytest.approx((W[:, :, k].min(), W[:, :, k].max()))
    assert (tmp_path / "c.svg").exists()
    assert len(plot.component_planes(W, features=[1, 3]).axes) == 4


def test_gng_graph_segments_are_the_edges(tmp_path):
    X = np.random.RandomState(0).rand(200, 3)
    gng = GrowingNeuralGas(max_nodes=8, n_iter_before_neuron_added=20, random_state=0,
                           device="cpu").fit(X)
    fig = plot.gng_graph(gng, X, dims=(0, 2), path=tmp_path / "g.png")
    (lines,) = [c for c in fig.axes[0].collections if isinstance(c, LineCollection)]
    segs = np.array(lines.get_segments())
    assert len(segs) == len(gng.edges_)
    np.testing.assert_allclose(segs[:, 0], gng.nodes_[gng.edges_[:, 0]][:, [0, 2]])
    assert (tmp_path / "g.png").exists()


def test_rbm_filters():
    class Fitted:  # duck-typed: anything with components_
        components_ = np.random.RandomState(0).rand(10, 64)

    fig = plot.rbm_filters(Fitted(), n_filters=6)
    assert len(fig.axes) == 6
    np.testing.assert_array_equal(fig.axes[2].images[0].get_array(), Fitted.components_[2].reshape(8, 8))
    assert len(plot.rbm_filters(Fitted(), image_shape=(4, 16), n_filters=100).axes) == 10


def test_bad_input():
    with pytest.raises(ShapeError, match=r"weights shaped \(rows, cols, n_features\); received an array of shape \(4, 3\)"):
        plot.u_matrix(np.zeros((4, 3)))
    with pytest.raises(DataError, match=r"feature indices must be in \[0, 2\); received \[5\]"):
        plot.component_planes(np.zeros((2, 2, 2)), features=[5])
    with pytest.raises(DataError, match="expected 2 feature names, received 1"):
        plot.component_planes(np.zeros((2, 2, 2)), feature_names=["a"])
    with pytest.raises(DataError, match="needs a fitted GrowingNeuralGas"):
        plot.gng_graph(object())

    class C:
        components_ = np.zeros((2, 10))

    with pytest.raises(ShapeError, match="10 features are not a square image"):
        plot.rbm_filters(C())
    with pytest.raises(ShapeError, match=r"image_shape \(3, 3\) holds 9 pixels, expected 10"):
        plot.rbm_filters(C(), image_shape=(3, 3))


def test_hexagonal_maps_are_drawn_as_hexagons(tmp_path):
    from matplotlib.collections import PolyCollection

    from neuralab.classic.sofm import grid_coordinates

    X = np.random.RandomState(1).rand(120, 3)
    som = SOFM((4, 5), grid_type="hexagon", max_iter=2, random_state=0, device="cpu").fit(X)
    fig = plot.u_matrix(som, path=tmp_path / "hex.png")
    ax, bar = fig.axes
    (cells,) = [c for c in ax.collections if isinstance(c, PolyCollection)]
    paths = cells.get_paths()
    assert len(paths) == 20 and not ax.images  # one hexagon per unit, no image
    np.testing.assert_allclose(cells.get_array(), som.distance_map().ravel())
    assert cells.colorbar.ax is bar
    centres = np.array([p.vertices[:6].mean(0) for p in paths])
    for p, centre in zip(paths, centres):  # six corners 1/√3 from the centre
        np.testing.assert_allclose(np.linalg.norm(p.vertices[:6] - centre, axis=1), 3 ** -0.5)
    # centres are 1 apart exactly where the SOFM's own hexagonal grid has neighbours
    d_plot = np.linalg.norm(centres[:, None] - centres[None], axis=2)
    pos = grid_coordinates((4, 5), "hexagon")
    d_grid = np.linalg.norm(pos[:, None] - pos[None], axis=2)
    np.testing.assert_array_equal(np.isclose(d_plot, 1.0), np.isclose(d_grid, 1.0))
    fig = plot.component_planes(som)
    assert len(fig.axes) == 6  # 3 panels + 3 colour bars
    for k, ax in enumerate(fig.axes[:3]):
        (cells,) = ax.collections
        np.testing.assert_allclose(cells.get_array(), som.cluster_centers_[:, k])
        assert len(cells.get_paths()) == 20
    with pytest.raises(DataError, match="grid_type must be 'rect' or 'hexagon'; received 'tri'"):
        plot.u_matrix(som, grid_type="tri")

"""Plots of the classic networks: SOFM U-matrix and component planes, GNG graph, RBM filters.

Every function draws on a new :class:`matplotlib.figure.Figure` (Agg
canvas, no pyplot global state, nothing shown), returns it, and also saves it
when ``path`` is given. Inputs are duck-typed:

* a SOFM is anything with ``cluster_centers_`` (n_units, n_features) and
  ``features_grid`` (1-D or 2-D), e.g. :class:`neuralab.classic.SOFM`, or a
  weight array shaped (rows, cols, n_features). A map with
  ``grid_type="hexagon"`` is drawn as hexagons (one
  :class:`~matplotlib.collections.PolyCollection` of ``rows × cols`` hexagons,
  odd rows shifted by half a unit, as :func:`neuralab.classic.sofm.grid_coordinates`
  places them); a rectangular one as an image;
* a growing neural gas is anything with ``nodes_`` and ``edges_``;
* an RBM is anything with ``components_`` (n_components, n_features), e.g.
  :class:`neuralab.classic.RBM` or scikit-learn's ``BernoulliRBM``.

Example:
    >>> import numpy as np
    >>> from neuralab.classic import plot
    >>> fig = plot.u_matrix(np.random.RandomState(0).rand(4, 5, 3))
    >>> type(fig).__name__
    'Figure'
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure

from ..errors import DataError, ShapeError

__all__ = ["u_matrix", "u_matrix_values", "component_planes", "gng_graph", "rbm_filters",
           "hexagons"]


def _figure(figsize) -> Figure:
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


def _finish(fig: Figure, path):
    if path is not None:
        fig.savefig(path, bbox_inches="tight")
    return fig


def _grid_weights(som) -> np.ndarray:
    """(rows, cols, n_features) weights of a SOFM-like object or array."""
    if hasattr(som, "cluster_centers_"):
        grid = getattr(som, "features_grid", None)
        grid = (grid,) if isinstance(grid, int) else tuple(grid or ())
        W = np.asarray(som.cluster_centers_, dtype=np.float64)
        if len(grid) == 1:
            grid = (1, grid[0])
        if len(grid) != 2 or int(np.prod(grid)) != W.shape[0]:
            raise ShapeError(
                f"plot needs a 1-D or 2-D map whose grid holds every unit; received "
                f"features_grid={getattr(som, 'features_grid', None)!r} for {W.shape[0]} units"
            )
        return W.reshape(grid + (W.shape[1],))
    W = np.asarray(som, dtype=np.float64)
    if W.ndim != 3:
        raise ShapeError(
            f"plot expects a fitted SOFM or weights shaped (rows, cols, n_features); "
            f"received an array of shape {W.shape}"
        )
    return W


def _grid_type(som, grid_type):
    if grid_type is None:
        grid_type = getattr(som, "grid_type", "rect")
    if grid_type not in ("rect", "hexagon"):
        raise DataError(f"plot: grid_type must be 'rect' or 'hexagon'; received {grid_type!r}")
    return grid_type


def hexagons(rows: int, cols: int) -> np.ndarray:
    """Vertices ``(rows·cols, 6, 2)`` of the hexagonal cells, row-major, rows top to bottom.

    Unit ``(r, c)`` is centred at ``(c + (r mod 2)/2, −r·√3/2)``; pointy-top
    hexagons of circumradius ``1/√3`` tile the plane (neighbours 1 apart).

    >>> hexagons(2, 2).shape
    (4, 6, 2)
    """
    r, c = np.divmod(np.arange(rows * cols), cols)
    centres = np.stack([c + 0.5 * (r % 2), -r * math.sqrt(3) / 2], axis=1)  # (U, 2)
    angles = np.deg2rad(90 + 60 * np.arange(6))
    corners = np.stack([np.cos(angles), np.sin(angles)], axis=1) / math.sqrt(3)  # (6, 2)
    return centres[:, None, :] + corners[None, :, :]


def _draw_map(fig, ax, values, grid_type, cmap, label=None):
    """``values`` (rows, cols) as an image or hexagons on ``ax``, with a colour bar."""
    if grid_type == "hexagon":
        cells = PolyCollection(hexagons(*values.shape), array=values.ravel(), cmap=cmap,
                               edgecolors="face")
        ax.add_collection(cells)
        ax.autoscale_view()
        ax.set_aspect("equal")
        rows = np.arange(values.shape[0])
        ax.set_yticks(-rows * math.sqrt(3) / 2, [str(r) for r in rows])  # ticks name the rows
        mappable = cells
    else:
        mappable = ax.imshow(values, cmap=cmap, origin="upper", interpolation="nearest")
    fig.colorbar(mappable, ax=ax, label=label, fraction=0.046, pad=0.04)
    return mappable


def u_matrix_values(weights) -> np.ndarray:
    """U-matrix of a rectangular map: mean distance of each unit to its 8 grid neighbours.

    Args:
        weights: (rows, cols, n_features) array (or a SOFM-like object).

    Returns:
        (rows, cols) array.
    """
    W = _grid_weights(weights)
    rows, cols, _ = W.shape
    total = np.zeros((rows, cols))
    count = np.zeros((rows, cols))
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            if di == dj == 0:
                continue
            r0, r1 = max(0, -di), rows - max(0, di)
            c0, c1 = max(0, -dj), cols - max(0, dj)
            if r1 <= r0 or c1 <= c0:
                continue
            here = W[r0:r1, c0:c1]
            there = W[r0 + di : r1 + di, c0 + dj : c1 + dj]
            total[r0:r1, c0:c1] += np.linalg.norm(here - there, axis=-1)
            count[r0:r1, c0:c1] += 1
    return np.where(count > 0, total / np.maximum(count, 1), 0.0)


def u_matrix(som, *, path=None, cmap="bone_r", title="U-matrix", figsize=(5, 4),
             grid_type=None):
    """Draw the U-matrix (unified distance matrix) of a self-organising map.

    Dark/light cells mark large mean distances to the neighbours: cluster
    borders. Uses ``som.distance_map()`` when the object has one (so hexagonal
    SOFMs use their own 6-neighbourhood), else :func:`u_matrix_values`.

    Args:
        som: a fitted SOFM or weights shaped (rows, cols, n_features).
        path: file to save to (format from the extension). Default None.
        cmap: matplotlib colormap name. Default "bone_r".
        title: axes title. Default "U-matrix".
        figsize: figure size in inches. Default (5, 4).
        grid_type: "rect" | "hexagon"; None: the SOFM's own (``"rect"`` for arrays).

    Returns:
        matplotlib Figure: its first axes holds the image (rect) or one
        PolyCollection of hexagons whose array is the U-matrix, row-major;
        the second axes is the colour bar.
    """
    grid_type = _grid_type(som, grid_type)
    if hasattr(som, "distance_map"):
        values = np.asarray(som.distance_map(), dtype=np.float64)
        if values.ndim == 1:
            values = values[None, :]
        if values.ndim != 2:
            raise ShapeError(f"u_matrix draws 1-D or 2-D maps; received a map of shape {values.shape}")
    else:
        values = u_matrix_values(som)
    fig = _figure(figsize)
    ax = fig.add_subplot()
    _draw_map(fig, ax, values, grid_type, cmap, label="mean distance to neighbours")
    ax.set_title(title)
    ax.set_xlabel("column")
    ax.set_ylabel("row")
    return _finish(fig, path)


def component_planes(som, *, feature_names=None, features=None, ncols=None, path=None,
                     cmap="viridis", figsize=None, grid_type=None):
    """One heat map per input feature: that feature's weight at every map unit.

    Args:
        som: a fitted SOFM or weights shaped (rows, cols, n_features).
        feature_names: titles, one per feature. Default "feature i".
        features: indices of the features to draw. Default all.
        ncols: panels per row. Default ⌈√n_panels⌉.
        path: file to save to. Default None.
        cmap: colormap. Default "viridis".
        figsize: inches; default 2.6 × 2.2 per panel.
        grid_type: "rect" | "hexagon"; None: the SOFM's own (``"rect"`` for arrays).

    Returns:
        matplotlib Figure: one axes per drawn feature (an image, or hexagons),
        each followed by its colour bar's axes.
    """
    grid_type = _grid_type(som, grid_type)
    W = _grid_weights(som)
    d = W.shape[2]
    features = list(range(d)) if features is None else [int(f) for f in features]
    bad = [f for f in features if not 0 <= f < d]
    if bad or not features:
        raise DataError(
            f"component_planes: feature indices must be in [0, {d}); received {features!r}"
        )
    if feature_names is not None and len(feature_names) != d:
        raise DataError(
            f"component_planes: expected {d} feature names, received {len(feature_names)}"
        )
    n = len(features)
    ncols = ncols or math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncols)
    fig = _figure(figsize or (2.6 * ncols, 2.2 * nrows))
    panels = [fig.add_subplot(nrows, ncols, k + 1) for k in range(n)]
    for ax, f in zip(panels, features):
        _draw_map(fig, ax, W[:, :, f], grid_type, cmap)
        ax.set_title(feature_names[f] if feature_names is not None else f"feature {f}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("SOFM component planes")
    return _finish(fig, path)


def gng_graph(gng, X=None, *, dims=(0, 1), path=None, figsize=(5, 5), title="Growing neural gas"):
    """The GNG graph (nodes and edges) over the data, in two input dimensions.

    Args:
        gng: a fitted GrowingNeuralGas (``nodes_``, ``edges_``).
        X: data to scatter underneath, (n_samples, n_features). Default None.
        dims: the two feature indices to plot. Default (0, 1).
        path: file to save to. Default None.
        figsize: inches. Default (5, 5).
        title: axes title.

    Returns:
        matplotlib Figure (its axes hold one LineCollection with one segment per edge).
    """
    if not hasattr(gng, "nodes_") or not hasattr(gng, "edges_"):
        raise DataError("gng_graph needs a fitted GrowingNeuralGas (attributes nodes_ and edges_)")
    nodes = np.asarray(gng.nodes_, dtype=np.float64)
    edges = np.asarray(gng.edges_, dtype=np.int64).reshape(-1, 2)
    i, j = dims
    if not (0 <= i < nodes.shape[1] and 0 <= j < nodes.shape[1]):
        raise DataError(f"gng_graph: dims must index the {nodes.shape[1]} features; received {dims!r}")
    fig = _figure(figsize)
    ax = fig.add_subplot()
    if X is not None:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != nodes.shape[1]:
            raise ShapeError(
                f"gng_graph: X must be (n_samples, {nodes.shape[1]}); received shape {X.shape}"
            )
        ax.scatter(X[:, i], X[:, j], s=4, c="0.7", label="data")
    segments = np.stack([nodes[edges[:, 0]][:, [i, j]], nodes[edges[:, 1]][:, [i, j]]], axis=1)
    ax.add_collection(LineCollection(segments, colors="tab:blue", linewidths=1.0))
    ax.scatter(nodes[:, i], nodes[:, j], s=18, c="tab:red", zorder=3, label="nodes")
    ax.autoscale()
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_title(f"{title}: {len(nodes)} nodes, {len(edges)} edges")
    ax.legend(loc="best", fontsize=8)
    return _finish(fig, path)


def rbm_filters(rbm, *, image_shape=None, n_filters=64, ncols=None, path=None, cmap="gray_r",
                figsize=None):
    """The first ``n_filters`` rows of ``components_`` drawn as images.

    Args:
        rbm: a fitted RBM (or anything with ``components_``).
        image_shape: (height, width) of one filter; default square when
            n_features is a perfect square.
        n_filters: how many hidden units to draw. Default 64.
        ncols: panels per row. Default ⌈√n⌉.
        path: file to save to. Default None.
        cmap: colormap. Default "gray_r".
        figsize: inches; default 1.1 per panel.

    Returns:
        matplotlib Figure with one axes per filter.
    """
    if not hasattr(rbm, "components_"):
        raise DataError("rbm_filters needs a fitted RBM (attribute components_)")
    C = np.asarray(rbm.components_, dtype=np.float64)
    d = C.shape[1]
    if image_shape is None:
        side = int(round(math.sqrt(d)))
        if side * side != d:
            raise ShapeError(
                f"rbm_filters: {d} features are not a square image; pass image_shape=(h, w)"
            )
        image_shape = (side, side)
    if int(np.prod(image_shape)) != d:
        raise ShapeError(
            f"rbm_filters: image_shape {tuple(image_shape)} holds {int(np.prod(image_shape))} "
            f"pixels, expected {d}"
        )
    n = min(int(n_filters), C.shape[0])
    if n < 1:
        raise DataError(f"rbm_filters: n_filters must be >= 1, received {n_filters!r}")
    ncols = ncols or math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncols)
    fig = _figure(figsize or (1.1 * ncols, 1.1 * nrows))
    for k in range(n):
        ax = fig.add_subplot(nrows, ncols, k + 1)
        ax.imshow(C[k].reshape(image_shape), cmap=cmap, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"RBM filters ({n} of {C.shape[0]})")
    return _finish(fig, path)

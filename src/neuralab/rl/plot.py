"""Pictures of RL results: value heatmaps with greedy arrows, returns with a running mean.

Both write a PNG with matplotlib's Agg backend (no display needed) and return its path.
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import ShapeError, format_shape
from ..validation import check_int
from .gridworld import ACTION_DELTAS

__all__ = ["plot_values", "plot_returns", "running_mean", "FROZENLAKE_DELTAS"]

# FrozenLake / CliffWalking's actions: 0 left, 1 down, 2 right, 3 up (as (d_row, d_col))
FROZENLAKE_DELTAS = ((0, -1), (1, 0), (0, 1), (-1, 0))


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path, dpi: int) -> str:
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi, format="png")
    return path


def running_mean(values, window: int = 100) -> np.ndarray:
    """Mean of the last ``window`` values at each position (fewer at the start).

    >>> running_mean([1.0, 3.0, 5.0, 7.0], window=2).tolist()
    [1.0, 2.0, 4.0, 6.0]
    """
    window = check_int("running_mean", "window", window, low=1)
    values = np.asarray(values, dtype=np.float64)
    sums = np.cumsum(np.insert(values, 0, 0.0))
    idx = np.arange(1, len(values) + 1)
    start = np.maximum(0, idx - window)
    return (sums[idx] - sums[start]) / (idx - start)


def plot_values(values, shape, path, *, policy=None, deltas=ACTION_DELTAS, mask=None,
                title: str | None = None, decimals: int = 1, dpi: int = 100) -> str:
    """A grid heatmap of state values, annotated, with arrows for the greedy actions.

    Args:
        values: state values, shape (rows·cols,).
        shape: ``(rows, cols)``.
        path: the PNG to write.
        policy: optional (S, A) probabilities; an arrow is drawn per action with
            probability > 0 (ties show several arrows).
        deltas: ``(d_row, d_col)`` of each action (GridWorld's by default;
            :data:`FROZENLAKE_DELTAS` for FrozenLake and CliffWalking).
        mask: optional (S,) booleans of cells drawn without arrows (terminals, walls, holes).
        title: the figure title.
        decimals: digits of the value annotations.
    """
    rows, cols = shape
    values = np.asarray(values, dtype=np.float64)
    if values.shape != (rows * cols,):
        raise ShapeError(f"plot_values: expected `values` of shape ({rows * cols},), received "
                         f"shape {format_shape(values.shape)}")
    grid = values.reshape(rows, cols)
    fig = _figure(1.0 + 0.9 * cols, 0.6 + 0.9 * rows)
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(grid, cmap="viridis")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    span = float(grid.max() - grid.min()) or 1.0
    for r in range(rows):
        for c in range(cols):
            light = (grid[r, c] - grid.min()) / span > 0.6
            ax.text(c, r + 0.3, f"{grid[r, c]:.{decimals}f}", ha="center", va="center",
                    fontsize=7, color="black" if light else "white")
    if policy is not None:
        policy = np.asarray(policy, dtype=np.float64)
        skip = np.zeros(rows * cols, dtype=bool) if mask is None else np.asarray(mask, bool)
        for s in range(rows * cols):
            if skip[s]:
                continue
            r, c = divmod(s, cols)
            for a, p in enumerate(policy[s]):
                if p > 0:
                    dr, dc = deltas[a]
                    ax.arrow(c, r - 0.05, 0.28 * dc, 0.28 * dr, head_width=0.12,
                             length_includes_head=True, color="white", alpha=0.9)
    ax.set_xticks(range(cols))
    ax.set_yticks(range(rows))
    if title:
        ax.set_title(title, fontsize=9)
    return _save(fig, path, dpi)


def plot_returns(returns, path, *, window: int = 100, title: str | None = None,
                 threshold: float | None = None, xlabel: str = "episode", dpi: int = 100) -> str:
    """Return per episode (faint) and its running mean over ``window`` episodes (bold)."""
    returns = np.asarray(returns, dtype=np.float64)
    fig = _figure(6.0, 3.5)
    ax = fig.add_subplot(1, 1, 1)
    x = np.arange(1, len(returns) + 1)
    ax.plot(x, returns, alpha=0.3, lw=0.8, label="return")
    ax.plot(x, running_mean(returns, window), lw=2.0, label=f"mean of last {window}")
    if threshold is not None:
        ax.axhline(threshold, color="gray", ls="--", lw=1.0, label=f"{threshold:g}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("return")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    return _save(fig, path, dpi)

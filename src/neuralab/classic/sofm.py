"""Kohonen's Self-Organizing Feature Map (SOFM / SOM)."""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.utils import check_random_state
from tqdm.auto import tqdm

from .. import registry
from ..errors import ConfigError, DataError
from ._base import (
    check_choice,
    check_is_fitted,
    check_positive,
    resolve_device,
    to_tensor,
    torch_generator,
    validate,
)
from ._kernels import as_numpy, small_step_threads

__all__ = ["SOFM", "grid_coordinates"]

GRID_TYPES = ("rect", "hexagon")
DISTANCES = ("euclid", "dot_product", "cos")
MODES = ("online", "batch")
WEIGHT_INITS = ("sample", "pca")


def grid_coordinates(features_grid, grid_type="rect") -> np.ndarray:
    """Positions of the units on the map, ``(n_units, n_dims)``, row-major.

    ``"rect"``: integer coordinates; ``"hexagon"`` (2-D only): odd rows are
    shifted by half a unit and rows are ``√3/2`` apart, so each unit has six
    neighbours at distance 1.

    >>> grid_coordinates((2, 2), "hexagon").round(3).tolist()
    [[0.0, 0.0], [0.0, 1.0], [0.866, 0.5], [0.866, 1.5]]
    """
    axes = [np.arange(n, dtype=np.float64) for n in features_grid]
    coords = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, len(axes))
    if grid_type == "hexagon":
        rows, cols = coords[:, 0].copy(), coords[:, 1].copy()
        coords[:, 0] = rows * math.sqrt(3) / 2
        coords[:, 1] = cols + 0.5 * (rows % 2)
    return coords


def _epoch_generator(random_state, offset: int) -> torch.Generator:
    """A CPU generator for the sample order; an int seed gives a fixed order per epoch offset."""
    if isinstance(random_state, numbers.Integral):
        random_state = np.random.RandomState([int(random_state) % 2**32, offset])
    return torch_generator(random_state, device="cpu")


@registry.estimators.register("SOFM", "SOM")
class SOFM(TransformerMixin, ClusterMixin, BaseEstimator):
    """Self-Organizing Feature Map (Kohonen) on a rectangular or hexagonal grid.

    Each unit ``j`` has a weight vector ``w_j`` and a fixed position ``r_j`` on
    the grid. For a sample ``x`` the best-matching unit (BMU) ``c`` is the
    closest weight under ``distance``; the neighbourhood is a Gaussian of the
    grid distance, cut at ``learning_radius``:

    .. math::

        h_{jc} = \\exp\\left(-\\frac{\\lVert r_j - r_c\\rVert^2}{2\\,\\mathrm{std}^2}\\right)
        \\,[\\lVert r_j - r_c\\rVert \\le \\mathrm{learning\\_radius}]

    On a rectangular grid this equals the product of per-axis Gaussians
    (Kohonen's and MiniSom's neighbourhood); NeuPy averaged the per-axis
    Gaussians instead, which is not a Gaussian of the distance.

    - ``mode="online"`` (Kohonen's original rule), per sample in shuffled order:
      ``w_j ← w_j + η h_jc (x − w_j)``, exactly so with ``batch_size=1``.
      With ``batch_size=B > 1`` the BMUs of ``B`` samples are found at once and
      their ``B`` sequential updates are combined order-free:
      ``w_j ← k_j w_j + (1 − k_j) Σ_b a_jb x_b / Σ_b a_jb`` with
      ``a_jb = η h_{j c_b}`` and ``k_j = Π_b (1 − a_jb)`` (what the sequential
      rule gives when the ``B`` samples coincide; never overshoots).
    - ``mode="batch"`` (Kohonen's batch map), per epoch:
      ``w_j ← w_j + η (Σ_i h_{j c_i} x_i / Σ_i h_{j c_i} − w_j)``;
      ``η = 1`` is the pure batch map, smaller values relax towards it.

    Schedules, with ``t`` the number of epochs done (continued by
    ``partial_fit``), as in NeuPy:
    ``η_t = learning_rate / (1 + t / reduce_step_after)``,
    ``std_t = std / (1 + t / reduce_std_after)`` and ``learning_radius`` drops
    by 1 every ``reduce_radius_after`` epochs (down to 0). With
    ``reduce_step_after = reduce_std_after = max_iter / 2`` this is MiniSom's
    default ``asymptotic_decay`` with ``use_epochs=True``.

    Args:
        features_grid: map shape, a tuple of 1–3 positive ints (``"hexagon"``
            needs 2). Default ``(10, 10)``.
        grid_type: ``"rect"`` | ``"hexagon"``. Default ``"rect"``.
        distance: BMU criterion, ``"euclid"`` (smallest distance),
            ``"dot_product"`` (largest ``w·x``) or ``"cos"`` (largest cosine).
            Default ``"euclid"``.
        learning_rate: η. Default 0.5.
        std: neighbourhood width in grid units. Default 1.0.
        learning_radius: grid distance beyond which units are not updated;
            ``None`` = no cut-off (NeuPy's default 0 updated the winner only).
            Default ``None``.
        reduce_radius_after, reduce_step_after, reduce_std_after: epochs per
            reduction step (see above); ``None`` keeps the value fixed.
        mode: ``"online"`` | ``"batch"``. Default ``"online"``.
        batch_size: samples per online step (1 = the textbook per-sample rule).
            Default 32. Ignored by ``mode="batch"``.
        max_iter: epochs run by ``fit``. Default 100.
        weight_init: ``"sample"`` (random training samples) or ``"pca"`` (a
            plane spanned by the leading principal components). Default ``"sample"``.
        random_state: seed for initialisation and sample order.
        device: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"``…
        verbose: progress bar per epoch.

    Shapes:
        ``fit(X (n, d))``; ``transform(X) -> (n, n_units)`` Euclidean distances to
        every unit; ``predict(X) -> (n,)`` BMU index (row-major over the grid).

    Attributes:
        cluster_centers_: ``(n_units, d)`` unit weights, row-major over the grid.
        unit_coordinates_: ``(n_units, n_dims)`` grid positions of the units.
        labels_: ``(n,)`` BMU of each training sample.
        n_iter_: epochs done.
        n_features_in_: number of input features.

    Example:
        >>> from sklearn.datasets import load_digits
        >>> X = load_digits().data
        >>> som = SOFM((6, 6), std=1.5, max_iter=20, random_state=0).fit(X)
        >>> som.cluster_centers_.shape, som.distance_map().shape
        ((36, 64), (6, 6))
        >>> bool(som.quantization_error(X) < 30)
        True
    """

    def __init__(
        self,
        features_grid=(10, 10),
        *,
        grid_type="rect",
        distance="euclid",
        learning_rate=0.5,
        std=1.0,
        learning_radius=None,
        reduce_radius_after=None,
        reduce_step_after=None,
        reduce_std_after=None,
        mode="online",
        batch_size=32,
        max_iter=100,
        weight_init="sample",
        random_state=None,
        device="auto",
        verbose=False,
    ):
        self.features_grid = features_grid
        self.grid_type = grid_type
        self.distance = distance
        self.learning_rate = learning_rate
        self.std = std
        self.learning_radius = learning_radius
        self.reduce_radius_after = reduce_radius_after
        self.reduce_step_after = reduce_step_after
        self.reduce_std_after = reduce_std_after
        self.mode = mode
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.weight_init = weight_init
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    # -- validation ---------------------------------------------------------
    def _grid(self) -> tuple:
        grid = self.features_grid
        if isinstance(grid, numbers.Integral) and not isinstance(grid, bool):
            grid = (grid,)
        ok = isinstance(grid, (tuple, list)) and 1 <= len(grid) <= 3
        ok = ok and all(
            isinstance(n, numbers.Integral) and not isinstance(n, bool) and n > 0 for n in grid
        )
        if not ok:
            raise ConfigError(
                f"SOFM: `features_grid` must be a tuple of 1 to 3 positive integers, "
                f"received {self.features_grid!r}"
            )
        grid = tuple(int(n) for n in grid)
        if self.grid_type == "hexagon" and len(grid) != 2:
            raise ConfigError(
                f"SOFM: grid_type='hexagon' needs a 2-D features_grid (rows, cols), "
                f"received {grid!r} with {len(grid)} dimension(s)"
            )
        return grid

    def _check_params(self):
        check_choice(self, "grid_type", self.grid_type, GRID_TYPES)
        check_choice(self, "distance", self.distance, DISTANCES)
        check_choice(self, "mode", self.mode, MODES)
        check_choice(self, "weight_init", self.weight_init, WEIGHT_INITS)
        check_positive(self, "learning_rate", self.learning_rate)
        check_positive(self, "std", self.std)
        check_positive(self, "max_iter", self.max_iter, integer=True)
        check_positive(self, "batch_size", self.batch_size, integer=True)
        if self.mode == "online" and self.learning_rate > 1:
            raise ConfigError(
                f"SOFM: online `learning_rate` must be in (0, 1], received {self.learning_rate!r}"
            )
        if self.learning_radius is not None:
            check_positive(self, "learning_radius", self.learning_radius, allow_zero=True)
        for name in ("reduce_radius_after", "reduce_step_after", "reduce_std_after"):
            if getattr(self, name) is not None:
                check_positive(self, name, getattr(self, name))
        return self._grid()

    # -- geometry -----------------------------------------------------------
    def _adjacency_radius(self) -> float:
        # rect: the 8 (or 26) surrounding units, as MiniSom; hexagon: the 6 at distance 1.
        return 1.0 + 1e-6 if self.grid_type == "hexagon" else math.sqrt(2) + 1e-6

    def _schedule(self, epoch: int):
        lr = self.learning_rate
        std = self.std
        radius = self.learning_radius
        if self.reduce_step_after is not None:
            lr = lr / (1.0 + epoch / self.reduce_step_after)
        if self.reduce_std_after is not None:
            std = std / (1.0 + epoch / self.reduce_std_after)
        if radius is not None and self.reduce_radius_after is not None:
            radius = max(radius - epoch // self.reduce_radius_after, 0)
        return lr, std, radius

    def _neighbourhood(self, grid_sq: torch.Tensor, std: float, radius) -> torch.Tensor:
        h = torch.exp(grid_sq * (-0.5 / (std * std)))  # (U, U)
        if radius is not None:
            h = h * (grid_sq <= radius * radius + 1e-9)
        return h

    # -- distances ----------------------------------------------------------
    def _dissimilarity(self, X: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
        """(n, U) scores whose argmin is the BMU under ``distance``."""
        cross = X @ W.T
        if self.distance == "euclid":
            return (W * W).sum(1) - 2.0 * cross
        if self.distance == "dot_product":
            return -cross
        norms = W.norm(dim=1).clamp_min(1e-12)
        return -cross / norms

    def _bmu(self, X: torch.Tensor, W: torch.Tensor, chunk: int = 8192) -> torch.Tensor:
        """(n,) index of the best-matching unit, computed in chunks of samples."""
        parts = [self._dissimilarity(X[i : i + chunk], W).argmin(1) for i in range(0, len(X), chunk)]
        return torch.cat(parts) if parts else torch.empty(0, dtype=torch.long, device=X.device)

    # -- training -----------------------------------------------------------
    def _init_weights(self, X: np.ndarray, n_units: int, grid: tuple) -> np.ndarray:
        rng = check_random_state(self.random_state)
        if self.weight_init == "sample":
            replace = len(X) < n_units
            return X[rng.choice(len(X), n_units, replace=replace)].copy()
        n_dims = len(grid)
        if X.shape[0] < 2 or X.shape[1] < n_dims:
            raise DataError(
                f"SOFM: weight_init='pca' on a {n_dims}-D grid needs at least 2 samples and "
                f"{n_dims} features; received X with shape {X.shape}"
            )
        mean = X.mean(0)
        _, s, vt = np.linalg.svd(X - mean, full_matrices=False)
        scale = s[:n_dims] / math.sqrt(max(len(X) - 1, 1))  # std along each component
        coords = grid_coordinates(grid, self.grid_type)
        span = coords.max(0) - coords.min(0)
        unit = np.where(span > 0, (coords - coords.min(0)) / np.where(span > 0, span, 1), 0.5)
        return mean + ((2 * unit - 1) * scale) @ vt[:n_dims]

    def _setup(self, X: np.ndarray, grid: tuple):
        n_units = int(np.prod(grid))
        self.unit_coordinates_ = grid_coordinates(grid, self.grid_type)
        self.cluster_centers_ = self._init_weights(X, n_units, grid)
        self.n_iter_ = 0

    def _run_epochs(self, X: np.ndarray, n_epochs: int):
        device = resolve_device(self.device)
        Xt = to_tensor(X, device)
        W = to_tensor(self.cluster_centers_, device)
        pos = to_tensor(self.unit_coordinates_, device)
        grid_sq = torch.cdist(pos, pos).square()  # (U, U)
        gen = _epoch_generator(self.random_state, self.n_iter_) if self.mode == "online" else None
        n_units, n_features = W.shape
        rows = len(Xt) if self.mode == "batch" else min(self.batch_size, len(Xt))
        with small_step_threads(device, rows * n_units * n_features):
            self._loop(Xt, W, grid_sq, gen, n_epochs)

    def _loop(self, Xt, W, grid_sq, gen, n_epochs):
        device = Xt.device
        epochs = range(self.n_iter_, self.n_iter_ + n_epochs)
        for epoch in tqdm(epochs, desc="SOFM", disable=not self.verbose, leave=False):
            lr, std, radius = self._schedule(epoch)
            H = self._neighbourhood(grid_sq, std, radius)
            if self.mode == "batch":
                bmu = self._bmu(Xt, W)  # (n,)
                sums = torch.zeros_like(W).index_add_(0, bmu, Xt)  # (U, d)
                counts = torch.bincount(bmu, minlength=W.shape[0]).to(W.dtype)  # (U,)
                num = H @ sums  # (U, d)
                den = H @ counts  # (U,)
                active = den > 1e-12 * den.max().clamp_min(1e-30)
                target = num / den.clamp_min(1e-30).unsqueeze(1)
                W = torch.where(active.unsqueeze(1), W + lr * (target - W), W)
            else:
                order = torch.randperm(len(Xt), generator=gen).to(device)
                for start in range(0, len(Xt), self.batch_size):
                    xb = Xt[order[start : start + self.batch_size]]  # (B, d)
                    a = (lr * H[:, self._bmu(xb, W)]).clamp_(max=1.0 - 1e-7)  # (U, B)
                    keep = torch.exp(torch.log1p(-a).sum(1, keepdim=True))  # (U, 1) Π(1 − a)
                    total = a.sum(1, keepdim=True)  # (U, 1)
                    mean = (a @ xb) / total.clamp_min(1e-30)  # (U, d)
                    W = keep * W + (1.0 - keep) * mean
        self.cluster_centers_ = as_numpy(W)
        self.n_iter_ += n_epochs
        if not np.all(np.isfinite(self.cluster_centers_)):
            raise DataError("SOFM: training produced non-finite weights; lower learning_rate")

    def fit(self, X, y=None):
        """Initialise the weights and train for ``max_iter`` epochs. Returns self."""
        grid = self._check_params()
        X = validate(self, X, reset=True)
        self._setup(X, grid)
        self._run_epochs(X, self.max_iter)
        self.labels_ = self.predict(X)
        return self

    def partial_fit(self, X, y=None):
        """One epoch over ``X`` (initialising the map on the first call). Returns self."""
        grid = self._check_params()
        first = not hasattr(self, "cluster_centers_")
        X = validate(self, X, reset=first)
        if first:
            self._setup(X, grid)
        self._run_epochs(X, 1)
        self.labels_ = self.predict(X)
        return self

    # -- inference ----------------------------------------------------------
    def _inputs(self, X):
        check_is_fitted(self)
        X = validate(self, X, reset=False)
        device = resolve_device(self.device)
        return to_tensor(X, device), to_tensor(self.cluster_centers_, device)

    def predict(self, X):
        """Best-matching unit of each sample, ``(n,)`` (row-major index on the grid)."""
        Xt, W = self._inputs(X)
        return self._bmu(Xt, W).cpu().numpy()

    def transform(self, X):
        """Euclidean distance from each sample to each unit, ``(n, n_units)``."""
        check_is_fitted(self)
        X = validate(self, X, reset=False)
        # float64 on the host: exact, order-independent and small (n × n_units).
        W = self.cluster_centers_
        sq = (X * X).sum(1)[:, None] + (W * W).sum(1)[None, :] - 2.0 * X @ W.T
        return np.sqrt(np.maximum(sq, 0.0))

    def quantization_error(self, X) -> float:
        """Mean Euclidean distance from each sample to its BMU's weights."""
        Xt, W = self._inputs(X)
        bmu = self._bmu(Xt, W)
        return float((Xt - W[bmu]).norm(dim=1).mean())

    def topographic_error(self, X) -> float:
        """Fraction of samples whose best and second-best units are not adjacent on the grid."""
        Xt, W = self._inputs(X)
        if W.shape[0] < 2:
            raise ConfigError("SOFM: topographic_error needs a grid with at least 2 units; received 1")
        top2 = torch.cat(
            [self._dissimilarity(Xt[i : i + 8192], W).topk(2, dim=1, largest=False).indices
             for i in range(0, len(Xt), 8192)]
        )
        pos = to_tensor(self.unit_coordinates_, Xt.device, dtype=torch.float64)
        gap = (pos[top2[:, 0]] - pos[top2[:, 1]]).norm(dim=1)
        return float((gap > self._adjacency_radius()).double().mean())

    def distance_map(self) -> np.ndarray:
        """U-matrix: mean Euclidean weight distance from each unit to its grid neighbours.

        Neighbours are the units within grid distance √2 on ``"rect"`` (the 8
        surrounding cells) and 1 on ``"hexagon"`` (6 cells). Returns an array of
        shape ``features_grid`` (not normalised).
        """
        check_is_fitted(self)
        pos = self.unit_coordinates_
        W = self.cluster_centers_
        grid_dist = np.sqrt(((pos[:, None, :] - pos[None, :, :]) ** 2).sum(-1))
        adjacent = (grid_dist > 0) & (grid_dist <= self._adjacency_radius())
        weight_dist = np.sqrt(((W[:, None, :] - W[None, :, :]) ** 2).sum(-1))
        counts = adjacent.sum(1)
        umatrix = np.where(counts > 0, (weight_dist * adjacent).sum(1) / np.maximum(counts, 1), 0.0)
        return umatrix.reshape(self._grid())

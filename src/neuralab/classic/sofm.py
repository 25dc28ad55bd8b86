"""Kohonen's Self-Organizing Feature Map (SOFM / SOM)."""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch
from sklearn.base import ClusterMixin, TransformerMixin
from sklearn.utils import check_random_state
from tqdm.auto import tqdm

from .. import registry
from ..errors import DataError
from ..validation import expected
from ._base import NON_NEGATIVE, POSITIVE, Estimator, StrOptions, check_init, check_is_fitted
from ._base import integer, make_init, to_tensor, torch_generator, validate
from ._kernels import as_numpy

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


def _unit_rows(W: np.ndarray) -> np.ndarray:
    """``W`` with every row scaled to unit Euclidean norm (zero rows stay zero)."""
    return W / np.maximum(np.linalg.norm(W, axis=1, keepdims=True), 1e-12)


def _unit_rows_(W: torch.Tensor) -> torch.Tensor:
    """:func:`_unit_rows` in place on a tensor."""
    return W.div_(torch.linalg.vector_norm(W, dim=1, keepdim=True).clamp_min_(1e-12))


def _epoch_generator(random_state, offset: int) -> torch.Generator:
    """A CPU generator for the sample order; an int seed gives a fixed order per epoch offset."""
    if isinstance(random_state, numbers.Integral):
        random_state = np.random.RandomState([int(random_state) % 2**32, offset])
    return torch_generator(random_state, device="cpu")


@registry.estimators.register("SOFM", "SOM")
class SOFM(TransformerMixin, ClusterMixin, Estimator):
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
      ``w_j ← w_j + η h_jc (x − w_j)``. With ``batch_size=B`` the BMUs of
      ``B`` consecutive samples are found at once (against the weights at the
      start of the step) and their ``B`` sequential updates are then applied
      exactly, composed into one product (see ``_online_epoch``); ``B = 1`` is
      the textbook per-sample rule, and on digits ``B = 32`` reaches the same
      quantization error (mean over 20 seeds: 18.173 vs 18.182 for MiniSom's
      per-sample rule, 20×20 map, 10 epochs).
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
        batch_size: samples whose BMUs are found together in an online step
            (1 = the textbook per-sample rule; the updates themselves are always
            sequential). Default 32. Ignored by ``mode="batch"``.
        max_iter: epochs run by ``fit``. Default 100.
        weight_init: ``"sample"`` (random training samples) or ``"pca"`` (a
            plane spanned by the leading principal components). Default ``"sample"``.
        init: starting weights, an array ``(n_units, n_features)`` (row-major over
            the grid); overrides ``weight_init``. Default None.
        random_state: seed for initialisation and sample order.
        device: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"``…
        n_threads: torch intra-op threads during training (None: torch's setting).
        verbose: progress bar per epoch.

    Under ``distance="cos"`` only the direction of a weight matters: the
    weights are scaled to unit norm at initialisation and after every update
    step (per sample with ``batch_size=1``, per step of ``batch_size`` samples
    otherwise, per epoch in ``mode="batch"``), as NeuPy did.

    Shapes:
        ``fit(X (n, d))``; ``transform(X) -> (n, n_units)`` Euclidean distances to
        every unit; ``predict(X) -> (n,)`` BMU index (row-major over the grid).

    Attributes:
        cluster_centers_: ``(n_units, d)`` unit weights, row-major over the grid.
        unit_coordinates_: ``(n_units, n_dims)`` grid positions of the units.
        labels_: ``(n,)`` BMU of each training sample.
        loss_curve_: quantization error on the training data after each epoch
            (mean Euclidean distance to the BMU, as :meth:`quantization_error`).
        n_iter_: epochs done.
        n_features_in_: number of input features.

    Example:
        >>> from sklearn.datasets import load_digits
        >>> X = load_digits().data
        >>> som = SOFM((6, 6), std=1.5, max_iter=20, reduce_step_after=10,
        ...            reduce_std_after=10, random_state=0).fit(X)
        >>> som.cluster_centers_.shape, som.distance_map().shape
        ((36, 64), (6, 6))
        >>> bool(som.quantization_error(X) < 25)
        True
    """

    __init__ = make_init({
        "features_grid": (10, 10), "grid_type": "rect", "distance": "euclid",
        "learning_rate": 0.5, "std": 1.0, "learning_radius": None, "reduce_radius_after": None,
        "reduce_step_after": None, "reduce_std_after": None, "mode": "online", "batch_size": 32,
        "max_iter": 100, "weight_init": "sample", "init": None, "random_state": None,
        "device": "auto", "n_threads": None, "verbose": False,
    })

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
            raise expected("SOFM", "features_grid", "a tuple of 1 to 3 positive integers",
                           self.features_grid)
        grid = tuple(int(n) for n in grid)
        if self.grid_type == "hexagon" and len(grid) != 2:
            raise expected("SOFM", "features_grid",
                           "a 2-D grid (rows, cols) for grid_type='hexagon'", grid)
        return grid

    _parameter_constraints = {
        "features_grid": [tuple, list, numbers.Integral],
        "grid_type": [StrOptions(set(GRID_TYPES))],
        "distance": [StrOptions(set(DISTANCES))],
        "learning_rate": [POSITIVE],
        "std": [POSITIVE],
        "learning_radius": [NON_NEGATIVE, None],
        "reduce_radius_after": [POSITIVE, None],
        "reduce_step_after": [POSITIVE, None],
        "reduce_std_after": [POSITIVE, None],
        "mode": [StrOptions(set(MODES))],
        "batch_size": [integer(1)],
        "max_iter": [integer(1)],
        "weight_init": [StrOptions(set(WEIGHT_INITS))],
        "init": ["array-like", None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def _check_more(self):
        if self.mode == "online" and self.learning_rate > 1:
            raise expected("SOFM", "learning_rate", "in (0, 1] for mode='online'",
                           self.learning_rate)
        self._grid()

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

    def _grid_sq(self) -> np.ndarray:
        """Squared grid distances between units, ``(U, U)``, exact in float64."""
        pos = self.unit_coordinates_
        return sum(np.subtract.outer(p, p) ** 2 for p in pos.T)

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
        W = self._initial(X, n_units, grid)
        return _unit_rows(W) if self.distance == "cos" else W

    def _initial(self, X: np.ndarray, n_units: int, grid: tuple) -> np.ndarray:
        given = check_init(self, (n_units, X.shape[1]), "n_units, n_features")
        if given is not None:
            return given
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
        self.loss_curve_ = []

    def _run_epochs(self, X: np.ndarray, n_epochs: int):
        """Train ``n_epochs`` epochs on ``X``; sets the weights, ``n_iter_`` and ``labels_``."""
        device = self._device()
        Xt = to_tensor(X, device)
        W = to_tensor(self.cluster_centers_, device)
        grid_sq = to_tensor(self._grid_sq(), device)  # (U, U), once per call
        gen = _epoch_generator(self.random_state, self.n_iter_) if self.mode == "online" else None
        with self._threads():
            W = self._loop(Xt, W, grid_sq, gen, n_epochs)
            labels = self._bmu(Xt, W)
        self.cluster_centers_ = as_numpy(W)
        self.n_iter_ += n_epochs
        if not np.all(np.isfinite(self.cluster_centers_)):
            raise DataError("SOFM: training produced non-finite weights; lower learning_rate")
        self.labels_ = labels.cpu().numpy()

    def _loop(self, Xt, W, grid_sq, gen, n_epochs):
        epochs = range(self.n_iter_, self.n_iter_ + n_epochs)
        for epoch in tqdm(epochs, desc="SOFM", disable=not self.verbose, leave=False):
            lr, std, radius = self._schedule(epoch)
            H = self._neighbourhood(grid_sq, std, radius)
            if self.mode == "batch":
                W = self._batch_epoch(Xt, W, H, lr)
            else:
                order = torch.randperm(len(Xt), generator=gen).to(Xt.device)
                W = self._online_epoch(Xt.index_select(0, order), W, H, lr)
            self.loss_curve_.append(self._qe(Xt, W))
        return W

    def _qe(self, Xt, W) -> float:
        """Mean Euclidean distance from each row of ``Xt`` to its BMU's weights."""
        if self.distance != "euclid":
            return float(torch.linalg.vector_norm(Xt - W[self._bmu(Xt, W)], dim=1).mean())
        # euclid: the BMU is the nearest unit, so d² = ‖x‖² + min_j (‖w_j‖² − 2 x·w_j)
        total = 0.0
        for i in range(0, len(Xt), 8192):
            x = Xt[i : i + 8192]
            d2 = torch.addmm(torch.linalg.vecdot(W, W), x, W.T, alpha=-2.0).amin(1)
            total += float(d2.add_(torch.linalg.vecdot(x, x)).clamp_(min=0).sqrt_().sum())
        return total / max(len(Xt), 1)

    def _batch_epoch(self, Xt, W, H, lr):
        """One epoch of Kohonen's batch map, relaxed by ``lr``."""
        bmu = self._bmu(Xt, W)  # (n,)
        sums = torch.zeros_like(W).index_add_(0, bmu, Xt)  # (U, d)
        counts = torch.bincount(bmu, minlength=W.shape[0]).to(W.dtype)  # (U,)
        num = H @ sums  # (U, d)
        den = H @ counts  # (U,)
        active = den > 1e-12 * den.max().clamp_min(1e-30)
        target = num / den.clamp_min(1e-30).unsqueeze(1)
        W = torch.where(active.unsqueeze(1), W + lr * (target - W), W)
        return _unit_rows_(W) if self.distance == "cos" else W

    def _online_epoch(self, Xp, W, H, lr):
        """One epoch of Kohonen's rule over the already shuffled samples ``Xp``.

        Per step of ``B`` samples, with BMUs ``c_b`` found at the step's start,
        the ``B`` sequential updates ``w_j ← (1 − a_jb) w_j + a_jb x_b``
        (``a_jb = η h_{j c_b}``, ``b = 1 … B`` in row order) compose exactly into
        ``w_j ← S_j1 w_j + Σ_b (S_{j,b+1} − S_jb) x_b`` with the suffix products
        ``S_jb = Π_{b' >= b} (1 − a_jb')`` (``S_{j,B+1} = 1``), since
        ``S_{j,b+1} − S_jb = a_jb S_{j,b+1}``. Per step: one product for the
        scores, an argmax, a row gather from the per-epoch table ``1 − ηH``
        (``H`` is symmetric, so row ``c`` holds ``1 − η h_{jc}`` for every ``j``),
        one cumulative product, one difference and one matrix product — in
        place, into reused buffers, with no host synchronisation. The samples
        are walked in reverse (one flipped copy per epoch) so that each step's
        rows come last-first, the order the suffix products need.
        """
        n, n_units = len(Xp), W.shape[0]
        W = W.clone()
        keep_table = (1.0 - lr * H).clamp_(min=0.0)  # (U, U)
        B = min(self.batch_size, n)
        scores, gathered, coef = (W.new_empty(B, n_units) for _ in range(3))
        suffix = torch.ones(B + 1, n_units, dtype=W.dtype, device=W.device)  # suffix[0] = 1
        reversed_x = Xp.flip(0)  # Xp rows [s, e) = reversed_x rows [n − e, n − s), last first
        normalise = self.distance == "cos"
        for start in range(0, n, B):
            stop = min(start + B, n)
            m = stop - start
            xb = reversed_x[n - stop : n - start]  # (m, d) view, last row of the step first
            bmu = self._scores(xb, W, scores[:m]).argmax(1)
            torch.index_select(keep_table, 0, bmu, out=gathered[:m])
            torch.cumprod(gathered[:m], 0, out=suffix[1 : m + 1])  # suffix[k]: last k factors
            torch.sub(suffix[:m], suffix[1 : m + 1], out=coef[:m])
            W.mul_(suffix[m].unsqueeze(1)).addmm_(coef[:m].T, xb)
            if normalise:
                _unit_rows_(W)
        return W

    def _scores(self, X, W, out):
        """``(n, U)`` scores into ``out`` whose argmax is the BMU under ``distance``."""
        if self.distance == "euclid":  # x·w − ‖w‖²/2
            return torch.addmm(torch.linalg.vecdot(W, W), X, W.T, beta=-0.5, out=out)
        torch.mm(X, W.T, out=out)
        if self.distance == "cos":
            out.div_(torch.linalg.vector_norm(W, dim=1).clamp_min(1e-12))
        return out

    def fit(self, X, y=None):
        """Initialise the weights and train for ``max_iter`` epochs. Returns self."""
        self._validate_params()
        grid = self._grid()
        X = validate(self, X, reset=True)
        self._setup(X, grid)
        self._run_epochs(X, self.max_iter)
        return self

    def partial_fit(self, X, y=None):
        """One epoch over ``X`` (initialising the map on the first call). Returns self."""
        self._validate_params()
        grid = self._grid()
        first = not hasattr(self, "cluster_centers_")
        X = validate(self, X, reset=first)
        if first:
            self._setup(X, grid)
        self._run_epochs(X, 1)
        return self

    # -- inference ----------------------------------------------------------
    def _inputs(self, X):
        X = self._fitted_data(X)
        device = self._device()
        return to_tensor(X, device), to_tensor(self.cluster_centers_, device)

    def predict(self, X):
        """Best-matching unit of each sample, ``(n,)`` (row-major index on the grid)."""
        Xt, W = self._inputs(X)
        return self._bmu(Xt, W).cpu().numpy()

    def transform(self, X):
        """Euclidean distance from each sample to each unit, ``(n, n_units)``."""
        X = self._fitted_data(X)
        # float64 on the host: exact, order-independent and small (n × n_units).
        W = self.cluster_centers_
        sq = (X * X).sum(1)[:, None] + (W * W).sum(1)[None, :] - 2.0 * X @ W.T
        return np.sqrt(np.maximum(sq, 0.0))

    def quantization_error(self, X) -> float:
        """Mean Euclidean distance from each sample to its BMU's weights."""
        return self._qe(*self._inputs(X))

    def topographic_error(self, X) -> float:
        """Fraction of samples whose best and second-best units are not adjacent on the grid."""
        Xt, W = self._inputs(X)
        if W.shape[0] < 2:
            raise expected("SOFM.topographic_error", "features_grid", "a grid of at least 2 units",
                           self.features_grid)
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

"""Albus' Cerebellar Model Articulation Controller (CMAC) regressor."""

from __future__ import annotations

import numbers

import numpy as np
import torch
from sklearn.base import RegressorMixin
from sklearn.utils import check_random_state
from tqdm.auto import tqdm

from .. import registry
from ..errors import DataError
from ._base import (
    COMMON_CONSTRAINTS,
    POSITIVE,
    Estimator,
    check_is_fitted,
    check_supervised,
    integer,
    real,
    resolve_device,
    to_tensor,
    validate,
)
from ._kernels import as_numpy

__all__ = ["CMAC"]

_HASH_MULTIPLIER = 2_654_435_761  # Knuth's multiplicative constant; keys wrap in int64


def _epoch_generator(random_state, offset: int) -> torch.Generator:
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        seed = np.random.RandomState([int(random_state) % 2**32, offset]).randint(2**31 - 1)
    else:
        seed = check_random_state(random_state).randint(2**31 - 1)
    gen = torch.Generator()
    gen.manual_seed(int(seed))
    return gen


@registry.estimators.register("CMAC")
class CMAC(RegressorMixin, Estimator):
    """Cerebellar Model Articulation Controller (Albus, 1975): a tile-coding regressor.

    Each input feature is quantized to cells of width ``1 / quantization``:
    ``q = ⌊x · quantization⌋``. There are ``C = associative_unit_size``
    overlapping tilings; tiling ``k`` groups ``C`` consecutive cells,
    shifted by ``k``: its active tile is ``t_k = ⌊(q + k) / C⌋`` (per feature).
    Every input activates exactly one weight per tiling and the output is the
    sum of the ``C`` active weights, so inputs closer than ``C`` cells share
    weights (local generalisation). Training is Albus' LMS rule per sample:

    .. math::

        \\hat y(x) = \\sum_{k=1}^{C} w[k, t_k(x)], \\qquad
        w[k, t_k(x)] \\leftarrow w[k, t_k(x)] + \\frac{\\alpha}{C}\\,(y - \\hat y(x))

    With ``batch_size = B > 1`` the errors of ``B`` samples are computed at
    once and each active weight moves by ``α/C`` times the mean error of the
    samples in the batch that activate it (the per-sample rule when ``B = 1``).
    Weights live in a table keyed by (tiling, tile) — only tiles seen in
    training are stored (hashed to 64-bit keys); unseen tiles contribute 0.

    Args:
        quantization: cells per input unit. Default 10.
        associative_unit_size: ``C``, the number of tilings (active weights per
            input). Default 2.
        learning_rate: α in (0, 2). Default 0.5.
        max_iter: epochs. Default 100.
        batch_size: samples per update (1 = the textbook per-sample rule). Default 16.
        shuffle: visit samples in a new random order each epoch. Default True.
        random_state: seed for the sample order.
        device: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"``…
        n_threads: torch intra-op threads during training (None: torch's setting).
        verbose: progress bar per epoch.

    Shapes:
        ``fit(X (n, d), y (n,) or (n, k))``; ``predict(X (m, d)) -> (m,) or (m, k)``.

    Attributes:
        cell_keys_: ``(n_cells,)`` sorted 64-bit keys of the stored tiles.
        weights_: ``(n_cells, k)`` the weight of each stored tile.
        loss_curve_: training mean squared error after each epoch.
        n_iter_: epochs done; n_features_in_: number of input features.

    Example:
        >>> import numpy as np
        >>> x = np.linspace(0, 2 * np.pi, 400)[:, None]
        >>> model = CMAC(quantization=40, associative_unit_size=4, random_state=0)
        >>> model = model.fit(x, np.sin(x).ravel())
        >>> bool(np.mean((model.predict(x) - np.sin(x).ravel()) ** 2) < 1e-3)
        True
    """

    def __init__(
        self,
        quantization=10,
        *,
        associative_unit_size=2,
        learning_rate=0.5,
        max_iter=100,
        batch_size=16,
        shuffle=True,
        random_state=None,
        device="auto",
        n_threads=None,
        verbose=False,
    ):
        self.quantization = quantization
        self.associative_unit_size = associative_unit_size
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.random_state = random_state
        self.device = device
        self.n_threads = n_threads
        self.verbose = verbose

    _parameter_constraints = {
        "quantization": [POSITIVE],
        "associative_unit_size": [integer(1)],
        "learning_rate": [real(0, 2)],  # the LMS rule converges for α in (0, 2)
        "max_iter": [integer(1)],
        "batch_size": [integer(1)],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        **COMMON_CONSTRAINTS,
    }

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _keys(self, X: torch.Tensor) -> torch.Tensor:
        """(n, C) int64 key of the active tile in each tiling."""
        C = int(self.associative_unit_size)
        q = torch.floor(X.double() * float(self.quantization))
        if not torch.isfinite(q).all() or q.abs().max() >= 2**52:
            raise DataError(
                f"CMAC: X * quantization must stay below 2**52 in magnitude to be quantized; "
                f"received max |X| = {float(X.abs().max()):.3g} with quantization={self.quantization}"
            )
        q = q.long()  # (n, d)
        shifts = torch.arange(C, device=X.device)  # (C,)
        tiles = torch.div(q[:, None, :] + shifts[None, :, None], C, rounding_mode="floor")
        keys = (shifts + 1).expand(len(X), C).clone()  # (n, C)
        for j in range(tiles.shape[2]):
            keys = keys * _HASH_MULTIPLIER + tiles[:, :, j]
        return keys

    def _lookup(self, keys: torch.Tensor, table: torch.Tensor):
        """Row of each key in the sorted ``table`` and whether it is present."""
        idx = torch.searchsorted(table, keys).clamp_(max=max(len(table) - 1, 0))
        return idx, table[idx] == keys

    def fit(self, X, y):
        """Build the tile table from ``X`` and train the weights by LMS. Returns self."""
        self._validate_params()
        X, y = check_supervised(self, X, y, reset=True, multi_output=True, y_numeric=True)
        self._y_is_1d = y.ndim == 1
        device = resolve_device(self.device)
        Xt = to_tensor(X, device, dtype=torch.float64)
        Y = to_tensor(y.reshape(len(y), -1), device)  # (n, k)
        keys = self._keys(Xt)
        table, cells = torch.unique(keys, sorted=True, return_inverse=True)  # cells: (n, C)
        W = torch.zeros(len(table), Y.shape[1], dtype=Y.dtype, device=device)
        with self._threads():
            self._train(Y, cells, W)
        self.cell_keys_ = table.cpu().numpy()
        self.weights_ = as_numpy(W)
        self.n_iter_ = self.max_iter
        return self

    def _train(self, Y, cells, W):
        """LMS epochs; updates ``W`` in place and fills ``loss_curve_``."""
        device = Y.device
        step = float(self.learning_rate) / int(self.associative_unit_size)
        self.loss_curve_ = []
        for epoch in tqdm(range(self.max_iter), desc="CMAC", disable=not self.verbose, leave=False):
            if self.shuffle:
                gen = _epoch_generator(self.random_state, epoch)
                order = torch.randperm(len(Y), generator=gen).to(device)
            else:
                order = torch.arange(len(Y), device=device)
            for start in range(0, len(Y), self.batch_size):
                rows = order[start : start + self.batch_size]
                active = cells[rows]  # (B, C)
                err = Y[rows] - W[active].sum(1)  # (B, k)
                flat = active.reshape(-1)  # (B·C,)
                delta = torch.zeros_like(W).index_add_(0, flat, err.repeat_interleave(active.shape[1], 0))
                hits = torch.bincount(flat, minlength=len(W)).clamp_min_(1).unsqueeze(1)
                W += step * delta / hits
            mse = float(((Y - W[cells].sum(1)) ** 2).mean())
            self.loss_curve_.append(mse)
            if not np.isfinite(mse):
                raise DataError("CMAC: training diverged (non-finite error); lower learning_rate")

    def predict(self, X):
        """Sum of the active tile weights, ``(m,)`` or ``(m, k)``."""
        check_is_fitted(self)
        X = validate(self, X, reset=False)
        device = resolve_device(self.device)
        keys = self._keys(to_tensor(X, device, dtype=torch.float64))
        table = torch.as_tensor(self.cell_keys_, device=device)
        idx, found = self._lookup(keys, table)
        W = to_tensor(self.weights_, device)
        out = (W[idx] * found.unsqueeze(-1)).sum(1)  # (m, k)
        out = as_numpy(out)
        return out.ravel() if self._y_is_1d else out

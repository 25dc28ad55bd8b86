"""ART1: adaptive resonance theory for binary inputs (Carpenter & Grossberg 1987)."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import ClusterMixin

from .. import registry
from ..errors import DataError
from ._base import (
    COMMON_CONSTRAINTS,
    Estimator,
    check_binary,
    check_is_fitted,
    integer,
    real,
    resolve_device,
    validate,
)

__all__ = ["ART1"]


@registry.estimators.register("ART1", "art")
class ART1(ClusterMixin, Estimator):
    """ART1 clustering of binary patterns with fast learning.

    Each committed category ``j`` keeps a binary top-down prototype ``t_j``.
    For an input ``I`` (0/1, ``|I|`` = number of ones):

    * choice: ``T_j = L |I ∧ t_j| / (L − 1 + |t_j|)`` (bottom-up activation);
    * vigilance (match) test: ``|I ∧ t_j| / |I| ≥ rho``;
    * search: the category with the largest ``T_j`` that passes the test
      resonates (equivalent to the classic reset-and-search, which visits
      categories by decreasing ``T_j``); if none passes, a new category with
      ``t = I`` is committed (unless ``max_clusters`` are in use, then the
      input stays unclassified, label −1);
    * fast learning on resonance: ``t_j ← I ∧ t_j`` (bottom-up weights
      ``b_j = L t_j / (L − 1 + |t_j|)`` follow).

    Training presents the samples in order, epoch after epoch, until an epoch
    changes no prototype (or ``max_iter`` epochs). Identical inputs always land
    in the same category, and a larger ``rho`` makes finer categories: with
    ``rho = 1`` every distinct pattern has its own. The count of categories is
    not strictly monotone in ``rho`` for every data set, though: ART1 is order
    dependent, and when inputs differ in their number of ones a prototype
    eroded by fast learning at a low ``rho`` can fail later inputs and make a
    few more categories than a higher ``rho`` does. For inputs with a constant
    number of ones no such case was found (tested over grids of ``rho``).
    The all-zero input matches no prototype with ones (its match ratio is
    undefined); it gets its own category with an all-zero prototype.

    Args:
        rho: vigilance in (0, 1]. Default 0.5.
        L: choice parameter ``L > 1`` (Carpenter–Grossberg's ``L``). Default 2.0.
        max_clusters: cap on the number of categories (None: no cap). Default None.
        max_iter: maximum training epochs. Default 100.
        device: "auto" | "cpu" | "cuda" … Default "auto".
        n_threads: torch intra-op threads during fit/predict (None: torch's setting).

    Input shape: (n_samples, n_features) of 0/1 values.

    Attributes:
        prototypes_: (n_clusters, n_features) binary top-down prototypes.
        weight_bottom_up_: (n_clusters, n_features) ``b_j``.
        n_clusters_: number of committed categories.
        labels_: (n_samples,) category of each training sample after training.
        n_iter_: epochs run.
        n_features_in_: number of features.

    Example:
        >>> import numpy as np
        >>> from neuralab.classic import ART1
        >>> X = np.array([[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1], [1, 1, 1, 0]])
        >>> ART1(rho=0.6, device="cpu").fit(X).labels_.tolist()
        [0, 0, 1, 0]
    """

    _parameter_constraints = {
        "rho": [real(0, 1, closed="right")],
        "L": [real(1, None)],
        "max_clusters": [integer(1), None],
        "max_iter": [integer(1)],
        **COMMON_CONSTRAINTS,
    }

    def __init__(self, rho=0.5, L=2.0, max_clusters=None, max_iter=100, device="auto",
                 n_threads=None):
        self.rho = rho
        self.L = L
        self.max_clusters = max_clusters
        self.max_iter = max_iter
        self.device = device
        self.n_threads = n_threads

    def _validate(self, X, reset):
        X = validate(self, X, reset=reset)
        if (X < 0).any():
            idx = tuple(int(i) for i in np.argwhere(X < 0)[0])
            raise DataError(
                f"Negative values in data passed to ART1: expected binary X with values "
                f"in {{0, 1}}; received {X[idx]!r} at index {idx}"
            )
        return check_binary(self, X)

    # -- core ---------------------------------------------------------------------
    def _scores(self, inp, P):
        """Choice T (n, k) and vigilance pass mask (n, k) of the inputs against the prototypes P."""
        overlap = inp @ P.T  # |inp ∧ t_j|, (n, k)
        size_i = inp.sum(1, keepdim=True)  # |inp|, (n, 1)
        size_p = P.sum(1)  # |t_j|, (k,)
        T = self.L * overlap / (self.L - 1 + size_p)
        zero_i = size_i == 0
        match = torch.where(zero_i, 1.0, overlap / size_i.clamp_min(1))
        passes = match >= self.rho - 1e-12
        # The all-zero input resonates only with the all-zero prototype.
        passes = torch.where(zero_i, (size_p == 0)[None, :], passes & (size_p > 0)[None, :])
        return T, passes

    def _best(self, T, passes):
        """Index of the best passing category per row, −1 when none passes."""
        if T.shape[1] == 0:
            return torch.full((T.shape[0],), -1, dtype=torch.long, device=T.device)
        masked = torch.where(passes, T, -1.0)
        best = masked.argmax(1)
        return torch.where(passes.any(1), best, -1)

    def _epoch(self, X, P):
        """One ordered presentation of X (n, d) with fast learning. → (P, changed)."""
        cap = self.max_clusters
        changed = False
        for i in range(X.shape[0]):
            inp = X[i : i + 1]
            T, passes = self._scores(inp, P)
            j = int(self._best(T, passes)[0])
            if j < 0:
                if cap is None or P.shape[0] < cap:
                    P = torch.cat([P, inp], 0)
                    changed = True
                continue
            new = P[j] * inp[0]
            if not torch.equal(new, P[j]):
                P[j] = new
                changed = True
        return P, changed

    def _run(self, X, n_epochs):
        device = resolve_device(self.device)
        Xt = torch.as_tensor(X, device=device, dtype=torch.float32)
        P = torch.as_tensor(getattr(self, "prototypes_", np.zeros((0, X.shape[1]))), device=device, dtype=torch.float32)
        n_iter = 0
        with self._threads():
            for _ in range(n_epochs):
                P, changed = self._epoch(Xt, P)
                n_iter += 1
                if not changed:
                    break
        self.prototypes_ = P.cpu().numpy().astype(np.float64)
        self.weight_bottom_up_ = self.L * self.prototypes_ / (self.L - 1 + self.prototypes_.sum(1, keepdims=True))
        self.n_clusters_ = self.prototypes_.shape[0]
        self.labels_ = self._assign(Xt)
        return n_iter

    def _assign(self, Xt):
        P = torch.as_tensor(self.prototypes_, device=Xt.device, dtype=torch.float32)
        T, passes = self._scores(Xt, P)
        return self._best(T, passes).cpu().numpy()

    # -- public API ---------------------------------------------------------------
    def fit(self, X, y=None):
        """Cluster the binary rows of ``X``; sets ``prototypes_`` and ``labels_``. Returns self."""
        self._validate_params()
        X = self._validate(X, reset=True)
        for attr in ("prototypes_", "weight_bottom_up_"):
            self.__dict__.pop(attr, None)
        self.n_iter_ = self._run(X, int(self.max_iter))
        return self

    def partial_fit(self, X, y=None):
        """One ordered presentation of ``X`` with fast learning (online ART1). Returns self."""
        self._validate_params()
        first = not hasattr(self, "prototypes_")
        X = self._validate(X, reset=first)
        self.n_iter_ = getattr(self, "n_iter_", 0) + self._run(X, 1)
        return self

    def predict(self, X):
        """Category of each binary row (no learning); −1 where no category resonates."""
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        return self._assign(torch.as_tensor(X, device=resolve_device(self.device), dtype=torch.float32))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        return tags

"""Discrete AdaBoost over decision stumps with Viola–Jones sample weights.

Viola and Jones (2001), table 1: start from ``w_i = 1/(2m)`` for each of the
``m`` negatives and ``1/(2l)`` for each of the ``l`` positives. Each round

1. normalise ``w`` to sum 1;
2. pick the stump ``h(x) = [p·x_f < p·θ]`` (feature ``f``, threshold ``θ``,
   polarity ``p ∈ {+1, −1}``) with the least weighted error ``ε = Σ w_i |h(x_i) − y_i|``;
3. ``β = ε / (1 − ε)``, multiply the weights of the correctly classified samples by ``β``;
4. ``α = log(1/β)``.

The strong classifier says "positive" when ``Σ α_t h_t(x) ≥ ½ Σ α_t``. This is
discrete AdaBoost (SAMME with two classes): after normalisation, shrinking the
correct samples by ``β`` equals growing the wrong ones by ``1/β = e^α``.

The stump search is exact and vectorised: each feature's samples are sorted
once; every round gathers the signed weights ``s_i = w_i (2 y_i − 1)`` in that
order, and one cumulative sum ``D_k`` gives the error of "positive above the
k-th value" for every feature and split at once, ``ε_k = D_k + W₋`` (and
``1 − ε_k`` for the opposite polarity). Splits between equal values are skipped.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin

from ...errors import DataError, NotFittedError, ShapeError, format_shape
from ...validation import check_choice, check_int, expected

__all__ = ["StumpSearch", "AdaBoostStumps", "stump_predict", "viola_jones_weights",
           "two_class_labels"]

_CHUNK = 1 << 22  # elements per chunk of the (F, N) search


def viola_jones_weights(y: torch.Tensor) -> torch.Tensor:
    """``1/(2l)`` for each of the ``l`` positives, ``1/(2m)`` for each of the ``m`` negatives."""
    y = y.to(torch.bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    pos = torch.full(y.shape, 0.5 / max(n_pos, 1), dtype=torch.float64)
    return torch.where(y, pos, 0.5 / max(n_neg, 1))


def stump_predict(values: torch.Tensor, threshold, polarity) -> torch.Tensor:
    """``h(x) = [p·x < p·θ]`` as 0/1 (broadcasts over features on the last axis)."""
    return (polarity * values < polarity * threshold).to(values.dtype)


class StumpSearch:
    """Exact weighted stump search over fixed feature values.

    Args:
        values: feature values ``(F, N)`` (feature-major).
        y: labels ``(N,)`` in {0, 1}.

    ``best(w)`` returns ``(feature, threshold, polarity, error)`` of the stump
    with the least error under sample weights ``w`` (summing to 1); among equal
    errors the lowest feature index and then the lowest threshold win.
    """

    def __init__(self, values: torch.Tensor, y: torch.Tensor):
        self.values = values
        self.y = y.to(torch.bool)
        n_features, n = values.shape
        self.n = n
        # NumPy's introsort is the fastest CPU argsort here; ties are handled by `tie`
        self.order = torch.from_numpy(np.argsort(values.numpy(), axis=1))  # (F, N)
        self.sorted = torch.gather(values, 1, self.order)  # (F, N)
        # a split after position k is valid only when the next value differs
        self.tie = torch.zeros_like(self.sorted, dtype=torch.bool)
        self.tie[:, :-1] = self.sorted[:, 1:] == self.sorted[:, :-1]
        self._order_np = self.order.numpy()
        self._rows = max(1, _CHUNK // max(n, 1))

    def _best_masked(self, signed: torch.Tensor, shift: float):
        """``(feature, split)`` of the best score over every valid split (ties excluded)."""
        best_score, best = -1.0, None
        for start in range(0, self.values.shape[0], self._rows):
            stop = min(start + self._rows, self.values.shape[0])
            d = torch.take(signed, self.order[start:stop]).cumsum_(1)  # (f, N)
            score = d.add_(shift).abs_().masked_fill_(self.tie[start:stop], -1.0)
            flat = int(score.argmax())
            value = float(score.view(-1)[flat])
            if value > best_score + 1e-12:
                best_score, best = value, (start + flat // self.n, flat % self.n)
        return best

    def best(self, w: torch.Tensor):
        signed = torch.where(self.y, w, -w).to(torch.float32)
        signed_np = signed.numpy()
        w_neg = float(w[~self.y].sum())
        shift = w_neg - 0.5
        best_score, best_row, best_d = -1.0, None, None
        n_features = self.values.shape[0]
        for start in range(0, n_features, self._rows):
            stop = min(start + self._rows, n_features)
            # (f, N): the error of "positive when x > θ_k" is d_k + w_neg (NumPy's take is
            # faster than torch.take here, and faster without `out=`)
            d = torch.from_numpy(np.take(signed_np, self._order_np[start:stop])).cumsum_(1)
            # each feature's best |d + w_neg − ½|, splits between equal values not yet excluded
            # (rounding is monotonic, so max(d) + c equals max(d + c) in float32)
            row_best = torch.maximum(d.amax(1) + shift, -(d.amin(1) + shift))
            r = int(row_best.argmax())
            value = float(row_best[r])
            if value > best_score + 1e-12:
                best_score, best_row, best_d = value, start + r, d[r]
        # the best feature's best valid split; if its best is between equal values, another
        # feature may win, so search again with those splits excluded (rare)
        score = best_d.add_(shift).abs_().masked_fill_(self.tie[best_row], -1.0)
        k = int(score.argmax())
        if float(score[k]) == best_score:
            best = (best_row, k)
        else:
            best = self._best_masked(signed, shift)
        f, k = best
        col = self.sorted[f]
        err_above = float(torch.take(signed.double(), self.order[f, :k + 1]).sum()) + w_neg
        theta = float(col[k] + col[k + 1]) / 2 if k + 1 < self.n else float(col[k]) + 1.0
        if err_above <= 1 - err_above:
            polarity, error = -1.0, err_above   # positive when x > θ
        else:
            polarity, error = 1.0, 1 - err_above  # positive when x < θ
        return f, theta, polarity, max(error, 0.0)


def two_class_labels(owner: str, name: str, labels, n: int, what: str = "two classes"):
    """``(classes, positive)``: the two sorted labels and a bool tensor ``labels == classes[1]``.

    Raises:
        ShapeError: labels that are not ``(n,)``.
        DataError: labels with other than two classes.
    """
    y = np.asarray(labels)
    if y.shape != (n,):
        raise ShapeError(f"{owner}: expected `{name}` of shape ({n},), received "
                         f"{format_shape(y.shape)}")
    classes = np.unique(y)
    if len(classes) != 2:
        raise DataError(f"{owner}: expected `{name}` with {what}, received {len(classes)} "
                        f"class(es): {classes.tolist()[:5]}")
    return classes, torch.as_tensor(y == classes[1])


class AdaBoostStumps(ClassifierMixin, BaseEstimator):
    """Discrete AdaBoost of decision stumps, Viola–Jones weighting (a scikit-learn estimator).

    Update rule (per round ``t``): normalise ``w``; fit the least-error stump
    ``h_t``; ``β_t = ε_t/(1 − ε_t)``; ``w_i ← w_i β_t^{1 − e_i}`` (``e_i = 0`` when
    ``h_t`` classifies sample ``i`` correctly); ``α_t = log(1/β_t)``. Decision:
    ``Σ α_t h_t(x) − ½ Σ α_t ≥ 0``.

    Args:
        n_estimators: boosting rounds (default 50). Training stops early when a
            stump classifies every sample correctly (its ``α`` is then capped at 10·log 10).
        weights: ``"viola-jones"`` (each class starts with half the weight, default)
            or ``"uniform"`` (``1/N`` each, scikit-learn's start).

    Input shape: ``X (N, F)`` feature values, ``y (N,)`` two classes.

    Attributes:
        features_, thresholds_, polarities_, alphas_, errors_: one entry per stump.
        classes_: the two labels; ``classes_[1]`` is the "positive" class.

    Example:
        >>> import numpy as np
        >>> X = np.array([[0.0], [1.0], [2.0], [3.0]]); y = np.array([0, 0, 1, 1])
        >>> AdaBoostStumps(n_estimators=3).fit(X, y).predict([[0.5], [2.5]]).tolist()
        [0, 1]
    """

    def __init__(self, n_estimators: int = 50, *, weights: str = "viola-jones"):
        self.n_estimators = n_estimators
        self.weights = weights

    def fit(self, X, y, sample_weight=None):
        n_rounds = check_int("AdaBoostStumps", "n_estimators", self.n_estimators, low=1)
        mode = check_choice("AdaBoostStumps", "weights", self.weights, ("viola-jones", "uniform"))
        X, y_bool = self._validate(X, y)
        n = len(y_bool)
        if sample_weight is not None:
            w = torch.as_tensor(np.asarray(sample_weight, dtype=np.float64))
            if w.shape != (n,) or bool((w < 0).any()) or float(w.sum()) <= 0:
                raise expected("AdaBoostStumps", "sample_weight",
                               f"{n} non-negative weights with a positive sum", sample_weight,
                               error=DataError)
        elif mode == "viola-jones":
            w = viola_jones_weights(y_bool)
        else:
            w = torch.full((n,), 1.0 / n, dtype=torch.float64)
        search = StumpSearch(X.T.contiguous(), y_bool)
        feats, thetas, pols, alphas, errors = [], [], [], [], []
        yf = y_bool.to(torch.float64)
        for _ in range(n_rounds):
            w = w / w.sum()
            f, theta, pol, err = search.best(w)
            h = stump_predict(X[:, f], theta, pol)
            if err <= 1e-12:
                for store, value in ((feats, f), (thetas, theta), (pols, pol),
                                     (alphas, 10 * math.log(10)), (errors, 0.0)):
                    store.append(value)
                break
            beta = err / (1 - err)
            w = w * torch.where(h == yf, beta, 1.0)
            for store, value in ((feats, f), (thetas, theta), (pols, pol),
                                 (alphas, math.log(1 / beta)), (errors, err)):
                store.append(value)
            if err >= 0.5 - 1e-12:
                break
        self.features_ = np.asarray(feats, dtype=np.int64)
        self.thresholds_ = np.asarray(thetas)
        self.polarities_ = np.asarray(pols)
        self.alphas_ = np.asarray(alphas)
        self.errors_ = np.asarray(errors)
        return self

    def _validate(self, X, y=None):
        X = torch.as_tensor(np.asarray(X, dtype=np.float64))
        if X.dim() != 2:
            raise ShapeError(f"AdaBoostStumps: expected `X` to be (N, F) feature values, "
                             f"received shape {format_shape(X.shape)}")
        if not bool(torch.isfinite(X).all()):
            raise DataError("AdaBoostStumps: expected finite feature values, received NaN or inf")
        if y is None:
            if X.shape[1] != self.n_features_in_:
                raise ShapeError(f"X has {X.shape[1]} features, but AdaBoostStumps is expecting "
                                 f"{self.n_features_in_} features as input")
            return X
        self.classes_, positive = two_class_labels("AdaBoostStumps", "y", y, len(X))
        self.n_features_in_ = X.shape[1]
        return X, positive

    def decision_function(self, X) -> np.ndarray:
        """``Σ α_t h_t(x) − ½ Σ α_t`` per sample (positive → ``classes_[1]``)."""
        if not hasattr(self, "alphas_"):
            raise NotFittedError("This AdaBoostStumps instance is not fitted yet. Call 'fit' "
                                 "with appropriate arguments before using this estimator.")
        X = self._validate(X)
        h = stump_predict(X[:, self.features_], torch.as_tensor(self.thresholds_),
                          torch.as_tensor(self.polarities_))
        alphas = torch.as_tensor(self.alphas_)
        return (h @ alphas - 0.5 * alphas.sum()).numpy()

    def predict(self, X) -> np.ndarray:
        positive = self.decision_function(X) >= 0
        return self.classes_[positive.astype(int)]

"""Specht's kernel networks: GRNN (regression) and PNN (classification).

Both store the training set and predict with a Gaussian (Parzen) kernel over
all of it; "training" is memorising. Prediction is one matrix product of the
queries with the training points, done in chunks (see
:func:`neuralab.classic._kernels.gaussian_smoother`).
"""

from __future__ import annotations

import numbers

import numpy as np
import torch
from sklearn.base import ClassifierMixin, RegressorMixin

from .. import registry
from ..validation import expected
from ._base import (
    COMMON_CONSTRAINTS,
    Estimator,
    Interval,
    StrOptions,
    check_is_fitted,
    check_supervised,
    to_tensor,
    validate,
)
from ._kernels import as_numpy, augmented_centers, class_kernel_shares, gaussian_smoother

__all__ = ["GRNN", "PNN"]

# the kernels compute logits (x·c − ‖c‖²/2)/σ² in float32: beyond this they overflow
_LOGIT_LIMIT = 1e36


class _KernelNetwork(Estimator):
    """What GRNN and PNN share: the constructor, the parameters and the σ check."""

    _parameter_constraints = {
        "std": [Interval(numbers.Real, 0, None, closed="neither")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left"), StrOptions({"auto"})],
        **COMMON_CONSTRAINTS,
    }

    def __init__(self, std=0.1, *, batch_size="auto", device="auto", n_threads=None):
        self.std = std
        self.batch_size = batch_size
        self.device = device
        self.n_threads = n_threads

    def _check_std(self, X) -> None:
        """ConfigError when 1/σ² times the data's scale overflows float32 (NaN predictions)."""
        centered = self.X_fit_ - self.X_fit_.mean(0)
        scale = float(np.abs(centered).max()) if centered.size else 0.0
        query = float(np.abs(X - self.X_fit_.mean(0)).max()) if X.size else 0.0
        ratio = max(scale, query, 1.0) / float(self.std)
        bound = ratio * ratio * X.shape[1]  # inf, never an OverflowError, for a tiny σ
        if not bound < _LOGIT_LIMIT:
            smallest = max(scale, query, 1.0) * (X.shape[1] / _LOGIT_LIMIT) ** 0.5
            raise expected(type(self).__name__, "std",
                           f"at least {smallest:.3g} for this data (a smaller σ makes the kernel "
                           "logits ‖x‖²/σ² overflow float32)", self.std)

    def _inputs(self, X):
        check_is_fitted(self)
        self._validate_params()
        X = validate(self, X, reset=False)
        self._check_std(X)
        return X, self._device()

    def _prepared(self, device, *, store=False):
        """The training points as the kernels' augmented matrix (made by ``fit``, kept for predictions).

        Made again, and not kept (``predict`` leaves the estimator unchanged),
        when σ or the device changed since ``fit``.
        """
        key = (float(self.std), str(device))
        cached = getattr(self, "_prepared_centers", None)
        if not store and cached is not None and cached[0] == key:
            return cached[1]
        centers = augmented_centers(to_tensor(self.X_fit_, device), self.std)
        if store:
            self._prepared_centers = (key, centers)
        return centers


@registry.estimators.register("GRNN")
class GRNN(RegressorMixin, _KernelNetwork):
    """General Regression Neural Network (Specht, 1991).

    The prediction is the Nadaraya–Watson kernel average of the training
    targets:

    .. math::

        \\hat y(x) = \\frac{\\sum_i y_i \\exp(-D_i^2 / (2\\sigma^2))}
                          {\\sum_i \\exp(-D_i^2 / (2\\sigma^2))},
        \\qquad D_i^2 = \\lVert x - x_i \\rVert^2

    This is Specht's kernel with ``2σ²`` in the denominator; NeuPy used ``σ²``
    (so NeuPy's ``std=s`` equals ``std=s/√2`` here). Weights are computed
    relative to the nearest training point, so a query far from every point
    predicts that point's target instead of NaN.

    Args:
        std: kernel width σ > 0 (in input units). Default 0.1.
        batch_size: query rows per chunk (the kernel is computed in tiles of
            ``batch_size × 256`` training points, a few MB), or ``"auto"``
            (1,024 rows). Default ``"auto"``.
        device: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"``…
        n_threads: torch intra-op threads while predicting (None: torch's setting).

    A σ so small that ``‖x‖²/σ²`` overflows float32 raises ConfigError naming
    the smallest usable σ (predictions never turn NaN).

    Shapes:
        ``fit(X (n, d), y (n,) or (n, k))``; ``predict(X (m, d)) -> (m,) or (m, k)``.

    Attributes:
        X_fit_: ``(n, d)`` stored training inputs.
        y_fit_: ``(n, k)`` stored training targets.
        n_features_in_: number of input features.

    Example:
        >>> import numpy as np
        >>> x = np.linspace(0, 6, 200)[:, None]
        >>> model = GRNN(std=0.05).fit(x, np.sin(x).ravel())
        >>> bool(abs(model.predict([[1.0]])[0] - np.sin(1.0)) < 1e-2)
        True
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True  # y of shape (n, k) predicts (m, k)
        return tags

    def fit(self, X, y):
        """Store the training set. Returns self."""
        self._validate_params()
        X, y = check_supervised(self, X, y, reset=True, multi_output=True, y_numeric=True)
        self._y_is_1d = y.ndim == 1
        self.X_fit_ = X
        self._check_std(X)
        self._prepared(self._device(), store=True)
        self.y_fit_ = y.reshape(len(y), -1).astype(np.float64)
        return self

    def predict(self, X):
        """Kernel-weighted average of the training targets, ``(m,)`` or ``(m, k)``."""
        X, device = self._inputs(X)
        with self._threads(), torch.no_grad():
            out = gaussian_smoother(
                to_tensor(X, device),
                self.X_fit_,
                to_tensor(self.y_fit_, device),
                self.std,
                batch_size=self.batch_size,
                prepared=self._prepared(device),
            )
        out = as_numpy(out)
        return out.ravel() if self._y_is_1d else out


@registry.estimators.register("PNN")
class PNN(ClassifierMixin, _KernelNetwork):
    """Probabilistic Neural Network (Specht, 1990).

    Each class density is a Parzen estimate with a Gaussian kernel; the class
    with the largest density wins (equal priors and losses, as in NeuPy):

    .. math::

        f_k(x) = \\frac{1}{n_k} \\sum_{i: y_i = k} \\exp\\left(-\\frac{\\lVert x - x_i\\rVert^2}
        {2\\sigma^2}\\right), \\qquad P(k \\mid x) = \\frac{f_k(x)}{\\sum_j f_j(x)}

    Specht's kernel has ``2σ²``; NeuPy used ``σ²``. Densities are computed
    relative to the nearest training point, so far-away queries do not turn
    into 0/0. ``fit`` groups the training points by class, so that prediction
    sums each class's kernel weights over a contiguous slice of every distance
    chunk (no product with a one-hot class matrix).

    Args:
        std: kernel width σ > 0. Default 0.1.
        batch_size: query rows per chunk (tiles of ``batch_size × 256``
            training points), or ``"auto"`` (1,024 rows). Default ``"auto"``.
        device: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"``…
        n_threads: torch intra-op threads while predicting (None: torch's setting).

    Shapes:
        ``fit(X (n, d), y (n,))``; ``predict_proba(X (m, d)) -> (m, n_classes)``.

    Attributes:
        classes_: ``(n_classes,)`` class labels.
        X_fit_: ``(n, d)`` stored training inputs, grouped by class (stable
            order within a class).
        y_fit_: ``(n,)`` class index of each row of ``X_fit_`` (non-decreasing).
        class_count_: ``(n_classes,)`` training points per class.

    Example:
        >>> from sklearn.datasets import load_digits
        >>> X, y = load_digits(return_X_y=True)
        >>> model = PNN(std=4.0).fit(X[:1000], y[:1000])
        >>> bool(model.score(X[1000:], y[1000:]) > 0.95)
        True
    """

    def fit(self, X, y):
        """Store the training set and its classes. Returns self."""
        self._validate_params()
        X, y = check_supervised(self, X, y, reset=True, classification=True)
        self.classes_, y_index = np.unique(y, return_inverse=True)
        order = np.argsort(y_index, kind="stable")  # group the points by class
        self.X_fit_ = X[order]
        self._check_std(X)
        self._prepared(self._device(), store=True)
        self.y_fit_ = y_index[order]
        self.class_count_ = np.bincount(y_index, minlength=len(self.classes_))
        return self

    def predict_proba(self, X):
        """Normalised class densities, ``(m, n_classes)``."""
        X, device = self._inputs(X)
        # Training points are grouped by class (sorted at fit): each chunk of
        # kernel weights is reduced per class by one reshaped sum.
        with self._threads(), torch.no_grad():
            shares = class_kernel_shares(
                to_tensor(X, device),
                self.X_fit_,
                self.class_count_,
                self.std,
                batch_size=self.batch_size,
                prepared=self._prepared(device),
            )
        density = as_numpy(shares) / self.class_count_  # f_k up to a per-row factor
        return density / density.sum(axis=1, keepdims=True)

    def predict(self, X):
        """The class with the largest density, ``(m,)``."""
        check_is_fitted(self)
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

"""Specht's kernel networks: GRNN (regression) and PNN (classification).

Both store the training set and predict with a Gaussian (Parzen) kernel over
all of it; "training" is memorising. Prediction is one matrix product of the
queries with the training points, done in chunks (see
:func:`neuralab.classic._kernels.gaussian_smoother`).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets

from .. import registry
from ..errors import ConfigError
from ._base import check_is_fitted, check_positive, resolve_device, validate
from ._kernels import (
    as_numpy,
    check_supervised,
    class_kernel_shares,
    float_tensor,
    gaussian_smoother,
)

__all__ = ["GRNN", "PNN"]


def _check_batch_size(estimator, batch_size):
    if batch_size == "auto":
        return batch_size
    if isinstance(batch_size, str):
        raise ConfigError(
            f"{type(estimator).__name__}: `batch_size` must be a positive integer or 'auto', "
            f"received {batch_size!r}"
        )
    return check_positive(estimator, "batch_size", batch_size, integer=True)


@registry.estimators.register("GRNN")
class GRNN(RegressorMixin, BaseEstimator):
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
        batch_size: query rows per distance chunk (scratch memory is about
            ``2 × batch_size × n_train × 4`` bytes), or ``"auto"`` (keeps it near
            320 MB whatever the training size). Default ``"auto"``.
        device: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"``…

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

    def __init__(self, std=0.1, *, batch_size="auto", device="auto"):
        self.std = std
        self.batch_size = batch_size
        self.device = device

    def _check_params(self):
        check_positive(self, "std", self.std)
        _check_batch_size(self, self.batch_size)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True  # y of shape (n, k) predicts (m, k)
        return tags

    def fit(self, X, y):
        """Store the training set. Returns self."""
        self._check_params()
        X, y = check_supervised(self, X, y, reset=True, multi_output=True, y_numeric=True)
        self._y_is_1d = y.ndim == 1
        self.X_fit_ = X
        self.y_fit_ = y.reshape(len(y), -1).astype(np.float64)
        return self

    def predict(self, X):
        """Kernel-weighted average of the training targets, ``(m,)`` or ``(m, k)``."""
        check_is_fitted(self)
        self._check_params()
        X = validate(self, X, reset=False)
        device = resolve_device(self.device)
        out = gaussian_smoother(
            float_tensor(X, device),
            float_tensor(self.X_fit_, device),
            float_tensor(self.y_fit_, device),
            self.std,
            batch_size=self.batch_size,
        )
        out = as_numpy(out)
        return out.ravel() if self._y_is_1d else out


@registry.estimators.register("PNN")
class PNN(ClassifierMixin, BaseEstimator):
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
        batch_size: query rows per distance chunk (scratch memory is about
            ``2 × batch_size × n_train × 4`` bytes), or ``"auto"`` (about 320 MB).
            Default ``"auto"``.
        device: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"``…

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

    def __init__(self, std=0.1, *, batch_size="auto", device="auto"):
        self.std = std
        self.batch_size = batch_size
        self.device = device

    def _check_params(self):
        check_positive(self, "std", self.std)
        _check_batch_size(self, self.batch_size)

    def fit(self, X, y):
        """Store the training set and its classes. Returns self."""
        self._check_params()
        X, y = check_supervised(self, X, y, reset=True)
        check_classification_targets(y)
        self.classes_, y_index = np.unique(y, return_inverse=True)
        order = np.argsort(y_index, kind="stable")  # group the points by class
        self.X_fit_ = X[order]
        self.y_fit_ = y_index[order]
        self.class_count_ = np.bincount(y_index, minlength=len(self.classes_))
        return self

    def predict_proba(self, X):
        """Normalised class densities, ``(m, n_classes)``."""
        check_is_fitted(self)
        self._check_params()
        X = validate(self, X, reset=False)
        device = resolve_device(self.device)
        # Training points are grouped by class (sorted at fit): each chunk of
        # kernel weights is reduced per class by one reshaped sum.
        shares = class_kernel_shares(
            float_tensor(X, device),
            float_tensor(self.X_fit_, device),
            self.class_count_,
            self.std,
            batch_size=self.batch_size,
        )
        density = as_numpy(shares) / self.class_count_  # f_k up to a per-row factor
        return density / density.sum(axis=1, keepdims=True)

    def predict(self, X):
        """The class with the largest density, ``(m,)``."""
        check_is_fitted(self)
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

"""Unsupervised Hebbian learning rules: Oja, Kohonen (competitive), Instar, Hebb with decay.

All four learn online (``partial_fit``) with torch tensors. ``Oja`` is a
dimension-reduction transformer; ``Kohonen`` a competitive clusterer;
``Instar`` and ``HebbRule`` are associative (conditioning) networks whose first
``n_unconditioned`` inputs are unconditioned stimuli wired with fixed weights,
the remaining (conditioned) inputs learn.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.base import ClassNamePrefixFeaturesOutMixin, ClusterMixin, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_array, check_random_state

from .. import registry
from ..errors import DataError, TrainingError
from ..validation import expected
from ._base import NON_NEGATIVE, POSITIVE, Estimator, StrOptions, check_init, integer
from ._base import check_is_fitted, make_init, real, validate

__all__ = ["Oja", "Kohonen", "Instar", "HebbRule"]


def _dtype(device):
    return torch.float64 if device.type == "cpu" else torch.float32


class _EpochFit(Estimator):
    """``fit``/``partial_fit`` of Oja and Kohonen: a seeded start, then epochs of the rule.

    Subclasses provide ``_setup(X, rng)`` (initial weights, ``init`` checked),
    ``_epochs(X, n, rng) -> epochs run`` (appends to ``loss_curve_``), and may
    override ``_continue(X)`` (before a later ``partial_fit`` epoch) and
    ``_done(X, partial)`` (after training).
    """

    _learned = "components_"

    def fit(self, X, y=None):
        """Train from a fresh start for up to ``max_iter`` epochs. Returns self."""
        return self._fit(X, partial=False)

    def partial_fit(self, X, y=None):
        """One epoch of the rule on ``X``, continuing from the current weights. Returns self."""
        return self._fit(X, partial=True)

    def _fit(self, X, *, partial: bool):
        self._validate_params()
        first = not (partial and hasattr(self, self._learned))
        X = validate(self, X, reset=first)
        if first:
            self.random_state_ = check_random_state(self.random_state)
            self._setup(X, self.random_state_)
            self.n_iter_ = 0
            self.loss_curve_ = []
        else:
            self._continue(X)
        self.n_iter_ += self._epochs(X, 1 if partial else int(self.max_iter), self.random_state_)
        self._done(X, partial)
        return self

    def _continue(self, X) -> None:
        """Before an epoch of ``partial_fit`` on a set-up estimator (override)."""

    def _done(self, X, partial: bool) -> None:
        """After training (override)."""


# ---------------------------------------------------------------------------------------
@registry.estimators.register("Oja")
class Oja(ClassNamePrefixFeaturesOutMixin, TransformerMixin, _EpochFit):
    """Oja's subspace rule: a linear neural network that learns the principal subspace.

    With ``W`` of shape (n_features, n_components), a centred input ``x`` and
    ``y = Wᵀ x`` (the outputs), each mini-batch ``B`` applies::

        W += η / |B| · Σ_{x∈B} (x − W y) yᵀ

    (Oja 1982 for one output; the symmetric subspace rule of Oja 1989 for
    several). Its stable fixed points are orthonormal bases of the span of the
    top ``n_components`` eigenvectors of the data covariance (not the
    eigenvectors themselves: any rotation inside the subspace is a fixed point).

    ``learning_rate="auto"`` sets ``η = 0.5 / mean‖x − mean‖²`` from the first
    data seen; since the largest covariance eigenvalue is at most that mean,
    ``η λ_max ≤ 0.5`` and the rule is stable whatever the data scale.
    NeuPy does not centre the data; ``center=False`` reproduces that.

    Args:
        n_components: output size. Default 2.
        learning_rate: ``η`` or "auto". Default "auto".
        batch_size: samples per update; None → the whole data (one deterministic
            update per epoch, which converges to ``tol``; mini-batches keep a
            noise floor of order ``η``). Default None.
        max_iter: maximum epochs in ``fit``. Default 1000.
        tol: stop when an epoch moves no weight by more than ``tol``. Default 1e-6.
        center: subtract the (running) mean of the data. Default True.
        shuffle: shuffle samples every epoch. Default True.
        random_state: seed for the initial weights and the order. Default None.
        device: "auto" | "cpu" | "cuda" … Default "auto".
        n_threads: torch intra-op threads during fit/predict (None: torch's setting).
        init: starting ``components_``, an array (n_components, n_features).
            Default None: an orthonormal random start.

    Input/Output shape: ``X`` (n_samples, n_features) → ``transform`` (n_samples, n_components).

    Attributes:
        components_: (n_components, n_features) = ``Wᵀ``.
        mean_: (n_features,) the mean subtracted (zeros when ``center=False``).
        learning_rate_: the ``η`` used. n_iter_: epochs run.
        n_samples_seen_: samples used for the running mean.
        loss_curve_: after each epoch, the mean squared reconstruction error
            ``‖x − x̂‖²`` of that epoch's data (``x̂`` = :meth:`reconstruct`).

    Example:
        >>> import numpy as np
        >>> from neuralab.classic import Oja
        >>> X = np.random.RandomState(0).randn(300, 3) * [3.0, 1.0, 0.1]
        >>> oja = Oja(n_components=1, random_state=0, device="cpu").fit(X)
        >>> bool(abs(oja.components_[0, 0]) > 0.99)
        True
    """

    __init__ = make_init({
        "n_components": 2, "learning_rate": "auto", "batch_size": None, "max_iter": 1000,
        "tol": 1e-6, "center": True, "shuffle": True, "random_state": None, "device": "auto",
        "n_threads": None, "init": None,
    }, positional=11)

    _parameter_constraints = {
        "n_components": [integer(1)],
        "learning_rate": [POSITIVE, StrOptions({"auto"})],
        "batch_size": [integer(1), None],
        "max_iter": [integer(1)],
        "tol": [NON_NEGATIVE],
        "center": ["boolean"],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "init": ["array-like", None],
    }

    @property
    def _n_features_out(self):
        return self.components_.shape[0]

    def _setup(self, X, rng):
        n_features = X.shape[1]
        if self.n_components > n_features:
            raise expected("Oja", "n_components", f"at most n_features={n_features}",
                           self.n_components)
        self.mean_ = X.mean(0) if self.center else np.zeros(n_features)
        self.n_samples_seen_ = X.shape[0]
        if self.learning_rate == "auto":
            power = float(np.mean(np.sum((X - self.mean_) ** 2, axis=1)))
            self.learning_rate_ = 0.5 / power if power > 0 else 1.0
        else:
            self.learning_rate_ = float(self.learning_rate)
        W = rng.standard_normal((n_features, self.n_components))
        W, _ = np.linalg.qr(W)  # orthonormal start
        given = check_init(self, (self.n_components, n_features), "n_components, n_features")
        self.components_ = W.T.copy() if given is None else given

    def _epochs(self, X, n_epochs, rng):
        with self._threads():
            return self._epochs_loop(X, n_epochs, rng, self._device())

    def _epochs_loop(self, X, n_epochs, rng, device):
        dtype = _dtype(device)
        W = torch.as_tensor(self.components_.T.copy(), device=device, dtype=dtype)
        Xc = torch.as_tensor(X - self.mean_, device=device, dtype=dtype)
        n = X.shape[0]
        eta, bs = self.learning_rate_, n if self.batch_size is None else int(self.batch_size)
        n_run = 0
        self._converged = False
        for _ in range(n_epochs):
            W0 = W.clone()
            if self.shuffle and bs < n:
                Xe = Xc[torch.as_tensor(rng.permutation(n), device=device)]
            else:
                Xe = Xc
            for B in Xe.split(bs):
                Y = B @ W  # (b, k)
                # W += η/b (Bᵀ Y − W YᵀY)  ==  η/b Σ (x − W y) yᵀ
                W.add_(B.T @ Y - W @ (Y.T @ Y), alpha=eta / B.shape[0])
            n_run += 1
            if not torch.isfinite(W).all():
                raise TrainingError(
                    f"Oja: weights became non-finite; lower learning_rate (η={eta:g})"
                )
            residual = torch.addmm(Xc, Xc @ W, W.T, alpha=-1.0)  # x − W Wᵀx per row
            self.loss_curve_.append(float(torch.linalg.vector_norm(residual)) ** 2 / n)
            if float((W - W0).abs().max()) <= self.tol:
                self._converged = True
                break
        self.components_ = W.T.cpu().numpy().astype(np.float64)
        return n_run

    def _continue(self, X):
        if self.center:  # running mean
            total = self.n_samples_seen_ + X.shape[0]
            self.mean_ = self.mean_ + (X.sum(0) - X.shape[0] * self.mean_) / total
            self.n_samples_seen_ = total

    def _done(self, X, partial):
        if not partial and not self._converged:
            warnings.warn(
                f"Oja: the weights still moved by more than tol={self.tol:g} after "
                f"max_iter={self.max_iter} epochs; increase max_iter or learning_rate",
                ConvergenceWarning,
            )

    def transform(self, X):
        """Outputs ``y = (x − mean) W``, (n_samples, n_components)."""
        X = self._fitted_data(X)
        return (X - self.mean_) @ self.components_.T

    def inverse_transform(self, X):
        """Back to input space: ``x̂ = y Wᵀ + mean``, (n_samples, n_features)."""
        check_is_fitted(self)
        Y = check_array(X, dtype=np.float64)
        if Y.shape[1] != self.components_.shape[0]:
            raise DataError(
                f"Oja.inverse_transform expects shape (n_samples, {self.components_.shape[0]}), "
                f"received {Y.shape}"
            )
        return Y @ self.components_ + self.mean_

    def reconstruct(self, X):
        """``inverse_transform(transform(X))``: the projection onto the learned subspace."""
        return self.inverse_transform(self.transform(X))


# ---------------------------------------------------------------------------------------
@registry.estimators.register("Kohonen")
class Kohonen(ClusterMixin, _EpochFit):
    """Kohonen's competitive layer: winner-take-all with the Kohonen (instar) rule.

    For each input ``x``: the winner ``i* = argmax_i w_i·x`` (``distance="dot"``,
    Kohonen's competitive layer, meant for normalised vectors) or
    ``argmin_i ‖x − w_i‖`` (``distance="euclid"``); only the winner moves::

        w_{i*} += η (x − w_{i*})

    Args:
        n_clusters: number of competing units. Default 2.
        learning_rate: ``η`` in (0, 1]. Default 0.1.
        distance: "dot" | "euclid". Default "euclid".
        max_iter: epochs in ``fit``. Default 20.
        shuffle: shuffle every epoch. Default True.
        random_state: seed for the initial weights (drawn from the samples) and order.
        device: "auto" | "cpu" | "cuda" … Default "auto".
        n_threads: torch intra-op threads during fit/predict (None: torch's setting).
        init: starting weights, an array (n_clusters, n_features). Default None.

    Attributes:
        weight_: (n_clusters, n_features) unit weights. labels_: winners of the
        training samples. n_iter_: epochs run. loss_curve_: after each epoch,
        the mean Euclidean distance from the epoch's samples to their winners.

    Example:
        >>> import numpy as np
        >>> from neuralab.classic import Kohonen
        >>> X = np.array([[0.0, 0.1], [0.1, 0.0], [5.0, 5.1], [5.1, 5.0]])
        >>> km = Kohonen(n_clusters=2, random_state=1, device="cpu").fit(X)
        >>> km.labels_[0] == km.labels_[1] != km.labels_[2] == km.labels_[3]
        np.True_
    """

    _learned = "weight_"
    __init__ = make_init({
        "n_clusters": 2, "learning_rate": 0.1, "distance": "euclid", "max_iter": 20,
        "shuffle": True, "random_state": None, "device": "auto", "n_threads": None, "init": None,
    }, positional=9)

    _parameter_constraints = {
        "n_clusters": [integer(1)],
        "learning_rate": [real(0, 1, closed="right")],
        "distance": [StrOptions({"dot", "euclid"})],
        "max_iter": [integer(1)],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "init": ["array-like", None],
    }

    def _winners(self, X, W):
        if self.distance == "dot":
            return (X @ W.T).argmax(1)
        return torch.cdist(X, W).argmin(1)

    def _epochs(self, X, n_epochs, rng):
        with self._threads():
            return self._epochs_loop(X, n_epochs, rng, self._device())

    def _epochs_loop(self, X, n_epochs, rng, device):
        dtype = _dtype(device)
        W = torch.as_tensor(self.weight_, device=device, dtype=dtype).clone()
        Xt = torch.as_tensor(X, device=device, dtype=dtype)
        eta = float(self.learning_rate)
        for _ in range(n_epochs):
            order = rng.permutation(len(X)) if self.shuffle else np.arange(len(X))
            for i in order.tolist():
                x = Xt[i]
                j = int(self._winners(x[None], W)[0])
                W[j] += eta * (x - W[j])
            distance = torch.linalg.vector_norm(Xt - W[self._winners(Xt, W)], dim=1)
            self.loss_curve_.append(float(distance.mean()))
        self.weight_ = W.cpu().numpy().astype(np.float64)
        return n_epochs

    def _setup(self, X, rng):
        idx = rng.choice(len(X), self.n_clusters, replace=len(X) < self.n_clusters)
        given = check_init(self, (self.n_clusters, X.shape[1]), "n_clusters, n_features")
        self.weight_ = X[idx].astype(np.float64) if given is None else given

    def _done(self, X, partial):
        self.labels_ = self.predict(X)

    def predict(self, X):
        """Winning unit of each sample, (n_samples,)."""
        X = self._fitted_data(X)
        device = self._device()
        dtype = _dtype(device)
        W = torch.as_tensor(self.weight_, device=device, dtype=dtype)
        return self._winners(torch.as_tensor(X, device=device, dtype=dtype), W).cpu().numpy()


# ---------------------------------------------------------------------------------------
class _StepAssociative(Estimator):
    """Shared code of Instar and HebbRule (step-function associative networks).

    Weights ``W`` (n_outputs, n_features); the first ``n_unconditioned``
    columns are fixed at ``unconditioned_weight``, the others start at 0 and
    learn. Output: ``a = 1[W x ≥ threshold]`` (Hagan et al.'s hardlim with
    bias ``−threshold``). Samples are presented in order, one update each.
    """

    _ARGUMENTS = {
        "n_outputs": 1, "n_unconditioned": 1, "learning_rate": 0.1, "threshold": 0.5,
        "unconditioned_weight": 1.0, "max_iter": 1, "device": "auto", "n_threads": None,
        "init": None,
    }
    __init__ = make_init(_ARGUMENTS, positional=len(_ARGUMENTS))

    _parameter_constraints = {
        "n_outputs": [integer(1)],
        "n_unconditioned": [integer(0)],
        "learning_rate": [POSITIVE],
        "threshold": [real()],
        "unconditioned_weight": [real()],
        "max_iter": [integer(1)],
        "init": ["array-like", None],
    }

    def _init(self, n_features):
        if self.n_unconditioned >= n_features:
            raise DataError(
                f"{type(self).__name__}: X must have more than n_unconditioned="
                f"{self.n_unconditioned} features (the rest are conditioned inputs), "
                f"received {n_features}"
            )
        W = check_init(self, (self.n_outputs, n_features), "n_outputs, n_features")
        if W is None:
            W = np.zeros((self.n_outputs, n_features))
            W[:, : self.n_unconditioned] = self.unconditioned_weight
        self.weight_ = W

    def _update(self, W, x, a):  # pragma: no cover - abstract
        raise NotImplementedError

    def _run(self, X, n_epochs):
        with self._threads():
            self._run_loop(X, n_epochs, self._device())

    def _run_loop(self, X, n_epochs, device):
        dtype = _dtype(device)
        W = torch.as_tensor(self.weight_, device=device, dtype=dtype).clone()
        Xt = torch.as_tensor(X, device=device, dtype=dtype)
        u = int(self.n_unconditioned)
        for _ in range(n_epochs):
            for i in range(Xt.shape[0]):
                x = Xt[i]
                a = ((W @ x) >= self.threshold).to(dtype)  # (n_outputs,)
                self._update(W, x, a, u)
        self.weight_ = W.cpu().numpy().astype(np.float64)

    def fit(self, X, y=None):
        """Present ``X`` in order for ``max_iter`` epochs from fresh weights. Returns self."""
        self._validate_params()
        X = validate(self, X, reset=True)
        self._init(X.shape[1])
        self._run(X, int(self.max_iter))
        return self

    def partial_fit(self, X, y=None):
        """Present ``X`` once, in order, continuing from the current weights. Returns self."""
        self._validate_params()
        first = not hasattr(self, "weight_")
        X = validate(self, X, reset=first)
        if first:
            self._init(X.shape[1])
        self._run(X, 1)
        return self

    def predict(self, X):
        """Binary outputs ``1[W x ≥ threshold]``, (n_samples, n_outputs)."""
        X = self._fitted_data(X)
        return (X @ self.weight_.T >= self.threshold).astype(np.float64)


# the arguments shared by Instar's and HebbRule's docstrings
_ARGS_HEAD = """    Args:
        n_outputs: outputs. Default 1.
        n_unconditioned: leading inputs with fixed weights. Default 1.
        learning_rate: ``η``. Default 0.1.
"""
_ARGS_TAIL = """        threshold: firing threshold (bias ``−threshold``). Default 0.5.
        unconditioned_weight: fixed weight of the unconditioned inputs. Default 1.0.
        max_iter: epochs in ``fit``. Default 1.
        device: "auto" | "cpu" | "cuda" … Default "auto".
        n_threads: torch intra-op threads during fit/predict (None: torch's setting).
        init: starting weights, an array (n_outputs, n_features), unconditioned
            columns included (they stay at their given values). Default None.

    Attributes: weight_ (n_outputs, n_features). No ``loss_curve_``: the rule
    has no target, so no error to record.
"""


@registry.estimators.register("Instar")
class Instar(_StepAssociative):
    __doc__ = """Instar (Grossberg; Hagan et al., ch. 15): the winning output's weights move to the input.

    Output ``a = 1[W x ≥ threshold]``. When some output fires, the winner
    ``i* = argmax_i (W x)_i`` among the firing outputs learns::

        w_{i*, c} += η (x_c − w_{i*, c})        (conditioned columns c only)

    and no other row changes. NeuPy computed the winner's change and added it
    to every output's weights.

""" + _ARGS_HEAD + _ARGS_TAIL + """
    Example:
        >>> import numpy as np
        >>> from neuralab.classic import Instar
        >>> X = np.array([[1, 1, 0, 1], [0, 1, 0, 1]] * 10, dtype=float)  # US + CS, then CS alone
        >>> Instar(learning_rate=0.5, device="cpu").fit(X).predict([[0, 1, 0, 1]]).tolist()
        [[1.0]]
    """

    def _update(self, W, x, a, u):
        if not bool(a.any()):
            return
        net = torch.where(a > 0, W @ x, -torch.inf)
        j = int(net.argmax())
        W[j, u:] += self.learning_rate * (x[u:] - W[j, u:])


@registry.estimators.register("HebbRule", "hebb")
class HebbRule(_StepAssociative):
    __doc__ = """Unsupervised Hebb rule with weight decay (Hagan et al., ch. 13).

    Output ``a = 1[W x ≥ threshold]``; after every input the conditioned
    weights learn::

        W_c ← (1 − γ) W_c + η a x_cᵀ

    where ``γ = decay_rate`` keeps the weights bounded (at most ``η/γ`` for
    binary inputs) and lets unused associations fade.

""" + _ARGS_HEAD + """        decay_rate: ``γ`` in [0, 1]. Default 0.2.
""" + _ARGS_TAIL + """
    Example:
        >>> import numpy as np
        >>> from neuralab.classic import HebbRule
        >>> X = np.array([[1, 1, 0], [1, 1, 0], [1, 1, 0]], dtype=float)  # US paired with CS 1
        >>> HebbRule(learning_rate=0.5, decay_rate=0.1, device="cpu").fit(X).predict([[0, 1, 0]]).tolist()
        [[1.0]]
    """

    _ARGUMENTS = {**dict(list(_StepAssociative._ARGUMENTS.items())[:3]), "decay_rate": 0.2,
                  **dict(list(_StepAssociative._ARGUMENTS.items())[3:])}
    __init__ = make_init(_ARGUMENTS, positional=len(_ARGUMENTS))

    _parameter_constraints = {**_StepAssociative._parameter_constraints,
                              "decay_rate": [real(0, 1, closed="both")]}

    def _update(self, W, x, a, u):
        W[:, u:] *= 1 - self.decay_rate
        W[:, u:] += self.learning_rate * torch.outer(a, x[u:])

"""Kohonen's Learning Vector Quantization: LVQ (LVQ1), LVQ2, LVQ2.1 and LVQ3.

One tested update loop; the four classifiers differ only in the rule applied
to the nearest prototype ``m_1`` and the runner-up prototype ``m_2``.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch
from sklearn.base import ClassifierMixin
from sklearn.utils import check_random_state
from tqdm.auto import tqdm

from .. import registry
from ..errors import DataError
from ..validation import expected
from ._base import NON_NEGATIVE, POSITIVE, Estimator, StrOptions, check_init, check_supervised
from ._base import integer, make_init, real, to_tensor
from ._kernels import as_numpy

__all__ = ["LVQ", "LVQ2", "LVQ21", "LVQ3"]

WEIGHT_INITS = ("sample", "mean")

_COMMON_ARGS_DOC = """
    Args:
        n_subclasses: total number of prototypes; ``None`` = one per class.
            Split as evenly as possible over the classes unless
            ``prototypes_per_class`` is given. Default ``None``.
        prototypes_per_class: list of prototype counts, one per class (in
            sorted class order); overrides the even split. Default ``None``.
        learning_rate: α, the step of every update. Default 0.1.
        max_iter: epochs run by ``fit``. Default 50.
        n_updates_to_stepdrop: slowdown rule (NeuPy's): α decreases linearly with the
            number of samples seen, from ``learning_rate`` to ``min_learning_rate``
            after this many updates; ``None`` keeps α fixed. Default ``None``.
        min_learning_rate: the floor of the slowdown rule (NeuPy's ``minstep``). Default 1e-5.
        weight_init: ``"sample"`` (random training samples of each class) or
            ``"mean"`` (class means plus a little noise). Default ``"sample"``.
        init: starting prototypes, an array (n_prototypes, n_features) ordered
            like ``prototype_classes_`` (the counts above, classes in sorted
            order); overrides ``weight_init``. Default None.
        shuffle: visit samples in a new random order each epoch. Default True.
        random_state: seed for initialisation and sample order.
        device: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"``…
        n_threads: torch intra-op threads during training (None: torch's setting).
        verbose: progress bar per epoch.
"""

_WINDOW_DOC = """        window: Kohonen's relative window width ``w``; ``x`` falls in the
            window when ``d_1/d_2 > (1 − w)/(1 + w)`` (Euclidean distances to the two
            nearest prototypes). NeuPy called this ``epsilon``. Default 0.3.
"""

_ATTRS_DOC = """
    Shapes:
        ``fit(X (n, d), y (n,))``; ``predict(X (m, d)) -> (m,)``.

    Attributes:
        classes_: ``(n_classes,)`` class labels.
        prototypes_: ``(n_subclasses, d)`` prototype (codebook) vectors.
        prototype_classes_: ``(n_subclasses,)`` class label of each prototype.
        loss_curve_: training error after each epoch (the fraction of the
            epoch's samples whose nearest prototype has another class).
        n_iter_: epochs done; n_updates_: samples seen (drives the slowdown rule).
"""


def _epoch_rng(random_state, offset: int) -> np.random.RandomState:
    """Sample-order RNG: an int seed gives a fixed, distinct order per starting epoch."""
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        return np.random.RandomState([int(random_state) % 2**32, offset])
    return check_random_state(random_state)


def _nearest(X: torch.Tensor, P: torch.Tensor) -> torch.Tensor:
    """(m,) index of the nearest prototype (squared Euclidean; ‖x‖² is constant per row)."""
    return ((P * P).sum(1) - 2.0 * X @ P.T).argmin(1)


# every LVQ's arguments, in signature order (LVQ2/2.1 add ``window``, LVQ3 also ``epsilon``)
_ARGUMENTS = {
    "n_subclasses": None, "prototypes_per_class": None, "learning_rate": 0.1, "window": 0.3,
    "epsilon": 0.1, "max_iter": 50, "n_updates_to_stepdrop": None, "min_learning_rate": 1e-5,
    "weight_init": "sample", "init": None, "shuffle": True, "random_state": None, "device": "auto",
    "n_threads": None, "verbose": False,
}
_CONSTRAINTS = {
    "n_subclasses": [integer(1), None],
    "prototypes_per_class": ["array-like", None],
    "learning_rate": [POSITIVE],
    "window": [real(0, 1)],
    "epsilon": [real(0, 1, closed="right")],
    "max_iter": [integer(1)],
    "n_updates_to_stepdrop": [integer(1), None],
    "min_learning_rate": [NON_NEGATIVE],
    "weight_init": [StrOptions(set(WEIGHT_INITS))],
    "init": ["array-like", None],
    "shuffle": ["boolean"],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
}


def _lvq_class(extra: tuple[str, ...]):
    """The constructor and parameter constraints of one LVQ variant (written once here)."""
    names = [n for n in _ARGUMENTS if n not in ("window", "epsilon") or n in extra]
    return (make_init({n: _ARGUMENTS[n] for n in names}),
            {n: _CONSTRAINTS[n] for n in names if n in _CONSTRAINTS})


class _LVQBase(ClassifierMixin, Estimator):
    """Shared fit/partial_fit/predict; subclasses set ``_rule``."""

    _rule = "lvq1"

    def _prototype_counts(self, n_classes: int) -> np.ndarray:
        name = type(self).__name__
        if self.prototypes_per_class is not None:
            counts = list(self.prototypes_per_class)
            if len(counts) != n_classes or not all(
                isinstance(c, numbers.Integral) and not isinstance(c, bool) and c > 0 for c in counts
            ):
                raise expected(name, "prototypes_per_class",
                               f"one positive integer per class ({n_classes} classes)",
                               self.prototypes_per_class)
            if self.n_subclasses is not None and sum(counts) != self.n_subclasses:
                raise expected(name, "prototypes_per_class",
                               f"counts summing to n_subclasses={self.n_subclasses}",
                               self.prototypes_per_class)
            return np.asarray(counts, dtype=int)
        total = n_classes if self.n_subclasses is None else self.n_subclasses
        if total < n_classes:
            raise expected(name, "n_subclasses",
                           f"at least the number of classes ({n_classes})", total)
        counts = np.full(n_classes, total // n_classes)
        counts[: total % n_classes] += 1
        return counts

    # -- initialisation -----------------------------------------------------
    def _init_prototypes(self, X, y_index, counts, rng):
        protos, labels = [], []
        for k, m in enumerate(counts):
            members = X[y_index == k]
            if len(members) == 0:  # class announced to partial_fit but absent from this batch
                members = X
            if self.weight_init == "sample":
                rows = rng.choice(len(members), m, replace=len(members) < m)
                protos.append(members[rows])
            else:
                scale = members.std(0) + 1e-12
                protos.append(members.mean(0) + 0.01 * scale * rng.standard_normal((m, X.shape[1])))
            labels.append(np.full(m, k))
        return np.concatenate(protos).astype(np.float64), np.concatenate(labels)

    def _initialise(self, X, y_index, classes):
        self.classes_ = classes
        counts = self._prototype_counts(len(classes))
        rng = check_random_state(self.random_state)
        self.prototypes_, self._prototype_index = self._init_prototypes(X, y_index, counts, rng)
        given = check_init(self, self.prototypes_.shape, "n_prototypes, n_features")
        if given is not None:
            self.prototypes_ = given
        self.prototype_classes_ = classes[self._prototype_index]
        self.n_iter_ = 0
        self.n_updates_ = 0
        self.loss_curve_ = []

    # -- training -----------------------------------------------------------
    def _step_size(self, n_updates: int) -> float:
        if self.n_updates_to_stepdrop is None:
            return float(self.learning_rate)
        frac = min(n_updates / self.n_updates_to_stepdrop, 1.0)
        return max(
            float(self.min_learning_rate),
            self.learning_rate - (self.learning_rate - self.min_learning_rate) * frac,
        )

    def _update(self, P, labels, x, target, lr, threshold):
        """Apply this variant's rule for one sample ``x`` of class ``target``."""
        diff = P - x  # (M, d)
        sq = (diff * diff).sum(1)  # (M,)
        if P.shape[0] == 1 or self._rule == "lvq1":
            i = int(sq.argmin())
            sign = 1.0 if labels[i] == target else -1.0
            P[i].add_(x - P[i], alpha=sign * lr)
            return
        dist, idx = torch.topk(sq, 2, largest=False)
        (d1, d2), (i, j) = dist.clamp_min(0).sqrt().tolist(), idx.tolist()
        ci, cj = labels[i] == target, labels[j] == target
        in_window = d1 >= threshold * d2  # min(d1/d2, d2/d1) > s, with d1 <= d2
        if self._rule == "lvq2":
            fires = in_window and not ci and cj
        else:  # lvq21 / lvq3: one of the two correct, the other wrong
            fires = in_window and ci != cj
        if fires:
            good, bad = (i, j) if ci else (j, i)
            P[good].add_(x - P[good], alpha=lr)
            P[bad].add_(x - P[bad], alpha=-lr)
        elif self._rule == "lvq3" and ci and cj:
            step = self.epsilon * lr
            P[i].add_(x - P[i], alpha=step)
            P[j].add_(x - P[j], alpha=step)
        else:  # LVQ1 fallback: pull a correct winner, push a wrong one
            P[i].add_(x - P[i], alpha=lr if ci else -lr)

    def _run_epochs(self, X, y_index, n_epochs):
        device = self._device()
        Xt = to_tensor(X, device)
        P = to_tensor(self.prototypes_, device)
        labels = self._prototype_index.tolist()
        classes_t = torch.as_tensor(self._prototype_index, device=device)
        y_t = torch.as_tensor(y_index, device=device)
        targets = y_index.tolist()
        threshold = 0.0
        if self._rule != "lvq1":
            threshold = (1.0 - self.window) / (1.0 + self.window)
        rng = _epoch_rng(self.random_state, self.n_iter_)
        epochs = tqdm(range(n_epochs), desc=type(self).__name__, disable=not self.verbose, leave=False)
        with self._threads():
            for _ in epochs:
                order = rng.permutation(len(X)) if self.shuffle else np.arange(len(X))
                for n in order.tolist():
                    lr = self._step_size(self.n_updates_)
                    self._update(P, labels, Xt[n], targets[n], lr, threshold)
                    self.n_updates_ += 1
                self.n_iter_ += 1
                wrong = classes_t[_nearest(Xt, P)] != y_t
                self.loss_curve_.append(float(wrong.double().mean()))
        self.prototypes_ = as_numpy(P)
        if not np.all(np.isfinite(self.prototypes_)):
            raise DataError(
                f"{type(self).__name__}: training produced non-finite prototypes; "
                "lower learning_rate"
            )

    def fit(self, X, y):
        """Initialise the prototypes and train for ``max_iter`` epochs. Returns self."""
        self._validate_params()
        X, y = check_supervised(self, X, y, reset=True, classification=True)
        classes, y_index = np.unique(y, return_inverse=True)
        self._initialise(X, y_index, classes)
        self._run_epochs(X, y_index, self.max_iter)
        return self

    def partial_fit(self, X, y, classes=None):
        """One epoch over ``(X, y)``; the first call sets up the prototypes.

        ``classes`` (all labels that will ever appear) is needed on the first
        call unless that batch already contains every class.
        """
        self._validate_params()
        first = not hasattr(self, "prototypes_")
        X, y = check_supervised(self, X, y, reset=first, classification=True)
        if first:
            all_classes = np.unique(y if classes is None else np.asarray(classes))
        else:
            all_classes = self.classes_
        unknown = np.setdiff1d(np.unique(y), all_classes)
        if len(unknown):
            raise DataError(
                f"{type(self).__name__}: y contains labels {unknown.tolist()} not in the "
                f"classes {all_classes.tolist()}; pass every class to the first partial_fit"
            )
        y_index = np.searchsorted(all_classes, y)
        if first:
            self._initialise(X, y_index, all_classes)
        self._run_epochs(X, y_index, 1)
        return self

    # -- inference ----------------------------------------------------------
    def predict(self, X):
        """Class of the nearest prototype, ``(m,)``."""
        X = self._fitted_data(X)
        device = self._device()
        Xt = to_tensor(X, device, dtype=torch.float64)
        P = to_tensor(self.prototypes_, device, dtype=torch.float64)
        return self.prototype_classes_[_nearest(Xt, P).cpu().numpy()]


@registry.estimators.register("LVQ", "LVQ1")
class LVQ(_LVQBase):
    __doc__ = (
        """LVQ1 (Kohonen): move the nearest prototype toward or away from each sample.

    For a sample ``x`` of class ``y`` and the nearest prototype ``m_c``:
    ``m_c ← m_c + α (x − m_c)`` if ``class(m_c) = y``, else ``m_c ← m_c − α (x − m_c)``.
    Prediction: the class of the nearest prototype.
    """ + _COMMON_ARGS_DOC + _ATTRS_DOC + """
    Example:
        >>> from sklearn.datasets import load_digits
        >>> X, y = load_digits(return_X_y=True)
        >>> model = LVQ(n_subclasses=30, max_iter=5, random_state=0).fit(X[:1200], y[:1200])
        >>> bool(model.score(X[1200:], y[1200:]) > 0.85)
        True
    """
    )

    _rule = "lvq1"
    __init__, _parameter_constraints = _lvq_class(())


@registry.estimators.register("LVQ2")
class LVQ2(_LVQBase):
    __doc__ = (
        """LVQ2 (Kohonen): correct the nearest prototype with the help of the runner-up.

    Let ``m_1`` be the nearest and ``m_2`` the second-nearest prototype (the
    runner-up *prototype*, whatever its class — NeuPy took the nearest prototype
    of another class instead). When ``class(m_1) ≠ y``, ``class(m_2) = y`` and
    ``x`` falls in the window:
    ``m_1 ← m_1 − α (x − m_1)`` and ``m_2 ← m_2 + α (x − m_2)``.
    Any other sample gets the LVQ1 update, so the model also trains from scratch.
    """ + _COMMON_ARGS_DOC + _WINDOW_DOC + _ATTRS_DOC + """
    Example:
        >>> from sklearn.datasets import load_digits
        >>> X, y = load_digits(return_X_y=True)
        >>> model = LVQ2(n_subclasses=30, max_iter=5, random_state=0).fit(X[:1200], y[:1200])
        >>> bool(model.score(X[1200:], y[1200:]) > 0.85)
        True
    """
    )

    _rule = "lvq2"
    __init__, _parameter_constraints = _lvq_class(("window",))


@registry.estimators.register("LVQ21", "LVQ2.1")
class LVQ21(_LVQBase):
    __doc__ = (
        """LVQ2.1 (Kohonen): symmetric LVQ2 on the two nearest prototypes.

    With ``m_1``, ``m_2`` the nearest and runner-up prototypes: when exactly one
    of them has class ``y`` and ``x`` falls in the window, the correct one moves
    toward ``x`` and the wrong one away, each by ``α (x − m)``. Any other
    sample gets the LVQ1 update. NeuPy picked the runner-up by class, not by
    distance.
    """ + _COMMON_ARGS_DOC + _WINDOW_DOC + _ATTRS_DOC + """
    Example:
        >>> from sklearn.datasets import load_digits
        >>> X, y = load_digits(return_X_y=True)
        >>> model = LVQ21(n_subclasses=30, max_iter=5, random_state=0).fit(X[:1200], y[:1200])
        >>> bool(model.score(X[1200:], y[1200:]) > 0.85)
        True
    """
    )

    _rule = "lvq21"
    __init__, _parameter_constraints = _lvq_class(("window",))


@registry.estimators.register("LVQ3")
class LVQ3(_LVQBase):
    __doc__ = (
        """LVQ3 (Kohonen): LVQ2.1 plus a stabilising pull when both prototypes are right.

    With ``m_1``, ``m_2`` the nearest and runner-up prototypes:

    - exactly one has class ``y`` and ``x`` is in the window: the correct one
      moves toward ``x`` and the wrong one away (``± α (x − m)``);
    - both have class ``y``: both move toward ``x`` by ``ε α (x − m)``;
    - otherwise the LVQ1 update.

    A correct winner is never pushed away (NeuPy's LVQ3 did push it away, and
    chose the runner-up by class rather than by distance).
    """ + _COMMON_ARGS_DOC + _WINDOW_DOC + """        epsilon: Kohonen's ε in (0, 1], the relative step when both prototypes are
            correct (NeuPy's ``slowdown_rate``). Default 0.1.
""" + _ATTRS_DOC + """
    Example:
        >>> from sklearn.datasets import load_digits
        >>> X, y = load_digits(return_X_y=True)
        >>> model = LVQ3(n_subclasses=30, max_iter=5, random_state=0).fit(X[:1200], y[:1200])
        >>> bool(model.score(X[1200:], y[1200:]) > 0.85)
        True
    """
    )

    _rule = "lvq3"
    __init__, _parameter_constraints = _lvq_class(("window", "epsilon"))

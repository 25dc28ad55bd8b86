"""Shared plumbing of the classic estimators: parameters, errors, data, devices, threads.

Estimators follow scikit-learn's conventions (``__init__`` only stores its
arguments, ``fit`` returns ``self``, learned attributes end in ``_``) and do
their arithmetic with torch tensors on ``device`` ("auto" picks CUDA when one
is present). Learned attributes are stored as NumPy arrays so that the
estimators clone/compare like any scikit-learn estimator; the tensors used for
computation are rebuilt on demand.

- Parameters: each estimator declares scikit-learn's ``_parameter_constraints``
  (``Interval``, ``StrOptions`` …); :meth:`Estimator._validate_params` checks
  them with neuralab's one message template (``GRNN: expected `std` to be a
  float in the range (0.0, inf), received -1``), raising ConfigError.
- Errors are neuralab's and scikit-learn's at once: an unfitted estimator
  raises :class:`NotFittedError` (both ``neuralab.errors.NotFittedError`` and
  ``sklearn.exceptions.NotFittedError``); bad data raises DataError (a
  ``ValueError``, with scikit-learn's standard messages: "X has 3 features, but
  GRNN is expecting 4 features as input", "Input X contains NaN").
- Threads: ``n_threads=None`` (every estimator) leaves torch's setting alone;
  an integer caps torch's intra-op threads during that estimator's own work
  and restores them after (nothing process-wide is changed behind the user's back).
"""

from __future__ import annotations

import contextlib
import inspect
import math
import numbers

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, make_constraint
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted as sklearn_check_is_fitted
from sklearn.utils.validation import validate_data

from .. import errors
from ..errors import DataError, DTypeError, NeuralabError, ShapeError
from ..training import resolve_device
from ..validation import expected
from ._threads import limit_threads

__all__ = [
    "Estimator",
    "NotFittedError",
    "Interval",
    "StrOptions",
    "real",
    "integer",
    "POSITIVE",
    "NON_NEGATIVE",
    "make_init",
    "resolve_device",
    "validate",
    "check_supervised",
    "to_tensor",
    "torch_generator",
    "check_is_fitted",
    "check_params",
    "check_value",
    "check_binary",
    "check_init",
    "reject_entries",
    "COMMON_CONSTRAINTS",
]


class NotFittedError(errors.NotFittedError, SklearnNotFittedError):
    """An estimator used before ``fit``: caught by neuralab's and scikit-learn's ``except``."""


def check_is_fitted(estimator, attributes=None) -> None:
    """scikit-learn's check (and message), raising :class:`NotFittedError`."""
    try:
        sklearn_check_is_fitted(estimator, attributes)
    except SklearnNotFittedError as exc:
        raise NotFittedError(str(exc)) from None


@contextlib.contextmanager
def _as_neuralab_errors():
    """scikit-learn's data errors re-raised as DataError / DTypeError with the same message."""
    try:
        yield
    except NeuralabError:
        raise
    except ValueError as exc:
        raise DataError(str(exc)) from exc
    except TypeError as exc:
        raise DTypeError(str(exc)) from exc


def validate(estimator, X, y=None, *, reset: bool, dtype=np.float64, **kwargs):
    """scikit-learn's ``validate_data`` (sets/checks ``n_features_in_``), neuralab's errors.

    Produces scikit-learn's standard messages ("X has 3 features, but GRNN is
    expecting 4 features as input", NaN/inf rejection, empty arrays …) so that
    ``check_estimator`` and users recognise them.
    """
    with _as_neuralab_errors():
        if y is None:
            return validate_data(estimator, X, reset=reset, dtype=dtype, **kwargs)
        return validate_data(estimator, X, y, reset=reset, dtype=dtype, **kwargs)


def check_supervised(estimator, X, y, *, reset: bool, classification: bool = False, **kwargs):
    """``validate_data(estimator, X, y)``; ``y=None`` raises scikit-learn's message.

    ``classification=True`` also refuses targets that are no class labels (continuous
    values: scikit-learn's "Unknown label type" message, as a DataError).
    """
    with _as_neuralab_errors():
        X, y = validate_data(estimator, X, y, reset=reset, dtype=np.float64, **kwargs)
        if classification:
            check_classification_targets(y)
        return X, y


def to_tensor(array, device, dtype=torch.float32) -> torch.Tensor:
    """A NumPy array as a new ``dtype`` tensor on ``device``, never sharing its memory.

    Unlike ``torch.as_tensor`` this does not warn on read-only input (scikit-learn
    passes read-only memmaps) and never aliases the caller's array: it is always
    converted into a fresh, writable buffer — which costs nothing extra when the
    dtype changes anyway (float64 input, float32 compute).
    """
    if isinstance(array, torch.Tensor):
        return array.to(device=device, dtype=dtype)
    np_dtype = torch.empty(0, dtype=dtype).numpy().dtype
    return torch.from_numpy(np.array(array, dtype=np_dtype, order="C", copy=True)).to(device)


def torch_generator(random_state, device="cpu") -> torch.Generator:
    """A torch Generator seeded from a scikit-learn ``random_state``."""
    rng = check_random_state(random_state)
    gen = torch.Generator(device=device)
    gen.manual_seed(int(rng.randint(0, 2**31 - 1)))
    return gen


def _satisfied(constraints, value) -> bool:
    for c in constraints:
        if isinstance(c, Interval):
            if isinstance(value, (bool, np.bool_)):
                continue  # True is an Integral; no interval means it
            if isinstance(value, numbers.Real) and not math.isfinite(float(value)):
                continue  # NaN passes every comparison; inf only where the interval says so
        if c.is_satisfied_by(value):
            return True
    return False


def _describe(constraint) -> str:
    """scikit-learn's description of a constraint, with string options in sorted order."""
    if isinstance(constraint, StrOptions):
        return "one of " + ", ".join(repr(o) for o in sorted(constraint.options))
    return str(constraint)


def check_value(owner: str, name: str, value, allowed: list):
    """``value`` if it meets one of scikit-learn's ``allowed`` constraints, else ConfigError.

    The message is neuralab's template with scikit-learn's description of the
    constraint: ``GRNN: expected `std` to be a float in the range (0.0, inf),
    received -1``.
    """
    made = [make_constraint(c) for c in allowed]
    if _satisfied(made, value):
        return value
    shown = [_describe(c) for c in made if not getattr(c, "hidden", False)]
    what = shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]
    raise expected(owner, name, what, value)


def check_params(estimator) -> None:
    """ConfigError unless every parameter meets its ``_parameter_constraints`` entry."""
    owner = type(estimator).__name__
    for name, allowed in estimator._parameter_constraints.items():
        check_value(owner, name, getattr(estimator, name), allowed)


def real(low=None, high=None, closed="neither") -> Interval:
    """A real number in an interval (``closed``: "neither", "left", "right", "both")."""
    return Interval(numbers.Real, low, high, closed=closed)


def integer(low=1, high=None) -> Interval:
    """An integer ``>= low`` (and ``<= high``)."""
    return Interval(numbers.Integral, low, high, closed="left" if high is None else "both")


POSITIVE = real(0, None)
NON_NEGATIVE = real(0, None, closed="left")

#: constraints every estimator shares
COMMON_CONSTRAINTS = {
    "device": [str, torch.device, None],
    "n_threads": [Interval(numbers.Integral, 1, None, closed="left"), None],
}


class Estimator(BaseEstimator):
    """Base of the classic estimators: neuralab's parameter check and thread control.

    A subclass declares only its own ``_parameter_constraints``; the entries of
    :data:`COMMON_CONSTRAINTS` whose names its ``__init__`` takes (``device``,
    ``n_threads``) are added here.
    """

    _parameter_constraints: dict = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("_parameter_constraints")
        if own is not None:
            names = inspect.signature(cls.__init__).parameters
            cls._parameter_constraints = {
                **own, **{k: v for k, v in COMMON_CONSTRAINTS.items() if k in names and k not in own}
            }

    def _validate_params(self):
        """Check ``_parameter_constraints`` (ConfigError), then :meth:`_check_more`."""
        check_params(self)
        self._check_more()

    def _check_more(self) -> None:
        """Checks that involve several parameters (override)."""

    def _threads(self):
        """The thread cap of this estimator's work (``n_threads``; None: torch's setting)."""
        n = getattr(self, "n_threads", None)
        if n is None:
            return contextlib.nullcontext()
        return limit_threads(int(n))

    def _device(self) -> torch.device:
        """The torch device of ``device`` ("auto": CUDA when present)."""
        return resolve_device(self.device)

    def _fitted_data(self, X, **kwargs):
        """``X`` checked against the fitted estimator: NotFittedError, then ``validate``."""
        check_is_fitted(self)
        return validate(self, X, reset=False, **kwargs)


def make_init(parameters: dict, positional: int = 1):
    """An ``__init__`` that stores its arguments, with a real signature for scikit-learn.

    ``parameters`` maps names to defaults in signature order; the first
    ``positional`` may be passed positionally, the rest are keyword-only.
    scikit-learn reads the signature (``get_params``, ``clone``, ``repr``), so
    several estimators whose arguments differ by a few entries (the LVQ family)
    share one constructor instead of repeating it.

    >>> class A:
    ...     __init__ = make_init({"n": 1, "rate": 0.5})
    >>> a = A(3, rate=0.1)
    >>> (a.n, a.rate), str(inspect.signature(A.__init__))
    ((3, 0.1), '(self, n=1, *, rate=0.5)')
    """
    kinds = [inspect.Parameter.POSITIONAL_OR_KEYWORD if i < positional
             else inspect.Parameter.KEYWORD_ONLY for i in range(len(parameters))]
    signature = inspect.Signature(
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        + [inspect.Parameter(name, kind, default=default)
           for (name, default), kind in zip(parameters.items(), kinds)]
    )

    def __init__(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        for name in parameters:
            setattr(self, name, bound.arguments[name])

    __init__.__signature__ = signature
    return __init__


class _Text(str):
    """A string shown without quotes by the message template."""

    def __repr__(self):
        return str(self)


def check_init(estimator, shape: tuple, what: str, name: str = "init"):
    """The ``init`` array of ``estimator`` as a fresh float64 array of ``shape``, or None.

    ``what`` names the axes (``"n_units, n_features"``). A wrong shape raises
    ShapeError, a non-numeric value ConfigError, NaN/inf DataError, each
    naming the expected and the received value.

    >>> class Som(Estimator):
    ...     init = [[0.0, 1.0]]
    >>> check_init(Som(), (2, 2), "n_units, n_features")
    Traceback (most recent call last):
    ...
    neuralab.errors.ShapeError: Som: expected `init` to be an array of shape (2, 2) (n_units, n_features), received an array of shape (1, 2)
    """
    value = getattr(estimator, name)
    if value is None:
        return None
    owner = type(estimator).__name__
    wanted = f"an array of shape {tuple(shape)} ({what})"
    try:
        array = np.array(value, dtype=np.float64, copy=True)
    except (TypeError, ValueError):
        raise expected(owner, name, wanted, value) from None
    if array.shape != tuple(shape):
        raise expected(owner, name, wanted, _Text(f"an array of shape {array.shape}"),
                       error=ShapeError)
    reject_entries(array, ~np.isfinite(array), f"{owner}: `{name}` must be finite")
    return array


def reject_entries(X, bad, message: str) -> None:
    """DataError ``"<message>; received <value> at index <idx>"`` at the first True of ``bad``."""
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        value = X[idx].item() if hasattr(X[idx], "item") else X[idx]
        raise DataError(f"{message}; received {value!r} at index {idx}")


def check_binary(estimator, X, *, values=(0, 1), what="X"):
    """Raise DataError unless every entry of ``X`` is one of ``values``."""
    X = np.asarray(X)
    reject_entries(X, ~np.isin(X, values),
                   f"{type(estimator).__name__} requires binary {what} with values in {set(values)}")
    return X

"""Shared plumbing of the classic estimators: validation, devices, randomness.

Estimators follow scikit-learn's conventions (``__init__`` only stores its
arguments, ``fit`` returns ``self``, learned attributes end in ``_``) and do
their arithmetic with torch tensors on ``device`` ("auto" picks CUDA when one
is present). Learned attributes are stored as NumPy arrays so that the
estimators pickle/clone/compare like any scikit-learn estimator; the tensors
used for computation are rebuilt on demand.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from ..errors import ConfigError, DataError

__all__ = [
    "resolve_device",
    "validate",
    "to_tensor",
    "torch_generator",
    "check_is_fitted",
    "check_positive",
    "check_in_range",
    "check_choice",
    "check_binary",
]


def resolve_device(device="auto") -> torch.device:
    """``"auto"`` → CUDA when available, else CPU; anything else → ``torch.device``."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def validate(estimator, X, y=None, *, reset: bool, dtype=np.float64, **kwargs):
    """scikit-learn's ``validate_data`` (sets/checks ``n_features_in_``).

    Produces scikit-learn's standard messages ("X has 3 features, but GRNN is
    expecting 4 features as input", NaN/inf rejection, empty arrays …) so that
    ``check_estimator`` and users recognise them.
    """
    if y is None:
        return validate_data(estimator, X, reset=reset, dtype=dtype, **kwargs)
    return validate_data(estimator, X, y, reset=reset, dtype=dtype, **kwargs)


def to_tensor(array, device, dtype=torch.float32) -> torch.Tensor:
    """A NumPy array (or tensor) as a contiguous tensor on ``device``."""
    if isinstance(array, torch.Tensor):
        return array.to(device=device, dtype=dtype)
    array = np.ascontiguousarray(array)
    if not array.flags.writeable:  # e.g. a read-only memmap: torch cannot share it
        array = array.copy()
    return torch.as_tensor(array, dtype=dtype, device=device)


def torch_generator(random_state, device="cpu") -> torch.Generator:
    """A torch Generator seeded from a scikit-learn ``random_state``."""
    rng = check_random_state(random_state)
    gen = torch.Generator(device=device)
    gen.manual_seed(int(rng.randint(0, 2**31 - 1)))
    return gen


def check_positive(estimator, name: str, value, *, integer: bool = False, allow_zero=False):
    """Raise ConfigError unless ``value`` is a positive (or non-negative) number."""
    kind = numbers.Integral if integer else numbers.Real
    ok = isinstance(value, kind) and not isinstance(value, bool)
    if ok:
        ok = value >= 0 if allow_zero else value > 0
        ok = ok and np.isfinite(value)
    if not ok:
        what = "integer" if integer else "number"
        sign = "non-negative" if allow_zero else "positive"
        raise ConfigError(
            f"{type(estimator).__name__}: `{name}` must be a {sign} {what}, received {value!r}"
        )
    return value


def check_in_range(estimator, name: str, value, low, high, *, closed="both"):
    """Raise ConfigError unless low <= value <= high (``closed`` = "both"|"left"|"right"|"neither")."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok:
        lo_ok = value >= low if closed in ("both", "left") else value > low
        hi_ok = value <= high if closed in ("both", "right") else value < high
        ok = lo_ok and hi_ok
    if not ok:
        lb = "[" if closed in ("both", "left") else "("
        rb = "]" if closed in ("both", "right") else ")"
        raise ConfigError(
            f"{type(estimator).__name__}: `{name}` must be in {lb}{low}, {high}{rb}, "
            f"received {value!r}"
        )
    return value


def check_choice(estimator, name: str, value, choices):
    """Raise ConfigError unless ``value`` is one of ``choices``, listing them."""
    if value not in choices:
        raise ConfigError(
            f"{type(estimator).__name__}: unknown `{name}` {value!r}; "
            f"expected one of: {', '.join(map(repr, choices))}"
        )
    return value


def check_binary(estimator, X, *, values=(0, 1), what="X"):
    """Raise DataError unless every entry of ``X`` is one of ``values``."""
    X = np.asarray(X)
    bad = ~np.isin(X, values)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise DataError(
            f"{type(estimator).__name__} requires binary {what} with values in "
            f"{set(values)}; received {X[idx]!r} at index {idx}"
        )
    return X

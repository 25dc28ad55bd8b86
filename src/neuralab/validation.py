"""Argument checks with one message template, used by every part of neuralab.

Every check raises :class:`~neuralab.errors.ConfigError` (or
:class:`~neuralab.errors.DTypeError` for a wrong type where a type is the
point) with the same sentence shape::

    <owner>: expected `<name>` to be <what was expected>, received <value>

so a user reads the component, the argument, what it accepts and what they
passed, whichever part of the library complained.

    >>> check_int("LSTM", "units", 8, low=1)
    8
    >>> check_int("LSTM", "units", 0, low=1)
    Traceback (most recent call last):
    ...
    neuralab.errors.ConfigError: LSTM: expected `units` to be an integer >= 1, received 0
    >>> check_choice("nms", "style", "voc", ("voc", "coco"))
    'voc'
"""

from __future__ import annotations

import math
import numbers
import os
from typing import Any, Iterable

from .errors import ConfigError, DTypeError

__all__ = [
    "expected",
    "check_int",
    "check_number",
    "check_bool",
    "check_choice",
    "check_type",
    "check_probability",
    "check_path",
]


def _show(value: Any) -> str:
    """``repr(value)``, its middle cut out beyond 80 characters (the end of a path is its name)."""
    text = repr(value)
    return text if len(text) <= 80 else text[:38] + "..." + text[-39:]


def expected(owner: str, name: str, what: str, value: Any, *, error=ConfigError) -> Exception:
    """The one message template: ``owner: expected `name` to be what, received value``.

    Returns the exception (``raise expected(...)``) so tracebacks point at the caller.

    >>> str(expected("fit", "lr", "a positive number", -1.0))
    'fit: expected `lr` to be a positive number, received -1.0'
    """
    return error(f"{owner}: expected `{name}` to be {what}, received {_show(value)}")


def _bounds(low, high, low_open: bool, high_open: bool) -> str:
    parts = []
    if low is not None:
        parts.append(f"{'>' if low_open else '>='} {low:g}" if isinstance(low, float) else
                     f"{'>' if low_open else '>='} {low}")
    if high is not None:
        parts.append(f"{'<' if high_open else '<='} {high:g}" if isinstance(high, float) else
                     f"{'<' if high_open else '<='} {high}")
    return " and ".join(parts)


def check_int(owner: str, name: str, value: Any, *, low: int | None = None, high: int | None = None,
              allow_none: bool = False) -> int | None:
    """An integer (not a bool) within ``[low, high]``; NumPy integers are accepted."""
    if value is None and allow_none:
        return None
    what = "an integer" + (f" {_bounds(low, high, False, False)}" if low is not None or high is not None else "")
    if allow_none:
        what += " or None"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise expected(owner, name, what, value)
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise expected(owner, name, what, value)
    return value


def check_number(owner: str, name: str, value: Any, *, low: float | None = None, high: float | None = None,
                 low_open: bool = False, high_open: bool = False, allow_none: bool = False) -> float | None:
    """A finite real number (not a bool) within the bounds; ``low_open`` makes ``low`` exclusive."""
    if value is None and allow_none:
        return None
    bounds = _bounds(low, high, low_open, high_open)
    what = "a finite number" + (f" {bounds}" if bounds else "") + (" or None" if allow_none else "")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise expected(owner, name, what, value)
    number = float(value)
    if not math.isfinite(number):
        raise expected(owner, name, what, value)
    if low is not None and (number <= low if low_open else number < low):
        raise expected(owner, name, what, value)
    if high is not None and (number >= high if high_open else number > high):
        raise expected(owner, name, what, value)
    return number


def check_probability(owner: str, name: str, value: Any, *, open_low: bool = False,
                      open_high: bool = False) -> float:
    """A number in [0, 1] (ends made exclusive on request)."""
    return check_number(owner, name, value, low=0.0, high=1.0, low_open=open_low, high_open=open_high)


def check_bool(owner: str, name: str, value: Any) -> bool:
    """``True`` or ``False`` (NumPy bools accepted), nothing else."""
    if isinstance(value, bool) or (type(value).__module__ == "numpy"
                                   and type(value).__name__ in ("bool_", "bool")):  # NumPy 1 / 2
        return bool(value)
    raise expected(owner, name, "True or False", value)


def check_choice(owner: str, name: str, value: Any, choices: Iterable[str], *, normalize: bool = True) -> str:
    """One of ``choices`` (strings); compared case-insensitively when ``normalize``."""
    choices = tuple(choices)
    listing = "one of " + ", ".join(repr(c) for c in choices)
    if not isinstance(value, str):
        raise expected(owner, name, listing, value)
    key = value.strip().lower() if normalize else value
    for c in choices:
        if (c.lower() if normalize else c) == key:
            return c
    raise expected(owner, name, listing, value)


def check_type(owner: str, name: str, value: Any, types, what: str) -> Any:
    """An instance of ``types``; otherwise a DTypeError naming ``what`` was expected."""
    if not isinstance(value, types):
        raise expected(owner, name, what, type(value).__name__ if not isinstance(value, (int, float, str))
                       else value, error=DTypeError)
    return value


def check_path(owner: str, name: str, value: Any, *, kind: str | None = None) -> str:
    """A file-system path (``str`` or ``os.PathLike``), returned as ``str``.

    With ``kind="file"`` an existing folder is refused, with ``kind="folder"`` an
    existing file (a path that does not exist yet is fine: it is to be created).

    >>> check_path("CSVLogger", "path", 5, kind="file")
    Traceback (most recent call last):
    ...
    neuralab.errors.DTypeError: CSVLogger: expected `path` to be a file path (str or os.PathLike), received 'int'
    """
    what = {"file": "a file path", "folder": "a folder path", None: "a path"}[kind]
    if not isinstance(value, (str, os.PathLike)):
        raise expected(owner, name, f"{what} (str or os.PathLike)", type(value).__name__, error=DTypeError)
    path = os.fspath(value)
    if kind == "file" and os.path.isdir(path):
        raise expected(owner, name, what, f"the folder {path!r}")
    if kind == "folder" and os.path.exists(path) and not os.path.isdir(path):
        raise expected(owner, name, what, f"the file {path!r}")
    return path

"""Exceptions raised by neuralab.

Every user mistake ends in one of these, with a message that says what was
expected and what was received. They subclass the built-in ``ValueError`` or
``TypeError`` so code written against plain Python/scikit-learn conventions
keeps working::

    >>> from neuralab.errors import ShapeError
    >>> issubclass(ShapeError, ValueError)
    True
"""

from __future__ import annotations

__all__ = [
    "NeuralabError",
    "ShapeError",
    "ConfigError",
    "DataError",
    "DTypeError",
    "NotFittedError",
    "StorageError",
    "TrainingError",
    "UnknownKeyError",
    "format_shape",
]


class NeuralabError(Exception):
    """Base class of every neuralab exception."""


class ShapeError(NeuralabError, ValueError):
    """Tensors or layers whose shapes do not fit together."""


class ConfigError(NeuralabError, ValueError):
    """An invalid hyperparameter or option (raised at construction)."""


class DataError(NeuralabError, ValueError):
    """Training or prediction data that cannot be used as given."""


class DTypeError(NeuralabError, TypeError):
    """A value of the wrong type or dtype."""


class NotFittedError(NeuralabError, ValueError, AttributeError):
    """An estimator or model used before it was fitted.

    Subclasses ``ValueError`` and ``AttributeError`` like scikit-learn's own
    ``NotFittedError`` so scikit-learn's checks recognise it.
    """


class StorageError(NeuralabError, ValueError):
    """A model file that is not a valid neuralab file (corrupt, truncated, foreign)."""


class TrainingError(NeuralabError, RuntimeError):
    """Training that cannot go on (a loss that became NaN or infinite, diverging parameters)."""


class UnknownKeyError(ConfigError, KeyError):
    """A lookup of a key that is not there (``history["accuracy"]`` when no accuracy was recorded).

    Also a ``KeyError``, so ``except KeyError`` keeps working; its message lists the keys there are.

    >>> str(UnknownKeyError("expected one of 'loss', received 'acc'"))
    "expected one of 'loss', received 'acc'"
    """

    __str__ = Exception.__str__  # KeyError's own quotes the message


def format_shape(shape) -> str:
    """Format a shape as users read it: ``(1, 8, 8)``; ``None`` for an unknown axis.

    >>> format_shape((1, 8, 8))
    '(1, 8, 8)'
    >>> format_shape([(3,), (4,)])
    '[(3,), (4,)]'
    """
    if shape is None:
        return "unknown"
    if isinstance(shape, list):
        return "[" + ", ".join(format_shape(s) for s in shape) + "]"
    shape = tuple(shape)
    if len(shape) == 1:
        return f"({shape[0]},)"
    return "(" + ", ".join("None" if s is None else str(s) for s in shape) + ")"

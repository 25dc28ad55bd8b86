"""Several inputs or outputs: turning the user's tuple / list / dict into one canonical order.

Inside the engine the inputs of a batch are always a tuple of tensors in the
module's input order (``module(*x)``), and the targets are ``None`` or a tuple
in the module's output order. These helpers do the conversion and say, when
the structure does not match the module, what was expected and what was received.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from ..errors import DataError

__all__ = ["input_names", "output_names", "canonical", "is_structure", "as_outputs", "rebuild"]


def _layer_names(module: nn.Module, attr: str) -> list[str] | None:
    layers = getattr(module, attr, None)
    if layers is None or isinstance(layers, (str, bytes)):
        return None
    try:
        return [str(getattr(layer, "name", f"{attr[:-1]}-{k}")) for k, layer in enumerate(layers)]
    except TypeError:
        return None


def input_names(module: nn.Module) -> list[str] | None:
    """Names of a network's input layers in order; None for a module that does not declare them."""
    return _layer_names(module, "input_layers")


def output_names(module: nn.Module) -> list[str] | None:
    """Names of a network's output layers in order; None for a module that does not declare them."""
    return _layer_names(module, "output_layers")


def _is_leaf_array(a: Any) -> bool:
    return isinstance(a, (np.ndarray, torch.Tensor))


def is_structure(value: Any, names: list[str] | None) -> bool:
    """Is ``value`` several arrays (one per input/output) rather than one array?

    A dict always is. A tuple/list is when the module declares several entries,
    or, for a module that declares none, when every item is an array/tensor
    (a list of numbers or of lists is one array, as NumPy reads it).
    """
    if isinstance(value, dict):
        return True
    if not isinstance(value, (tuple, list)) or not value:
        return False
    if names is not None:
        return len(names) > 1
    return len(value) > 1 and all(_is_leaf_array(v) for v in value)


def canonical(value: Any, names: list[str] | None, what: str, kind: str) -> tuple:
    """``value`` as a tuple in the module's order; DataError when the structure does not fit.

    Args:
        value: one array, a tuple/list of arrays, or a dict keyed by layer name.
        names: the module's input (or output) names, None when it declares none.
        what: how the user calls this argument ("x", "y_val" …).
        kind: "input" or "output".
    """
    expected = len(names) if names is not None else None
    listing = ", ".join(repr(n) for n in names) if names else ""
    if isinstance(value, dict):
        if names is None:
            raise DataError(
                f"{what}: a dict of arrays needs a network with named {kind} layers; this module "
                f"declares none: pass a tuple in the order the module takes its {kind}s"
            )
        unknown = [k for k in value if k not in names]
        missing = [n for n in names if n not in value]
        if unknown or missing:
            raise DataError(
                f"{what}: expected a dict with the {kind} names {listing}, received keys "
                f"{', '.join(repr(k) for k in value)}"
                + (f" ({', '.join(repr(k) for k in unknown)} name no {kind})" if unknown else "")
                + (f" (missing {', '.join(repr(m) for m in missing)})" if missing else "")
            )
        return tuple(value[n] for n in names)
    if is_structure(value, names):
        items = tuple(value)
        if expected is not None and len(items) != expected:
            raise DataError(
                f"{what}: expected {expected} arrays, one per {kind} ({listing}), received "
                f"{len(items)}"
            )
        return items
    if expected is not None and expected > 1:
        raise DataError(
            f"{what}: the network has {expected} {kind}s ({listing}): expected a tuple/list of "
            f"{expected} arrays or a dict keyed by {kind} name, received one "
            f"{type(value).__name__}"
        )
    return (value,)


def as_outputs(out: Any) -> tuple:
    """A module's return value as a tuple of tensors (one per output)."""
    if isinstance(out, torch.Tensor):
        return (out,)
    if isinstance(out, (tuple, list)):
        return tuple(out)
    if isinstance(out, dict):
        return tuple(out.values())
    return (out,)


def rebuild(out: Any, leaves: list) -> Any:
    """Put ``leaves`` back into the shape of the module's return value ``out``."""
    if isinstance(out, torch.Tensor):
        return leaves[0]
    if isinstance(out, dict):
        return dict(zip(out.keys(), leaves))
    return tuple(leaves)


def map_leaves(fn: Callable, items: tuple | None) -> tuple | None:
    return None if items is None else tuple(fn(t) for t in items)

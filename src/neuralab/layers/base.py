"""The layer base class: shapes, building, configs, the algebra's operators.

Every neuralab layer is a ``torch.nn.Module``. A layer knows the shape of one
sample (no batch axis) it receives and produces; it allocates its parameters
in :meth:`Layer.build` once the input shape is known — when the layer is
connected to a graph that starts at an ``Input``, or at its first call.

When torch refuses a call, the layer says why in neuralab's terms instead of
torch's: a batch of another dtype than its weights (float64 into float32,
integers into a dense layer) is a DataError naming both dtypes, a built layer
called with another width a ShapeError naming both shapes. The explanation is
computed only after torch has failed, so a call that works pays for no check::

    >>> import torch
    >>> from neuralab import layers as L
    >>> dense = L.Relu(4)
    >>> dense(torch.zeros(2, 3)).shape
    torch.Size([2, 4])
    >>> dense(torch.zeros(2, 5))
    Traceback (most recent call last):
    ...
    neuralab.errors.ShapeError: layer 'relu-...' (Relu) was built for input shape (3,) but received (5,) ...
"""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from typing import Any

import torch
from torch import nn

from .. import init as initializers
from ..errors import ConfigError, DataError, NeuralabError, ShapeError, format_shape
from ..validation import check_int, expected

__all__ = ["Layer", "Shape", "shapes_match", "positive_int", "as_tuple"]

Shape = tuple  # a per-sample shape: a tuple of ints (None for an axis of unknown length)


_counters: dict[str, Any] = defaultdict(lambda: itertools.count(1))


def _snake(name: str) -> str:
    """``"BatchNorm"`` → ``"batch_norm"``; acronyms stay whole: ``"LSTM"`` → ``"lstm"``.

    >>> [_snake(n) for n in ("LSTM", "GRU", "SimpleRNN", "PRelu", "BatchNorm")]
    ['lstm', 'gru', 'simple_rnn', 'p_relu', 'batch_norm']
    """
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def base_name(cls) -> str:
    """The stem of a layer class's automatic names (``relu`` for ``relu-1``)."""
    return _snake(cls.__name__)


def _auto_name(cls) -> str:
    """A provisional unique name for a layer created without one.

    Networks renumber such layers within themselves when they are formed
    (``relu-1``, ``relu-2`` … in execution order), so two fresh builds of one
    architecture have the same names and ``state_dict`` keys.
    """
    base = base_name(cls)
    return f"{base}-{next(_counters[base])}"


def shapes_match(expected, received) -> bool:
    """True when two per-sample shapes agree (None matches any length)."""
    if expected is None or received is None:
        return True
    if len(expected) != len(received):
        return False
    return all(a is None or b is None or a == b for a, b in zip(expected, received))


def positive_int(owner: str, name: str, value, allow_none=False):
    """Validate a positive integer hyperparameter (:func:`neuralab.validation.check_int`)."""
    return check_int(owner, name, value, low=1, allow_none=allow_none)


def as_tuple(owner: str, name: str, value, n: int | None = None) -> tuple:
    """An int or a sequence of positive ints, as a tuple (repeated to ``n`` axes)."""
    if isinstance(value, (list, tuple)):
        values = tuple(positive_int(owner, name, v) for v in value)
        if not values:
            raise ConfigError(f"{owner}: `{name}` must not be empty")
        if n is not None and len(values) != n:
            raise ShapeError(
                f"{owner}: `{name}` has {len(values)} values {values} but the input has "
                f"{n} spatial axes"
            )
        return values
    try:
        v = positive_int(owner, name, value)
    except ConfigError:
        raise ConfigError(
            f"{owner}: `{name}` must be a positive integer or a tuple of positive integers, "
            f"received {value!r}"
        ) from None
    return (v,) * (n or 1) if n is not None else (v,)


def _lazy_build(module: "Layer", args):
    if not module.built:
        tensors = [a for a in args if isinstance(a, torch.Tensor)]
        if not tensors:
            raise ShapeError(f"layer '{module.name}' was called without a tensor input")
        shapes = [tuple(t.shape[1:]) for t in tensors]
        module.build(shapes[0] if module.n_inputs == 1 else shapes)
        module.to(device=tensors[0].device)
        if tensors[0].is_floating_point():
            module.to(dtype=tensors[0].dtype)
    return None


_module_call = nn.Module.__call__


def reserved_names() -> frozenset:
    """Names a layer cannot take: the attributes of the Network that holds it (``layers``,
    ``forward``, ``parameters`` …), since a layer is stored as the network's submodule."""
    from ..graph import Network  # a floor up, imported when a layer is named (as the algebra does)

    return Network.reserved_names()


def check_name(owner: str, name):
    """A layer name: a non-empty string without '.' that is not a Network attribute."""
    if not isinstance(name, str) or not name or "." in name:
        raise expected(owner, "name", "a non-empty string without '.'", name)
    if name in reserved_names():
        raise expected(owner, "name", "a name that is not a Network attribute (layers, forward, "
                       "parameters, …: a layer is stored under its name in the network)", name)
    return name


def dtype_problem(owner: str, tensors, reference, takes_integers: bool = False):
    """A DataError when a tensor's dtype cannot meet weights of dtype ``reference``, else None.

    Floating inputs must have the weights' dtype; integer or bool inputs fit only layers
    that take indices (``takes_integers``).
    """
    if reference is None:
        return None
    for k, t in enumerate(tensors):
        which = "an input" if len(tensors) == 1 else f"input {k}"
        if t.is_floating_point() or t.is_complex():
            if t.dtype != reference:
                return DataError(
                    f"{owner}: expected {which} of dtype {reference} (the dtype of its weights), "
                    f"received {t.dtype}; convert the batch with x.to({reference}) (fit and "
                    "predict convert NumPy arrays themselves)")
        elif not takes_integers:
            return DataError(
                f"{owner}: expected {which} of floating dtype {reference}, received integer dtype "
                f"{t.dtype}; convert the batch with x.to({reference}), or start the network with an "
                "Embedding for integer indices")
    return None


class Algebra:
    """``a >> b`` joins and ``a | b`` runs side by side: shared by layers and networks.

    The graph module sits a floor above the layers, so it is imported here, when an
    expression is written (as ``Network.fit`` imports training).
    """

    def __rshift__(self, other):
        from ..graph import join

        return join(self, other)

    def __rrshift__(self, other):
        from ..graph import join

        return join(other, self)

    def __or__(self, other):
        from ..graph import parallel

        return parallel(self, other)

    def __ror__(self, other):
        from ..graph import parallel

        return parallel(other, self)


class Layer(Algebra, nn.Module):
    """Base class of neuralab layers.

    Attributes:
        name: unique name (``"convolution-1"``); the key of the layer's weights
            in a network's ``state_dict``.
        input_shape / output_shape: per-sample shapes, set by :meth:`build`.
        built: whether the parameters exist.
        n_inputs: 1 for ordinary layers, None for merge layers that take any number.
    """

    n_inputs: int | None = 1
    _config_keys: tuple[str, ...] = ()
    # ``weight=``/``bias=`` arguments as given, stored by layers that take them;
    # get_config writes them as initializer configs.
    _init_specs: dict = {}
    # Execution hints for Network (see Network._plan): ``fresh_output`` means the
    # layer returns a new tensor that its backward does not need, so a later
    # layer may overwrite it; ``forward_inplace(target, *xs)`` computes the output
    # by overwriting input ``target`` (layers that can, e.g. ReLU, addition).
    fresh_output: bool = False
    forward_inplace = None

    def supports_inplace(self, target: int) -> bool:
        """Whether :meth:`forward_inplace` may overwrite input ``target``."""
        return False

    def __init__(self, name: str | None = None):
        super().__init__()
        if name is not None:
            check_name(type(self).__name__, name)
        self.name = name or _auto_name(type(self))
        self.auto_named = name is None  # renumbered by the network that holds it
        self.input_shape = None
        self.output_shape = None
        self.built = False
        self._lazy_handle = self.register_forward_pre_hook(_lazy_build)

    # -- calls -----------------------------------------------------------------
    takes_integers = False  # layers whose inputs are integer indices (Embedding)

    def __call__(self, *args, **kwargs):
        # torch's own failures (a float64 batch into float32 weights, another width after the
        # build) are explained after the fact, so a call that works pays for no check
        try:
            return _module_call(self, *args, **kwargs)
        except (RuntimeError, ValueError) as exc:  # torch's RNNs raise ValueError for dtypes
            if isinstance(exc, NeuralabError):
                raise
            problem = self.explain_failure(args)
            if problem is None:
                raise
            raise problem from exc

    def explain_failure(self, args):
        """A neuralab error saying why torch refused ``args`` (shape, dtype), or None."""
        tensors = [a for a in args if isinstance(a, torch.Tensor)]
        if not tensors:
            return None
        owner = f"layer '{self.name}' ({type(self).__name__})"
        if self.built:
            received = [tuple(t.shape[1:]) for t in tensors]
            received = received[0] if self.n_inputs == 1 else received
            if not self._same_input(received):
                return ShapeError(
                    f"{owner} was built for input shape {format_shape(self.input_shape)} but received "
                    f"{format_shape(received)} (a batch of shape "
                    f"{format_shape(tuple(tensors[0].shape))}); a layer keeps the shape it was built "
                    "for: use a fresh layer (layer.clone()) for another width")
        reference = next((p.dtype for p in self.parameters() if p.is_floating_point()), None)
        return dtype_problem(owner, tensors, reference, self.takes_integers)

    # -- shapes ----------------------------------------------------------------
    def output_shape_for(self, input_shape):
        """The per-sample output shape for ``input_shape`` (pure; raises ShapeError)."""
        return tuple(input_shape)

    def build(self, input_shape) -> "Layer":
        """Fix the input shape and allocate parameters (idempotent for the same shape)."""
        if isinstance(input_shape, list):
            input_shape = [tuple(s) for s in input_shape]
        else:
            input_shape = tuple(input_shape)
        if self.built:
            if not self._same_input(input_shape):
                raise ShapeError(
                    f"layer '{self.name}' was built for input shape "
                    f"{format_shape(self.input_shape)} but received {format_shape(input_shape)}"
                )
            return self
        output_shape = self.output_shape_for(input_shape)
        self.input_shape = input_shape
        self.output_shape = output_shape
        self._build(input_shape)
        self.reset_parameters()
        self.built = True
        self._lazy_handle.remove()
        return self

    def _same_input(self, shape) -> bool:
        if isinstance(shape, list) != isinstance(self.input_shape, list):
            return False
        if isinstance(shape, list):
            return len(shape) == len(self.input_shape) and all(
                shapes_match(a, b) for a, b in zip(self.input_shape, shape)
            )
        return shapes_match(self.input_shape, shape)

    def _build(self, input_shape) -> None:
        """Allocate parameters for ``input_shape`` (override in layers with weights)."""

    def reset_parameters(self) -> None:
        """(Re)initialise parameters with the layer's initializers."""

    def kernel_geometry(self):
        """Per spatial axis ``(F, S, dilation)`` for receptive fields; None if unchanged."""
        return None

    def _check_rank(self, input_shape, ranks, what):
        if not isinstance(input_shape, tuple) or len(input_shape) not in ranks:
            raise ShapeError(
                f"layer '{self.name}' ({type(self).__name__}) expects {what}, "
                f"received input of shape {format_shape(input_shape)}"
            )

    # -- configs -----------------------------------------------------------------
    def get_config(self) -> dict:
        """The constructor's arguments (JSON-serialisable) plus ``name``."""
        config = {"name": self.name}
        for key in self._config_keys:
            value = getattr(self, key)
            config[key] = list(value) if isinstance(value, tuple) else value
        for key, spec in self._init_specs.items():
            config[key] = initializers.spec_config(spec)
        return config

    @classmethod
    def from_config(cls, config: dict) -> "Layer":
        """Rebuild a layer from :meth:`get_config`'s output."""
        return cls(**config)

    def clone(self, keep_name: bool = False) -> "Layer":
        """A fresh copy (new weights, new name unless ``keep_name``), built like this one."""
        config = self.get_config()
        if not keep_name:
            config.pop("name", None)
        copy = type(self).from_config(config)
        if self.built:
            copy.build(self.input_shape)
        return copy

    def extra_repr(self) -> str:
        parts = []
        for key in self._config_keys:
            value = getattr(self, key)
            default = self._defaults().get(key, object())
            if value != default:
                parts.append(f"{key}={value!r}")
        return ", ".join(parts)

    @classmethod
    def _defaults(cls) -> dict:
        import inspect

        sig = inspect.signature(cls.__init__)
        return {
            k: p.default for k, p in sig.parameters.items() if p.default is not inspect._empty
        }

    def __repr__(self) -> str:
        extra = self.extra_repr()
        return f"{type(self).__name__}({extra})" if extra else f"{type(self).__name__}()"


def init_param(spec, default):
    """Resolve a ``weight=``/``bias=`` argument: None → ``default``."""
    return initializers.get(default if spec is None else spec)

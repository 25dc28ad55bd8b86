"""Activation layers, with NeuPy's rule: given a size, an activation layer is a
dense layer followed by that activation; without one, it is the bare activation.

>>> import torch
>>> from neuralab import layers as L
>>> L.Relu(4)(torch.ones(2, 3)).shape      # dense 3 → 4, then ReLU
torch.Size([2, 4])
>>> L.Relu()(torch.tensor([[-1.0, 2.0]]))
tensor([[0., 2.]])

Dense part: ``y = x Wᵀ + b`` over the last axis, ``W`` shaped ``(n_units, in)``;
input ``(*, in)`` → output ``(*, n_units)``.
"""

from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F
from torch import nn

from .. import init as initializers
from .. import registry
from ..errors import ConfigError, ShapeError, format_shape
from .base import Layer, init_param, positive_int

__all__ = [
    "Activation",
    "Linear",
    "Sigmoid",
    "HardSigmoid",
    "Tanh",
    "Relu",
    "LeakyRelu",
    "Elu",
    "PRelu",
    "Softplus",
    "Softmax",
]


def _real(owner, name, value, positive=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ConfigError(f"{owner}: `{name}` must be a finite number, received {value!r}")
    if positive and value <= 0:
        raise ConfigError(f"{owner}: `{name}` must be positive, received {value!r}")
    return float(value)


class Activation(Layer):
    """Shared base: optional dense part, then :meth:`activate`.

    Args:
        n_units: output size of the dense part; None for the bare activation.
        weight: initializer of the dense weight (default: the activation's own,
            He normal for the ReLU family, Xavier normal otherwise).
        bias: initializer of the dense bias (default 0); None for no bias.
        name: layer name (default: automatic).
    """

    default_weight = "xavier_normal"
    _config_keys = ("n_units",)

    def __init__(self, n_units: int | None = None, *, weight=None, bias=0.0, name=None):
        super().__init__(name)
        self.n_units = positive_int(type(self).__name__, "n_units", n_units, allow_none=True)
        self.weight_init = init_param(weight, self.default_weight) if n_units else None
        self.bias_init = None if bias is None else initializers.get(bias)
        self._init_specs = {"weight": weight, "bias": bias}
        self.weight = None
        self.bias = None

    def output_shape_for(self, input_shape):
        if self.n_units is None:
            return tuple(input_shape)
        if (not isinstance(input_shape, tuple) or len(input_shape) not in (1, 2)
                or input_shape[-1] is None):
            raise ShapeError(
                f"layer '{self.name}' ({type(self).__name__}({self.n_units})) is dense and "
                f"expects features (F,) or sequences (T, F) with a known F, received "
                f"{format_shape(input_shape)}; add L.Reshape() to flatten images first"
            )
        return tuple(input_shape[:-1]) + (self.n_units,)

    def _build(self, input_shape):
        if self.n_units is not None:
            self.weight = nn.Parameter(torch.empty(self.n_units, input_shape[-1]))
            if self.bias_init is not None:
                self.bias = nn.Parameter(torch.empty(self.n_units))

    def reset_parameters(self):
        if self.weight is not None:
            self.weight_init(self.weight)
        if self.bias is not None:
            self.bias_init(self.bias)

    def activate(self, x):  # pragma: no cover - overridden
        raise NotImplementedError

    def forward(self, x):
        if self.weight is not None:
            x = F.linear(x, self.weight, self.bias)
        return self.activate(x)

    def extra_repr(self):
        return "" if self.n_units is None else str(self.n_units)


@registry.layers.register("Linear")
class Linear(Activation):
    """Identity activation ``f(x) = x``; ``Linear(n)`` is a plain dense layer."""

    def activate(self, x):
        return x


@registry.layers.register("Sigmoid")
class Sigmoid(Activation):
    """Logistic sigmoid ``f(x) = 1 / (1 + e^{-x})``."""

    def activate(self, x):
        return torch.sigmoid(x)


@registry.layers.register("HardSigmoid")
class HardSigmoid(Activation):
    """Piecewise-linear sigmoid ``f(x) = clip(x/6 + 1/2, 0, 1)`` (PyTorch's and Keras 3's)."""

    def activate(self, x):
        return F.hardsigmoid(x)


@registry.layers.register("Tanh")
class Tanh(Activation):
    """Hyperbolic tangent ``f(x) = (e^x - e^{-x}) / (e^x + e^{-x})``."""

    def activate(self, x):
        return torch.tanh(x)


@registry.layers.register("Relu")
class Relu(Activation):
    """Rectified linear unit ``f(x) = max(0, x)``."""

    default_weight = "he_normal"

    def activate(self, x):
        return F.relu(x)

    def supports_inplace(self, target):
        return self.n_units is None

    def forward_inplace(self, target, x):
        return torch.relu_(x)


@registry.layers.register("LeakyRelu")
class LeakyRelu(Activation):
    """Leaky ReLU ``f(x) = x if x > 0 else alpha·x`` (alpha default 0.01)."""

    default_weight = "he_normal"
    _config_keys = Activation._config_keys + ("alpha",)

    def __init__(self, n_units=None, *, alpha: float = 0.01, weight=None, bias=0.0, name=None):
        super().__init__(n_units, weight=weight, bias=bias, name=name)
        self.alpha = _real("LeakyRelu", "alpha", alpha)

    def activate(self, x):
        return F.leaky_relu(x, self.alpha)

    def supports_inplace(self, target):
        return self.n_units is None

    def forward_inplace(self, target, x):
        return F.leaky_relu_(x, self.alpha)


@registry.layers.register("Elu")
class Elu(Activation):
    """Exponential linear unit ``f(x) = x if x > 0 else alpha·(e^x - 1)`` (alpha default 1)."""

    default_weight = "he_normal"
    _config_keys = Activation._config_keys + ("alpha",)

    def __init__(self, n_units=None, *, alpha: float = 1.0, weight=None, bias=0.0, name=None):
        super().__init__(n_units, weight=weight, bias=bias, name=name)
        self.alpha = _real("Elu", "alpha", alpha, positive=True)

    def activate(self, x):
        return F.elu(x, self.alpha)


@registry.layers.register("PRelu")
class PRelu(Activation):
    """Parametric ReLU ``f(x) = x if x > 0 else a·x`` with a learned slope ``a``.

    One slope per unit (with ``n_units``) or per channel/feature (axis 0 of the
    per-sample shape), initialised to ``alpha`` (default 0.25).
    """

    default_weight = "he_normal"
    _config_keys = Activation._config_keys + ("alpha",)

    def __init__(self, n_units=None, *, alpha: float = 0.25, weight=None, bias=0.0, name=None):
        super().__init__(n_units, weight=weight, bias=bias, name=name)
        self.alpha = _real("PRelu", "alpha", alpha)
        self.slope = None

    def _build(self, input_shape):
        super()._build(input_shape)
        out = self.output_shape_for(input_shape)
        if len(out) == 0 or out[0] is None:
            raise ShapeError(
                f"layer '{self.name}' (PRelu) needs a known first axis (channels or features), "
                f"received {format_shape(input_shape)}"
            )
        n = self.n_units if self.n_units is not None else out[0]
        self.slope = nn.Parameter(torch.empty(n))

    def reset_parameters(self):
        super().reset_parameters()
        if self.slope is not None:
            with torch.no_grad():
                self.slope.fill_(self.alpha)

    def activate(self, x):
        if self.n_units is not None and x.dim() > 2:
            # one slope per unit: units live on the last axis
            return torch.where(x > 0, x, x * self.slope)
        return F.prelu(x, self.slope)


@registry.layers.register("Softplus")
class Softplus(Activation):
    """Smooth ReLU ``f(x) = log(1 + e^x)``."""

    def activate(self, x):
        return F.softplus(x)


@registry.layers.register("Softmax")
class Softmax(Activation):
    """``f(x)_i = e^{x_i} / Σ_j e^{x_j}`` over ``axis`` (default -1, the features)."""

    _config_keys = Activation._config_keys + ("axis",)

    def __init__(self, n_units=None, *, axis: int = -1, weight=None, bias=0.0, name=None):
        super().__init__(n_units, weight=weight, bias=bias, name=name)
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ConfigError(f"Softmax: `axis` must be an int, received {axis!r}")
        self.axis = axis

    def activate(self, x):
        return torch.softmax(x, dim=self.axis)


#: The activation layers by name: one table, read by :func:`get_activation`
#: (names compare without case, ``_`` or ``-``: "LeakyRelu", "leaky_relu", "leaky-relu").
ACTIVATIONS = {
    "linear": Linear,
    "sigmoid": Sigmoid,
    "hard_sigmoid": HardSigmoid,
    "tanh": Tanh,
    "relu": Relu,
    "leaky_relu": LeakyRelu,
    "elu": Elu,
    "prelu": PRelu,
    "softplus": Softplus,
    "softmax": Softmax,
}


def _squash(name: str) -> str:
    return name.strip().lower().replace("_", "").replace("-", "").replace(" ", "")


_BY_SQUASHED = {_squash(k): v for k, v in ACTIVATIONS.items()}


def get_activation(spec) -> Activation:
    """A bare activation layer from a name (``"relu"``, ``"LeakyRelu"``) or an Activation instance.

    >>> get_activation("tanh")
    Tanh()
    >>> get_activation("LeakyRelu")
    LeakyRelu()
    """
    if isinstance(spec, Activation):
        return spec
    if isinstance(spec, str) and _squash(spec) in _BY_SQUASHED:
        return _BY_SQUASHED[_squash(spec)]()
    raise ConfigError(
        f"get_activation: expected an activation name, one of {', '.join(sorted(ACTIVATIONS))}, "
        f"or an Activation layer; received {spec!r}"
    )

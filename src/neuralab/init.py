"""Parameter initializers, usable as ``weight=`` / ``bias=`` of any layer.

An initializer is a small object that fills a tensor in place::

    >>> import torch
    >>> from neuralab import init
    >>> w = torch.empty(64, 32)
    >>> init.HeNormal()(w).shape
    torch.Size([64, 32])
    >>> init.get(0.5)
    Constant(value=0.5)

``fan_in`` and ``fan_out`` follow PyTorch's convention for weights shaped
``(out_features, in_features, *kernel)``: ``fan_in = in·Πkernel``,
``fan_out = out·Πkernel``.

- ``Constant(value)``: every entry equals ``value``.
- ``Normal(mean=0, std=0.01)``, ``Uniform(minval=0, maxval=1)``.
- ``Orthogonal(gain=1)``: a (semi-)orthogonal matrix (Saxe et al., 2013).
- ``HeNormal(gain=√2)``: N(0, gain²/fan_in); ``HeUniform``: U(±gain·√(3/fan_in)) (He et al., 2015).
- ``XavierNormal(gain=1)``: N(0, 2·gain²/(fan_in+fan_out));
  ``XavierUniform``: U(±gain·√(6/(fan_in+fan_out))) (Glorot & Bengio, 2010).
"""

from __future__ import annotations

import math
import numbers

import torch

from . import registry
from .errors import ConfigError
from .validation import check_number

__all__ = [
    "Initializer",
    "Constant",
    "Normal",
    "Uniform",
    "Orthogonal",
    "HeNormal",
    "HeUniform",
    "XavierNormal",
    "XavierUniform",
    "get",
    "fans",
]


def fans(tensor: torch.Tensor) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight shaped ``(out, in, *kernel)``; 1-D tensors use their length."""
    if tensor.dim() == 0:
        return 1, 1
    if tensor.dim() == 1:
        return tensor.shape[0], tensor.shape[0]
    receptive = 1
    for s in tensor.shape[2:]:
        receptive *= s
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


class Initializer:
    """Base class: ``init(tensor)`` fills ``tensor`` in place and returns it."""

    def __call__(self, tensor: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self._fill(tensor)

    def _fill(self, tensor: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def get_config(self) -> dict:
        return dict(self.__dict__)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(sorted(self.get_config().items()))))


def _number(cls, name, value, positive=False):
    return check_number(cls, name, value, low=0.0 if positive else None, low_open=positive)


@registry.initializers.register("Constant", "constant", "zeros")
class Constant(Initializer):
    """Every entry equals ``value`` (default 0)."""

    def __init__(self, value: float = 0.0):
        self.value = _number("Constant", "value", value)

    def _fill(self, tensor):
        return torch.nn.init.constant_(tensor, self.value)


@registry.initializers.register("Normal", "normal")
class Normal(Initializer):
    """Entries drawn from N(mean, std²)."""

    def __init__(self, mean: float = 0.0, std: float = 0.01):
        self.mean = _number("Normal", "mean", mean)
        self.std = _number("Normal", "std", std, positive=True)

    def _fill(self, tensor):
        return torch.nn.init.normal_(tensor, self.mean, self.std)


@registry.initializers.register("Uniform", "uniform")
class Uniform(Initializer):
    """Entries drawn from U(minval, maxval)."""

    def __init__(self, minval: float = 0.0, maxval: float = 1.0):
        self.minval = _number("Uniform", "minval", minval)
        self.maxval = _number("Uniform", "maxval", maxval)
        if self.maxval <= self.minval:
            raise ConfigError(
                f"Uniform: `maxval` must be greater than `minval`, received "
                f"minval={minval!r}, maxval={maxval!r}"
            )

    def _fill(self, tensor):
        return torch.nn.init.uniform_(tensor, self.minval, self.maxval)


@registry.initializers.register("Orthogonal", "orthogonal")
class Orthogonal(Initializer):
    """A (semi-)orthogonal matrix scaled by ``gain``; higher-rank weights are flattened to (out, rest)."""

    def __init__(self, gain: float = 1.0):
        self.gain = _number("Orthogonal", "gain", gain, positive=True)

    def _fill(self, tensor):
        if tensor.dim() < 2:
            raise ConfigError(
                f"Orthogonal needs a tensor with at least 2 dimensions, received shape "
                f"{tuple(tensor.shape)}"
            )
        return torch.nn.init.orthogonal_(tensor, gain=self.gain)


class _Scaled(Initializer):
    """Variance scaling by fan: torch.nn.init does the drawing; 1-D tensors use their length as fans."""

    def __init__(self, gain: float | None = None):
        default = self.default_gain
        self.gain = _number(type(self).__name__, "gain", default if gain is None else gain, True)

    def _fill(self, tensor):
        if tensor.dim() < 2:  # torch.nn.init needs (out, in, ...): scale by the length instead
            fan_in, fan_out = fans(tensor)
            return self._fill_1d(tensor, fan_in, fan_out)
        return self._torch_fill(tensor)


@registry.initializers.register("HeNormal", "he_normal", "kaiming_normal")
class HeNormal(_Scaled):
    """N(0, gain²/fan_in) with gain √2 (ReLU networks)."""

    default_gain = math.sqrt(2.0)

    def _torch_fill(self, tensor):
        return torch.nn.init.kaiming_normal_(tensor, mode="fan_in", nonlinearity="linear").mul_(self.gain)

    def _fill_1d(self, tensor, fan_in, fan_out):
        return tensor.normal_(0.0, self.gain / math.sqrt(fan_in))


@registry.initializers.register("HeUniform", "he_uniform", "kaiming_uniform")
class HeUniform(_Scaled):
    """U(-a, a) with a = gain·√(3/fan_in), gain √2."""

    default_gain = math.sqrt(2.0)

    def _torch_fill(self, tensor):
        return torch.nn.init.kaiming_uniform_(tensor, mode="fan_in", nonlinearity="linear").mul_(self.gain)

    def _fill_1d(self, tensor, fan_in, fan_out):
        bound = self.gain * math.sqrt(3.0 / fan_in)
        return tensor.uniform_(-bound, bound)


@registry.initializers.register("XavierNormal", "xavier_normal", "glorot_normal")
class XavierNormal(_Scaled):
    """N(0, 2·gain²/(fan_in + fan_out))."""

    default_gain = 1.0

    def _torch_fill(self, tensor):
        return torch.nn.init.xavier_normal_(tensor, gain=self.gain)

    def _fill_1d(self, tensor, fan_in, fan_out):
        return tensor.normal_(0.0, self.gain * math.sqrt(2.0 / (fan_in + fan_out)))


@registry.initializers.register("XavierUniform", "xavier_uniform", "glorot_uniform")
class XavierUniform(_Scaled):
    """U(-a, a) with a = gain·√(6/(fan_in + fan_out))."""

    default_gain = 1.0

    def _torch_fill(self, tensor):
        return torch.nn.init.xavier_uniform_(tensor, gain=self.gain)

    def _fill_1d(self, tensor, fan_in, fan_out):
        bound = self.gain * math.sqrt(6.0 / (fan_in + fan_out))
        return tensor.uniform_(-bound, bound)


def get(spec) -> Initializer:
    """An initializer from a name, a config, a number (Constant) or an initializer.

    A plain callable ``f(tensor)`` is accepted too (it cannot be saved in a config).
    """
    if isinstance(spec, Initializer):
        return spec
    if isinstance(spec, numbers.Real) and not isinstance(spec, bool):
        return Constant(spec)
    if isinstance(spec, (str, dict)):
        return registry.initializers.get(spec)
    if callable(spec):
        return spec
    raise ConfigError(
        f"expected an initializer (a name such as 'he_normal', a number, a config dict or "
        f"an neuralab.init object), received {spec!r}"
    )


def spec_config(spec) -> dict | None:
    """JSON config of a ``weight=``/``bias=`` argument as the user gave it (None stays None)."""
    return None if spec is None else to_config(get(spec))


def to_config(initializer) -> dict | None:
    """JSON config of an initializer (None for None); raises for unsaveable callables."""
    if initializer is None:
        return None
    if isinstance(initializer, Initializer):
        return {"class": type(initializer).__name__, "config": initializer.get_config()}
    raise ConfigError(
        f"initializer {initializer!r} is a plain callable and cannot be stored in a config; "
        "use a neuralab.init initializer"
    )

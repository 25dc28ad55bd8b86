"""Recurrent layers over sequences ``(T, F)``: SimpleRNN, LSTM, GRU.

They wrap PyTorch's fused kernels (``nn.RNN``/``nn.LSTM``/``nn.GRU``, batch first).

- SimpleRNN: ``h_t = f(W x_t + U h_{t-1} + b)``.
- LSTM: gates ``i, f, o = σ(·)``, candidate ``g = tanh(·)``,
  ``c_t = f ⊙ c_{t-1} + i ⊙ g``, ``h_t = o ⊙ tanh(c_t)``.
- GRU: ``r, z = σ(·)``, ``n = tanh(W_n x_t + r ⊙ (U_n h_{t-1}))``,
  ``h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}``.

Shape: ``(T, F)`` → ``(n_units·dirs,)`` (last step) or ``(T, n_units·dirs)`` with
``return_sequences=True``; ``dirs`` is 2 when bidirectional.

>>> import torch
>>> from neuralab import layers as L
>>> L.LSTM(8)(torch.zeros(4, 5, 3)).shape
torch.Size([4, 8])
"""

from __future__ import annotations

import torch
from torch import nn

from .. import init as initializers
from .. import registry
from ..errors import ConfigError, ShapeError, format_shape
from .base import Layer, positive_int

__all__ = ["SimpleRNN", "LSTM", "GRU"]


class _Recurrent(Layer):
    _module_cls = nn.RNN
    _config_keys = ("n_units", "return_sequences", "bidirectional", "n_layers")

    def __init__(self, n_units: int, *, return_sequences: bool = False,
                 bidirectional: bool = False, n_layers: int = 1, weight=None, bias=0.0,
                 name=None):
        super().__init__(name)
        owner = type(self).__name__
        self.n_units = positive_int(owner, "n_units", n_units)
        self.n_layers = positive_int(owner, "n_layers", n_layers)
        self.return_sequences = bool(return_sequences)
        self.bidirectional = bool(bidirectional)
        self._init_specs = {"weight": weight, "bias": bias}
        self.weight_init = None if weight is None else initializers.get(weight)
        self.bias_init = None if bias is None else initializers.get(bias)
        self.cell = None

    def output_shape_for(self, input_shape):
        if not isinstance(input_shape, tuple) or len(input_shape) != 2 or input_shape[1] is None:
            raise ShapeError(
                f"layer '{self.name}' ({type(self).__name__}) expects sequences (T, F) with a "
                f"known feature size, received {format_shape(input_shape)}"
            )
        units = self.n_units * (2 if self.bidirectional else 1)
        return (input_shape[0], units) if self.return_sequences else (units,)

    def _cell_kwargs(self):
        return {}

    def _build(self, input_shape):
        self.cell = self._module_cls(
            input_shape[1], self.n_units, num_layers=self.n_layers, batch_first=True,
            bidirectional=self.bidirectional, bias=self.bias_init is not None,
            **self._cell_kwargs())

    def reset_parameters(self):
        if self.cell is None:
            return
        self.cell.reset_parameters()
        for name, p in self.cell.named_parameters():
            if name.startswith("weight") and self.weight_init is not None:
                self.weight_init(p)
            elif name.startswith("bias") and self.bias_init is not None:
                self.bias_init(p)

    def forward(self, x):
        out, _ = self.cell(x)
        if self.return_sequences:
            return out
        if not self.bidirectional:
            return out[:, -1]
        half = self.n_units
        # forward direction ends at the last step, backward direction at the first
        return torch.cat([out[:, -1, :half], out[:, 0, half:]], dim=-1)

    def extra_repr(self):
        parts = [str(self.n_units)]
        for key in ("return_sequences", "bidirectional"):
            if getattr(self, key):
                parts.append(f"{key}=True")
        if self.n_layers != 1:
            parts.append(f"n_layers={self.n_layers}")
        return ", ".join(parts)


@registry.layers.register("SimpleRNN")
class SimpleRNN(_Recurrent):
    """Elman recurrent layer ``h_t = f(W x_t + U h_{t-1} + b)``, f = "tanh" or "relu".

    Args: n_units, activation ("tanh"), return_sequences (False), bidirectional (False),
    n_layers (1), weight/bias initializers (default: PyTorch's U(±1/√n_units); bias 0).
    """

    _config_keys = _Recurrent._config_keys + ("activation",)

    def __init__(self, n_units: int, *, activation: str = "tanh", **kwargs):
        super().__init__(n_units, **kwargs)
        if activation not in ("tanh", "relu"):
            raise ConfigError(
                f"SimpleRNN: unknown activation {activation!r}; expected one of: 'tanh', 'relu'"
            )
        self.activation = activation

    def _cell_kwargs(self):
        return {"nonlinearity": self.activation}


@registry.layers.register("LSTM")
class LSTM(_Recurrent):
    """Long short-term memory (Hochreiter & Schmidhuber, 1997). Args as SimpleRNN."""

    _module_cls = nn.LSTM


@registry.layers.register("GRU")
class GRU(_Recurrent):
    """Gated recurrent unit (Cho et al., 2014). Args as SimpleRNN."""

    _module_cls = nn.GRU

"""Recurrent layers over sequences ``(T, F)``: SimpleRNN, LSTM, GRU.

They wrap PyTorch's fused kernels (``nn.RNN``/``nn.LSTM``/``nn.GRU``, batch first).

- SimpleRNN: ``h_t = f(W x_t + U h_{t-1} + b)``.
- LSTM: gates ``i, f, o = σ(·)``, candidate ``g = tanh(·)``,
  ``c_t = f ⊙ c_{t-1} + i ⊙ g``, ``h_t = o ⊙ tanh(c_t)``.
- GRU: ``r, z = σ(·)``, ``n = tanh(W_n x_t + r ⊙ (U_n h_{t-1}))``,
  ``h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}``.

Shape: ``(T, F)`` → ``(n_units·dirs,)`` (last step) or ``(T, n_units·dirs)`` with
``return_sequences=True``; ``dirs`` is 2 when bidirectional.

Variable-length batches: sequences are padded at the end to a common length
``T``; the true lengths come from ``lengths=`` (``(N,)`` ints in ``[1, T]``),
``mask=`` (``(N, T)`` booleans, True on real steps, padding last) or, inside a
network, from ``mask_value=`` (a step whose features all equal it is padding).
The layer then runs a packed sequence (:func:`torch.nn.utils.rnn.pack_padded_sequence`):
padded steps never touch the state, the "last step" output is each sequence's
own last step (its first step for the backward direction), and the padded steps
of ``return_sequences`` outputs are zeros.

>>> import torch
>>> from neuralab import layers as L
>>> L.LSTM(8)(torch.zeros(4, 5, 3)).shape
torch.Size([4, 8])
>>> rnn = L.GRU(6, return_sequences=True, bidirectional=True)
>>> out = rnn(torch.randn(2, 5, 3), lengths=[5, 2])
>>> out.shape, bool(out[1, 2:].eq(0).all())
(torch.Size([2, 5, 12]), True)
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import rnn as rnn_utils

from .. import init as initializers
from .. import registry
from ..errors import ConfigError, DataError, DTypeError, ShapeError, format_shape
from ..validation import check_bool
from .base import Layer, positive_int

__all__ = ["SimpleRNN", "LSTM", "GRU", "lengths_from_mask"]


def lengths_from_mask(mask: torch.Tensor, owner: str = "mask") -> torch.Tensor:
    """Lengths ``(N,)`` of a padding mask ``(N, T)`` that is True on a prefix of each row.

    Raises DataError when a row is not a prefix (padding must come last) or is empty.

    >>> lengths_from_mask(torch.tensor([[1, 1, 0], [1, 1, 1]]).bool()).tolist()
    [2, 3]
    """
    if not isinstance(mask, torch.Tensor):
        mask = torch.as_tensor(mask)
    if mask.dim() != 2:
        raise ShapeError(f"{owner}: expected a mask of shape (N, T), received "
                         f"{format_shape(tuple(mask.shape))}")
    if mask.dtype != torch.bool:
        other = (mask != 0) & (mask != 1)
        if bool(other.any()):
            raise DataError(f"{owner}: expected a mask of booleans or 0/1 values (True/1 on real "
                            f"steps), received {int(other.sum())} other value(s) of dtype "
                            f"{mask.dtype}, e.g. {float(mask[other][0]):g}")
    mask = mask.bool()
    lengths = mask.sum(1)
    steps = torch.arange(mask.shape[1], device=mask.device)
    prefix = steps.unsqueeze(0) < lengths.unsqueeze(1)
    if not bool((prefix == mask).all()):
        row = int((prefix != mask).any(1).nonzero()[0, 0])
        raise DataError(f"{owner}: expected True on the first steps of each row and False after "
                        f"(padding at the end), received row {row}: "
                        f"{mask[row].int().tolist()}")
    return lengths


def lengths_mask(lengths: torch.Tensor, total: int) -> torch.Tensor:
    """``(N, total)`` booleans, True where ``t < lengths[i]``."""
    return torch.arange(total, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)


class _Recurrent(Layer):
    _module_cls = nn.RNN
    _config_keys = ("n_units", "return_sequences", "bidirectional", "n_layers", "dropout",
                    "mask_value")

    def __init__(self, n_units: int, *, return_sequences: bool = False,
                 bidirectional: bool = False, n_layers: int = 1, dropout: float = 0.0,
                 mask_value: float | None = None, weight=None, bias=0.0, name=None):
        super().__init__(name)
        owner = type(self).__name__
        self.n_units = positive_int(owner, "n_units", n_units)
        self.n_layers = positive_int(owner, "n_layers", n_layers)
        self.return_sequences = check_bool(owner, "return_sequences", return_sequences)
        self.bidirectional = check_bool(owner, "bidirectional", bidirectional)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not (
                0.0 <= dropout < 1.0):
            raise ConfigError(f"{owner}: expected `dropout` to be a number in [0, 1), "
                              f"received {dropout!r}")
        self.dropout = float(dropout)
        if mask_value is not None and (isinstance(mask_value, bool)
                                       or not isinstance(mask_value, (int, float))):
            raise ConfigError(f"{owner}: expected `mask_value` to be a number or None, "
                              f"received {mask_value!r}")
        self.mask_value = None if mask_value is None else float(mask_value)
        self._init_specs = {"weight": weight, "bias": bias}
        self.weight_init = None if weight is None else initializers.get(weight)
        self.bias_init = None if bias is None else initializers.get(bias)
        self.cell = None

    @property
    def n_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def output_shape_for(self, input_shape):
        if not isinstance(input_shape, tuple) or len(input_shape) != 2 or input_shape[1] is None:
            raise ShapeError(
                f"layer '{self.name}' ({type(self).__name__}) expects sequences (T, F) with a "
                f"known feature size, received {format_shape(input_shape)}"
            )
        units = self.n_units * self.n_directions
        return (input_shape[0], units) if self.return_sequences else (units,)

    def _cell_kwargs(self):
        return {}

    def _build(self, input_shape):
        self.cell = self._module_cls(
            input_shape[1], self.n_units, num_layers=self.n_layers, batch_first=True,
            bidirectional=self.bidirectional, bias=self.bias_init is not None,
            dropout=self.dropout, **self._cell_kwargs())

    def reset_parameters(self):
        if self.cell is None:
            return
        self.cell.reset_parameters()
        for name, p in self.cell.named_parameters():
            if name.startswith("weight") and self.weight_init is not None:
                self.weight_init(p)
            elif name.startswith("bias") and self.bias_init is not None:
                self.bias_init(p)

    # -- inputs --------------------------------------------------------------------------------
    def _lengths(self, x, mask, lengths):
        """The per-sequence lengths as a CPU int64 tensor, or None when every sequence is full."""
        n, t = x.shape[0], x.shape[1]
        if mask is not None and lengths is not None:
            raise ConfigError(f"layer '{self.name}': expected `mask` or `lengths`, received both")
        if mask is not None:
            mask = torch.as_tensor(mask)
            if tuple(mask.shape) != (n, t):
                raise ShapeError(
                    f"layer '{self.name}' ({type(self).__name__}): expected a mask of shape "
                    f"({n}, {t}) for input {format_shape(tuple(x.shape))}, received "
                    f"{format_shape(tuple(mask.shape))}")
            lengths = lengths_from_mask(mask, f"layer '{self.name}' mask")
        elif lengths is None and self.mask_value is not None:
            real = (x != self.mask_value).any(-1)  # (N, T)
            steps = torch.arange(1, t + 1, device=x.device)
            lengths = (real * steps).amax(1).clamp_min(1)
        if lengths is None:
            return None
        lengths = torch.as_tensor(lengths)
        if lengths.is_floating_point() or lengths.is_complex() or lengths.dtype == torch.bool:
            raise DTypeError(f"layer '{self.name}': expected integer `lengths`, received dtype "
                             f"{lengths.dtype}")
        if tuple(lengths.shape) != (n,):
            raise ShapeError(f"layer '{self.name}': expected `lengths` of shape ({n},) for a batch "
                             f"of {n}, received {format_shape(tuple(lengths.shape))}")
        lengths = lengths.to("cpu", torch.int64)
        lo, hi = int(lengths.min()), int(lengths.max())
        if lo < 1 or hi > t:
            raise DataError(f"layer '{self.name}': expected lengths in [1, {t}] (the padded "
                            f"length), received lengths in [{lo}, {hi}]")
        if lo == t:
            return None
        return lengths

    def _initial_state(self, x, state):
        if state is None:
            return None
        is_lstm = self._module_cls is nn.LSTM
        parts = state if isinstance(state, (tuple, list)) else (state,)
        if len(parts) != (2 if is_lstm else 1):
            raise ConfigError(
                f"layer '{self.name}' ({type(self).__name__}): expected `initial_state` to be "
                + ("a pair (h0, c0)" if is_lstm else "one tensor h0")
                + f", received {len(parts)} tensors")
        layers = self.n_layers * self.n_directions
        full = (layers, x.shape[0], self.n_units)
        out = []
        for p in parts:
            p = torch.as_tensor(p, dtype=x.dtype, device=x.device)
            if p.dim() == 2 and layers == 1:
                p = p.unsqueeze(0)
            if tuple(p.shape) != full:
                raise ShapeError(
                    f"layer '{self.name}' ({type(self).__name__}): expected an initial state of "
                    f"shape {format_shape(full)} (n_layers·directions, N, n_units), received "
                    f"{format_shape(tuple(p.shape))}")
            out.append(p.contiguous())
        return tuple(out) if is_lstm else out[0]

    # -- running ---------------------------------------------------------------------------------
    def _run(self, x, mask, lengths, initial_state, need_state: bool):
        if x.dim() != 3:
            raise ShapeError(
                f"layer '{self.name}' ({type(self).__name__}) expects a batch of sequences "
                f"(N, T, F), received {format_shape(tuple(x.shape))}")
        lens = self._lengths(x, mask, lengths)
        h0 = self._initial_state(x, initial_state)
        if lens is None:
            out, state = self.cell(x, h0)
        elif not need_state and not self.bidirectional:
            # A forward-only recurrence is causal: the outputs of the real steps do not
            # depend on the padding after them, so one fused run over the padded batch
            # gives them exactly (packing is 5-10x slower on CPU; see benchmarks/sequences.py).
            out, _ = self.cell(x, h0)
            if not self.return_sequences:
                return out[torch.arange(x.shape[0], device=x.device), lens.to(x.device) - 1], None
            keep = lengths_mask(lens.to(x.device), x.shape[1])
            return out * keep.unsqueeze(-1).to(out.dtype), None
        elif not need_state and self.n_layers == 1:
            out = self._bidirectional_unpacked(x, lens.to(x.device), h0)
            if self.return_sequences:
                return out, None
            rows = torch.arange(x.shape[0], device=x.device)
            h = self.n_units
            last = out[rows, lens.to(x.device) - 1, :h]
            return torch.cat([last, out[:, 0, h:]], -1), None
        else:
            packed = rnn_utils.pack_padded_sequence(x, lens, batch_first=True,
                                                    enforce_sorted=False)
            out, state = self.cell(packed, h0)
            out, _ = rnn_utils.pad_packed_sequence(out, batch_first=True,
                                                   total_length=x.shape[1])
        if self.return_sequences:
            return out, state
        h = state[0] if isinstance(state, tuple) else state
        if self.bidirectional:
            return torch.cat([h[-2], h[-1]], dim=-1), state
        return h[-1], state

    def _bidirectional_unpacked(self, x, lens, h0):
        """One bidirectional layer over a right-padded batch without packing, exactly.

        The forward direction is causal, so it is exact on ``x`` itself. The backward
        direction starts at the last step, so it is exact on ``x`` shifted right until each
        sequence ends at step T (its padding comes first, and is read after the real steps).
        Two fused runs cost far less than one packed run on a CPU.
        """
        t = x.shape[1]
        h = self.n_units
        steps = torch.arange(t, device=x.device).unsqueeze(0)
        shift = (t - lens).unsqueeze(1)  # (N, 1)
        to_right = ((steps - shift) % t).unsqueeze(-1)  # x_right[i, s] = x[i, s - shift_i]
        x_right = x.gather(1, to_right.expand(-1, -1, x.shape[2]))
        out_fwd, _ = self.cell(x, h0)
        out_bwd, _ = self.cell(x_right, h0)
        back = ((steps + shift) % t).unsqueeze(-1)  # back to the sequence's own steps
        bwd = out_bwd[..., h:].gather(1, back.expand(-1, -1, h))
        out = torch.cat([out_fwd[..., :h], bwd], -1)
        keep = (steps < lens.unsqueeze(1)).unsqueeze(-1)
        return out * keep.to(out.dtype)

    def forward_with_state(self, x, mask=None, *, lengths=None, initial_state=None):
        """Run the layer and return ``(output, final_state)``.

        ``final_state`` is ``h_n`` (``(n_layers·dirs, N, n_units)``), a pair ``(h_n, c_n)``
        for an LSTM, taken at each sequence's own last step.
        """
        return self._run(x, mask, lengths, initial_state, need_state=True)

    def forward(self, x, mask=None, *, lengths=None, initial_state=None):
        """Outputs for ``x`` ``(N, T, F)``; optional ``mask``/``lengths`` and ``initial_state``."""
        return self._run(x, mask, lengths, initial_state, need_state=False)[0]

    def extra_repr(self):
        parts = [str(self.n_units)]
        for key in ("return_sequences", "bidirectional"):
            if getattr(self, key):
                parts.append(f"{key}=True")
        if self.n_layers != 1:
            parts.append(f"n_layers={self.n_layers}")
        if self.dropout:
            parts.append(f"dropout={self.dropout}")
        if self.mask_value is not None:
            parts.append(f"mask_value={self.mask_value}")
        return ", ".join(parts)


@registry.layers.register("SimpleRNN")
class SimpleRNN(_Recurrent):
    """Elman recurrent layer ``h_t = f(W x_t + U h_{t-1} + b)``, f = "tanh" or "relu".

    Args:
        n_units: size of the state ``h_t``.
        activation: "tanh" (default) or "relu".
        return_sequences: output every step ``(T, n_units·dirs)`` instead of the last one.
        bidirectional: also run the sequence backwards and concatenate both directions.
        n_layers: stacked recurrent layers (a deep RNN), default 1.
        dropout: dropout between stacked layers (default 0).
        mask_value: inside a network, steps whose features all equal this value are
            padding (default None: no masking unless ``mask``/``lengths`` are given).
        weight/bias: initializers (default: PyTorch's U(±1/√n_units); bias 0).

    Call: ``layer(x, mask=None, lengths=None, initial_state=None)`` with ``x`` ``(N, T, F)``.
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
    """Long short-term memory (Hochreiter & Schmidhuber, 1997; forget gate: Gers et al., 2000).

    Args as SimpleRNN, plus ``forget_bias`` (default 1.0): added to the forget gate's
    bias at initialisation so the cell starts by remembering (``f ≈ σ(1) = 0.73``;
    Jozefowicz et al., 2015; Keras' ``unit_forget_bias``). ``initial_state`` is a pair
    ``(h0, c0)``; the final state is ``(h_n, c_n)``.
    """

    _module_cls = nn.LSTM
    _config_keys = _Recurrent._config_keys + ("forget_bias",)

    def __init__(self, n_units: int, *, forget_bias: float = 1.0, **kwargs):
        if isinstance(forget_bias, bool) or not isinstance(forget_bias, (int, float)):
            raise ConfigError(f"LSTM: expected `forget_bias` to be a number, received "
                              f"{forget_bias!r}")
        super().__init__(n_units, **kwargs)
        self.forget_bias = float(forget_bias)

    def reset_parameters(self):
        super().reset_parameters()
        if self.cell is None or not self.forget_bias:
            return
        h = self.n_units
        with torch.no_grad():
            for name, p in self.cell.named_parameters():
                if name.startswith("bias_ih"):
                    p[h:2 * h] += self.forget_bias  # gate order i, f, g, o


@registry.layers.register("GRU")
class GRU(_Recurrent):
    """Gated recurrent unit (Cho et al., 2014). Args as SimpleRNN."""

    _module_cls = nn.GRU

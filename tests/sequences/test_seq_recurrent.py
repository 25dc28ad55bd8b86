"""Recurrent layers with masks/lengths against torch.nn.RNN/LSTM/GRU run sequence by sequence."""

import pytest
import torch
from torch import nn

from neuralab import layers as L
from neuralab.errors import ConfigError, DataError, DTypeError, ShapeError
from neuralab.layers.recurrent import lengths_from_mask
from neuralab.sequences import lengths_to_mask, pad_sequences

KINDS = [(L.SimpleRNN, nn.RNN), (L.LSTM, nn.LSTM), (L.GRU, nn.GRU)]


def _pair(cls, ref_cls, n_in, n_units, **kw):
    torch.manual_seed(0)
    layer = cls(n_units, **kw)
    layer.build((None, n_in))
    ref = ref_cls(n_in, n_units, num_layers=kw.get("n_layers", 1), batch_first=True,
                  bidirectional=kw.get("bidirectional", False))
    ref.load_state_dict(layer.cell.state_dict())
    return layer, ref


def _ragged(n_in, lengths, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(t, n_in, generator=g) for t in lengths]


@pytest.mark.parametrize("cls,ref_cls", KINDS)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("n_layers", [1, 2])
def test_packed_layer_equals_torch_sequence_by_sequence(cls, ref_cls, bidirectional, n_layers):
    lengths = [6, 2, 4, 1]
    layer, ref = _pair(cls, ref_cls, 3, 5, bidirectional=bidirectional, n_layers=n_layers,
                       return_sequences=True)
    seqs = _ragged(3, lengths)
    x = pad_sequences(seqs)
    out = layer(x, lengths=lengths)
    last_layer = cls(5, bidirectional=bidirectional, n_layers=n_layers)
    last_layer.build((None, 3))
    last_layer.cell.load_state_dict(layer.cell.state_dict())
    last = last_layer(x, mask=lengths_to_mask(lengths))
    d = 2 if bidirectional else 1
    for i, s in enumerate(seqs):
        ref_out, ref_h = ref(s.unsqueeze(0))
        torch.testing.assert_close(out[i, :lengths[i]], ref_out[0])
        assert bool(out[i, lengths[i]:].eq(0).all())  # padded steps are zeros
        h = ref_h[0] if isinstance(ref_h, tuple) else ref_h
        want = torch.cat([h[-2, 0], h[-1, 0]]) if d == 2 else h[-1, 0]
        torch.testing.assert_close(last[i], want)
        # the last-step output of the forward direction is the output at step T_i - 1
        torch.testing.assert_close(last[i, :5], ref_out[0, -1, :5])


@pytest.mark.parametrize("cls,ref_cls", KINDS)
def test_initial_state_and_final_state_match_torch(cls, ref_cls):
    layer, ref = _pair(cls, ref_cls, 3, 4, n_layers=2)
    x = torch.randn(2, 5, 3)
    h0 = torch.randn(2, 2, 4)
    state = (h0, torch.randn(2, 2, 4)) if cls is L.LSTM else h0
    out, final = layer.forward_with_state(x, initial_state=state)
    ref_out, ref_final = ref(x, state)
    torch.testing.assert_close(out, ref_out[:, -1])
    if cls is L.LSTM:
        torch.testing.assert_close(final[0], ref_final[0])
        torch.testing.assert_close(final[1], ref_final[1])
    else:
        torch.testing.assert_close(final, ref_final)


def test_gradients_of_padded_steps_are_zero_and_match_unpadded():
    torch.manual_seed(0)
    layer = L.LSTM(4, return_sequences=True)
    seqs = _ragged(3, [5, 2])
    x = pad_sequences(seqs).requires_grad_(True)
    layer(x, lengths=[5, 2]).sum().backward()
    assert bool(x.grad[1, 2:].eq(0).all())
    alone = seqs[1].clone().unsqueeze(0).requires_grad_(True)
    layer(alone).sum().backward()
    torch.testing.assert_close(x.grad[1, :2], alone.grad[0])


def test_mask_value_inside_a_network_gives_each_sequence_its_own_last_step():
    torch.manual_seed(0)
    net = L.Input((None, 3)) >> L.GRU(4, mask_value=0.0)
    seqs = [torch.rand(t, 3) + 0.1 for t in (4, 2)]
    x = pad_sequences(seqs)
    out = net(x)
    for i, s in enumerate(seqs):
        torch.testing.assert_close(out[i], net(s.unsqueeze(0))[0])
    assert net.output_shape == (4,)


def test_config_round_trip_keeps_new_options():
    layer = L.LSTM(3, n_layers=2, dropout=0.25, mask_value=0.0, bidirectional=True)
    cfg = layer.get_config()
    assert cfg["dropout"] == 0.25 and cfg["mask_value"] == 0.0 and cfg["n_layers"] == 2
    copy = L.LSTM.from_config(cfg)
    assert copy.get_config() == cfg
    assert "mask_value=0.0" in repr(layer)


def test_bad_masks_lengths_and_states_raise_clear_errors():
    layer = L.LSTM(4)
    x = torch.randn(2, 5, 3)
    with pytest.raises(ShapeError, match=r"expected a mask of shape \(2, 5\) for input "
                                         r"\(2, 5, 3\), received \(2, 4\)"):
        layer(x, mask=torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(DataError, match=r"expected lengths in \[1, 5\] \(the padded length\), "
                                        r"received lengths in \[0, 5\]"):
        layer(x, lengths=[5, 0])
    with pytest.raises(DataError, match=r"received lengths in \[3, 6\]"):
        layer(x, lengths=[3, 6])
    with pytest.raises(ShapeError, match=r"expected `lengths` of shape \(2,\)"):
        layer(x, lengths=[3, 4, 5])
    with pytest.raises(DTypeError, match=r"expected integer `lengths`"):
        layer(x, lengths=torch.tensor([2.0, 3.0]))
    with pytest.raises(DataError, match=r"padding at the end\), received row 1: \[0, 1, 1, 1, 1\]"):
        layer(x, mask=torch.tensor([[1, 1, 1, 1, 1], [0, 1, 1, 1, 1]]).bool())
    with pytest.raises(ConfigError, match=r"expected `mask` or `lengths`, received both"):
        layer(x, mask=torch.ones(2, 5).bool(), lengths=[5, 5])
    with pytest.raises(ConfigError, match=r"expected `initial_state` to be a pair \(h0, c0\)"):
        layer(x, initial_state=torch.zeros(1, 2, 4))
    with pytest.raises(ShapeError, match=r"expected an initial state of shape \(1, 2, 4\) "
                                         r"\(n_layers·directions, N, n_units\), received \(1, 3, 4\)"):
        layer(x, initial_state=(torch.zeros(1, 3, 4), torch.zeros(1, 3, 4)))
    with pytest.raises(ShapeError, match=r"expects a batch of sequences \(N, T, F\), received"):
        layer(torch.randn(5, 3))
    with pytest.raises(ConfigError, match=r"expected `dropout` to be a number in \[0, 1\)"):
        L.GRU(3, dropout=1.0)
    with pytest.raises(ConfigError, match=r"expected `mask_value` to be a number or None"):
        L.GRU(3, mask_value="pad")


def test_lengths_from_mask():
    assert lengths_from_mask(torch.tensor([[True, False], [True, True]])).tolist() == [1, 2]
    with pytest.raises(ShapeError, match=r"expected a mask of shape \(N, T\)"):
        lengths_from_mask(torch.ones(3).bool())


@pytest.mark.parametrize("cls,ref_cls", KINDS)
def test_final_state_with_lengths_is_each_sequences_own_last_state(cls, ref_cls):
    lengths = [4, 1, 3]
    layer, ref = _pair(cls, ref_cls, 3, 4)
    seqs = _ragged(3, lengths, seed=2)
    _, state = layer.forward_with_state(pad_sequences(seqs), lengths=lengths)
    for i, s in enumerate(seqs):
        _, ref_state = ref(s.unsqueeze(0))
        if cls is L.LSTM:
            torch.testing.assert_close(state[0][:, i], ref_state[0][:, 0])
            torch.testing.assert_close(state[1][:, i], ref_state[1][:, 0])
        else:
            torch.testing.assert_close(state[:, i], ref_state[:, 0])


def test_lstm_forget_bias_is_added_to_the_forget_gate_only():
    layer = L.LSTM(3, forget_bias=2.5)
    layer.build((None, 2))
    b = layer.cell.bias_ih_l0.detach()
    assert b[3:6].tolist() == [2.5] * 3 and b[:3].abs().max() == 0 and b[6:].abs().max() == 0
    assert layer.cell.bias_hh_l0.detach().abs().max() == 0
    assert L.LSTM.from_config(layer.get_config()).forget_bias == 2.5
    with pytest.raises(ConfigError, match=r"expected `forget_bias` to be a number"):
        L.LSTM(3, forget_bias="open")


@pytest.mark.parametrize("bidirectional", [False, True])
def test_unpacked_fast_paths_ignore_whatever_the_padding_holds(bidirectional):
    """The forward-only and one-layer bidirectional paths run the padded batch without packing;
    their outputs must not depend on the padded values (compare with the packed path)."""
    torch.manual_seed(0)
    layer = L.LSTM(4, return_sequences=True, bidirectional=bidirectional)
    seqs = _ragged(3, [5, 2, 3], seed=4)
    lengths = [5, 2, 3]
    fast = layer(pad_sequences(seqs, value=1e3), lengths=lengths)
    packed, _ = layer.forward_with_state(pad_sequences(seqs), lengths=lengths)  # packs
    torch.testing.assert_close(fast, packed)

"""pad_sequences, masks, masked losses/metrics and the padding loader."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from neuralab import layers as L
from neuralab.errors import ConfigError, DataError, DTypeError, ShapeError
from neuralab.sequences import (
    IGNORE_INDEX,
    MaskedLoss,
    SequenceDataset,
    lengths_to_mask,
    masked_accuracy,
    pad_collate,
    pad_sequences,
    sequence_loader,
)
from neuralab.training import fit


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(1, 6), min_size=1, max_size=5), st.integers(1, 3),
       st.sampled_from(["post", "pre"]))
def test_pad_sequences_places_every_sequence_and_its_mask(lengths, features, padding):
    seqs = [np.arange(t * features, dtype=np.float32).reshape(t, features) + 1 for t in lengths]
    x, lens = pad_sequences(seqs, padding=padding, value=-7, return_lengths=True)
    assert x.shape == (len(seqs), max(lengths), features)
    assert lens.tolist() == lengths
    mask = lengths_to_mask(lens)
    for i, s in enumerate(seqs):
        row = x[i] if padding == "post" else x[i].flip(0)
        got = row[:len(s)] if padding == "post" else row[:len(s)].flip(0)
        np.testing.assert_array_equal(got.numpy(), s)
        assert bool((row[len(s):] == -7).all())
        assert mask[i].sum() == len(s)


def test_truncation():
    seqs = [[1, 2, 3, 4], [5]]
    assert pad_sequences(seqs, max_length=2).tolist() == [[1, 2], [5, 0]]
    assert pad_sequences(seqs, max_length=2, truncating="pre").tolist() == [[3, 4], [5, 0]]
    with pytest.raises(DataError, match=r"expected sequences of length <= max_length=2, "
                                        r"received sequence 0 of length 4"):
        pad_sequences(seqs, max_length=2, truncating="error")


def test_pad_sequences_bad_input():
    # mismatched features and empty sequences: test_dataset_and_padding_check_sequences_alike
    with pytest.raises(DataError, match=r"expected a non-empty list of sequences"):
        pad_sequences([])
    with pytest.raises(DTypeError, match=r"expected sequences of numbers"):
        pad_sequences([["a", "b"]])
    with pytest.raises(ConfigError, match=r"expected `padding` to be one of 'post', 'pre', "
                                          r"received 'middle'"):
        pad_sequences([[1]], padding="middle")
    with pytest.raises(DataError, match=r"expected lengths in \[1, 3\], received lengths in "
                                        r"\[0, 2\]"):
        lengths_to_mask([0, 2], max_length=3)
    with pytest.raises(DataError, match=r"received lengths in \[2, 5\]"):
        lengths_to_mask([2, 5], max_length=3)


@pytest.mark.parametrize("loss", ["softmax_crossentropy", "categorical_crossentropy"])
def test_masked_loss_equals_the_loss_over_each_unpadded_sequence(loss):
    torch.manual_seed(0)
    lengths = [5, 1, 3]
    logits = [torch.randn(t, 4) for t in lengths]
    labels = [torch.randint(0, 4, (t,)) for t in lengths]
    y_pred = pad_sequences(logits, value=123.0)  # garbage on padded steps
    if loss == "categorical_crossentropy":
        y_pred = y_pred.softmax(-1)
    y_true = pad_sequences(labels, value=IGNORE_INDEX)
    got = MaskedLoss(loss)(y_pred, y_true)
    total = sum(F.cross_entropy(z, y, reduction="sum") for z, y in zip(logits, labels))
    torch.testing.assert_close(got, total / sum(lengths))
    # an explicit mask gives the same, and one-hot targets too
    mask = lengths_to_mask(lengths)
    torch.testing.assert_close(MaskedLoss(loss)(y_pred, y_true.clamp_min(0), mask=mask), got)
    onehot = pad_sequences([F.one_hot(y, 4).float() for y in labels])
    torch.testing.assert_close(MaskedLoss(loss, pad_value=0.0)(y_pred, onehot), got)


def test_masked_multilabel_loss_and_accuracy():
    torch.manual_seed(1)
    lengths = [4, 2]
    z = [torch.randn(t, 7) for t in lengths]
    t = [(torch.rand(t, 7) > 0.5).float() for t in lengths]
    t[0][0] = 0
    t[0][0, 2] = 1  # no real target row is all zeros
    y_pred, y_true = pad_sequences(z), pad_sequences(t)
    got = MaskedLoss("sigmoid_crossentropy", pad_value=0.0)(y_pred, y_true)
    ref = sum(F.binary_cross_entropy_with_logits(a, b, reduction="sum") for a, b in zip(z, t))
    torch.testing.assert_close(got, ref / (sum(lengths) * 7))
    p = torch.tensor([[[0.9, 0.1], [0.3, 0.7]], [[0.2, 0.8], [0.5, 0.4]]])
    y = torch.tensor([[0, 0], [1, IGNORE_INDEX]])
    assert float(masked_accuracy(p, y)) == pytest.approx(2 / 3)


def test_masked_loss_errors():
    with pytest.raises(ConfigError, match=r"float targets need `pad_value`"):
        MaskedLoss("mse")(torch.zeros(2, 3, 1), torch.zeros(2, 3, 1))
    with pytest.raises(ShapeError, match=r"expected a mask of shape \(2, 3\) for an output of "
                                         r"shape \(2, 3, 4\), received \(2, 2\)"):
        MaskedLoss()(torch.zeros(2, 3, 4), torch.zeros(2, 3).long(), mask=torch.ones(2, 2))
    with pytest.raises(ShapeError, match=r"expected targets with \(N, T\) = \(2, 3\)"):
        MaskedLoss()(torch.zeros(2, 3, 4), torch.zeros(2, 4).long())
    with pytest.raises(DataError, match=r"every step of the batch is padding"):
        MaskedLoss()(torch.zeros(1, 2, 4), torch.full((1, 2), IGNORE_INDEX))


def test_collate_pads_inputs_and_per_step_targets():
    batch = [(torch.ones(3, 2), torch.tensor([1, 2, 3])), (torch.ones(1, 2), torch.tensor([4]))]
    x, y = pad_collate(batch)
    assert x.shape == (2, 3, 2) and y.tolist() == [[1, 2, 3], [4, IGNORE_INDEX, IGNORE_INDEX]]
    (x, lengths), y = pad_collate([(torch.ones(2, 1), torch.tensor(0)),
                                   (torch.ones(1, 1), torch.tensor(1))], with_lengths=True)
    assert lengths.tolist() == [2, 1] and y.tolist() == [0, 1]


def test_fit_trains_on_ragged_lists_through_the_padding_loader():
    """Per-step tagging of ragged sequences: the label of step t is whether x_t > 0."""
    rng = np.random.default_rng(0)
    xs = [rng.normal(size=(int(rng.integers(2, 9)), 1)).astype(np.float32) for _ in range(96)]
    ys = [(x[:, 0] > 0).astype(np.int64) for x in xs]
    torch.manual_seed(0)
    net = L.Input((None, 1)) >> L.GRU(8, return_sequences=True, mask_value=0.0) >> L.Linear(2)
    loader = sequence_loader(xs, ys, batch_size=16, seed=0)
    h = fit(net, loader, loss=MaskedLoss("softmax_crossentropy"), epochs=15, lr=0.03,
            progress=False, seed=0)
    assert h["loss"][-1] < 0.3
    x, y = next(iter(sequence_loader(xs, ys, batch_size=96, shuffle=False)))
    assert float(masked_accuracy(net(x), y)) > 0.9


@pytest.mark.parametrize("make", [pad_sequences, SequenceDataset])
def test_dataset_and_padding_check_sequences_alike(make):
    """One check serves both: same messages, and a 2-D array is a list of N sequences."""
    with pytest.raises(ShapeError, match=rf"{make.__name__}: expected every sequence to have "
                                         r"features of shape \(3,\) like sequence 0, received "
                                         r"sequence 1 of shape \(2, 4\)"):
        make([np.zeros((2, 3)), np.zeros((2, 4))])
    with pytest.raises(DataError, match=rf"{make.__name__}: expected sequences of length >= 1, "
                                        r"received sequence 1 of length 0"):
        make([[1], []])
    with pytest.raises(DataError, match=rf"{make.__name__}: expected a non-empty list of "
                                        r"sequences, received \(\)"):
        make(())
    grid = np.arange(12.0).reshape(3, 4)
    out = make(grid)
    rows = out if isinstance(out, torch.Tensor) else [out[i] for i in range(len(out))]
    assert [r.tolist() for r in rows] == grid.tolist()


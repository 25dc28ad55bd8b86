"""Bad input is refused with a DataError before any training step; a NaN loss stops training."""

import copy
import os

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from neuralab import losses
from neuralab.errors import DataError, TrainingError
from neuralab.training import Checkpoint, evaluate, fit, load_checkpoint, predict


def _unchanged(before, after):
    return all(torch.equal(a, b) for a, b in zip(before.parameters(), after.parameters()))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda x, y: (x, y[:-1]),
         r"x and y must have the same number of samples \(axis 0\): received x with 60 samples \(2,\) ?"
         r"|x and y must have the same number of samples"),
        (lambda x, y: (x, torch.where(y == 2, 5, y)),
         r"y: class labels must be in \[0, 3\) for an output with 3 classes; received labels in \[0, 5\]"),
        (lambda x, y: (x, torch.full((60,), -1)),
         r"class labels must be in \[0, 3\).*received labels in \[-1, -1\] \(first bad label at sample 0\)"),
        (lambda x, y: (x, torch.zeros(60, 4)),
         r"y: targets of shape \(4,\) per sample do not fit the output \(3,\) for loss 'mse': "
         r"expected 3 value\(s\) per sample, received 4"),
        (lambda x, y: (torch.cat([x[:7], torch.full((1, 2), float("nan")), x[8:]]), y),
         r"x: expected finite numbers, received 2 NaN/inf value\(s\) \(first in sample 7\)"),
        (lambda x, y: (x, torch.cat([torch.zeros(3, 3), torch.full((1, 3), float("inf")), torch.zeros(56, 3)])),
         r"y: expected finite numbers, received 3 NaN/inf value\(s\) \(first in sample 3\)"),
        (lambda x, y: (x[:0], y[:0]), r"x: empty dataset: expected at least one sample, received x of shape \(0, 2\)"),
        (lambda x, y: ([["1.0", "abc"]] * 60, y),
         r"x: expected an array of numbers, received an array of dtype <U3 and shape \(60, 2\)"),
        (lambda x, y: (x, ["cat"] * 60), r"y: expected an array of numbers, received .*containing 'cat'"),
        (lambda x, y: ("data.csv", y), r"x: expected an array of numbers, received the string 'data.csv'"),
        (lambda x, y: (np.array([[1.0, None]] * 60, dtype=object), y),
         r"x: expected an array of numbers, received an array of dtype object .*containing None"),
        (lambda x, y: (torch.randn(60, 5), y), r"x: inputs of shape \(5,\) per sample do not fit Sequential"),
    ],
    ids=["lengths", "labels-high", "labels-negative", "target-shape", "nan-x", "inf-y", "empty",
         "strings-x", "strings-y", "path-string", "object-none", "input-shape"],
)
def test_bad_data_raises_before_training(blobs, mlp, make, message):
    x, y = blobs(60)
    net = mlp()
    before = copy.deepcopy(net)
    bx, by = make(x, y)
    with pytest.raises(DataError, match=message):
        fit(net, bx, by, epochs=1, progress=False)
    assert _unchanged(before, net)


def test_regression_target_shape_mismatch(mlp):
    x = torch.randn(20, 2)
    with pytest.raises(DataError, match=r"y: targets of shape \(4,\) per sample do not fit the output \(3,\): "
                                        r"expected one-hot/probability targets \(3,\) or integer class labels"):
        fit(mlp(), x, torch.zeros(20, 4), loss="softmax_crossentropy", progress=False)
    with pytest.raises(DataError, match=r"y: targets of shape \(2,\) per sample do not fit the output \(1,\) "
                                        r"for loss 'mse': expected 1 value\(s\) per sample, received 2"):
        fit(mlp(out=1), x, torch.randn(20, 2), loss="mse", progress=False)
    with pytest.raises(DataError, match=r"loss 'binary_crossentropy' expects targets in \[0, 1\]; "
                                        r"received values in \[0, 3\]"):
        fit(nn.Sequential(nn.Linear(2, 1), nn.Sigmoid()), x, torch.arange(20) % 4, progress=False)


def test_validation_data_is_checked_too(blobs, mlp):
    x, y = blobs(40)
    with pytest.raises(DataError, match=r"y_val: class labels must be in \[0, 3\).*received labels in \[9, 9\]"):
        fit(mlp(), x, y, validation_data=(x, torch.full((40,), 9)), progress=False)
    with pytest.raises(DataError, match=r"x_val and y_val must have the same number of samples"):
        fit(mlp(), x, y, validation_data=(x, y[:5]), progress=False)


class _Empty(Dataset):
    def __len__(self):
        return 0

    def __getitem__(self, i):
        raise IndexError(i)


def test_empty_dataset_and_missing_targets(mlp):
    with pytest.raises(DataError, match=r"empty dataset: expected at least one sample, received 0"):
        fit(mlp(), _Empty(), progress=False)
    with pytest.raises(DataError, match=r"expected targets y for x, received y=None"):
        fit(mlp(), torch.randn(5, 2), progress=False)
    with pytest.raises(DataError, match=r"expected y=None, received an array"):
        fit(mlp(), torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(4, 2))), torch.zeros(4))


def test_predict_and_evaluate_check_data_too(blobs, mlp):
    x, y = blobs(20)
    with pytest.raises(DataError, match=r"expected finite numbers"):
        predict(mlp(), torch.full((3, 2), float("nan")))
    with pytest.raises(DataError, match=r"class labels must be in \[0, 3\)"):
        evaluate(mlp(), x, y + 3)


def _nan_at(call_index):
    calls = {"n": 0}

    def loss(y_pred, y_true):
        calls["n"] += 1
        value = losses.softmax_crossentropy(y_pred, y_true)
        return value * float("nan") if calls["n"] == call_index else value

    return loss


def test_nan_loss_names_epoch_and_step(blobs, mlp):
    x, y = blobs(64)
    with pytest.raises(TrainingError, match=r"the loss became NaN at epoch 1 of 3, step 5 of 8"):
        fit(mlp(), x, y, loss=_nan_at(5), epochs=3, batch_size=8, progress=False)


def test_infinite_loss_is_caught_and_last_checkpoint_survives(blobs, mlp, tmp_path):
    x, y = blobs(64)
    net = mlp()
    # 8 steps per epoch: the 21st loss evaluation is step 5 of epoch 3
    calls = {"n": 0}

    def loss(y_pred, y_true):
        calls["n"] += 1
        value = losses.softmax_crossentropy(y_pred, y_true)
        return value + float("inf") if calls["n"] == 21 else value

    with pytest.raises(TrainingError, match=r"the loss became infinite at epoch 3 of 5, step 5 of 8"):
        fit(net, x, y, loss=loss, epochs=5, batch_size=8, progress=False, callbacks=[Checkpoint(tmp_path)])
    model_state, _, meta = load_checkpoint(tmp_path / "checkpoint.safetensors")
    assert meta["epoch"] == 2
    assert all(torch.isfinite(t).all() for t in model_state.values())
    assert sorted(os.listdir(tmp_path)) == ["checkpoint.safetensors"]

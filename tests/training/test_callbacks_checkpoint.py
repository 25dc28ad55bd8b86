"""Checkpoints, resume, early stopping, loggers, progress output and History."""

import csv
import io
import json
import os

import numpy as np
import pytest
import torch
from torch import nn

from neuralab import schedules, storage
from neuralab.errors import ConfigError, StorageError
from neuralab.training import (
    Callback,
    Checkpoint,
    CSVLogger,
    EarlyStopping,
    History,
    JSONLogger,
    LambdaCallback,
    fit,
    load_checkpoint,
)


def _dropout_net(seed):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 3))


class _Interrupt(Callback):
    def __init__(self, at_epoch):
        self.at_epoch = at_epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at_epoch:
            raise KeyboardInterrupt


@pytest.mark.parametrize("optimizer", ["adam", "momentum"])
def test_interrupted_and_resumed_run_equals_uninterrupted_run(blobs, tmp_path, optimizer):
    x, y = blobs(120)
    kw = dict(optimizer=optimizer, lr=0.01, epochs=6, batch_size=16, metrics=["accuracy"],
              lr_schedule=schedules.step_decay(0.5, every=2), validation_split=0.25, progress=False, seed=11)
    full = _dropout_net(0)
    h_full = fit(full, x, y, callbacks=[Checkpoint(tmp_path / "a"), EarlyStopping(patience=50)], **kw)

    part = _dropout_net(0)
    with pytest.raises(KeyboardInterrupt):
        fit(part, x, y, callbacks=[Checkpoint(tmp_path / "b"), EarlyStopping(patience=50), _Interrupt(3)], **kw)
    resumed = _dropout_net(99)  # a different initialisation: everything must come from the checkpoint
    stopper = EarlyStopping(patience=50)
    h_res = fit(resumed, x, y, callbacks=[Checkpoint(tmp_path / "b"), stopper], resume_from=tmp_path / "b", **kw)

    for a, b in zip(full.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    assert h_res.history == h_full.history | {"time": h_res["time"]}
    assert h_res.epoch == list(range(6))
    assert stopper.best == min(h_full["val_loss"])


def test_checkpoint_write_is_atomic(blobs, mlp, tmp_path, monkeypatch):
    x, y = blobs(40)
    real_replace = os.replace

    class _FailSecondSave(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                def broken(src, dst):
                    raise OSError("disk full")
                monkeypatch.setattr(os, "replace", broken)

    with pytest.raises(OSError, match="disk full"):
        fit(mlp(), x, y, epochs=3, progress=False, callbacks=[_FailSecondSave(), Checkpoint(tmp_path)])
    monkeypatch.setattr(os, "replace", real_replace)
    _, _, meta = load_checkpoint(tmp_path / "checkpoint.safetensors")
    assert meta["epoch"] == 1
    assert os.listdir(tmp_path) == ["checkpoint.safetensors"]  # no temporary file left behind


def test_checkpoint_save_model_and_foreign_files(blobs, mlp, tmp_path):
    x, y = blobs(40)
    net = mlp()
    fit(net, x, y, epochs=2, progress=False, callbacks=[Checkpoint(tmp_path, save_model=True)])
    other = mlp(seed=5)
    storage.load_weights(other, tmp_path / "model.safetensors")
    assert all(torch.equal(a, b) for a, b in zip(net.parameters(), other.parameters()))
    with pytest.raises(StorageError, match=r"not a neuralab training checkpoint: expected metadata kind"):
        fit(mlp(), x, y, epochs=3, progress=False, resume_from=tmp_path / "model.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"\x80\x04\x95 pickle-ish bytes")
    with pytest.raises(StorageError, match=r"not a valid safetensors file"):
        load_checkpoint(tmp_path / "junk.safetensors")


def test_resume_from_empty_folder_warns_and_starts_over(blobs, mlp, tmp_path):
    x, y = blobs(40)
    with pytest.warns(UserWarning, match=r"no checkpoint found at .*; starting from the first epoch"):
        h = fit(mlp(), x, y, epochs=2, progress=False, resume_from=tmp_path)
    assert len(h) == 2


def test_early_stopping_restores_the_best_weights(blobs, mlp):
    x, y = blobs(100)
    net = mlp()
    seen = {}
    scores = [5.0, 3.0, 4.0, 2.0, 2.05, 1.99, 2.5, 2.6, 2.7, 2.8]  # best (min_delta=0.02): epoch 3

    def score_and_remember(epoch, logs):
        logs["score"] = scores[epoch]
        seen[epoch] = {k: v.clone() for k, v in net.state_dict().items()}

    stopper = EarlyStopping(monitor="score", patience=3, min_delta=0.02)
    h = fit(net, x, y, optimizer="sgd", lr=0.1, epochs=10, progress=False, seed=0,
            callbacks=[LambdaCallback(on_epoch_end=score_and_remember), stopper])
    assert stopper.best_epoch == 3 and stopper.stopped_epoch == 6 and len(h) == 7
    for k, v in net.state_dict().items():
        assert torch.equal(v, seen[3][k])


def test_early_stopping_monitor_fallback_and_errors(blobs, mlp):
    x, y = blobs(40)
    with pytest.warns(UserWarning, match="monitoring 'loss' instead of 'val_loss'"):
        fit(mlp(), x, y, epochs=2, progress=False, callbacks=[EarlyStopping()])
    with pytest.raises(ConfigError, match=r"cannot monitor 'val_f1'; expected one of: .*loss"):
        fit(mlp(), x, y, epochs=2, progress=False, callbacks=[EarlyStopping(monitor="val_f1")])
    with pytest.raises(ConfigError, match=r"EarlyStopping: expected `patience` to be an integer >= 0, received -1"):
        EarlyStopping(patience=-1)
    assert EarlyStopping(monitor="val_accuracy").mode == "max"


def test_csv_and_json_loggers(blobs, mlp, tmp_path):
    x, y = blobs(40)
    h = fit(mlp(), x, y, epochs=3, metrics=["accuracy"], progress=False,
            callbacks=[CSVLogger(tmp_path / "log.csv"), JSONLogger(tmp_path / "log.jsonl")])
    rows = list(csv.DictReader(open(tmp_path / "log.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    np.testing.assert_allclose([float(r["loss"]) for r in rows], h["loss"])
    lines = [json.loads(s) for s in open(tmp_path / "log.jsonl")]
    assert [d["epoch"] for d in lines] == [1, 2, 3]
    np.testing.assert_allclose([d["accuracy"] for d in lines], h["accuracy"])


def test_progress_line_bar_and_silence(blobs, mlp, capsys):
    x, y = blobs(40)
    fit(mlp(), x, y, epochs=2, metrics=["accuracy"], progress=True)  # pytest's stderr is not a terminal
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and err[0].startswith("epoch 1/2 - loss ") and "accuracy" in err[0]
    fit(mlp(), x, y, epochs=2, progress=False)
    assert capsys.readouterr().err == ""
    fit(mlp(), x, y, epochs=2, batch_size=4, progress="bar")
    err = capsys.readouterr().err
    assert "epoch 2/2" in err and "10/10" in err and "loss" in err


def test_history_is_json_and_plots(blobs, mlp, tmp_path):
    x, y = blobs(60)
    h = fit(mlp(), x, y, epochs=3, metrics=["accuracy"], validation_split=0.2, progress=False,
            lr_schedule=schedules.step_decay(0.5, every=1))
    data = json.loads(json.dumps(h.history))
    assert set(data) >= {"loss", "val_loss", "accuracy", "val_accuracy", "lr", "time"}
    assert all(len(v) == 3 for v in data.values())
    path = h.plot(tmp_path / "curves.png")
    with open(path, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    again = History.from_dict(json.loads(json.dumps(h.to_dict())))
    assert again.history == h.history and again.epoch == [0, 1, 2]


def test_history_fills_missing_values():
    h = History()
    h.append(0, {"loss": 1.0})
    h.append(1, {"loss": 0.5, "val_loss": 0.7, "nan": float("nan")})
    assert h["val_loss"] == [None, 0.7] and h["loss"] == [1.0, 0.5] and h["nan"] == [None, "nan"]


def test_batch_callbacks_receive_every_step(blobs, mlp):
    x, y = blobs(50)
    steps = []
    fit(mlp(), x, y, epochs=2, batch_size=16, progress=False,
        callbacks=[LambdaCallback(on_batch_end=lambda step, logs: steps.append((step, float(logs["loss"]))))])
    assert [s for s, _ in steps] == [0, 1, 2, 3] * 2
    with pytest.raises(ConfigError, match=r"unknown hooks \['on_step'\]"):
        LambdaCallback(on_step=print)


def test_progress_line_writes_to_a_stream(blobs, mlp):
    from neuralab.training.callbacks import ProgressLine

    x, y = blobs(30)
    stream = io.StringIO()
    fit(mlp(), x, y, epochs=3, progress=False, callbacks=[ProgressLine(stream)])
    assert [line.split(" - ")[0] for line in stream.getvalue().splitlines()] == [
        "epoch 1/3", "epoch 2/3", "epoch 3/3"]

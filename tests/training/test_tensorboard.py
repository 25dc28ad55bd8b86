"""The TensorBoard callback, read back with tensorboard's own EventAccumulator."""

import sys

import numpy as np
import pytest
import torch

import neuralab as nl
from neuralab import layers as L
from neuralab.errors import ConfigError
from neuralab.training import TensorBoard

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")


def _read(log_dir):
    acc = event_accumulator.EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "histograms": 0,
                                                                          "images": 0})
    acc.Reload()
    return acc


def _digits_like(n=64):
    g = np.random.default_rng(0)
    x = g.normal(size=(n, 1, 6, 6)).astype(np.float32)
    return x, (x.mean(axis=(1, 2, 3)) > 0).astype(np.int64)


def test_scalars_equal_the_history_and_histograms_and_images_are_written(tmp_path):
    x, y = _digits_like()
    nl.set_seed(0)
    net = L.Input((1, 6, 6)) >> L.Convolution(2, 3) >> L.Relu() >> L.Reshape() >> L.Linear(2)
    tb = TensorBoard(tmp_path / "tb", histograms=True, images=x[:4])
    h = net.fit(x, y, epochs=3, batch_size=16, metrics="accuracy", validation_split=0.25,
                lr_schedule=nl.schedules.step_decay(0.5, every=1), callbacks=[tb], progress=False, seed=0)
    acc = _read(tmp_path / "tb")
    tags = acc.Tags()
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "time"):
        events = acc.Scalars(key)
        assert [e.step for e in events] == [1, 2, 3]
        np.testing.assert_allclose([e.value for e in events], h[key], rtol=1e-6)   # stored as float32
    assert h["lr"][1] == pytest.approx(h["lr"][0] / 2)
    names = [f"weights/{n}" for n, _ in net.named_parameters()]
    assert sorted(tags["histograms"]) == sorted(names)
    last = acc.Histograms(names[0])[-1]
    w = dict(net.named_parameters())[names[0][len("weights/"):]].detach().numpy()
    assert last.step == 3 and last.histogram_value.num == w.size
    assert last.histogram_value.min == pytest.approx(float(w.min()), rel=1e-6)
    assert last.histogram_value.sum == pytest.approx(float(w.sum()), rel=1e-4, abs=1e-5)
    assert tags["images"] == ["samples"]
    event = acc.Images("samples")[0]
    assert (event.width, event.height) == (24, 6)                       # 4 samples side by side
    from io import BytesIO

    from PIL import Image

    pixels = np.asarray(Image.open(BytesIO(event.encoded_image_string)).convert("L"), dtype=np.float64)
    scaled = (x[:4] - x[:4].min()) / (x[:4].max() - x[:4].min())        # the documented min-max scaling
    want = np.concatenate([scaled[k, 0] for k in range(4)], axis=1) * 255
    np.testing.assert_allclose(pixels, want, atol=1.0)


def test_resumed_run_continues_the_same_curves(tmp_path):
    x, y = _digits_like()
    nl.set_seed(0)
    net = L.Input((1, 6, 6)) >> L.Reshape() >> L.Linear(2)
    ck = tmp_path / "ck"
    kw = dict(batch_size=16, progress=False, seed=0)
    net.fit(x, y, epochs=2, callbacks=[TensorBoard(tmp_path / "tb"), nl.training.Checkpoint(ck)], **kw)
    h = net.fit(x, y, epochs=4, resume_from=ck, callbacks=[TensorBoard(tmp_path / "tb"),
                                                          nl.training.Checkpoint(ck)], **kw)
    events = _read(tmp_path / "tb").Scalars("loss")
    by_step = {e.step: e.value for e in events}
    assert sorted(by_step) == [1, 2, 3, 4]
    np.testing.assert_allclose([by_step[s] for s in (1, 2, 3, 4)], h["loss"], rtol=1e-6)


def test_bad_images_and_missing_tensorboard(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match=r"TensorBoard: expected `images` to be sample images \(N, C, H, W\)"
                                          r" or \(N, H, W\) with C = 1 or 3, received 'an array of shape "
                                          r"\(4, 5\)'"):
        TensorBoard(tmp_path, images=np.zeros((4, 5)))
    with pytest.raises(ConfigError, match=r"expected `histograms` to be True or False"):
        TensorBoard(tmp_path, histograms="yes")
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)   # as if tensorboard were absent
    with pytest.raises(ConfigError, match=r"expected the `tensorboard` package, which is not installed; "
                                          r"install it with pip install 'neuralab\[tensorboard\]'"):
        TensorBoard(tmp_path)
    assert torch.nn.Linear(1, 1)  # torch itself still imports

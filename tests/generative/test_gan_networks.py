"""DCGAN networks: shapes for 8×8 to 32×32, the recipe's layers and initialisation, torch equality."""

import pytest
import torch
from torch import nn

from neuralab import layers as L
from neuralab.errors import ConfigError
from neuralab.generative import dcgan_discriminator, dcgan_generator


@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 16, 16), (3, 32, 32), (1, 28, 28), (1, 12, 16)])
def test_shapes(shape):
    g = dcgan_generator(20, shape, width=8)
    d = dcgan_discriminator(shape, width=8)
    z = torch.randn(5, 20)
    x = g(z)
    assert x.shape == (5, *shape) and g.output_shape == shape
    assert d(x).shape == (5, 1)
    assert x.abs().max() < 1                                   # tanh output


def test_conditional_inputs():
    g = dcgan_generator(20, (1, 16, 16), width=8, n_classes=10)
    d = dcgan_discriminator((1, 16, 16), width=8, n_classes=10)
    assert g.input_shape == (30,) and d.input_shape == (11, 16, 16)


def _count(net, cls):
    return sum(isinstance(layer, cls) for layer in net.layers)


def test_recipe_layers_and_initialisation():
    g = dcgan_generator(100, (3, 32, 32), width=64)
    d = dcgan_discriminator((3, 32, 32), width=64)
    # 1×1 → 4×4 → 8 → 16 → 32: four transposed convolutions, BN + ReLU after all but the last
    assert _count(g, L.Deconvolution) == 4 and _count(g, L.BatchNorm) == 3 and _count(g, L.Relu) == 3
    assert isinstance(g.layers[-1], L.Tanh)
    # 32 → 16 → 8 → 4 → 1: no BN on the first layer, LeakyReLU(0.2)
    assert _count(d, L.Convolution) == 4 and _count(d, L.BatchNorm) == 2
    assert all(layer.alpha == 0.2 for layer in d.layers if isinstance(layer, L.LeakyRelu))
    weights = torch.cat([p.detach().flatten() for name, p in g.named_parameters() if "weight" in name]
                        + [p.detach().flatten() for name, p in d.named_parameters() if "weight" in name])
    assert weights.mean().abs() < 1e-3 and weights.std().item() == pytest.approx(0.02, rel=0.02)
    gammas = torch.cat([layer.gamma.detach() for layer in g.layers if isinstance(layer, L.BatchNorm)])
    assert gammas.mean().item() == pytest.approx(1.0, abs=0.01) and gammas.std().item() == pytest.approx(
        0.02, rel=0.2)
    # parameters by hand: ConvT(100→256, 4) + 2·256 + ConvT(256→128) + 2·128 + ConvT(128→64) + 2·64 + ConvT(64→3)
    want = 100 * 256 * 16 + 512 + 256 * 128 * 16 + 256 + 128 * 64 * 16 + 128 + 64 * 3 * 16
    assert sum(p.numel() for p in g.parameters()) == want


def _torch_dcgan(nz, nc, w):
    """The pytorch/examples DCGAN, shrunk to 32×32 (three strided layers)."""
    g = nn.Sequential(
        nn.ConvTranspose2d(nz, w * 4, 4, 1, 0, bias=False), nn.BatchNorm2d(w * 4), nn.ReLU(True),
        nn.ConvTranspose2d(w * 4, w * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(w * 2), nn.ReLU(True),
        nn.ConvTranspose2d(w * 2, w, 4, 2, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(True),
        nn.ConvTranspose2d(w, nc, 4, 2, 1, bias=False), nn.Tanh())
    d = nn.Sequential(
        nn.Conv2d(nc, w, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(w, w * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(w * 2), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(w * 2, w * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(w * 4), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(w * 4, 1, 4, 1, 0, bias=False))
    return g, d


def _copy(src, dst):
    with torch.no_grad():
        for a, b in zip(src.parameters(), dst.parameters(), strict=True):
            b.copy_(a)


def test_equals_the_pytorch_examples_dcgan():
    torch.manual_seed(0)
    g, d = dcgan_generator(16, (3, 32, 32), width=8), dcgan_discriminator((3, 32, 32), width=8)
    tg, td = _torch_dcgan(16, 3, 8)
    _copy(g, tg)
    _copy(d, td)
    z = torch.randn(6, 16)
    x = g(z)
    assert torch.allclose(x, tg(z[:, :, None, None]), atol=1e-6)
    assert torch.allclose(d(x), td(x).reshape(6, 1), atol=1e-5)
    g.eval(), tg.eval(), d.eval(), td.eval()
    assert torch.allclose(d(g(z)), td(tg(z[:, :, None, None])).reshape(6, 1), atol=1e-5)


def test_layer_norm_critic_is_per_sample():
    d = dcgan_discriminator((1, 16, 16), width=8, norm="layer")
    assert _count(d, L.BatchNorm) == 0 and _count(d, L.GroupNorm) == 1
    x = torch.randn(4, 1, 16, 16)
    assert torch.allclose(d(x)[:1], d(x[:1]), atol=1e-6)       # no batch statistics


def test_bad_arguments():
    with pytest.raises(ConfigError, match="expected `latent_dim` to be an integer >= 1, received 0"):
        dcgan_generator(0, (1, 8, 8))
    with pytest.raises(ConfigError, match=r"expected `image_shape` to be an image of 8 to 64 pixels"):
        dcgan_generator(8, (1, 4, 4))
    with pytest.raises(ConfigError, match=r"even sides.*\(1, 9, 9\)"):
        dcgan_discriminator((1, 9, 9))
    with pytest.raises(ConfigError, match=r"image shape \(C, H, W\)"):
        dcgan_discriminator((8, 8))
    with pytest.raises(ConfigError, match="`norm` to be one of 'batch', 'layer'"):
        dcgan_discriminator((1, 8, 8), norm="instance")

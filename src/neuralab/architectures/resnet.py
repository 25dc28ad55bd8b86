"""Residual networks (He et al., 2016), torchvision's v1.5 layout.

A residual block adds its input to its output, so it learns a correction
``y = ReLU(F(x) + shortcut(x))``; written with the algebra::

    (body | L.Identity()) >> L.Elementwise("add") >> L.Relu()

where the shortcut becomes a 1×1 strided convolution + BatchNorm when the
shape changes. Variants are data: ``layers`` blocks per stage and the block
kind (basic: two 3×3; bottleneck: 1×1, 3×3 (strided), 1×1 ×4). ResNet-18,
-34 and -50 have 11,689,512, 21,797,672 and 25,557,032 parameters.
"""

from __future__ import annotations

import numbers

from .. import layers as L
from .. import registry
from ..errors import ConfigError
from ..validation import check_choice, check_int, expected
from ._base import Model, build_model, check_image_shape, check_num_classes

__all__ = ["ResNet", "RESNET_LAYERS"]

RESNET_LAYERS = {
    18: ([2, 2, 2, 2], "basic"),
    34: ([3, 4, 6, 3], "basic"),
    50: ([3, 4, 6, 3], "bottleneck"),
    101: ([3, 4, 23, 3], "bottleneck"),
    152: ([3, 8, 36, 3], "bottleneck"),
}
_EXPANSION = {"basic": 1, "bottleneck": 4}


def _conv_bn(filters, kernel, stride, name, bn_name, groups=1):
    return (L.Convolution(filters, kernel, stride, padding=kernel // 2, groups=groups, bias=None,
                          name=name)
            >> L.BatchNorm(name=bn_name))


@registry.layers.register("ResNet")
class ResNet(Model):
    """ResNet: 7×7/2 stem, 3×3/2 max pooling, four stages of residual blocks, global pooling, dense.

    Stage ``k`` (k = 1…4) has ``64·2^(k-1)`` planes; stages 2–4 halve the
    spatial size in their first block (stride 2 in the 3×3 convolution).

    Args:
        layers: blocks per stage (default ``[2, 2, 2, 2]``, ResNet-18).
        block: "basic" (default) or "bottleneck".
        num_classes: outputs (default 1000).
        input_shape: ``(C, H, W)``, default ``(3, 224, 224)``; any size ≥ 1.
        width_per_group: bottleneck width per group (64; 128 gives Wide ResNet-50-2).
        groups: grouped 3×3 convolutions of the bottleneck (1; 32 with width 4 gives ResNeXt-50 32×4d).
        name: network name (default "resnet").

    Shape: ``(N, C, H, W)`` → ``(N, num_classes)``; features ``(512·e, H/32, W/32)``
    rounded up, ``e`` = 1 (basic) or 4 (bottleneck).

    Example:
        >>> net = ResNet([1, 1, 1, 1], num_classes=10, input_shape=(3, 32, 32))
        >>> net.feature_shape
        (512, 1, 1)
    """

    minimum_input_size = 1

    def __init__(self, layers=(2, 2, 2, 2), block: str = "basic", num_classes: int = 1000,
                 input_shape=(3, 224, 224), width_per_group: int = 64, groups: int = 1, *,
                 name: str = "resnet"):
        if (not isinstance(layers, (list, tuple)) or len(layers) != 4 or not all(
                isinstance(n, numbers.Integral) and not isinstance(n, bool) and n > 0
                for n in layers)):
            raise expected("ResNet", "layers", "4 positive block counts, e.g. [2, 2, 2, 2]", layers)
        block = check_choice("ResNet", "block", block, tuple(_EXPANSION), normalize=False)
        width_per_group = check_int("ResNet", "width_per_group", width_per_group, low=1)
        groups = check_int("ResNet", "groups", groups, low=1)
        if block == "basic" and (groups != 1 or width_per_group != 64):
            raise ConfigError(f"ResNet: basic blocks support only groups=1 and "
                              f"width_per_group=64, received groups={groups}, "
                              f"width_per_group={width_per_group}")
        num_classes = check_num_classes("ResNet", num_classes)
        input_shape = check_image_shape("ResNet", input_shape)
        layers = [int(n) for n in layers]
        self._args = {"layers": layers, "block": block, "input_shape": list(input_shape),
                      "width_per_group": int(width_per_group), "groups": int(groups)}
        self.torchvision_names = {"conv1": "conv1", "bn1": "bn1", "fc": "fc"}
        expansion = _EXPANSION[block]
        last = f"layer4_{layers[3] - 1}_relu"

        def residual(prefix, tv, in_channels, planes, stride):
            out_channels = planes * expansion
            names = self.torchvision_names
            if block == "basic":
                body = (_conv_bn(planes, 3, stride, f"{prefix}_conv1", f"{prefix}_bn1")
                        >> L.Relu(name=f"{prefix}_relu1")
                        >> _conv_bn(planes, 3, 1, f"{prefix}_conv2", f"{prefix}_bn2"))
                convs = 2
            else:
                width = int(planes * (width_per_group / 64.0)) * groups
                body = (_conv_bn(width, 1, 1, f"{prefix}_conv1", f"{prefix}_bn1")
                        >> L.Relu(name=f"{prefix}_relu1")
                        >> _conv_bn(width, 3, stride, f"{prefix}_conv2", f"{prefix}_bn2",
                                    groups=groups)
                        >> L.Relu(name=f"{prefix}_relu2")
                        >> _conv_bn(out_channels, 1, 1, f"{prefix}_conv3", f"{prefix}_bn3"))
                convs = 3
            for k in range(1, convs + 1):
                names[f"{prefix}_conv{k}"] = f"{tv}.conv{k}"
                names[f"{prefix}_bn{k}"] = f"{tv}.bn{k}"
            if stride != 1 or in_channels != out_channels:
                shortcut = _conv_bn(out_channels, 1, stride, f"{prefix}_downsample_0",
                                    f"{prefix}_downsample_1")
                names[f"{prefix}_downsample_0"] = f"{tv}.downsample.0"
                names[f"{prefix}_downsample_1"] = f"{tv}.downsample.1"
            else:
                shortcut = L.Identity(name=f"{prefix}_shortcut")
            return ((body | shortcut) >> L.Elementwise("add", name=f"{prefix}_add")
                    >> L.Relu(name=f"{prefix}_relu"))

        def build():
            x = (L.Input(input_shape, name="input")
                 >> _conv_bn(64, 7, 2, "conv1", "bn1") >> L.Relu(name="relu")
                 >> L.MaxPooling(3, 2, padding=1, name="maxpool"))
            channels = 64
            for stage, n_blocks in enumerate(layers, start=1):
                planes = 64 * 2 ** (stage - 1)
                for b in range(n_blocks):
                    stride = 2 if (stage > 1 and b == 0) else 1
                    x = x >> residual(f"layer{stage}_{b}", f"layer{stage}.{b}", channels,
                                      planes, stride)
                    channels = planes * expansion
            return (x >> L.GlobalPooling("avg", name="avgpool")
                    >> L.Linear(num_classes, name="fc"))

        graph = build_model("ResNet", build, self.minimum_input_size, input_shape)
        super().__init__(graph, name=name, feature_layer=last, classifier_layer="fc",
                         num_classes=num_classes)

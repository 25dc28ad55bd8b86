"""VGG (Simonyan & Zisserman, 2015): stacks of 3×3 convolutions and 2×2 max poolings.

Variants are data: ``VGG_LAYERS[16]`` lists the filters of each convolution
and "M" for each pooling (configuration D of the paper; 19 is E). The
classifier is adaptive average pooling to 7×7 and three dense layers (4096,
4096, classes): VGG16 has 138,357,544 parameters and VGG19 143,667,240 for
1000 classes, as in torchvision.
"""

from __future__ import annotations

import numbers

from .. import layers as L
from .. import registry
from ..graph import join
from ..validation import check_bool, check_int, expected
from ._base import (AdaptiveAveragePooling, Model, build_model, check_image_shape,
                    check_num_classes, check_probability)

__all__ = ["VGG", "VGG_LAYERS"]

VGG_LAYERS = {
    11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    13: [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
         512, 512, 512, "M"],
    19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
         512, 512, 512, 512, "M"],
}


def _check_layers(layers) -> list:
    ok = isinstance(layers, (list, tuple)) and layers and all(
        v == "M" or (isinstance(v, numbers.Integral) and not isinstance(v, bool) and v > 0)
        for v in layers)
    if not ok or layers[0] == "M":
        raise expected("VGG", "layers", "a list of positive filter counts and 'M' (max "
                       f"pooling) starting with a convolution, e.g. {VGG_LAYERS[11]}", layers)
    return [v if v == "M" else int(v) for v in layers]


@registry.layers.register("VGG")
class VGG(Model):
    """VGG: 3×3 convolutions (padding 1) with ReLU, 2×2 max poolings, 3 dense layers.

    Each convolution keeps the spatial size; each pooling halves it, so the
    input must be at least ``2^(number of poolings)`` (32 for VGG16/19).

    Args:
        layers: filters per convolution and "M" per pooling (default VGG16's).
        num_classes: outputs (default 1000).
        input_shape: ``(C, H, W)``, default ``(3, 224, 224)``.
        batch_norm: BatchNorm after every convolution (default False; torchvision's ``vgg16_bn``).
        hidden_units: width of the two hidden dense layers (4096).
        dropout: dropout probability after them (0.5).
        pool_size: the adaptive pooling's output size before the dense layers (7).
        name: network name (default "vgg").

    Shape: ``(N, C, H, W)`` → ``(N, num_classes)``; features ``(512, H/32, W/32)``.

    Example:
        >>> net = VGG([8, "M", 16, "M"], num_classes=3, input_shape=(3, 8, 8), hidden_units=32, pool_size=2)
        >>> net.feature_shape, net.output_shape
        ((16, 2, 2), (3,))
    """

    def __init__(self, layers=None, num_classes: int = 1000, input_shape=(3, 224, 224),
                 batch_norm: bool = False, hidden_units: int = 4096, dropout: float = 0.5,
                 pool_size: int = 7, *, name: str = "vgg"):
        layers = _check_layers(VGG_LAYERS[16] if layers is None else layers)
        num_classes = check_num_classes("VGG", num_classes)
        input_shape = check_image_shape("VGG", input_shape)
        hidden_units = check_int("VGG", "hidden_units", hidden_units, low=1)
        dropout = check_probability("VGG", "dropout", dropout)
        pool_size = check_int("VGG", "pool_size", pool_size, low=1)
        batch_norm = check_bool("VGG", "batch_norm", batch_norm)
        self._args = {"layers": layers, "input_shape": list(input_shape),
                      "batch_norm": batch_norm, "hidden_units": hidden_units,
                      "dropout": dropout, "pool_size": pool_size}
        self.minimum_input_size = 2 ** layers.count("M")
        self.torchvision_names = {}
        last_pool = f"pool{layers.count('M')}" if layers[-1] == "M" else None

        def build():
            items = [L.Input(input_shape, name="input")]
            index, block, conv_in_block = 0, 1, 0
            for value in layers:
                if value == "M":
                    items.append(L.MaxPooling(2, 2, name=f"pool{block}"))
                    index += 1
                    block += 1
                    conv_in_block = 0
                    continue
                conv_in_block += 1
                tag = f"{block}_{conv_in_block}"
                items.append(L.Convolution(value, 3, padding=1, name=f"conv{tag}"))
                self.torchvision_names[f"conv{tag}"] = f"features.{index}"
                index += 1
                if batch_norm:
                    items.append(L.BatchNorm(name=f"bn{tag}"))
                    self.torchvision_names[f"bn{tag}"] = f"features.{index}"
                    index += 1
                items.append(L.Relu(name=f"relu{tag}"))
                index += 1
            self.torchvision_names.update(fc6="classifier.0", fc7="classifier.3",
                                          fc8="classifier.6")
            return join(*items,
                        AdaptiveAveragePooling((pool_size, pool_size), name="avgpool"),
                        L.Reshape(name="flatten"),
                        L.Relu(hidden_units, name="fc6"), L.Dropout(dropout, name="drop6"),
                        L.Relu(hidden_units, name="fc7"), L.Dropout(dropout, name="drop7"),
                        L.Linear(num_classes, name="fc8"))

        graph = build_model("VGG", build, self.minimum_input_size, input_shape)
        feature_layer = last_pool or graph.predecessors("avgpool")[0].name
        super().__init__(graph, name=name, feature_layer=feature_layer,
                         classifier_layer="fc8", num_classes=num_classes)

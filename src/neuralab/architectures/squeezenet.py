"""SqueezeNet 1.0 and 1.1 (Iandola et al., 2016): AlexNet accuracy with 50× fewer weights.

A Fire module squeezes with 1×1 convolutions, then expands with 1×1 and 3×3
convolutions side by side, concatenated::

    fire = squeeze(1×1) >> ReLU >> ((expand 1×1 >> ReLU) | (expand 3×3 >> ReLU)) >> Concatenate

The classifier is a 1×1 convolution to the classes, ReLU and global average
pooling. 1,248,424 (v1.0) and 1,235,496 (v1.1) parameters for 1000 classes.
Max poolings use ceil mode like torchvision (the last partial window is kept).
"""

from __future__ import annotations

from .. import layers as L
from .. import registry
from ..validation import check_choice
from ._base import (Model, build_model, ceil_max_pooling, check_image_shape, check_num_classes,
                    check_probability)

__all__ = ["SqueezeNet"]

# per version: first conv (filters, kernel), then a plan of "M" (pooling) and
# Fire modules (squeeze, expand1x1, expand3x3)
_PLANS = {
    "1_0": ((96, 7), ["M", (16, 64, 64), (16, 64, 64), (32, 128, 128), "M",
                      (32, 128, 128), (48, 192, 192), (48, 192, 192), (64, 256, 256), "M",
                      (64, 256, 256)]),
    "1_1": ((64, 3), ["M", (16, 64, 64), (16, 64, 64), "M", (32, 128, 128), (32, 128, 128),
                      "M", (48, 192, 192), (48, 192, 192), (64, 256, 256), (64, 256, 256)]),
}
_MINIMUM = {"1_0": 29, "1_1": 25}


def _fire(name: str, squeeze: int, e1: int, e3: int):
    return (L.Convolution(squeeze, 1, name=f"{name}_squeeze")
            >> L.Relu(name=f"{name}_squeeze_relu")
            >> ((L.Convolution(e1, 1, name=f"{name}_expand1x1")
                 >> L.Relu(name=f"{name}_expand1x1_relu"))
                | (L.Convolution(e3, 3, padding=1, name=f"{name}_expand3x3")
                   >> L.Relu(name=f"{name}_expand3x3_relu")))
            >> L.Concatenate(name=f"{name}_concat"))


@registry.layers.register("SqueezeNet")
class SqueezeNet(Model):
    """SqueezeNet: a strided convolution, eight Fire modules, three max poolings, a 1×1 classifier.

    Args:
        version: "1_0" (default; 96@7×7/2 first) or "1_1" (64@3×3/2 first, pooling
            earlier: 2.4× less computation for the same accuracy).
        num_classes: outputs (default 1000).
        input_shape: ``(C, H, W)``, default ``(3, 224, 224)``; at least 29×29 (v1.0) or 25×25 (v1.1).
        dropout: dropout before the classifier convolution (0.5).
        name: network name (default "squeezenet").

    Shape: ``(N, C, H, W)`` → ``(N, num_classes)`` (non-negative: the classifier
    ends with ReLU then averaging, as in the paper); features ``(512, h, w)``
    (``(512, 13, 13)`` at 224).

    Example:
        >>> net = SqueezeNet("1_1", num_classes=10, input_shape=(3, 25, 25))
        >>> net.feature_shape
        (512, 1, 1)
    """

    def __init__(self, version: str = "1_0", num_classes: int = 1000,
                 input_shape=(3, 224, 224), dropout: float = 0.5, *, name: str = "squeezenet"):
        version = check_choice("SqueezeNet", "version", str(version).replace(".", "_"),
                               tuple(_PLANS), normalize=False)
        num_classes = check_num_classes("SqueezeNet", num_classes)
        input_shape = check_image_shape("SqueezeNet", input_shape)
        dropout = check_probability("SqueezeNet", "dropout", dropout)
        self._args = {"version": version, "input_shape": list(input_shape), "dropout": dropout}
        self.minimum_input_size = _MINIMUM[version]
        self.torchvision_names = {}
        (filters, kernel), plan = _PLANS[version]

        def build():
            x = (L.Input(input_shape, name="input")
                 >> L.Convolution(filters, kernel, 2, name="conv1") >> L.Relu(name="relu1"))
            self.torchvision_names["conv1"] = "features.0"
            index, pools, fires = 2, 0, 1
            for item in plan:
                if item == "M":
                    pools += 1
                    x = x >> ceil_max_pooling(3, 2, x.output_shape[1:], f"pool{pools}")
                else:
                    name_ = f"fire{fires + 1}"
                    x = x >> _fire(name_, *item)
                    for part in ("squeeze", "expand1x1", "expand3x3"):
                        self.torchvision_names[f"{name_}_{part}"] = f"features.{index}.{part}"
                    fires += 1
                index += 1
            self.torchvision_names["classifier_conv"] = "classifier.1"
            return (x >> L.Dropout(dropout, name="dropout")
                    >> L.Convolution(num_classes, 1, name="classifier_conv")
                    >> L.Relu(name="classifier_relu")
                    >> L.GlobalPooling("avg", name="avgpool"))

        graph = build_model("SqueezeNet", build, self.minimum_input_size, input_shape)
        super().__init__(graph, name=name, feature_layer="fire9_concat",
                         classifier_layer="classifier_conv", num_classes=num_classes)

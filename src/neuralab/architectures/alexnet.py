"""AlexNet (Krizhevsky, Sutskever & Hinton, 2012), torchvision's single-tower variant.

Five convolutions (64@11×11/4, 192@5×5, 384, 256, 256 @3×3), three 3×3/2 max
poolings, adaptive average pooling to 6×6 and three dense layers (4096, 4096,
classes) with dropout: 61,100,840 parameters for 1000 classes.
"""

from __future__ import annotations

from .. import layers as L
from .. import registry
from ._base import (AdaptiveAveragePooling, Model, build_model, check_image_shape,
                    check_num_classes, check_probability)
from ..validation import check_bool

__all__ = ["AlexNet"]


@registry.layers.register("AlexNet")
class AlexNet(Model):
    """AlexNet: 5 convolutions, 3 max poolings, 3 dense layers; outputs logits.

    Convolution arithmetic per stage (224×224 input): 11×11/4 pad 2 → 55,
    pool 3/2 → 27, 5×5 pad 2 → 27, pool → 13, three 3×3 pad 1 → 13, pool → 6.

    Args:
        num_classes: outputs (default 1000).
        input_shape: ``(C, H, W)``, default ``(3, 224, 224)``; at least 63×63.
        dropout: dropout probability before the two hidden dense layers (0.5).
        local_response_norm: add the paper's LRN (size 5, α=1e-4, β=0.75, k=2)
            after the first two convolutions (default False, as torchvision).
        name: network name (default "alexnet").

    Shape: ``(N, C, H, W)`` → ``(N, num_classes)``; features ``(256, h, w)``
    (``(256, 6, 6)`` at 224).

    Example:
        >>> net = AlexNet(num_classes=10, input_shape=(3, 63, 63))
        >>> net.feature_shape
        (256, 1, 1)
    """

    minimum_input_size = 63

    def __init__(self, num_classes: int = 1000, input_shape=(3, 224, 224), dropout: float = 0.5,
                 local_response_norm: bool = False, *, name: str = "alexnet"):
        num_classes = check_num_classes("AlexNet", num_classes)
        input_shape = check_image_shape("AlexNet", input_shape)
        dropout = check_probability("AlexNet", "dropout", dropout)
        lrn = check_bool("AlexNet", "local_response_norm", local_response_norm)
        self._args = {"input_shape": list(input_shape), "dropout": dropout,
                      "local_response_norm": lrn}
        self.torchvision_names = {}

        def conv(filters, kernel, index, name, stride=1, padding=0):
            self.torchvision_names[name] = f"features.{index}"
            return L.Convolution(filters, kernel, stride, padding=padding, name=name)

        def maybe_lrn(name):
            return [L.LocalResponseNorm(5, 1e-4, 0.75, 2.0, name=name)] if lrn else []

        def build():
            from ..graph import join

            features = join(
                L.Input(input_shape, name="input"),
                conv(64, 11, 0, "conv1", stride=4, padding=2), L.Relu(name="relu1"),
                *maybe_lrn("lrn1"), L.MaxPooling(3, 2, name="pool1"),
                conv(192, 5, 3, "conv2", padding=2), L.Relu(name="relu2"),
                *maybe_lrn("lrn2"), L.MaxPooling(3, 2, name="pool2"),
                conv(384, 3, 6, "conv3", padding=1), L.Relu(name="relu3"),
                conv(256, 3, 8, "conv4", padding=1), L.Relu(name="relu4"),
                conv(256, 3, 10, "conv5", padding=1), L.Relu(name="relu5"),
                L.MaxPooling(3, 2, name="pool5"),
            )
            self.torchvision_names.update(fc6="classifier.1", fc7="classifier.4",
                                          fc8="classifier.6")
            return (features
                    >> AdaptiveAveragePooling((6, 6), name="avgpool")
                    >> L.Reshape(name="flatten")
                    >> L.Dropout(dropout, name="drop6") >> L.Relu(4096, name="fc6")
                    >> L.Dropout(dropout, name="drop7") >> L.Relu(4096, name="fc7")
                    >> L.Linear(num_classes, name="fc8"))

        graph = build_model("AlexNet", build, self.minimum_input_size, input_shape)
        super().__init__(graph, name=name, feature_layer="pool5", classifier_layer="fc8",
                         num_classes=num_classes)

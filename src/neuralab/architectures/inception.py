"""GoogLeNet / Inception v1 (Szegedy et al., 2015), torchvision's variant.

An inception module runs four branches on the same input and concatenates
their channels::

    (1×1) | (1×1 reduce >> 3×3) | (1×1 reduce >> "5×5") | (3×3/1 max pool >> 1×1 projection)
        >> Concatenate

Every convolution is followed by BatchNorm (ε = 0.001) and ReLU and has no
bias; the "5×5" branch uses a 3×3 kernel, as torchvision's weights do. Without
the auxiliary classifiers it has 6,624,904 parameters for 1000 classes.
"""

from __future__ import annotations

from .. import layers as L
from .. import registry
from ._base import (Model, build_model, ceil_max_pooling, check_image_shape, check_num_classes,
                    check_probability)

__all__ = ["GoogLeNet", "INCEPTION_V1"]

# name: (1×1, 3×3 reduce, 3×3, 5×5 reduce, 5×5, pool projection)
INCEPTION_V1 = {
    "inception3a": (64, 96, 128, 16, 32, 32),
    "inception3b": (128, 128, 192, 32, 96, 64),
    "inception4a": (192, 96, 208, 16, 48, 64),
    "inception4b": (160, 112, 224, 24, 64, 64),
    "inception4c": (128, 128, 256, 24, 64, 64),
    "inception4d": (112, 144, 288, 32, 64, 64),
    "inception4e": (256, 160, 320, 32, 128, 128),
    "inception5a": (256, 160, 320, 32, 128, 128),
    "inception5b": (384, 192, 384, 48, 128, 128),
}


@registry.layers.register("GoogLeNet")
class GoogLeNet(Model):
    """GoogLeNet: stem, nine inception modules with 1×1 reductions, global pooling, dense.

    Stem: 7×7/2 conv (64) → 3×3/2 max pool → 1×1 conv (64) → 3×3 conv (192) →
    3×3/2 max pool; then 3a, 3b, pool, 4a–4e, 2×2/2 pool, 5a, 5b (1024 channels).
    Max poolings use ceil mode like torchvision.

    Args:
        num_classes: outputs (default 1000).
        input_shape: ``(C, H, W)``, default ``(3, 224, 224)``; at least 31×31.
        dropout: dropout before the dense layer (0.2, torchvision's).
        name: network name (default "googlenet").

    Shape: ``(N, C, H, W)`` → ``(N, num_classes)``; features ``(1024, h, w)``
    (``(1024, 7, 7)`` at 224).

    Example:
        >>> net = GoogLeNet(num_classes=10, input_shape=(3, 31, 31))
        >>> net.feature_shape
        (1024, 1, 1)
    """

    minimum_input_size = 31

    def __init__(self, num_classes: int = 1000, input_shape=(3, 224, 224), dropout: float = 0.2,
                 *, name: str = "googlenet"):
        num_classes = check_num_classes("GoogLeNet", num_classes)
        input_shape = check_image_shape("GoogLeNet", input_shape)
        dropout = check_probability("GoogLeNet", "dropout", dropout)
        self._args = {"input_shape": list(input_shape), "dropout": dropout}
        self.torchvision_names = {"fc": "fc"}

        def basic(filters, kernel, name, tv, stride=1):
            self.torchvision_names[f"{name}_conv"] = f"{tv}.conv"
            self.torchvision_names[f"{name}_bn"] = f"{tv}.bn"
            return (L.Convolution(filters, kernel, stride, padding=kernel // 2, bias=None,
                                  name=f"{name}_conv")
                    >> L.BatchNorm(epsilon=1e-3, name=f"{name}_bn")
                    >> L.Relu(name=f"{name}_relu"))

        def inception(name, c1, c3r, c3, c5r, c5, proj):
            b = f"{name}_branch"
            return (basic(c1, 1, f"{b}1", f"{name}.branch1")
                    | (basic(c3r, 1, f"{b}2_0", f"{name}.branch2.0")
                       >> basic(c3, 3, f"{b}2_1", f"{name}.branch2.1"))
                    | (basic(c5r, 1, f"{b}3_0", f"{name}.branch3.0")
                       >> basic(c5, 3, f"{b}3_1", f"{name}.branch3.1"))
                    | (L.MaxPooling(3, 1, padding=1, name=f"{b}4_pool")
                       >> basic(proj, 1, f"{b}4_1", f"{name}.branch4.1"))
                    ) >> L.Concatenate(name=f"{name}_concat")

        def pool(x, size, stride, name):
            return x >> ceil_max_pooling(size, stride, x.output_shape[1:], name)

        def build():
            x = L.Input(input_shape, name="input") >> basic(64, 7, "conv1", "conv1", stride=2)
            x = pool(x, 3, 2, "maxpool1")
            x = x >> basic(64, 1, "conv2", "conv2") >> basic(192, 3, "conv3", "conv3")
            x = pool(x, 3, 2, "maxpool2")
            for name_, widths in INCEPTION_V1.items():
                if name_ == "inception4a":
                    x = pool(x, 3, 2, "maxpool3")
                elif name_ == "inception5a":
                    x = pool(x, 2, 2, "maxpool4")
                x = x >> inception(name_, *widths)
            return (x >> L.GlobalPooling("avg", name="avgpool")
                    >> L.Dropout(dropout, name="dropout") >> L.Linear(num_classes, name="fc"))

        graph = build_model("GoogLeNet", build, self.minimum_input_size, input_shape)
        super().__init__(graph, name=name, feature_layer="inception5b_concat",
                         classifier_layer="fc", num_classes=num_classes)

"""Darknet-53 (Redmon & Farhadi, 2018): YOLOv3's 53-convolution residual backbone."""

from __future__ import annotations

from ... import layers as L
from ... import registry
from ...architectures._base import Model, build_model, check_image_shape, check_num_classes
from ...validation import check_int

__all__ = ["Darknet53", "darknet53", "DARKNET53_BLOCKS"]

#: residual blocks per stage (each stage starts with a stride-2 3×3 convolution)
DARKNET53_BLOCKS = (1, 2, 8, 8, 4)


@registry.layers.register("Darknet53")
class Darknet53(Model):
    """Darknet-53: conv 3×3 (32), then five stages, each a stride-2 3×3 convolution
    doubling the channels and ``n`` residual blocks ``x + conv3×3(conv1×1(x))``
    (the 1×1 halves the channels), every convolution followed by batch norm and
    leaky ReLU (α = 0.1); global average pooling and a dense classifier.

    1 + Σ(1 + 2n) = 1 + 5 + 2·23 = 52 convolutions plus the classifier: 53 layers.

    Args:
        num_classes: classifier outputs (default 1000).
        input_shape: ``(C, H, W)`` (default (3, 256, 256)).
        width: channels of the first convolution (default 32).
        blocks: residual blocks per stage (default (1, 2, 8, 8, 4)).

    Shape: ``(N, C, H, W)`` → ``(N, num_classes)``; features ``(32·width/32·2⁵, ⌈H/32⌉, ⌈W/32⌉)``.

    Example:
        >>> net = Darknet53(10, (3, 32, 32), width=8, blocks=(1, 1, 1, 1, 1))
        >>> net.output_shape, net.feature_shape
        ((10,), (256, 1, 1))
    """

    minimum_input_size = 1

    def __init__(self, num_classes: int = 1000, input_shape=(3, 256, 256), width: int = 32,
                 blocks=DARKNET53_BLOCKS, *, name: str = "darknet53"):
        owner = "Darknet53"
        num_classes = check_num_classes(owner, num_classes)
        input_shape = check_image_shape(owner, input_shape)
        width = check_int(owner, "width", width, low=1)
        blocks = tuple(check_int(owner, "blocks", b, low=0) for b in blocks)
        self._args = {"input_shape": list(input_shape), "width": width, "blocks": list(blocks)}
        count = iter(range(1, 10_000))

        def conv(filters, size, stride=1):
            i = next(count)
            return (L.Convolution(filters, size, stride=stride, padding=size // 2, bias=None,
                                  name=f"conv{i}")
                    >> L.BatchNorm(name=f"bn{i}") >> L.LeakyRelu(alpha=0.1, name=f"act{i}"))

        def build():
            net = L.Input(input_shape, name="input") >> conv(width, 3)
            channels = width
            for stage, n in enumerate(blocks, 1):
                channels *= 2
                net = net >> conv(channels, 3, 2)
                for b in range(n):
                    body = conv(channels // 2, 1) >> conv(channels, 3)
                    net = (net >> (body | L.Identity(name=f"skip{stage}_{b}"))
                           >> L.Elementwise("add", name=f"add{stage}_{b}"))
            return (net >> L.GlobalPooling("avg", name="pool")
                    >> L.Linear(num_classes, name="classifier"))

        graph = build_model(owner, build, self.minimum_input_size, input_shape)
        last = f"act{sum(1 + 2 * n for n in blocks) + 1}"
        last_add = [f"add{s}_{b}" for s, n in enumerate(blocks, 1) for b in range(n)]
        feature = last_add[-1] if blocks[-1] else last
        super().__init__(graph, name=name, feature_layer=feature, classifier_layer="classifier",
                         num_classes=num_classes)


@registry.architectures.register("darknet53")
def darknet53(num_classes: int = 1000, input_shape=(3, 256, 256), **kwargs) -> Darknet53:
    """Darknet-53, YOLOv3's backbone (41,609,928 parameters at 1000 classes); see :class:`Darknet53`."""
    return Darknet53(num_classes, input_shape, **kwargs)

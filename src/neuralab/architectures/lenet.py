"""LeNet-5 (LeCun et al., 1998), the small CNN of the digits demo.

conv 6@5×5 → pool 2 → conv 16@5×5 → pool 2 → dense 120 → dense 84 → dense 10.
On a 1×32×32 input: 156 + 2,416 + 48,120 + 10,164 + 850 = 61,706 parameters
(the modern variant: every C3 map sees all six S2 maps, and the output is a
plain dense layer instead of the paper's RBF units).
"""

from __future__ import annotations

from .. import layers as L
from .. import registry
from ..validation import check_choice
from ._base import Model, build_model, check_image_shape, check_num_classes

__all__ = ["LeNet5"]

_ACTIVATIONS = {"relu": L.Relu, "tanh": L.Tanh}
_POOLINGS = {"max": L.MaxPooling, "average": L.AveragePooling}


@registry.layers.register("LeNet5")
class LeNet5(Model):
    """LeNet-5: two convolution/pooling stages and three dense layers.

    ``y = W₅ f(W₄ f(W₃ flatten(P(f(C₂ * P(f(C₁ * x)))))))`` with ``f`` the
    activation and ``P`` 2×2 pooling. The network outputs logits (pair it with
    ``softmax_crossentropy``, which ``loss="auto"`` picks).

    Args:
        num_classes: outputs (default 10).
        input_shape: ``(C, H, W)``, default ``(1, 32, 32)``; at least 16×16.
        activation: "relu" (default; trains fastest on digits) or "tanh" (the paper's).
        pooling: "max" (default) or "average" (the paper's subsampling).
        name: network name (default "lenet5").

    Shape: ``(N, C, H, W)`` → ``(N, num_classes)``. Features: ``(16, H', W')``
    (``(16, 5, 5)`` at 32×32).

    Example:
        >>> net = LeNet5()
        >>> sum(p.numel() for p in net.parameters())
        61706
    """

    minimum_input_size = 16

    def __init__(self, num_classes: int = 10, input_shape=(1, 32, 32), activation: str = "relu",
                 pooling: str = "max", *, name: str = "lenet5"):
        num_classes = check_num_classes("LeNet5", num_classes)
        input_shape = check_image_shape("LeNet5", input_shape)
        activation = check_choice("LeNet5", "activation", activation, tuple(_ACTIVATIONS),
                                  normalize=False)
        pooling = check_choice("LeNet5", "pooling", pooling, tuple(_POOLINGS), normalize=False)
        act, pool = _ACTIVATIONS[activation], _POOLINGS[pooling]
        self._args = {"input_shape": list(input_shape), "activation": activation,
                      "pooling": pooling}

        def build():
            return (L.Input(input_shape, name="input")
                    >> L.Convolution(6, 5, name="conv1") >> act(name="act1")
                    >> pool(2, name="pool1")
                    >> L.Convolution(16, 5, name="conv2") >> act(name="act2")
                    >> pool(2, name="pool2")
                    >> L.Reshape(name="flatten")
                    >> act(120, name="fc1") >> act(84, name="fc2")
                    >> L.Linear(num_classes, name="output"))

        graph = build_model("LeNet5", build, self.minimum_input_size, input_shape)
        super().__init__(graph, name=name, feature_layer="pool2", classifier_layer="output",
                         num_classes=num_classes)

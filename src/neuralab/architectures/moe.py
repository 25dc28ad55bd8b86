"""Mixture of experts (Jacobs et al., 1991), NeuPy's construction.

Several expert networks see the same input; a gating network turns the input
into softmax weights ``g`` (one per expert) and the output is the weighted
average ``y = Σ_i g_i(x) · E_i(x)`` (:class:`~neuralab.layers.GatedAverage`)::

    Input >> (gating | expert_1 | … | expert_n) >> GatedAverage
"""

from __future__ import annotations

import numbers

import torch

from .. import layers as L
from .. import registry
from ..errors import ConfigError, DTypeError, ShapeError, format_shape
from ..graph import Network, parallel
from ..layers.base import Layer
from ..validation import expected
from ._base import Model, _upstream_view, check_num_classes

__all__ = ["MixtureOfExperts", "mixture_of_experts"]


@registry.layers.register("MixtureOfExperts")
class MixtureOfExperts(Model):
    """A network ``Input >> (gating | experts…) >> GatedAverage`` (build it with :func:`mixture_of_experts`).

    Its config is the whole graph (:meth:`Network.get_config`), since the
    experts can be any networks.

    - ``features(x)``: the tuple ``(g, E_1(x), …, E_n(x))`` that the gate average combines;
    - ``head``: the :class:`~neuralab.layers.GatedAverage` layer, so ``head(*features(x))`` is the output;
    - ``reset_classifier(n)``: every expert's last (dense or convolution) layer gets ``n`` outputs.
    """

    def __init__(self, inputs, outputs, preds, *, name=None):
        graph = Network(inputs, outputs, preds)
        average = graph.output_layers[0] if len(graph.output_layers) == 1 else None
        if not isinstance(average, L.GatedAverage):
            raise ConfigError("MixtureOfExperts: the network must end with one GatedAverage "
                              "layer; build it with mixture_of_experts(experts, gating)")
        out = average.output_shape
        super().__init__(graph, name=name or "mixture_of_experts",
                         feature_layer=average.name, classifier_layer=average.name,
                         num_classes=out[-1] if out else None)

    @property
    def n_experts(self) -> int:
        """Number of experts."""
        return len(self._preds[self.layer(self.feature_layer)]) - 1

    def _merge_inputs(self) -> list:
        return list(self._preds[self.layer(self.feature_layer)])

    def _view(self, key):
        view = self._views.get(key)
        if view is None and key == "features":
            view = _upstream_view(self, self._merge_inputs(), f"{self.name}-features")
            self._views[key] = view
        return view

    def features(self, x: torch.Tensor):
        """The gate's weights and each expert's output: a tuple ``(g, E_1(x), …, E_n(x))``."""
        return self._view("features")(x)

    @property
    def feature_shape(self) -> list:
        return [layer.output_shape for layer in self._merge_inputs()]

    @property
    def head(self) -> Layer:
        """The GatedAverage layer: ``head(g, E_1, …, E_n) = Σ g_i E_i``."""
        return self.layer(self.feature_layer)

    def _classifier_layers(self) -> list:
        return self._merge_inputs()[1:]

    def get_config(self) -> dict:
        return Network.get_config(self)

    @classmethod
    def from_config(cls, config: dict) -> "MixtureOfExperts":
        return Network.from_config.__func__(cls, config)


def _strip_input(owner: str, item):
    """(body without its Input layer, the Input's shape or None)."""
    if isinstance(item, L.Input):
        raise ConfigError(f"{owner} is a bare Input layer; expected a layer or a network")
    if isinstance(item, Layer):
        return item, None
    if not isinstance(item, Network):
        raise DTypeError(f"{owner}: expected a neuralab layer or network, received "
                         f"{type(item).__name__}")
    entries = [l for l in item.input_layers if isinstance(l, L.Input)]
    if not entries:
        return item, None
    if len(item.input_layers) != 1:
        raise ShapeError(f"{owner} has {len(item.input_layers)} input layers; a mixture of "
                         "experts feeds one input to every network")
    inp = entries[0]
    if inp in item.output_layers:
        raise ConfigError(f"{owner} is only an Input layer; expected layers after it")
    preds = {l: [p for p in ps if p is not inp] for l, ps in item._preds.items() if l is not inp}
    heads = [l for l in item.layers if inp in item._preds[l]]
    return Network(heads, item.output_layers, preds), inp.shape


@registry.architectures.register("mixture_of_experts", "moe")
def mixture_of_experts(experts=4, gating=None, *, num_classes: int | None = None,
                       input_shape=None, hidden_units: int = 64,
                       name: str = "mixture_of_experts") -> MixtureOfExperts:
    """A mixture of experts: ``y = Σ_i g_i(x) E_i(x)`` with ``g = softmax(gating(x))``.

    Args:
        experts: a list of at least two networks (or layers) with the same input and
            output shapes (their Input layers are replaced by one shared Input; the
            experts' layers are used, not copied), or an int: that many default
            experts ``flatten >> Relu(hidden_units) >> Linear(num_classes)`` (default 4).
        gating: a network/layer giving ``(n_experts,)`` weights; default
            ``flatten >> Softmax(n_experts)``. It should end with a softmax.
        num_classes: outputs of the default experts (default 10); with given experts,
            checked against their output size when set.
        input_shape: per-sample input shape; default the experts' own Input shape,
            or ``(1, 32, 32)`` for default experts.
        hidden_units: hidden width of the default experts (64).
        name: network name.

    Shape: ``(N, *input_shape)`` → ``(N, *expert output shape)``.

    Example:
        >>> from neuralab import layers as L
        >>> experts = [L.Input(8) >> L.Relu(16) >> L.Linear(3) for _ in range(2)]
        >>> moe = mixture_of_experts(experts)
        >>> moe.output_shape, moe.n_experts
        ((3,), 2)
    """
    if isinstance(experts, numbers.Integral) and not isinstance(experts, bool):
        if experts < 2:
            raise ConfigError(f"mixture_of_experts: needs at least 2 experts, received {experts}")
        n_classes = 10 if num_classes is None else check_num_classes("mixture_of_experts",
                                                                     num_classes)
        units = check_num_classes("mixture_of_experts", hidden_units)
        experts = [L.Reshape(name=f"expert{i}_flatten") >> L.Relu(units, name=f"expert{i}_hidden")
                   >> L.Linear(n_classes, name=f"expert{i}_output")
                   for i in range(1, int(experts) + 1)]
        if input_shape is None:
            input_shape = (1, 32, 32)
    if not isinstance(experts, (list, tuple)) or len(experts) < 2:
        raise expected("mixture_of_experts", "experts", "a list of at least 2 networks or a "
                       "number of default experts", experts)
    bodies, shapes = [], []
    for i, expert in enumerate(experts, start=1):
        body, shape = _strip_input(f"mixture_of_experts: expert {i}", expert)
        bodies.append(body)
        shapes.append(shape)
    known = [(i, s) for i, s in enumerate(shapes, start=1) if s is not None]
    if input_shape is not None:
        if isinstance(input_shape, numbers.Integral):
            input_shape = (input_shape,)
        input_shape = tuple(input_shape)
    for i, s in known:
        if input_shape is None:
            input_shape = s
        elif tuple(s) != tuple(input_shape):
            raise ShapeError(
                f"mixture_of_experts: experts need the same input shape; expert {i} expects "
                f"{format_shape(s)} but the mixture's input is {format_shape(input_shape)}"
            )
    if input_shape is None:
        raise ShapeError("mixture_of_experts: cannot tell the input shape; start the experts "
                         "with an Input layer or pass input_shape=")
    n = len(bodies)
    if gating is None:
        gate = (L.Reshape(name="gate_flatten") >> L.Softmax(n, name="gate")
                if len(input_shape) > 1 else L.Softmax(n, name="gate"))
    else:
        gate, gate_shape = _strip_input("mixture_of_experts: gating", gating)
        if gate_shape is not None and tuple(gate_shape) != tuple(input_shape):
            raise ShapeError(f"mixture_of_experts: the gating network expects input "
                             f"{format_shape(gate_shape)} but the experts take "
                             f"{format_shape(input_shape)}")
    inp = L.Input(input_shape, name="input")
    branches = inp >> parallel(gate, *bodies)
    outs = branches.output_layers
    gate_out, expert_outs = outs[0].output_shape, [o.output_shape for o in outs[1:]]
    if gate_out != (n,):
        raise ShapeError(f"mixture_of_experts: the gating network must output ({n},) weights "
                         f"for {n} experts, received {format_shape(gate_out)}")
    for i, s in enumerate(expert_outs[1:], start=2):
        if s != expert_outs[0]:
            raise ShapeError(f"mixture_of_experts: experts need the same output shape; expert "
                             f"{i} gives {format_shape(s)}, expert 1 gives "
                             f"{format_shape(expert_outs[0])}")
    if num_classes is not None and expert_outs[0][-1] != num_classes:
        raise ShapeError(f"mixture_of_experts: num_classes={num_classes} but the experts "
                         f"output {format_shape(expert_outs[0])}")
    graph = branches >> L.GatedAverage(name="gated_average")
    return MixtureOfExperts(graph.input_layers, graph.output_layers, graph._preds, name=name)

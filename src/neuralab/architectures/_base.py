"""The common surface of every architecture: :class:`Model`, and small builders.

A :class:`Model` is a :class:`~neuralab.graph.Network` (built with the layer
algebra, so ``summary()`` lists every layer) that also knows where its
backbone ends and where its classifier is:

- ``features(x)``: the backbone's feature maps (before global pooling/flatten);
- ``head``: the classifier part, so ``model.head(model.features(x))`` equals ``model(x)``;
- ``reset_classifier(num_classes)``: a fresh classifier layer for another task.

``features`` and ``head`` are views over the model's own layers: they are not
registered as submodules, so the ``state_dict`` holds every tensor once.
"""

from __future__ import annotations

import math
import numbers

import torch

from .. import layers as L
from ..errors import ConfigError, ShapeError, format_shape
from ..validation import check_int, expected
from ..validation import check_probability as _check_probability
from ..graph import Network
from ..layers.pooling import AdaptiveAveragePooling

__all__ = ["Model", "AdaptiveAveragePooling", "ceil_max_pooling", "check_num_classes",
           "check_image_shape", "check_probability", "build_model"]


def check_num_classes(owner: str, num_classes) -> int:
    """Validate ``num_classes`` (a positive int)."""
    return check_int(owner, "num_classes", num_classes, low=1)


def check_probability(owner: str, name: str, value) -> float:
    """Validate a dropout probability in [0, 1)."""
    return _check_probability(owner, name, value, open_high=True)


def check_image_shape(owner: str, input_shape, channels: int | None = None) -> tuple:
    """Validate an image shape ``(C, H, W)`` of positive ints; returns it as a tuple."""
    ok = (isinstance(input_shape, (tuple, list)) and len(input_shape) == 3
          and all(isinstance(s, numbers.Integral) and not isinstance(s, bool) and s > 0
                  for s in input_shape))
    if not ok:
        raise expected(owner, "input_shape", "an image shape (C, H, W) of positive integers "
                       "(channels first, no batch axis)", input_shape, error=ShapeError)
    shape = tuple(int(s) for s in input_shape)
    if channels is not None and shape[0] != channels:
        raise ShapeError(f"{owner}: expected {channels} input channels, received "
                         f"{format_shape(shape)}")
    return shape


def ceil_max_pooling(size: int, stride: int, input_hw, name: str) -> L.MaxPooling:
    """A MaxPooling equal to PyTorch's ``MaxPool2d(size, stride, ceil_mode=True)``.

    Ceil mode keeps the last partial window: ``O = ⌈(I - F)/S⌉ + 1`` (minus one
    when that window would start past the input). It is written as explicit
    end padding ``P_end = (O - 1)·S + F - I`` (padded with -∞, so it never wins
    the maximum), computed from the known input size ``input_hw``.
    """
    pads = []
    for size_in in input_hw:
        if size_in < size:
            pads.append((0, 0))  # let MaxPooling raise its own "output would be empty" error
            continue
        out = math.ceil((size_in - size) / stride) + 1
        if (out - 1) * stride >= size_in:
            out -= 1
        pads.append((0, max(0, (out - 1) * stride + size - size_in)))
    return L.MaxPooling(size, stride, padding=tuple(pads), name=name)


def _descendants(net: Network, start) -> list:
    succs = {layer: [] for layer in net._order}
    for layer in net._order:
        for p in net._preds[layer]:
            succs[p].append(layer)
    seen, stack = set(), [start]
    while stack:
        node = stack.pop()
        for s in succs[node]:
            if s not in seen:
                seen.add(s)
                stack.append(s)
    return [layer for layer in net._order if layer in seen]


def _ancestors(net: Network, *ends) -> list:
    """The layers of ``net`` that ``ends`` depend on (``ends`` included), in ``net``'s order."""
    seen, stack = set(ends), list(ends)
    while stack:
        node = stack.pop()
        for p in net._preds[node]:
            if p not in seen:
                seen.add(p)
                stack.append(p)
    return [layer for layer in net._order if layer in seen]


def _upstream_view(net: Network, ends, name: str) -> Network:
    """The sub-network of ``net`` that computes the layers ``ends`` (sharing their weights)."""
    keep = _ancestors(net, *ends)
    preds = {layer: list(net._preds[layer]) for layer in keep}
    inputs = [i for i in net._inputs if i in keep]
    return Network(inputs, list(ends), preds, name=name)


class Model(Network):
    """A network with a backbone and a classifier head.

    Subclasses build their graph with the layer algebra and pass it here with
    the name of the last backbone layer (``feature_layer``) and of the layer
    that :meth:`reset_classifier` replaces (``classifier_layer``: a dense layer
    with ``n_units`` or a convolution with ``filters``).

    Attributes:
        num_classes: the classifier's output size.
        feature_layer / classifier_layer: layer names.
        minimum_input_size: the smallest spatial size (H = W) the architecture admits.
    """

    minimum_input_size: int = 1

    def __init__(self, graph: Network, *, name: str, feature_layer: str,
                 classifier_layer: str, num_classes: int):
        super().__init__(graph._inputs, graph._outputs, graph._preds, name=name)
        self.feature_layer = feature_layer
        self.classifier_layer = classifier_layer
        self.num_classes = num_classes
        self._views: dict = {}

    # -- views -------------------------------------------------------------------------------
    def _view(self, key: str) -> Network:
        view = self._views.get(key)
        if view is None:
            end = self.layer(self.feature_layer)
            if key == "features":
                view = _upstream_view(self, [end], f"{self.name}-features")
            else:
                keep = _descendants(self, end)
                preds = {l: [p for p in self._preds[l] if p in keep] for l in keep}
                entries = [l for l in keep if not preds[l]]
                view = Network(entries, list(self._outputs), preds, name=f"{self.name}-head")
            self._views[key] = view
        return view

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The backbone's feature maps for a batch ``x`` (before global pooling or flatten).

        Shape: ``(N, *input_shape)`` → ``(N, *feature_shape)``; see :attr:`feature_shape`.
        """
        return self._view("features")(x)

    @property
    def feature_shape(self) -> tuple:
        """Per-sample shape of :meth:`features`' output, e.g. ``(512, 7, 7)`` for ResNet-18 at 224."""
        return self.layer(self.feature_layer).output_shape

    @property
    def head(self) -> Network:
        """The classifier: a Network view of the layers after the backbone (shares their weights)."""
        return self._view("head")

    # -- classifier ---------------------------------------------------------------------------
    def _classifier_layers(self) -> list:
        return [self.layer(self.classifier_layer)]

    def reset_classifier(self, num_classes: int) -> "Model":
        """Replace the classifier layer by a freshly initialised one with ``num_classes`` outputs.

        Every other weight is kept; the layers after the classifier (activation,
        pooling) are rebuilt for the new size. Returns the model itself.

        Example:
            >>> from neuralab.architectures import create
            >>> net = create("resnet18", input_shape=(3, 32, 32)).reset_classifier(10)
            >>> net.output_shape
            (10,)
        """
        num_classes = check_num_classes(type(self).__name__, num_classes)
        olds = self._classifier_layers()
        mapping = {}
        for old in olds:
            config = old.get_config()
            if "n_units" in config and config["n_units"] is not None:
                config["n_units"] = num_classes
            elif "filters" in config:
                config["filters"] = num_classes
            else:
                raise ConfigError(
                    f"{type(self).__name__}: cannot resize layer '{old.name}' "
                    f"({type(old).__name__}) to {num_classes} classes; the classifier must "
                    "end with a dense layer (n_units) or a convolution (filters)"
                )
            mapping[old] = type(old).from_config(config)
        for old in olds:
            for layer in _descendants(self, old):
                if layer not in mapping:
                    mapping[layer] = type(layer).from_config(layer.get_config())
        reference = next(iter(self.parameters()))
        self.replace(mapping)
        self._views = {}
        for layer in mapping.values():
            layer.to(device=reference.device, dtype=reference.dtype)
            layer.train(self.training)
        self.num_classes = num_classes
        return self

    # -- configs ------------------------------------------------------------------------------
    def _arguments(self) -> dict:
        """The constructor's arguments besides ``num_classes`` and ``name``: a subclass keeps
        them in ``self._args`` (or overrides this)."""
        return dict(self._args)

    def get_config(self) -> dict:
        """The constructor's arguments (JSON-serialisable): ``type(self)(**config)`` rebuilds it."""
        config = self._arguments()
        config["num_classes"] = self.num_classes
        config["name"] = self.name
        return config

    @classmethod
    def from_config(cls, config: dict) -> "Model":
        """Rebuild a model (fresh weights, same layer names) from :meth:`get_config`'s output."""
        config = dict(config)
        if "input_shape" in config and config["input_shape"] is not None:
            config["input_shape"] = tuple(config["input_shape"])
        try:
            return cls(**config)
        except TypeError as exc:
            raise ConfigError(f"{cls.__name__}: invalid config ({exc})") from None


def build_model(owner: str, builder, minimum: int, input_shape):
    """Run ``builder()``; a ShapeError from a too-small input gets the architecture's minimum."""
    try:
        return builder()
    except ShapeError as exc:
        raise ShapeError(
            f"{owner}: input {format_shape(input_shape)} is too small for this network "
            f"(minimum {minimum}×{minimum}): {exc}"
        ) from None

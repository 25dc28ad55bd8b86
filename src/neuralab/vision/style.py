"""Neural style transfer (Gatys et al., 2016) with CS230's costs, on any backbone.

The generated image ``G`` is optimised so that a pretrained network sees the
content of ``C`` and the style of ``S``. With ``a^[l]`` the activations of
layer ``l`` (``n_C`` channels, ``n_H × n_W`` positions):

- content cost ``J_content(C, G) = ½ ‖a^[l](C) − a^[l](G)‖²``;
- style (Gram) matrix ``G^[l]_kk' = Σ_i Σ_j a^[l]_ijk a^[l]_ijk'`` (``n_C × n_C``);
- style cost of a layer ``J^[l]_style(S, G) = 1/(2 n_H n_W n_C)² ‖G^[l](S) − G^[l](G)‖²_F``,
  summed over the style layers with weights ``λ^[l]``;
- overall cost ``J(G) = α J_content(C, G) + β J_style(S, G)``.

:class:`FeatureExtractor` reads the activations of named layers of any
neuralab network (as extra graph outputs) or torch module (forward hooks) in
one forward pass; :func:`transfer` runs the optimisation (L-BFGS or Adam) on a
pretrained EfficientNet-Lite0 by default.

    >>> import torch
    >>> a = torch.ones(2, 3, 3)          # n_C = 2 channels on 3×3 positions
    >>> gram_matrix(a)
    tensor([[9., 9.],
            [9., 9.]])
    >>> float(content_cost(a, a))
    0.0
"""

from __future__ import annotations

import inspect
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import registry
from ..architectures._base import _upstream_view
from ..errors import ConfigError, DTypeError, ShapeError, TrainingError
from ..graph import Network
from ..training import Trainer
from ..validation import check_choice, check_int, check_number, expected

__all__ = ["gram_matrix", "content_cost", "layer_style_cost", "style_cost", "total_cost",
           "FeatureExtractor", "transfer", "StyleTransferResult", "DEFAULT_LAYERS",
           "MINIMUM_SIZE"]

#: default (content layers, style layers) per backbone name. EfficientNet-Lite0's style
#: layers are the ReLU6 outputs of the stem and of depthwise convolutions at strides
#: 2, 4, 8, 16 and 32 (32, 96, 144, 240 and 672 channels); the content layer is the
#: output of block 7 (80 channels, stride 16).
DEFAULT_LAYERS = {
    "efficientnet_lite0": (("block7_add",),
                           ("stem_relu", "block1_dw_relu", "block3_dw_relu",
                            "block5_dw_relu", "block11_dw_relu")),
}
#: the smallest image side :func:`transfer` accepts per backbone name (with the default
#: layers the deepest style layer, stride 32, then still has 2×2 positions); other
#: backbones need their own ``minimum_input_size``
MINIMUM_SIZE = {"efficientnet_lite0": 64}


# -- costs ----------------------------------------------------------------------------------------
def _activations(owner: str, name: str, a) -> torch.Tensor:
    if isinstance(a, np.ndarray):
        a = torch.from_numpy(a)
    if not isinstance(a, torch.Tensor):
        raise expected(owner, name, "a tensor of activations (C, H, W) or (N, C, H, W)",
                       type(a).__name__, error=DTypeError)
    if not a.is_floating_point():
        raise expected(owner, name, "a floating-point tensor", f"dtype {a.dtype}",
                       error=DTypeError)
    if a.dim() not in (3, 4):
        raise ShapeError(f"{owner}: expected `{name}` to be activations (C, H, W) or "
                         f"(N, C, H, W), received shape {tuple(a.shape)}")
    return a


def gram_matrix(a) -> torch.Tensor:
    """The style matrix ``G_kk' = Σ_ij a_ijk a_ijk'``: channel correlations summed over positions.

    Args:
        a: activations ``(C, H, W)`` or a batch ``(N, C, H, W)`` (tensor or NumPy array).

    Returns:
        ``(C, C)`` or ``(N, C, C)``: symmetric positive semi-definite, unchanged by
        any permutation of the positions, scaled by ``s²`` when ``a`` is scaled by ``s``.

    Example:
        >>> gram_matrix(torch.arange(4.0).reshape(1, 2, 2))
        tensor([[14.]])
    """
    a = _activations("gram_matrix", "a", a)
    flat = a.flatten(-2)                       # (…, C, HW)
    return flat @ flat.transpose(-1, -2)       # (…, C, C)


def _same_shapes(owner: str, a, b, names=("a_C", "a_G")):
    if a.shape != b.shape:
        raise ShapeError(f"{owner}: `{names[0]}` and `{names[1]}` must have the same shape, "
                         f"received {tuple(a.shape)} and {tuple(b.shape)}")


def content_cost(a_C, a_G) -> torch.Tensor:
    """``J_content(C, G) = ½ ‖a^(C) − a^(G)‖²`` summed over every element (and the batch).

    Args:
        a_C, a_G: activations of one layer for the content and the generated image,
            the same shape ``(C, H, W)`` or ``(N, C, H, W)``.

    Returns: a 0-d tensor.

    Example:
        >>> float(content_cost(torch.zeros(1, 2, 2), torch.ones(1, 2, 2)))
        2.0
    """
    a_C = _activations("content_cost", "a_C", a_C)
    a_G = _activations("content_cost", "a_G", a_G)
    _same_shapes("content_cost", a_C, a_G)
    return 0.5 * (a_C - a_G).square().sum()


def _normalised_gram(a: torch.Tensor) -> torch.Tensor:
    """``G / (2 n_H n_W n_C)``: the Gram matrix already divided by the layer's normaliser."""
    c, h, w = a.shape[-3:]
    return gram_matrix(a) / (2.0 * c * h * w)


def layer_style_cost(a_S, a_G) -> torch.Tensor:
    """``J^[l]_style(S, G) = 1/(2 n_H n_W n_C)² Σ_kk' (G^(S)_kk' − G^(G)_kk')²`` for one layer.

    Args:
        a_S, a_G: activations of the layer for the style and the generated image,
            ``(C, H, W)`` or ``(N, C, H, W)`` with the same channels (and batch).
            When their sizes differ each Gram matrix is divided by its own
            ``2 n_H n_W n_C`` (equal sizes give CS230's formula exactly).

    Returns: a 0-d tensor (summed over the batch).

    Example:
        >>> float(layer_style_cost(torch.zeros(1, 1, 1), torch.ones(1, 1, 1)))   # (1/2)²
        0.25
    """
    a_S = _activations("style_cost", "a_S", a_S)
    a_G = _activations("style_cost", "a_G", a_G)
    if a_S.dim() != a_G.dim() or a_S.shape[:-2] != a_G.shape[:-2]:
        raise ShapeError("style_cost: `a_S` and `a_G` must have the same batch and channels, "
                         f"received {tuple(a_S.shape)} and {tuple(a_G.shape)}")
    return (_normalised_gram(a_S) - _normalised_gram(a_G)).square().sum()


def _layer_weights(owner: str, names: list, weights) -> dict:
    if weights is None:
        return {n: 1.0 / len(names) for n in names}
    if isinstance(weights, Mapping):
        unknown = set(weights) - set(names)
        missing = [n for n in names if n not in weights]
        if unknown or missing:
            raise ConfigError(f"{owner}: expected `weights` for the layers "
                              f"{', '.join(map(str, names))}, received weights for "
                              f"{', '.join(map(str, weights))}")
        values = [weights[n] for n in names]
    elif isinstance(weights, Sequence) and not isinstance(weights, str):
        if len(weights) != len(names):
            raise ConfigError(f"{owner}: expected {len(names)} `weights` (one per layer), "
                              f"received {len(weights)}")
        values = list(weights)
    else:
        raise expected(owner, "weights", "None, a sequence or a dict of non-negative numbers",
                       weights)
    return {n: check_number(owner, f"weights[{n!r}]", v, low=0.0) for n, v in zip(names, values)}


def _as_layers(owner: str, name: str, acts) -> dict:
    if isinstance(acts, (torch.Tensor, np.ndarray)):
        return {0: acts}
    if isinstance(acts, Mapping):
        return dict(acts)
    if isinstance(acts, Sequence) and not isinstance(acts, str):
        return dict(enumerate(acts))
    raise expected(owner, name, "a tensor, a sequence or a dict of activations",
                   type(acts).__name__, error=DTypeError)


def style_cost(style, generated, weights=None) -> torch.Tensor:
    """``J_style(S, G) = Σ_l λ^[l] J^[l]_style(S, G)`` over the style layers.

    Args:
        style, generated: the style image's and the generated image's activations:
            one tensor (one layer), or a sequence or dict (layer name → tensor)
            with the same layers.
        weights: ``λ^[l]``, a sequence or a dict by layer; default ``1/L`` each
            (the weights sum to 1, as in CS230's five 0.2 weights).

    Returns: a 0-d tensor.

    Example:
        >>> s = {"a": torch.zeros(1, 1, 1), "b": torch.zeros(1, 2, 2)}
        >>> g = {"a": torch.ones(1, 1, 1), "b": torch.zeros(1, 2, 2)}
        >>> float(style_cost(s, g, weights={"a": 2.0, "b": 1.0}))
        0.5
    """
    s = _as_layers("style_cost", "style", style)
    g = _as_layers("style_cost", "generated", generated)
    if list(s) != list(g):
        raise ConfigError(f"style_cost: `style` and `generated` must hold the same layers, "
                          f"received {list(s)} and {list(g)}")
    if not s:
        raise ConfigError("style_cost: expected at least one style layer, received none")
    lam = _layer_weights("style_cost", list(s), weights)
    return sum(lam[n] * layer_style_cost(s[n], g[n]) for n in s)


def total_cost(j_content, j_style, alpha: float = 10.0, beta: float = 40.0) -> torch.Tensor:
    """``J(G) = α J_content(C, G) + β J_style(S, G)``; a larger α keeps more content, β more style.

    Args: j_content, j_style: the two costs (tensors or floats); alpha (10), beta (40):
    non-negative weights (CS230's programming exercise uses 10 and 40).

    Example:
        >>> float(total_cost(torch.tensor(1.0), torch.tensor(2.0), alpha=10, beta=40))
        90.0
    """
    alpha = check_number("total_cost", "alpha", alpha, low=0.0)
    beta = check_number("total_cost", "beta", beta, low=0.0)
    return alpha * j_content + beta * j_style


# -- feature extraction ----------------------------------------------------------------------------
class _Stop(Exception):
    """Raised by the last hook: the rest of the forward pass is not needed."""


def _check_names(owner: str, layer_names) -> list:
    if isinstance(layer_names, str):
        layer_names = [layer_names]
    if (not isinstance(layer_names, Sequence) or not layer_names
            or not all(isinstance(n, str) for n in layer_names)):
        raise expected(owner, "layer_names", "a non-empty list of layer names", layer_names)
    if len(set(layer_names)) != len(layer_names):
        raise expected(owner, "layer_names", "distinct layer names", list(layer_names))
    return list(layer_names)


class FeatureExtractor(nn.Module):
    """The activations of named layers of a network, in one forward pass, differentiable in the input.

    - a neuralab :class:`~neuralab.graph.Network` (every architecture): a view of
      the graph that ends at the requested layers (they become its outputs, so
      nothing after the deepest one runs and no in-place step can overwrite them);
    - any other ``torch.nn.Module``: forward hooks on the submodules named as in
      ``named_modules()`` (``"features.3"``); the forward pass stops once every
      requested module has run. A module called twice reports its first call.

    The extractor shares the network's weights and modes (``net.eval()`` applies).

    Args:
        net: the network.
        layer_names: the layers to read (a name or a list of names).

    Shape: ``(N, *input_shape)`` → ``{name: (N, *layer_output_shape)}`` in ``layer_names`` order.

    Raises:
        ConfigError: an unknown layer name (the message lists the available ones).

    Example:
        >>> from neuralab import layers as L
        >>> net = L.Input((1, 8, 8)) >> L.Convolution(4, 3, name="conv") >> L.Relu(name="act")
        >>> feats = FeatureExtractor(net, ["conv", "act"])(torch.randn(2, 1, 8, 8))
        >>> {k: tuple(v.shape) for k, v in feats.items()}
        {'conv': (2, 4, 6, 6), 'act': (2, 4, 6, 6)}
    """

    def __init__(self, net: nn.Module, layer_names):
        super().__init__()
        if not isinstance(net, nn.Module):
            raise expected("FeatureExtractor", "net", "a neuralab network or a torch.nn.Module",
                           type(net).__name__, error=DTypeError)
        self.layer_names = _check_names("FeatureExtractor", layer_names)
        self._graph = isinstance(net, Network)
        if self._graph:
            available = [layer.name for layer in net.layers]
        else:
            modules = dict(net.named_modules())
            available = [n for n in modules if n]
        unknown = [n for n in self.layer_names if n not in available]
        if unknown:
            raise ConfigError(
                f"FeatureExtractor: unknown layer {', '.join(map(repr, unknown))} in "
                f"{type(net).__name__}; available layers: {', '.join(available)}")
        self.available = available
        if self._graph:
            self.view = _upstream_view(net, [net.layer(n) for n in self.layer_names],
                                       f"{net.name}-features")
        else:
            self.net = net
            self._captured: dict = {}
            self._handles = [modules[n].register_forward_hook(self._hook(n))
                             for n in self.layer_names]

    def _hook(self, name: str):
        def hook(module, args, output):
            if name not in self._captured:
                # a clone: a later in-place op (ReLU(inplace=True)) must not change it
                self._captured[name] = output.clone() if isinstance(output, torch.Tensor) \
                    else output
                if len(self._captured) == len(self.layer_names):
                    raise _Stop
        return hook

    def forward(self, x: torch.Tensor) -> dict:
        if self._graph:
            out = self.view(x)
            out = out if isinstance(out, tuple) else (out,)
            return dict(zip(self.layer_names, out))
        self._captured = {}
        try:
            self.net(x)
        except _Stop:
            pass
        captured, self._captured = self._captured, {}
        missing = [n for n in self.layer_names if n not in captured]
        if missing:
            raise ShapeError(f"FeatureExtractor: layers {missing} did not run in the forward "
                             f"pass of {type(self.net).__name__}")
        return {n: captured[n] for n in self.layer_names}

    def remove(self) -> None:
        """Detach the forward hooks from a torch module (no-op for neuralab networks)."""
        for h in getattr(self, "_handles", []):
            h.remove()
        self._handles = []

    def extra_repr(self) -> str:
        return f"layers={self.layer_names}"


# -- images ------------------------------------------------------------------------------------
@dataclass
class _Image:
    tensor: torch.Tensor      # (1, C, H, W) float32 in [0, 1]
    dtype: np.dtype
    scale: float              # 255 for uint8 / 0–255 images, 1 for [0, 1] floats


def _read_image(name: str, image) -> _Image:
    if isinstance(image, torch.Tensor):
        t = image.detach().cpu()
        if t.dim() == 4 and t.shape[0] == 1:
            t = t[0]
        if t.dim() != 3:
            raise ShapeError(f"transfer: expected `{name}` as a tensor (C, H, W) or (1, C, H, W), "
                             f"received shape {tuple(image.shape)}")
        array = t.permute(1, 2, 0).numpy()
    else:
        try:
            array = np.asarray(image)
        except Exception:  # noqa: BLE001 - anything numpy cannot read is the user's error
            array = None
        if array is None or array.dtype == object or array.dtype.kind in "USV":
            shown = image if isinstance(image, (str, os.PathLike)) else type(image).__name__
            hint = " (a file: read it first, or use stylise_files / `neuralab style`)" \
                if isinstance(image, (str, os.PathLike)) else ""
            raise expected("transfer", name, f"an image array H×W×C (NumPy, uint8 or float){hint}",
                           shown, error=DTypeError)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or 0 in array.shape:
        raise ShapeError(f"transfer: expected `{name}` to be an image H×W×C (or H×W) with at least "
                         f"one pixel, received shape {array.shape}")
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise expected("transfer", name, "an image of integers or floats", f"dtype {array.dtype}",
                       error=DTypeError)
    values = array.astype(np.float32)
    if not np.isfinite(values).all():
        raise expected("transfer", name, "an image of finite values", "NaN or infinite pixels")
    low, high = float(values.min()), float(values.max())
    scale = 255.0 if (array.dtype == np.uint8 or high > 1.0) else 1.0
    if low < 0 or high > scale:
        raise expected("transfer", name, f"pixels in [0, {scale:g}]",
                       f"values in [{low:g}, {high:g}]")
    tensor = torch.from_numpy(values / scale).permute(2, 0, 1)[None].contiguous()
    return _Image(tensor, array.dtype, scale)


def _resize(x: torch.Tensor, hw) -> torch.Tensor:
    if tuple(x.shape[-2:]) == tuple(hw):
        return x
    return F.interpolate(x, size=tuple(hw), mode="bilinear", antialias=True,
                         align_corners=False).clamp_(0.0, 1.0)


def _working_size(h: int, w: int, size) -> tuple:
    if size is None:
        return h, w
    s = size / max(h, w)
    return max(1, round(h * s)), max(1, round(w * s))


def _to_output(x: torch.Tensor, like: _Image) -> np.ndarray:
    array = x.detach()[0].permute(1, 2, 0).cpu().numpy() * like.scale
    if np.issubdtype(like.dtype, np.integer):
        return np.clip(np.rint(array), 0, like.scale).astype(like.dtype)
    return array.astype(like.dtype)


# -- the optimisation --------------------------------------------------------------------------
@dataclass
class StyleTransferResult:
    """What :func:`transfer` returns.

    Attributes:
        image: the generated image H×W×C, in the content image's dtype and range.
        tensor: the same image as a ``(1, C, H, W)`` float tensor in [0, 1].
        history: per-step lists ``"total"``, ``"content"``, ``"style"`` (the weighted
            costs ``J``, ``J_content``, ``J_style``); entry 0 is the starting image,
            entry ``k`` the image after ``k`` steps.
        reference: ``{"content": J_content(C, S)}``, the content cost of the style image
            itself (a yardstick: a result with a lower content cost is closer to the
            content than the style photo is).
        content_layers, style_layers: the layers used. steps, seconds: the work done.
    """

    image: np.ndarray
    tensor: torch.Tensor
    history: dict = field(default_factory=dict)
    reference: dict = field(default_factory=dict)
    content_layers: tuple = ()
    style_layers: tuple = ()
    steps: int = 0
    seconds: float = 0.0


class _Objective:
    """``J(G)`` for a fixed content and style: targets computed once, one forward per call."""

    def __init__(self, extractor, preprocess, content_layers, style_layers, style_weights,
                 alpha, beta, content, style):
        self.extractor, self.preprocess = extractor, preprocess
        self.content_layers, self.style_layers = content_layers, style_layers
        self.alpha, self.beta = alpha, beta
        self.style_weights = _layer_weights("transfer", list(style_layers), style_weights)
        with torch.no_grad():
            acts_c = extractor(preprocess(content))
            acts_s = extractor(preprocess(style))
        self.targets = {n: acts_c[n] for n in content_layers}
        self.grams = {n: _normalised_gram(acts_s[n]) for n in style_layers}

    def __call__(self, image: torch.Tensor):
        acts = self.extractor(self.preprocess(image))
        j_content = sum(content_cost(self.targets[n], acts[n])
                        for n in self.content_layers) / len(self.content_layers)
        j_style = sum(self.style_weights[n] * (self.grams[n] - _normalised_gram(acts[n])
                                               ).square().sum()
                      for n in self.style_layers)
        return total_cost(j_content, j_style, self.alpha, self.beta), j_content, j_style


class _Canvas(nn.Module):
    """The generated image as the one parameter of a module (the backbone is not a submodule,
    so the Trainer's train/eval switches never reach its BatchNorm layers)."""

    def __init__(self, image: torch.Tensor):
        super().__init__()
        self.image = nn.Parameter(image)

    def forward(self):
        return self.image


class _StyleTrainer(Trainer):
    """One optimisation step of ``G`` per epoch: the cost, its gradient, the step, the clamp."""

    def __init__(self, image, objective, optimizer: str, lr, progress, callbacks):
        super().__init__(_Canvas(image), optimizer=None, loss=None, progress=progress,
                         callbacks=callbacks, device=image.device, seed=None)
        g = self.module.image
        self.optimizers["optimizer"] = (
            torch.optim.LBFGS([g], lr=lr or 1.0, max_iter=1, history_size=50)
            if optimizer == "lbfgs" else torch.optim.Adam([g], lr=lr or 0.02))
        self.costs = objective
        self.costs_history = {"total": [], "content": [], "style": []}

    def train_step(self, batch) -> dict:
        g, opt, last = self.module.image, self.optimizer, {}

        def closure():
            opt.zero_grad(set_to_none=True)
            j, jc, js = self.costs(g)
            j.backward()
            last.update(total=j.detach(), content=jc.detach(), style=js.detach())
            return j

        opt.step(closure)
        with torch.no_grad():
            g.clamp_(0.0, 1.0)
        logs = {k: float(v) for k, v in last.items()}
        if not all(math.isfinite(v) for v in logs.values()):
            raise TrainingError(
                f"transfer: the cost became {logs['total']} at step {self.epoch + 1} of "
                f"{self.epochs}; lower `lr` (now {opt.param_groups[0]['lr']:g}) or beta")
        for k, v in logs.items():
            self.costs_history[k].append(v)
        return logs


def _backbone(backbone, channels: int, hw: tuple):
    if isinstance(backbone, str):
        factory = registry.architectures.lookup(backbone)
        params = inspect.signature(factory).parameters
        if "pretrained" not in params:
            raise ConfigError(
                f"transfer: backbone {backbone!r} has no bundled pretrained weights; pass "
                f"backbone='efficientnet_lite0' or a model with loaded weights (e.g. VGG "
                f"with architectures.load_torchvision_state_dict)")
        net = factory(pretrained=True, input_shape=(channels, *hw))
        return net, backbone
    if not isinstance(backbone, nn.Module):
        raise expected("transfer", "backbone", "an architecture name or a torch.nn.Module",
                       type(backbone).__name__, error=DTypeError)
    return backbone, getattr(backbone, "name", type(backbone).__name__)


def _layers_for(name: str, content_layers, style_layers, available_net):
    defaults = DEFAULT_LAYERS.get(name)
    if content_layers is None or style_layers is None:
        if defaults is None:
            names = ([l.name for l in available_net.layers] if isinstance(available_net, Network)
                     else [n for n, _ in available_net.named_modules() if n])
            raise ConfigError(
                f"transfer: backbone {name!r} has no default layers; expected "
                f"`content_layers` and `style_layers`, chosen from: {', '.join(names)}")
        content_layers = defaults[0] if content_layers is None else content_layers
        style_layers = defaults[1] if style_layers is None else style_layers
    content_layers = tuple(_check_names("transfer", content_layers))
    style_layers = tuple(_check_names("transfer", style_layers))
    return content_layers, style_layers


def transfer(content, style, backbone="efficientnet_lite0", *, content_layers=None,
             style_layers=None, style_weights=None, alpha: float = 1.0, beta: float = 1e7,
             steps: int = 100, optimizer: str = "lbfgs", lr: float | None = None,
             size: int | None = 256, init: str = "content", preprocess=None, seed: int = 0,
             progress: bool | str = False, callbacks=None) -> StyleTransferResult:
    """Paint ``content`` in the style of ``style`` by minimising ``J(G) = α J_content + β J_style``.

    Both images are resized so the content's longer side is ``size`` (the style
    to the content's working size); ``G`` starts from the content (or uniform
    noise), is optimised in pixel space and clamped to the valid range after
    every step. The backbone is used in evaluation mode with frozen weights
    (restored afterwards).

    Args:
        content, style: images H×W×C (NumPy, uint8 in 0–255 or floats in [0, 1] or
            0–255), or tensors ``(C, H, W)`` in [0, 1]; same number of channels.
        backbone: an architecture name with pretrained weights ("efficientnet_lite0",
            loaded offline) or any neuralab network / torch module (then give the layers
            unless it is an EfficientNetLite0).
        content_layers, style_layers: layer names (default: :data:`DEFAULT_LAYERS`);
            several content layers are averaged.
        style_weights: ``λ^[l]`` per style layer (default ``1/L`` each).
        alpha, beta: the weights of the content and style costs (1 and 10⁷; both ≥ 0).
            CS230's content cost is an unnormalised sum and its style cost divides
            by ``(2 n_H n_W n_C)²``, so β/α must be large for the style to show.
        steps: optimisation steps (100); one L-BFGS step is one forward and backward.
        optimizer: "lbfgs" (default; lr 1) or "adam" (lr 0.02).
        lr: the optimizer's learning rate (default per optimizer).
        size: the longer side of the working image (256), None to keep the content's size;
            at least :data:`MINIMUM_SIZE` for the backbone (64 for EfficientNet-Lite0)
            and the backbone's own ``minimum_input_size``.
        init: "content" (default) or "noise" (uniform, seeded by ``seed``).
        preprocess: a function from [0, 1] images to the backbone's input (default: the
            backbone's ``preprocess`` attribute, e.g. EfficientNet-Lite's ``(x·255 − 127)/128``,
            else the identity).
        seed: seeds the noise initialisation.
        progress: as for :func:`~neuralab.training.fit`: True (a bar on a terminal, a line
            otherwise), "bar", "line" or False (default). One optimisation step is one
            epoch of the :class:`~neuralab.training.Trainer` that runs it.
        callbacks: :class:`~neuralab.training.Callback` objects, called after every step
            with ``logs`` holding "total", "content", "style" (the costs before the step),
            e.g. ``EarlyStopping(monitor="total", patience=5)``.

    Returns:
        :class:`StyleTransferResult` with ``.image`` (H×W×C in the content's range) and
        ``.history`` (per-step lists "total", "content", "style").

    Raises:
        ShapeError: images with different channel counts, or smaller than the minimum.
        ConfigError: unknown layer names (listing the available ones), negative
            alpha/beta, an unknown optimizer, a missing weights package (naming it).
        TrainingError: the cost became NaN or infinite (lower ``lr``).

    Example (a tiny untrained backbone; real runs use the pretrained default):
        >>> import numpy as np
        >>> from neuralab import layers as L
        >>> net = (L.Input((3, None, None)) >> L.Convolution(4, 3, name="c1")
        ...        >> L.Tanh(name="t1") >> L.Convolution(4, 3, name="c2"))
        >>> rng = np.random.default_rng(0)
        >>> c, s = (rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(2))
        >>> r = transfer(c, s, backbone=net, content_layers=["c2"], style_layers=["t1"],
        ...              steps=3, size=None)
        >>> r.image.shape, r.image.dtype, len(r.history["style"])
        ((32, 32, 3), dtype('uint8'), 4)
    """
    alpha = check_number("transfer", "alpha", alpha, low=0.0)
    beta = check_number("transfer", "beta", beta, low=0.0)
    steps = check_int("transfer", "steps", steps, low=0)
    optimizer = check_choice("transfer", "optimizer", optimizer, ("lbfgs", "adam"))
    lr = check_number("transfer", "lr", lr, low=0.0, low_open=True, allow_none=True)
    size = check_int("transfer", "size", size, low=1, allow_none=True)
    init = check_choice("transfer", "init", init, ("content", "noise"))
    seed = check_int("transfer", "seed", seed, low=0)
    c_img, s_img = _read_image("content", content), _read_image("style", style)
    channels = c_img.tensor.shape[1]
    if s_img.tensor.shape[1] != channels:
        raise ShapeError(f"transfer: the content and style images must have the same number "
                         f"of channels, received content with {channels} and style with "
                         f"{s_img.tensor.shape[1]}")
    hw = _working_size(*c_img.tensor.shape[-2:], size)
    net, name = _backbone(backbone, channels, hw)
    expected_c = getattr(net, "input_shape", None)
    if isinstance(expected_c, tuple) and expected_c and expected_c[0] not in (None, channels):
        raise ShapeError(f"transfer: backbone {name!r} expects {expected_c[0]}-channel images, "
                         f"received images with {channels} channels")
    minimum = max(MINIMUM_SIZE.get(name, 1), int(getattr(net, "minimum_input_size", 1) or 1))
    for what, dims in (("content", hw), ("style", tuple(s_img.tensor.shape[-2:]))):
        if min(dims) < minimum:
            raise ShapeError(
                f"transfer: expected images at least {minimum}×{minimum} for backbone "
                f"{name!r}, received {what} of {dims[0]}×{dims[1]}"
                + (f" (working size {hw[0]}×{hw[1]} from size={size})" if what == "content"
                   and size is not None else ""))
    content_layers, style_layers = _layers_for(name, content_layers, style_layers, net)
    if preprocess is None:
        preprocess = getattr(net, "preprocess", None) or (lambda x: x)
    if not callable(preprocess):
        raise expected("transfer", "preprocess", "a callable", preprocess)

    start = time.perf_counter()
    was_training = net.training
    frozen = [(p, p.requires_grad) for p in net.parameters()]
    net.eval()
    for p, _ in frozen:
        p.requires_grad_(False)
    extractor = FeatureExtractor(net, list(dict.fromkeys(content_layers + style_layers)))
    try:
        dtype = next((p.dtype for p in net.parameters()), torch.float32)
        c = _resize(c_img.tensor, hw).to(dtype)
        s = _resize(s_img.tensor, hw).to(dtype)
        objective = _Objective(extractor, preprocess, content_layers, style_layers,
                               style_weights, alpha, beta, c, s)
        with torch.no_grad():
            _, ref_c, _ = objective(s)
        if init == "content":
            g = c.clone()
        else:
            g = torch.rand(c.shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)
        trainer = _StyleTrainer(g, objective, optimizer, lr, progress, callbacks)
        trainer.fit(None, epochs=steps, steps_per_epoch=1)
        g = trainer.module.image.detach()
        with torch.no_grad():
            final = objective(g)
        history = trainer.costs_history
        history = {k: history[k] + [float(v)] for k, v in zip(("total", "content", "style"), final)}
        done = len(history["total"]) - 1
    finally:
        extractor.remove()
        for p, flag in frozen:
            p.requires_grad_(flag)
        net.train(was_training)
    return StyleTransferResult(
        image=_to_output(g, c_img), tensor=g, history=history,
        reference={"content": float(ref_c)},
        content_layers=content_layers, style_layers=style_layers, steps=done,
        seconds=time.perf_counter() - start)

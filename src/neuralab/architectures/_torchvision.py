"""Map torchvision's state-dict key names onto neuralab architectures.

Every architecture with a torchvision counterpart records, while it builds,
which torchvision module each of its weighted layers corresponds to
(``model.torchvision_names``, e.g. ``"layer1_0_conv1" → "layer1.0.conv1"``).
Parameter names then map one to one (same shapes):

=====================  ===========================
neuralab               torchvision
=====================  ===========================
Convolution.weight     Conv2d.weight
Convolution.bias       Conv2d.bias
dense weight / bias    Linear.weight / Linear.bias
BatchNorm.gamma/beta   BatchNorm2d.weight / .bias
BatchNorm.running_*    BatchNorm2d.running_*
=====================  ===========================

``num_batches_tracked`` buffers and GoogLeNet's auxiliary classifiers
(``aux1.*``, ``aux2.*``) have no neuralab counterpart and are ignored.
"""

from __future__ import annotations

import os

import torch

from ..errors import ConfigError, DTypeError, ShapeError, StorageError

__all__ = ["load_torchvision_state_dict", "to_torchvision_state_dict"]

_PARAM_NAMES = {"weight": "weight", "bias": "bias", "gamma": "weight", "beta": "bias",
                "running_mean": "running_mean", "running_var": "running_var"}
_IGNORED_PREFIXES = ("aux1.", "aux2.")


def _key_map(net) -> dict:
    """torchvision key → neuralab state_dict key, for every tensor of ``net``."""
    names = getattr(net, "torchvision_names", None)
    if not names:
        raise ConfigError(
            f"{type(net).__name__} has no torchvision counterpart; torchvision weights load "
            "into AlexNet, VGG, SqueezeNet, ResNet and GoogLeNet"
        )
    mapping = {}
    for key in net.state_dict():
        layer, _, param = key.partition(".")
        if layer not in names or param not in _PARAM_NAMES:
            raise ConfigError(f"{type(net).__name__}: tensor {key!r} has no torchvision name")
        mapping[f"{names[layer]}.{_PARAM_NAMES[param]}"] = key
    return mapping


def _ignored(key: str) -> bool:
    return key.endswith("num_batches_tracked") or key.startswith(_IGNORED_PREFIXES)


def _read(owner: str, state_dict) -> dict:
    """A state dict given as a dict, a ``.pth`` file or a ``.safetensors`` file."""
    if isinstance(state_dict, (str, os.PathLike)):
        from .. import storage

        path = os.fspath(state_dict)
        if not os.path.lexists(path):
            raise StorageError(f"no state-dict file at {path!r}")
        storage._check_file(path)  # a folder, a FIFO, a symlink loop: StorageError
        if path.endswith(".safetensors"):
            return storage._read_tensors(path)  # truncated or foreign: StorageError
        try:
            loaded = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises several types for foreign or truncated files
            text = str(exc).strip().split("\n", 1)[0][:300]
            raise StorageError(f"{path!r} is not a torch state-dict file (truncated or foreign?): "
                               f"expected a complete file written by torch.save(state_dict), received "
                               f"one that fails to load ({type(exc).__name__}: {text})") from None
        if isinstance(loaded, dict) and isinstance(loaded.get("state_dict"), dict):
            loaded = loaded["state_dict"]  # a training checkpoint {"state_dict": ..., "epoch": ...}
        if not isinstance(loaded, dict):
            raise StorageError(f"{path!r}: expected a state dict (a dict of tensors), received a "
                               f"{type(loaded).__name__}")
        return loaded
    if not isinstance(state_dict, dict):
        raise DTypeError(f"{owner}: expected a state dict (a dict of tensors) or a file path, "
                         f"received {type(state_dict).__name__}")
    return state_dict


def _load_mapped(net, source: dict, mapping: dict, ignored, what: str) -> None:
    """Copy ``source[ref]`` into ``net``'s tensor ``mapping[ref]`` for every reference key.

    Keys (StorageError: missing and unexpected listed; ``ignored(key)`` keys are neither),
    types (DTypeError) and shapes (ShapeError, all listed) are checked first, so a state
    dict that does not fit changes nothing. ``what`` names the model in the messages.
    """
    from ..storage import _listing

    odd = [k for k in source if not isinstance(k, str)]
    if odd:
        raise StorageError(f"expected a state dict with string keys, received the key {odd[0]!r}")
    if any(k.startswith("module.") for k in source):
        source = {k[len("module."):] if k.startswith("module.") else k: v
                  for k, v in source.items()}  # saved from DataParallel/DDP
    given = {k for k in source if not ignored(k)}
    missing, extra = set(mapping) - given, given - set(mapping)
    if missing or extra:
        parts = ([f"missing keys: {_listing(missing)}"] if missing else []) + (
            [f"unexpected keys: {_listing(extra)}"] if extra else [])
        raise StorageError(f"the state dict does not fit {what}: " + "; ".join(parts))
    own = net.state_dict()
    wrong = []
    for ref, key in mapping.items():
        value = source[ref]
        if not isinstance(value, torch.Tensor):
            raise DTypeError(f"state dict entry {ref!r} is a {type(value).__name__}, "
                             "expected a tensor")
        if tuple(value.shape) != tuple(own[key].shape):
            wrong.append(f"{ref}: expected {tuple(own[key].shape)}, received {tuple(value.shape)}")
    if wrong:
        raise ShapeError(f"the state dict does not fit {what}: mis-shaped tensors: "
                         + "; ".join(wrong[:10])
                         + (f" … ({len(wrong)} in all)" if len(wrong) > 10 else ""))
    with torch.no_grad():
        for ref, key in mapping.items():
            own[key].copy_(source[ref])


def load_torchvision_state_dict(net, state_dict) -> None:
    """Load torchvision weights into a neuralab AlexNet, VGG, SqueezeNet, ResNet or GoogLeNet.

    The neuralab model must be built like the torchvision one it comes from
    (same variant, ``num_classes`` and ``batch_norm``); its outputs then equal
    torchvision's (GoogLeNet: torchvision's ``transform_input=False``).

    Args:
        net: the neuralab model, e.g. ``create("resnet50")``.
        state_dict: a dict of tensors with torchvision's key names, or the path of a
            ``.pth`` file (read with ``torch.load(weights_only=True)``) or a
            ``.safetensors`` file. Nothing is downloaded.

    Raises:
        StorageError: keys missing from or unknown to the model (both listed).
        ShapeError: tensors whose shapes differ (listed with both shapes).
        ConfigError: a model with no torchvision counterpart.

    Example:
        >>> from neuralab.architectures import create
        >>> net = create("resnet18", num_classes=10, input_shape=(3, 32, 32))
        >>> load_torchvision_state_dict(net, to_torchvision_state_dict(net))
    """
    mapping = _key_map(net)  # no torchvision counterpart: ConfigError before any file is read
    _load_mapped(net, _read("load_torchvision_state_dict", state_dict), mapping, _ignored,
                 f"{type(net).__name__} '{net.name}'")


def to_torchvision_state_dict(net) -> dict:
    """The model's tensors under torchvision's key names (the inverse of the loader)."""
    mapping = _key_map(net)
    own = net.state_dict()
    return {tv_key: own[key] for tv_key, key in mapping.items()}

"""neuralab: the deep-learning cheat-sheet curriculum as one PyTorch library.

>>> import neuralab as nl
>>> from neuralab import layers as L
>>> net = L.Input((1, 8, 8)) >> L.Convolution(4, 3) >> L.Relu() >> L.Reshape() >> L.Softmax(10)
>>> net.output_shape
(10,)
"""

from __future__ import annotations

import importlib

from . import arithmetic, errors, init, layers, registry
from .graph import Network, join, parallel, repeat

__version__ = "0.1.0"

_LAZY_MODULES = {
    "losses", "regularizers", "schedules", "optimizers", "training", "storage", "classic",
    "architectures", "vision", "generative", "rl", "datasets", "sequences", "validation", "export",
}
_LAZY_NAMES = {
    "fit": ("training", "fit"),
    "predict": ("training", "predict"),
    "evaluate": ("training", "evaluate"),
    "History": ("training", "History"),
    "callbacks": ("training", "callbacks"),
    "save": ("storage", "save"),
    "load": ("storage", "load"),
    "set_seed": ("_seed", "set_seed"),
    "Trainer": ("training", "Trainer"),
}

__all__ = [
    "Network", "join", "parallel", "repeat", "layers", "init", "errors", "arithmetic",
    "registry", *sorted(_LAZY_MODULES), *sorted(_LAZY_NAMES),
]


def __getattr__(name: str):
    if name in _LAZY_MODULES:
        value = importlib.import_module(f".{name}", __name__)
    elif name in _LAZY_NAMES:
        module, attr = _LAZY_NAMES[name]
        value = getattr(importlib.import_module(f".{module}", __name__), attr)
    else:
        raise AttributeError(f"module 'neuralab' has no attribute {name!r}")
    globals()[name] = value
    return value

"""Classic neural networks as scikit-learn estimators computed with torch.

Names are imported lazily, so ``import neuralab.classic`` is cheap and each
estimator's module loads on first use.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "GRNN": "grnn",
    "PNN": "grnn",
    "SOFM": "sofm",
    "LVQ": "lvq",
    "LVQ2": "lvq",
    "LVQ21": "lvq",
    "LVQ3": "lvq",
    "CMAC": "cmac",
    "ART1": "art",
    "GrowingNeuralGas": "gng",
    "Oja": "hebbian",
    "Kohonen": "hebbian",
    "Instar": "hebbian",
    "HebbRule": "hebbian",
    "RBM": "rbm",
    "DiscreteHopfieldNetwork": "memory",
    "DiscreteBAM": "memory",
}

__all__ = sorted(_EXPORTS) + ["plot"]


def __getattr__(name: str):
    if name == "plot":
        return importlib.import_module(".plot", __name__)
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'neuralab.classic' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__


def _register_all() -> None:
    """Import every estimator module so the estimator registry is complete."""
    for module in sorted(set(_EXPORTS.values())):
        importlib.import_module(f".{module}", __name__)

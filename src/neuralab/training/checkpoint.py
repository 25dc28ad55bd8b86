"""Training checkpoints: one ``.safetensors`` file with everything a resume needs.

Tensors (model weights ``model.*``, optimizer state ``optim.*``, RNG states
``rng.*``) are stored as safetensors; the rest (epoch, history, optimizer
hyperparameters, callback state, NumPy/Python RNG state) as JSON in the file's
metadata. Nested structures are encoded to JSON with tensors replaced by
``{"__tensor__": key}`` and tuples by ``{"__tuple__": [...]}``, so any
optimizer's ``state_dict`` round-trips exactly without pickle. Writes are atomic
(temporary file + ``os.replace``): the previous checkpoint stays intact until
the new one is complete.
"""

from __future__ import annotations

import json
import os
import random
from typing import Any

import numpy as np
import torch

from .. import storage
from ..errors import StorageError

__all__ = ["save_checkpoint", "load_checkpoint", "capture_rng", "restore_rng", "CHECKPOINT_NAME"]

CHECKPOINT_NAME = "checkpoint.safetensors"
_KIND = "neuralab-checkpoint"


class _Encoder:
    def __init__(self, prefix: str, tensors: dict[str, torch.Tensor]):
        self.prefix = prefix
        self.tensors = tensors
        self.count = 0

    def __call__(self, value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            key = f"{self.prefix}{self.count}"
            self.count += 1
            self.tensors[key] = value
            return {"__tensor__": key}
        if isinstance(value, dict):
            if all(isinstance(k, str) for k in value):
                return {"__dict__": {k: self(v) for k, v in value.items()}}
            return {"__items__": [[self(k), self(v)] for k, v in value.items()]}
        if isinstance(value, tuple):
            return {"__tuple__": [self(v) for v in value]}
        if isinstance(value, list):
            return [self(v) for v in value]
        if isinstance(value, float) and value != value:
            return {"__float__": "nan"}
        if isinstance(value, float) and value in (float("inf"), float("-inf")):
            return {"__float__": str(value)}
        if isinstance(value, (np.integer, np.floating, np.bool_)):
            return self(value.item())
        if isinstance(value, np.ndarray):
            if value.dtype == np.uint32:  # NumPy's MT19937 key; safetensors has no uint32 for every torch
                value = value.astype(np.int64)
            return self(torch.from_numpy(np.ascontiguousarray(value)))
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        raise StorageError(
            f"cannot checkpoint a value of type {type(value).__name__}: expected tensors, numbers, "
            "strings, lists, tuples or dicts"
        )


def _decode(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(value, list):
        return [_decode(v, tensors) for v in value]
    if isinstance(value, dict):
        if "__tensor__" in value:
            return tensors[value["__tensor__"]]
        if "__dict__" in value:
            return {k: _decode(v, tensors) for k, v in value["__dict__"].items()}
        if "__items__" in value:
            return {_decode(k, tensors): _decode(v, tensors) for k, v in value["__items__"]}
        if "__tuple__" in value:
            return tuple(_decode(v, tensors) for v in value["__tuple__"])
        if "__float__" in value:
            return float(value["__float__"])
        return {k: _decode(v, tensors) for k, v in value.items()}
    return value


def capture_rng(generator: torch.Generator | None = None) -> dict:
    """The global torch (and CUDA), NumPy and Python RNG states, plus ``generator``'s."""
    state = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    if generator is not None:
        state["generator"] = generator.get_state()
    return state


def restore_rng(state: dict, generator: torch.Generator | None = None) -> None:
    """Restore the states saved by :func:`capture_rng`."""
    torch.set_rng_state(state["torch"])
    np_state = state["numpy"]
    np.random.set_state((np_state[0], np.asarray(np_state[1], dtype=np.uint32), *np_state[2:]))
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(list(state["cuda"]))
    if generator is not None and "generator" in state:
        generator.set_state(state["generator"])


def save_checkpoint(path: str | os.PathLike, *, model_state: dict, optimizer_state: dict | None,
                    meta: dict) -> None:
    """Write a checkpoint atomically.

    Args:
        path: the ``.safetensors`` file.
        model_state: the module's ``state_dict()``.
        optimizer_state: the optimizer's ``state_dict()`` (or None).
        meta: any JSON-like structure (may contain tensors, tuples, NumPy arrays):
            epoch, history, RNG states, callback states …
    """
    tensors: dict[str, torch.Tensor] = {f"model.{k}": v for k, v in model_state.items()}
    optim = _Encoder("optim.", tensors)(optimizer_state)
    other = _Encoder("meta.", tensors)(meta)
    header = {
        "neuralab": storage.FORMAT_VERSION,
        "kind": _KIND,
        "optimizer": json.dumps(optim),
        "state": json.dumps(other),
    }
    storage.atomic_write_bytes(path, storage.encode(tensors, header))


def load_checkpoint(path: str | os.PathLike) -> tuple[dict, dict | None, dict]:
    """Read a checkpoint: ``(model_state, optimizer_state, meta)``.

    Raises:
        StorageError: not a neuralab checkpoint, truncated or malformed.
    """
    path = os.fspath(path)
    meta = storage._read_metadata_strings(path)
    if meta.get("kind") != _KIND:
        raise StorageError(
            f"{path!r} is not a neuralab training checkpoint: expected metadata kind {_KIND!r}, "
            f"received {meta.get('kind') if isinstance(meta, dict) else None!r}"
        )
    try:
        optim = json.loads(meta["optimizer"])
        state = json.loads(meta["state"])
    except (KeyError, TypeError, json.JSONDecodeError, RecursionError) as exc:
        raise StorageError(f"{path!r}: malformed checkpoint metadata ({type(exc).__name__})") from None
    tensors = storage._read_tensors(path)
    model_state = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    try:
        return model_state, _decode(optim, tensors), _decode(state, tensors)
    except KeyError as exc:
        raise StorageError(f"{path!r}: the checkpoint refers to a missing tensor {exc}") from None


def find_checkpoint(path: str | os.PathLike) -> str | None:
    """The checkpoint file for ``path`` (a file, or a folder holding ``checkpoint.safetensors``)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, CHECKPOINT_NAME)
    return path if os.path.isfile(path) else None

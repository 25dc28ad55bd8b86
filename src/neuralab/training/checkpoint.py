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
from ..validation import check_path

__all__ = ["save_checkpoint", "load_checkpoint", "capture_rng", "restore_rng", "check_resume_state",
           "check_optimizer_state", "check_like", "check_early_stopping_state", "CHECKPOINT_NAME"]

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
    """Undo :class:`_Encoder`. Tensors are cloned into fresh (aligned) memory, so a resumed
    optimizer computes bitwise like the run that saved it."""
    if isinstance(value, list):
        return [_decode(v, tensors) for v in value]
    if isinstance(value, dict):
        if "__tensor__" in value:
            return tensors[value["__tensor__"]].clone()
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
    path = check_path("load_checkpoint", "path", path)
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
    except RecursionError:
        raise StorageError(f"{path!r}: malformed checkpoint metadata (nested too deeply)") from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise StorageError(f"{path!r}: malformed checkpoint metadata ({type(exc).__name__}: {exc})") from None


def find_checkpoint(path: str | os.PathLike) -> str | None:
    """The checkpoint file for ``path`` (a file, or a folder holding ``checkpoint.safetensors``)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, CHECKPOINT_NAME)
    return path if os.path.isfile(path) else None


# ------------------------------------------------------------------ validating a resume
# A checkpoint is data from disk: before any of it reaches torch (set_rng_state, an optimizer's
# or scheduler's load_state_dict, which does ``self.__dict__.update(state)``), every piece is
# compared with what the live run would write itself. Each refusal is a StorageError saying
# what was expected and what was received.

def _kind(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a {str(value.dtype).replace('torch.', '')} tensor of shape {tuple(value.shape)}"
    if value is None:
        return "None"
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def _bad(path: str, where: str, wanted: str, value: Any) -> StorageError:
    return StorageError(f"{path!r}: malformed checkpoint state: expected {where} to be {wanted}, "
                        f"received {_kind(value)}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_count(path: str, meta: dict, key: str) -> int:
    value = meta.get(key, 0)
    if not _is_int(value) or value < 0:
        raise _bad(path, f"'{key}'", "a non-negative integer", value)
    return value


def check_like(path: str, where: str, live: Any, saved: Any, *, loose_none: bool = False) -> None:
    """Raise StorageError unless ``saved`` has the structure of ``live`` (what the run itself writes).

    Dicts need the same keys, lists and tuples the same length, numbers stay numbers
    (ints and floats mix), strings strings, bools bools, tensors keep dtype and shape,
    None stays None. With ``loose_none`` None and numbers mix (a value not yet set,
    e.g. a best score).
    """
    if isinstance(live, torch.Tensor):
        if not (isinstance(saved, torch.Tensor) and saved.dtype == live.dtype
                and saved.shape == live.shape):
            raise _bad(path, where, _kind(live), saved)
    elif isinstance(live, dict):
        if not isinstance(saved, dict):
            raise _bad(path, where, "a dict", saved)
        if set(saved) != set(live):
            missing, extra = sorted(map(str, set(live) - set(saved))), sorted(map(str, set(saved) - set(live)))
            raise StorageError(f"{path!r}: malformed checkpoint state: expected {where} to have the keys "
                               f"{sorted(map(str, live))}, received "
                               + ", ".join(filter(None, [f"missing {missing}" if missing else "",
                                                         f"unexpected {extra}" if extra else ""])))
        for key in live:
            check_like(path, f"{where}[{key!r}]", live[key], saved[key], loose_none=loose_none)
    elif isinstance(live, (list, tuple)):
        if not isinstance(saved, (list, tuple)) or len(saved) != len(live):
            raise _bad(path, where, f"a list of {len(live)} items", saved)
        for i, (a, b) in enumerate(zip(live, saved)):
            check_like(path, f"{where}[{i}]", a, b, loose_none=loose_none)
    elif isinstance(live, bool):
        if not isinstance(saved, bool):
            raise _bad(path, where, "True or False", saved)
    elif _is_number(live):
        if not (_is_number(saved) or (loose_none and saved is None)):
            raise _bad(path, where, "a number", saved)
    elif isinstance(live, str):
        if not isinstance(saved, str):
            raise _bad(path, where, "a string", saved)
    elif live is None:
        if not (saved is None or (loose_none and _is_number(saved))):
            raise _bad(path, where, "None or a number" if loose_none else "None", saved)


def _check_rng(path: str, rng: Any) -> None:
    if not isinstance(rng, dict):
        raise _bad(path, "'rng'", "a dict of RNG states (torch, numpy, python)", rng)
    live = capture_rng(torch.Generator())
    for key in ("torch", "numpy", "python"):
        if key not in rng:
            raise StorageError(f"{path!r}: malformed checkpoint state: expected the RNG states "
                               f"torch, numpy and python, received {sorted(map(str, rng))}")
    check_like(path, "rng['torch']", live["torch"], rng["torch"])
    if "generator" in rng:
        check_like(path, "rng['generator']", live["generator"], rng["generator"])
    np_state = rng["numpy"]
    if not (isinstance(np_state, (list, tuple)) and len(np_state) == 5 and np_state[0] == "MT19937"):
        raise _bad(path, "rng['numpy']", "NumPy's ('MT19937', key, pos, has_gauss, cached_gaussian)",
                   np_state)
    key = np_state[1]
    if not (isinstance(key, torch.Tensor) and key.dtype == torch.int64 and key.shape == (624,)
            and bool(((key >= 0) & (key < 2**32)).all())):
        raise _bad(path, "rng['numpy'][1]", "an int64 tensor of 624 values in [0, 2**32)", key)
    if not (_is_int(np_state[2]) and 0 <= np_state[2] <= 624 and _is_int(np_state[3])
            and _is_number(np_state[4])):
        raise _bad(path, "rng['numpy'][2:]", "(pos 0..624, has_gauss int, cached_gaussian float)",
                   tuple(np_state[2:]))
    py = rng["python"]
    if not (isinstance(py, (list, tuple)) and len(py) == 3 and _is_int(py[0])
            and isinstance(py[1], (list, tuple)) and len(py[1]) == 625
            and all(_is_int(v) and 0 <= v < 2**32 for v in py[1][:624]) and _is_int(py[1][624])
            and (py[2] is None or _is_number(py[2]))):
        raise _bad(path, "rng['python']", "Python's random.getstate() (version, 625 ints, gauss)",
                   py)
    if "cuda" in rng and not (isinstance(rng["cuda"], (list, tuple)) and all(
            isinstance(t, torch.Tensor) and t.dtype == torch.uint8 and t.dim() == 1 for t in rng["cuda"])):
        raise _bad(path, "rng['cuda']", "a list of uint8 tensors", rng["cuda"])


def check_resume_state(path: str, meta: Any) -> dict:
    """Validate the training state of a checkpoint (everything but the optimizer and scheduler).

    Returns:
        ``{"epoch", "global_step", "history"}`` checked.
    """
    if not isinstance(meta, dict):
        raise _bad(path, "the training state", "a dict", meta)
    if "epoch" not in meta:
        raise StorageError(f"{path!r}: malformed checkpoint state: expected the key 'epoch', received "
                           f"keys {sorted(map(str, meta))}")
    epoch = _check_count(path, meta, "epoch")
    step = _check_count(path, meta, "global_step")
    history = meta.get("history")
    if not isinstance(history, dict) or not isinstance(history.get("epoch", []), list) \
            or not isinstance(history.get("history", {}), dict):
        raise _bad(path, "'history'", "{'epoch': [...], 'history': {name: [...]}}", history)
    if not all(_is_int(e) for e in history.get("epoch", [])):
        raise _bad(path, "history['epoch']", "a list of integers", history.get("epoch"))
    for name, column in history.get("history", {}).items():
        if not isinstance(column, list):
            raise _bad(path, f"history[{name!r}]", "a list of values", column)
    if "rng" not in meta:
        raise StorageError(f"{path!r}: malformed checkpoint state: expected the RNG states 'rng' (a "
                           f"resume draws the same batches as the run it continues), received keys "
                           f"{sorted(map(str, meta))}")
    _check_rng(path, meta["rng"])
    lrs = meta.get("all_base_lrs")
    if lrs is not None and not (isinstance(lrs, dict) and all(
            isinstance(v, list) and all(x is None or _is_number(x) for x in v) for v in lrs.values())):
        raise _bad(path, "'all_base_lrs'", "{optimizer name: [numbers]}", lrs)
    base = meta.get("base_lrs")
    if base is not None and not (isinstance(base, list) and all(x is None or _is_number(x) for x in base)):
        raise _bad(path, "'base_lrs'", "a list of numbers", base)
    callbacks = meta.get("callbacks") or []
    if not isinstance(callbacks, list) or not all(
            isinstance(c, dict) and isinstance(c.get("class"), str) and isinstance(c.get("state") or {}, dict)
            for c in callbacks):
        raise _bad(path, "'callbacks'", "a list of {'class': name, 'state': dict}", callbacks)
    return {"epoch": epoch, "global_step": step, "history": history}


def check_optimizer_state(path: str, name: str, optimizer: torch.optim.Optimizer, saved: Any) -> None:
    """Validate ``saved`` (an optimizer ``state_dict`` from disk) against the live ``optimizer``.

    Hyperparameters keep their kinds (a string lr is refused), groups and parameters
    keep their counts, and per-parameter state tensors are floating point with the
    parameter's shape (or scalars), so nothing fails later inside ``step()``.
    """
    where = f"the state of optimizer {name!r} ({type(optimizer).__name__})"
    if not isinstance(saved, dict) or not isinstance(saved.get("param_groups"), list) \
            or not isinstance(saved.get("state"), dict):
        raise _bad(path, where, "{'state': {...}, 'param_groups': [...]}", saved)
    live_groups = optimizer.param_groups
    if len(saved["param_groups"]) != len(live_groups):
        raise _bad(path, f"{where}: param_groups", f"a list of {len(live_groups)} groups",
                   saved["param_groups"])
    params = []
    for i, (live, group) in enumerate(zip(live_groups, saved["param_groups"])):
        if not isinstance(group, dict):
            raise _bad(path, f"{where}: param_groups[{i}]", "a dict", group)
        ids = group.get("params")
        if not (isinstance(ids, list) and len(ids) == len(live["params"]) and all(_is_int(p) for p in ids)):
            raise _bad(path, f"{where}: param_groups[{i}]['params']",
                       f"{len(live['params'])} parameter indices", ids)
        params.extend(zip(ids, live["params"]))
        for key, value in group.items():
            if key == "params":
                continue
            if key in live:
                check_like(path, f"{where}: param_groups[{i}][{key!r}]", live[key], value)
            elif not (value is None or isinstance(value, (bool, int, float, str))):
                raise _bad(path, f"{where}: param_groups[{i}][{key!r}]", "a number, string or bool", value)
    by_id = dict(params)
    for pid, entry in saved.get("state", {}).items():
        if pid not in by_id or not isinstance(entry, dict):
            if isinstance(optimizer, torch.optim.Optimizer) and type(optimizer).__module__.startswith("torch."):
                raise _bad(path, f"{where}: state[{pid!r}]", "the state of one of its "
                           f"{len(by_id)} parameters", entry)
            continue
        param = by_id[pid]
        builtin = type(optimizer).__module__.startswith("torch.optim") \
            and not isinstance(optimizer, torch.optim.LBFGS)
        for key, value in entry.items():
            if not isinstance(value, torch.Tensor):
                ok = _is_number(value) or (not builtin and (value is None or isinstance(value, bool) or (
                    isinstance(value, (list, tuple))
                    and all(isinstance(v, torch.Tensor) or _is_number(v) for v in value))))
                if not ok:
                    raise _bad(path, f"{where}: state[{pid}][{key!r}]", "a tensor or a number", value)
                continue
            if value.numel() > 1 and value.shape != param.shape \
                    and type(optimizer).__module__.startswith("torch.optim") \
                    and not isinstance(optimizer, torch.optim.LBFGS):
                raise _bad(path, f"{where}: state[{pid}][{key!r}]",
                           f"a tensor of the parameter's shape {tuple(param.shape)}", value)
            if key != "step" and param.is_floating_point() and not (
                    value.is_floating_point() or value.is_complex()) and value.numel() > 1:
                raise _bad(path, f"{where}: state[{pid}][{key!r}]", "a floating-point tensor", value)


def check_early_stopping_state(path: str, state: Any, module_state: dict) -> None:
    """Validate an EarlyStopping state: best score, epoch, patience counter and best weights."""
    where = "the EarlyStopping state"
    if not isinstance(state, dict):
        raise _bad(path, where, "a dict", state)
    if not (state.get("best") is None or _is_number(state.get("best"))):
        raise _bad(path, f"{where}['best']", "a number or None", state.get("best"))
    for key in ("best_epoch", "wait"):
        value = state.get(key, 0)
        if not (value is None or (_is_int(value) and value >= 0)):
            raise _bad(path, f"{where}[{key!r}]", "a non-negative integer or None", value)
    if not isinstance(state.get("key", ""), str):
        raise _bad(path, f"{where}['key']", "a string", state.get("key"))
    best = state.get("best_state")
    if best is not None:
        live = {k: v.detach() for k, v in module_state.items()}
        check_like(path, f"{where}['best_state']", live, best)

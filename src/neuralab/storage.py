"""Save and load models as one ``.safetensors`` file, with no pickle anywhere.

The file holds the module's ``state_dict`` tensors and, in the safetensors
metadata (a JSON header of strings), a description of the model:

- ``"neuralab"``: the format version;
- ``"class"`` / ``"config"``: the registered layer/network class name and its
  JSON ``get_config()``, when the module has ``get_config`` and its class is
  registered in :data:`neuralab.registry.layers`;
- ``"user"``: the JSON ``metadata=`` given to :func:`save`.

:func:`load` rebuilds the module through ``registry.layers.get({"class": ...,
"config": ...})`` and loads the weights strictly. Reading uses only the
safetensors parser and ``json``: nothing in the file is ever executed, and a
file that is not a valid neuralab file raises
:class:`~neuralab.errors.StorageError`. Writes are atomic: the data goes to a
temporary file in the same folder, which then replaces the target
(``os.replace``), so a crash never leaves half a file.

    >>> import tempfile, os, torch
    >>> from torch import nn
    >>> path = os.path.join(tempfile.mkdtemp(), "net.safetensors")
    >>> net = nn.Linear(2, 1)
    >>> save(net, path, metadata={"note": "weights only"})
    >>> read_metadata(path)["user"]
    {'note': 'weights only'}
    >>> other = nn.Linear(2, 1)
    >>> load_weights(other, path)
    >>> bool(torch.equal(other.weight, net.weight))
    True
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from typing import Any

import torch
from torch import nn

from . import registry
from .errors import ConfigError, DTypeError, StorageError

__all__ = ["save", "load", "load_weights", "read_metadata", "atomic_write_bytes", "FORMAT_VERSION"]

FORMAT_VERSION = "1"
_HEADER_LIMIT = 100 * 1024 * 1024  # safetensors' own limit on the JSON header


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder + ``os.replace``)."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".part", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _unshare(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Detached, contiguous CPU tensors; tensors sharing memory are copied (safetensors refuses them)."""
    out, seen = {}, set()
    for name, t in tensors.items():
        t = t.detach().to("cpu").contiguous()
        key = (t.untyped_storage().data_ptr(), t.storage_offset()) if t.numel() else None
        if key is not None and (key in seen or t.untyped_storage().nbytes() != t.numel() * t.element_size()):
            t = t.clone()
        if key is not None:
            seen.add(key)
        out[name] = t
    return out


def encode(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> bytes:
    """Serialise tensors + string metadata to safetensors bytes."""
    from safetensors.torch import save as st_save

    return st_save(_unshare(tensors), metadata=metadata)


def _check_file(path: str) -> int:
    """The size of the regular file at ``path``; StorageError for what cannot be a model file."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise StorageError(f"no model file at {path!r}") from None
    except OSError as exc:  # a symlink loop, a name too long, no permission …
        raise StorageError(f"cannot open {path!r}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise StorageError(f"expected a .safetensors file, received the folder {path!r}")
    if not stat.S_ISREG(st.st_mode):
        kind = "a FIFO" if stat.S_ISFIFO(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode) else \
            "a device or other special file"
        raise StorageError(f"expected a regular .safetensors file, received {kind} at {path!r}")
    return st.st_size


def _diagnose(path: str, size: int, exc: Exception) -> StorageError:
    """A message that says what is wrong with a file safetensors refused."""
    with open(path, "rb") as fh:
        head = fh.read(8)
    if len(head) < 8:
        return StorageError(f"{path!r} is not a safetensors file: expected at least an 8-byte header, "
                            f"received {size} bytes")
    n = int.from_bytes(head, "little")
    if n <= 0 or n > _HEADER_LIMIT or 8 + n > size:
        return StorageError(f"{path!r} is not a valid safetensors file (a pickle, a foreign or a truncated "
                            f"file?): the header announces {n} bytes but the file has {size} bytes")
    text = str(exc)
    if "not fully covered" in text or "incomplete" in text:
        return StorageError(f"{path!r} is truncated: the header describes more tensor data than the "
                            f"{size - 8 - n} bytes the file holds after it")
    if "JSON" in text:
        return StorageError(f"{path!r} is not a valid safetensors file: its header is not JSON ({text})")
    return StorageError(f"{path!r} is not a valid safetensors file ({text})")


def _read_metadata_strings(path: str) -> dict[str, str]:
    """The string metadata of a safetensors file, validated and read by safetensors itself."""
    from safetensors import SafetensorError, safe_open

    size = _check_file(path)
    try:
        with safe_open(path, framework="pt") as fh:
            return dict(fh.metadata() or {})
    except (SafetensorError, OSError, ValueError) as exc:
        raise _diagnose(path, size, exc) from None


def _read_tensors(path: str) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(path)
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise StorageError(f"{path!r}: cannot read the tensors ({exc})") from None


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The neuralab metadata of a saved file: ``{"neuralab", "class", "config", "user"}``.

    Raises:
        StorageError: the file is not a neuralab ``.safetensors`` file or its
            metadata is not valid JSON.
    """
    path = os.fspath(path)
    meta = _read_metadata_strings(path)
    if "neuralab" not in meta:
        raise StorageError(
            f"{path!r} is a safetensors file but not a neuralab one: expected the metadata key "
            f"'neuralab', received keys {sorted(meta) if isinstance(meta, dict) else meta!r}"
        )
    out: dict[str, Any] = {"neuralab": meta["neuralab"], "class": meta.get("class")}
    for key in ("config", "user"):
        if key in meta:
            try:
                out[key] = json.loads(meta[key])
            except RecursionError:
                raise StorageError(f"{path!r}: the {key!r} metadata is nested too deeply to be a neuralab "
                                   "description") from None
            except (TypeError, json.JSONDecodeError) as exc:
                raise StorageError(f"{path!r}: the {key!r} metadata is not valid JSON ({exc})") from None
        else:
            out[key] = None
    return out


def _registered_name(module: nn.Module) -> str | None:
    cls = type(module)
    try:
        for name, entry in registry.layers.items():
            if entry is cls:
                return name
    except (ImportError, ConfigError):  # the layers package is not importable
        return None
    return None


def save(module: nn.Module, path: str | os.PathLike, metadata: dict | None = None, *,
         allow_nonfinite: bool = False) -> None:
    """Save ``module`` to one ``.safetensors`` file (atomic write).

    A model whose weights hold NaN or ±inf (a diverged run) is refused, so a good
    file is never replaced by a broken one; ``allow_nonfinite=True`` saves it anyway.

    Args:
        module: any ``torch.nn.Module``. Its architecture is stored too when it has
            ``get_config()`` and its class is registered in ``registry.layers``;
            otherwise only the weights are (read them back with :func:`load_weights`).
        path: the target file; parent folders are created.
        metadata: optional JSON-serialisable dict stored with the model (default None).
        allow_nonfinite: save weights holding NaN/inf too (default False).
    """
    if not isinstance(module, nn.Module):
        raise DTypeError(f"save: expected a torch.nn.Module, received {type(module).__name__}")
    state = dict(module.state_dict())
    if not allow_nonfinite:
        bad = [k for k, t in state.items() if t.is_floating_point() and not bool(torch.isfinite(t).all())]
        if bad:
            raise StorageError(
                f"save: expected finite weights, received NaN/inf in {len(bad)} tensor(s) "
                f"({', '.join(bad[:3])}{' …' if len(bad) > 3 else ''}); {os.fspath(path)!r} was not "
                "written. Pass allow_nonfinite=True to save them anyway")
    meta = {"neuralab": FORMAT_VERSION}
    name = _registered_name(module)
    if name is not None and hasattr(module, "get_config"):
        try:
            meta["config"] = json.dumps(module.get_config())
        except TypeError as exc:
            raise StorageError(
                f"save: the config of {type(module).__name__} is not JSON-serialisable ({exc})"
            ) from None
        meta["class"] = name
    if metadata is not None:
        try:
            meta["user"] = json.dumps(metadata)
        except TypeError as exc:
            raise DTypeError(f"save: expected JSON-serialisable metadata, received {exc}") from None
    atomic_write_bytes(path, encode(state, meta))


def load_weights(module: nn.Module, path: str | os.PathLike, strict: bool = True) -> None:
    """Load the weights of a saved file into an existing ``module`` (strict by default)."""
    path = os.fspath(path)
    read_metadata(path)
    tensors = _read_tensors(path)
    try:
        module.load_state_dict(tensors, strict=strict)
    except RuntimeError as exc:
        raise StorageError(f"{path!r}: the weights do not fit {type(module).__name__}: {exc}") from None


def load(path: str | os.PathLike) -> nn.Module:
    """Rebuild a model saved with :func:`save` and load its weights.

    Raises:
        StorageError: not a neuralab file, truncated, malformed metadata, a config
            naming an unknown layer, weights that do not fit, or a weights-only file
            (use :func:`load_weights` for those).
    """
    path = os.fspath(path)
    meta = read_metadata(path)
    if meta["class"] is None or meta["config"] is None:
        raise StorageError(
            f"{path!r} holds weights only (its module had no registered class with get_config); "
            "build the module and call neuralab.storage.load_weights(module, path)"
        )
    if not isinstance(meta["config"], dict):
        raise StorageError(
            f"{path!r}: expected the 'config' metadata to be a JSON object, "
            f"received {type(meta['config']).__name__}"
        )
    try:
        module = registry.layers.get({"class": meta["class"], "config": meta["config"]})
    except ConfigError as exc:
        raise StorageError(f"{path!r}: cannot rebuild the model: {exc}") from None
    except (TypeError, ValueError, KeyError) as exc:
        raise StorageError(
            f"{path!r}: cannot rebuild {meta['class']!r} from its config ({type(exc).__name__}: {exc})"
        ) from None
    if not isinstance(module, nn.Module):
        raise StorageError(f"{path!r}: class {meta['class']!r} did not build a torch.nn.Module")
    tensors = _read_tensors(path)
    _materialise(module, tensors)
    try:
        module.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        raise StorageError(f"{path!r}: the weights do not fit {meta['class']}: {exc}") from None
    return module


def _materialise(module: nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    """Give lazily-built parameters their saved shapes so a strict load succeeds."""
    from torch.nn.parameter import UninitializedParameter, UninitializedBuffer

    for name, p in list(module.named_parameters()) + list(module.named_buffers()):
        if isinstance(p, (UninitializedParameter, UninitializedBuffer)) and name in tensors:
            p.materialize(tensors[name].shape, dtype=tensors[name].dtype)

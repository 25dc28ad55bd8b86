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

import errno
import json
import logging
import math
import os
import re
import secrets
import socket
import stat
import threading
import time
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from . import registry
from .errors import ConfigError, DTypeError, StorageError
from .validation import check_bool, check_path, check_type

__all__ = ["save", "load", "load_weights", "read_metadata", "atomic_write_bytes",
           "clean_stale_temporaries", "FORMAT_VERSION"]

logger = logging.getLogger("neuralab.storage")

FORMAT_VERSION = "1"
_HEADER_LIMIT = 100 * 1024 * 1024  # safetensors' own limit on the JSON header


_TMP_PREFIX = ".neuralab-tmp-"           # .neuralab-tmp-<host>-<pid>-<random>.part
_LEGACY_TMP = re.compile(r"\.tmp-[a-z0-9_]{8}\.part")  # what mkstemp named them before 0644 writes
_STALE_SECONDS = 24 * 3600               # any host's temporary older than this is garbage
_LEGACY_STALE_SECONDS = 3600


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):  # another user's live process, or no way to tell
        return True
    return True


def _is_stale(name: str, mtime: float, now: float, host: str) -> bool:
    """Is ``name`` a temporary left behind by a neuralab write that died (SIGKILL, power cut)?"""
    if name.startswith(_TMP_PREFIX) and name.endswith(".part"):
        parts = name[len(_TMP_PREFIX):-len(".part")].rsplit("-", 2)
        if len(parts) != 3 or not parts[1].isdigit():
            return False
        if parts[0] == host and not _pid_alive(int(parts[1])):
            return True                  # its writer on this machine is gone
        return now - mtime > _STALE_SECONDS
    return bool(_LEGACY_TMP.fullmatch(name)) and now - mtime > _LEGACY_STALE_SECONDS


def clean_stale_temporaries(folder: str | os.PathLike) -> list[str]:
    """Delete the temporaries of neuralab writes into ``folder`` that were killed mid-write.

    A temporary is stale when the process that wrote it (on this host) no longer
    exists, or when it is more than a day old. Other files are never touched.
    :func:`atomic_write_bytes` calls this before every write, so a killed save
    leaves garbage only until the next save into the same folder.

    Returns:
        the paths removed.
    """
    folder = os.fspath(folder)
    removed: list[str] = []
    now, host = time.time(), _hostname()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not (entry.name.startswith(_TMP_PREFIX) or entry.name.startswith(".tmp-")):
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            if _is_stale(entry.name, entry.stat(follow_symlinks=False).st_mtime, now, host):
                os.unlink(entry.path)
                removed.append(entry.path)
        except OSError:  # raced with its owner or another cleaner: leave it
            continue
    if removed:
        logger.info("removed %d stale temporary file(s) of killed saves in %s", len(removed), folder)
    return removed


def _hostname() -> str:
    return socket.gethostname().replace(os.sep, "_") or "localhost"


def _named(exc: OSError, verb: str, path: str) -> OSError:
    """The same kind of OSError, naming ``path`` (the user's target) instead of our temporary."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    if exc.errno is not None:
        return OSError(exc.errno, f"cannot {verb} {path!r}: {reason}", path)
    return type(exc)(f"cannot {verb} {path!r}: {reason}")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: a temporary file in the same folder, then ``os.replace``.

    A crash or SIGKILL at any moment leaves either the previous file or the new
    one, never half a file; the temporary left by a killed write is removed by the
    next write into that folder (:func:`clean_stale_temporaries`). The new file
    gets the permissions any new file gets (0644 under umask 022, like
    ``torch.save``), or keeps those of the file it replaces. Errors name ``path``.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise _named(exc, "create the folder of", path) from None
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, f"cannot write {path!r}: it is a folder", path)
    clean_stale_temporaries(folder)
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mode = None
    tmp = os.path.join(folder, f"{_TMP_PREFIX}{_hostname()}-{os.getpid()}-{secrets.token_hex(4)}.part")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(tmp, flags, 0o666)   # the umask applies, as for any new file
    except OSError as exc:
        raise _named(exc, "write", path) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            if mode is not None:
                os.chmod(tmp, mode)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise _named(exc, "write", path) from None
        raise
    _fsync_folder(folder)


def _fsync_folder(folder: str) -> None:
    """Make the rename durable (POSIX); best effort."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


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
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError as err:
        return StorageError(f"cannot read {path!r}: {err.strerror or err}")
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
    if "recursion limit" in text:
        return StorageError(f"{path!r} is not a valid safetensors file: its header is nested too "
                            f"deeply ({text})")
    if "JSON" in text:
        return StorageError(f"{path!r} is not a valid safetensors file: its header is not JSON ({text})")
    return StorageError(f"{path!r} is not a valid safetensors file ({text})")


def _read_metadata_strings(path: str) -> dict[str, str]:
    """The string metadata of a safetensors file, validated and read by safetensors itself."""
    return _read_header(path)[0]


def _read_header(path: str) -> tuple[dict[str, str], dict[str, tuple[tuple[int, ...], str]]]:
    """``(metadata, {tensor name: (shape, dtype)})`` from the header alone (no tensor data is read)."""
    from safetensors import SafetensorError, safe_open

    size = _check_file(path)
    try:
        with safe_open(path, framework="pt") as fh:
            meta = dict(fh.metadata() or {})
            shapes = {}
            for key in fh.keys():
                piece = fh.get_slice(key)
                shapes[key] = (tuple(int(d) for d in piece.get_shape()), str(piece.get_dtype()))
    except (SafetensorError, OSError, ValueError, TypeError, RuntimeError) as exc:
        raise _diagnose(path, size, exc) from None
    return meta, shapes


def _read_tensors(path: str) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    size = _check_file(path)
    try:
        return load_file(path)
    except (SafetensorError, OSError, ValueError, TypeError, RuntimeError) as exc:
        raise _diagnose(path, size, exc) from None


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The neuralab metadata of a saved file: ``{"neuralab", "class", "config", "user"}``.

    Raises:
        StorageError: the file is not a neuralab ``.safetensors`` file or its
            metadata is not valid JSON.
    """
    path = check_path("read_metadata", "path", path)
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
    path = check_path("save", "path", path)
    if metadata is not None:
        check_type("save", "metadata", metadata, dict, "a dict (JSON-serialisable) or None")
    state = dict(module.state_dict())
    if not check_bool("save", "allow_nonfinite", allow_nonfinite):
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


def _refuse_checkpoint(path: str) -> None:
    """A StorageError for a training checkpoint given where a model file goes."""
    if _read_metadata_strings(path).get("kind") == "neuralab-checkpoint":
        raise StorageError(
            f"{path!r} is a training checkpoint, not a model file: expected a file written by nl.save; "
            "continue the run with fit(..., resume_from=its folder), or have Checkpoint(folder, "
            "save_model=True) write folder/model.safetensors too")


def load_weights(module: nn.Module, path: str | os.PathLike, strict: bool = True) -> None:
    """Load the weights of a saved file into an existing ``module`` (strict by default)."""
    check_type("load_weights", "module", module, nn.Module, "a torch.nn.Module")
    path = check_path("load_weights", "path", path)
    strict = check_bool("load_weights", "strict", strict)
    read_metadata(path)
    _refuse_checkpoint(path)
    _, stored = _read_header(path)
    wrong, missing, extra = _differences(module.state_dict(), stored)
    wrong = [f"{k}: expected {tuple(t.shape)}, the file stores {stored[k][0]}" for k, t in wrong]
    if not strict:
        missing, extra = [], []
    if wrong or missing or extra:  # refused before anything is read or copied into the module
        parts = (["mis-shaped " + "; ".join(wrong[:5])] if wrong else []) + \
            ([f"missing {_listing(missing)}"] if missing else []) + \
            ([f"unexpected {_listing(extra)}"] if extra else [])
        raise StorageError(f"{path!r}: the weights do not fit {type(module).__name__}: " + "; ".join(parts))
    _fill(path, module, type(module).__name__, strict)


def load(path: str | os.PathLike) -> nn.Module:
    """Rebuild a model saved with :func:`save` and load its weights.

    Nothing in the file is executed, and nothing is allocated from what the file
    claims before it is checked: the model is first built on PyTorch's ``meta``
    device (shapes without memory) and every tensor its config implies is compared
    with the shapes stored in the safetensors header. A config that asks for more
    than the file holds (a 1 KB file whose config wants a 40 GB layer) is refused.

    Raises:
        StorageError: not a neuralab file, truncated, malformed metadata, a config
            naming an unknown layer or inconsistent with the stored tensors, weights
            that do not fit, or a weights-only file (use :func:`load_weights` for those).
    """
    path = check_path("load", "path", path)
    meta = read_metadata(path)
    if meta["class"] is None or meta["config"] is None:
        _refuse_checkpoint(path)
        raise StorageError(
            f"{path!r} holds weights only (its module had no registered class with get_config); "
            "build the module and call neuralab.storage.load_weights(module, path)"
        )
    if not isinstance(meta["config"], dict):
        raise StorageError(
            f"{path!r}: expected the 'config' metadata to be a JSON object, "
            f"received {type(meta['config']).__name__}"
        )
    _, stored = _read_header(path)
    skeleton = _build(path, meta, stored, device="meta")
    _check_against_header(path, meta["class"], skeleton, stored)
    del skeleton
    module = _build(path, meta, stored, device=None)
    _fill(path, module, meta["class"], strict=True)
    return module


def _fill(path: str, module: nn.Module, what: str, strict: bool) -> None:
    """Read the file's tensors into ``module`` (lazy parameters take the stored shapes)."""
    tensors = _read_tensors(path)
    _materialise(module, tensors)
    try:
        module.load_state_dict(tensors, strict=strict)
    except RuntimeError as exc:
        raise StorageError(f"{path!r}: the weights do not fit {what}: {exc}") from None


_BUILD = threading.local()        # the allocation budget of the build running on this thread
_hooks_lock = threading.Lock()
_hook_handles: list = []


def _nbytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


def _on_register(module, name, value):
    """Registration hook active while :func:`load` builds a model: stop a build that asks for
    more tensors or bytes than the file could ever fill (a crafted config)."""
    budget = getattr(_BUILD, "budget", None)
    if budget is None or value is None or not isinstance(value, torch.Tensor):
        return None
    budget["tensors"] += 1
    if not _is_lazy(value):
        budget["bytes"] += _nbytes(value)
    if budget["tensors"] > budget["max_tensors"] or budget["bytes"] > budget["max_bytes"]:
        raise StorageError(
            f"{budget['path']!r}: the config of {budget['class']!r} asks for more than the file holds "
            f"(a corrupt or crafted file): expected the {budget['stored_tensors']} stored tensors "
            f"({_size(budget['stored_bytes'])}), received a config that had already asked for "
            f"{budget['tensors']} tensors ({_size(budget['bytes'])}) when it was stopped at "
            f"{type(module).__name__}.{name} of shape {_shape_of(value)}; nothing was allocated")
    return None


def _shape_of(value: torch.Tensor) -> str:
    if _is_lazy(value):
        return "(lazy)"
    return str(tuple(value.shape))


def _install_hooks() -> None:
    with _hooks_lock:
        if not _hook_handles:
            from torch.nn.modules import module as torch_module

            _hook_handles.append(torch_module.register_module_parameter_registration_hook(_on_register))
            _hook_handles.append(torch_module.register_module_buffer_registration_hook(_on_register))


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if n < 1024 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"  # pragma: no cover


_DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
                "U8": 1, "BOOL": 1, "U16": 2, "U32": 4, "U64": 8, "F8_E4M3": 1, "F8_E5M2": 1}


def _build(path: str, meta: dict, stored: dict, *, device: str | None) -> nn.Module:
    """Build ``meta['class']`` from its config (on ``device``) under the allocation budget."""
    stored_bytes = sum(math.prod(shape) * _DTYPE_BYTES.get(dtype.upper(), 8)
                       for shape, dtype in stored.values())
    budget = {"path": path, "class": meta["class"], "tensors": 0, "bytes": 0,
              "stored_tensors": len(stored), "stored_bytes": stored_bytes,
              "max_tensors": 2 * len(stored) + 64,
              # non-persistent buffers are not stored: allow them a generous margin
              "max_bytes": 2 * stored_bytes + 256 * 1024 * 1024}
    _install_hooks()
    previous = getattr(_BUILD, "budget", None)
    _BUILD.budget = budget
    try:
        if device is None:
            module = registry.layers.get({"class": meta["class"], "config": meta["config"]})
        else:
            with torch.device(device), _SkipMetaInit():
                module = registry.layers.get({"class": meta["class"], "config": meta["config"]})
    except StorageError:
        raise
    except ConfigError as exc:
        raise StorageError(f"{path!r}: cannot rebuild the model: {_short(exc)}") from None
    except RecursionError:
        raise StorageError(f"{path!r}: cannot rebuild {meta['class']!r}: its config is nested too "
                           "deeply") from None
    except Exception as exc:  # a crafted config can make any constructor fail in any way
        raise StorageError(
            f"{path!r}: cannot rebuild {meta['class']!r} from its config ({type(exc).__name__}: "
            f"{_short(exc)})") from None
    finally:
        _BUILD.budget = previous
    if not isinstance(module, nn.Module):
        raise StorageError(f"{path!r}: class {meta['class']!r} did not build a torch.nn.Module")
    return module


def _short(exc: Exception, limit: int = 300) -> str:
    """The first line of an exception's message, at most ``limit`` characters (torch appends C++ frames)."""
    text = str(exc).strip().split("\n", 1)[0]
    return text if len(text) <= limit else text[:limit - 3] + "..."


# In-place tensor methods that change a tensor's shape or identity: never skipped on meta.
_SHAPE_CHANGING = frozenset({"resize_", "resize_as_", "set_", "squeeze_", "unsqueeze_", "t_", "transpose_",
                             "swapdims_", "swapaxes_", "as_strided_", "requires_grad_", "share_memory_"})


class _SkipMetaInit(TorchFunctionMode):
    """While building on the meta device, skip in-place fills (``normal_``, ``kaiming_uniform_`` …).

    A meta tensor has no data, so filling it changes nothing; skipping the call saves
    PyTorch's first-use cost of its Python meta kernels (about 9 s for ``normal_``).
    """

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if (name.endswith("_") and not name.endswith("__") and name not in _SHAPE_CHANGING and args
                and isinstance(args[0], torch.Tensor) and args[0].is_meta):
            return args[0]
        return func(*args, **(kwargs or {}))


def _check_against_header(path: str, cls: str, skeleton: nn.Module, stored: dict) -> None:
    """Every tensor the config implies must be one the file stores, with the stored shape."""
    wrong, missing, extra = _differences(skeleton.state_dict(), stored)
    wrong = [f"{key!r}: expected the stored shape {tuple(stored[key][0])}, the config implies "
             f"{tuple(t.shape)} ({_size(_nbytes(t))})" for key, t in wrong]
    if not (missing or extra or wrong):
        return
    parts = []
    if wrong:
        parts.append("; ".join(wrong[:5]) + (f" … ({len(wrong)} in all)" if len(wrong) > 5 else ""))
    if missing:
        parts.append(f"tensors the config needs but the file lacks: {_listing(missing)}")
    if extra:
        parts.append(f"tensors the file stores but the config does not build: {_listing(extra)}")
    raise StorageError(f"{path!r}: the config of {cls} does not match the stored tensors (a corrupt or "
                       f"crafted file; nothing was allocated): " + "; ".join(parts))


def _is_lazy(t: torch.Tensor) -> bool:
    """A parameter or buffer of a lazy layer that has not seen its input yet (no shape)."""
    from torch.nn.parameter import UninitializedBuffer, UninitializedParameter

    return isinstance(t, (UninitializedParameter, UninitializedBuffer))


def _differences(own: dict, stored: dict) -> tuple[list, list[str], list[str]]:
    """A state dict against a header's ``{key: (shape, dtype)}``: the mis-shaped
    ``(key, tensor)`` pairs (lazy tensors fit any shape), the missing and the unexpected keys."""
    wrong = [(k, t) for k, t in own.items()
             if k in stored and not _is_lazy(t) and tuple(t.shape) != stored[k][0]]
    return wrong, sorted(set(own) - set(stored)), sorted(set(stored) - set(own))


def _listing(keys, limit: int = 8) -> str:
    """The first ``limit`` of the sorted ``keys``, quoted, and how many there are in all."""
    keys = sorted(keys)
    text = ", ".join(repr(k) for k in keys[:limit])
    return text + (f" … ({len(keys)} in all)" if len(keys) > limit else "")


def _materialise(module: nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    """Give lazily-built parameters their saved shapes so a strict load succeeds."""
    for name, p in list(module.named_parameters()) + list(module.named_buffers()):
        if _is_lazy(p) and name in tensors:
            p.materialize(tensors[name].shape, dtype=tensors[name].dtype)

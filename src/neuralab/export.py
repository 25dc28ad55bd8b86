"""Export a model to ONNX with a dynamic batch axis, checked against PyTorch with onnxruntime.

:func:`export_onnx` writes one ``.onnx`` file (weights inside) whose first input
axis, the batch, is dynamic: the file runs on any batch size. Axes given as
``None`` in ``input_shape`` are dynamic too (the time axis of a sequence model).
With ``verify=True`` (the default) the file is run with onnxruntime at two batch
sizes (and, for dynamic axes, two lengths) and compared with the PyTorch model:

    max |onnx(x) - torch(x)| <= atol + rtol * max |torch(x)|      (atol = rtol = 1e-5)

Two exporters: ``"torchscript"`` (PyTorch's tracing exporter: about 10x faster,
deprecated by PyTorch since 2.9 but still shipped) and ``"dynamo"``
(``torch.onnx.export(dynamo=True)``, PyTorch's default, through ``torch.export``).
``"auto"`` (default) traces, and uses dynamo when tracing fails or its file does
not match PyTorch (an operator the tracer cannot convert, a shape baked in). Needs the ``export`` extra: onnx, onnxscript, onnxruntime.

    >>> import os, tempfile, torch
    >>> from neuralab import layers as L
    >>> net = L.Input((4,)) >> L.Relu(8) >> L.Softmax(3)
    >>> path = os.path.join(tempfile.mkdtemp(), "net.onnx")
    >>> result = export_onnx(net, path, (4,), exporter="torchscript")
    >>> result.max_error < 1e-5, result.batch_sizes
    (True, (1, 3))
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import warnings
from typing import NamedTuple, Sequence

import torch
from torch import nn

from .errors import ConfigError, DTypeError, NeuralabError, ShapeError, format_shape
from .validation import check_choice, check_number, check_path, expected

__all__ = ["export_onnx", "ExportError", "OnnxExport"]

logger = logging.getLogger("neuralab.export")

_EXPORTERS = ("auto", "dynamo", "torchscript")
_EXAMPLE_DYNAMIC = 5   # the size a dynamic (None) axis gets in the example input
_INSTALL = "pip install 'neuralab[export]'"


class ExportError(NeuralabError, RuntimeError):
    """A model that cannot be exported, or whose ONNX output differs from PyTorch's."""


class OnnxExport(NamedTuple):
    """What :func:`export_onnx` wrote and checked."""

    path: str
    exporter: str                 # "dynamo" or "torchscript"
    input_names: tuple
    output_names: tuple
    batch_sizes: tuple            # the batch sizes verified (empty when verify=False)
    max_error: float              # the largest |onnx - torch| seen (nan when verify=False)


class _Positional(nn.Module):
    """``forward(x0, x1, …)`` with a fixed number of tensor inputs, as the exporters want."""

    def __init__(self, model: nn.Module, n_inputs: int):
        super().__init__()
        self.model = model
        self.n_inputs = n_inputs

    def forward(self, *xs):
        out = self.model(*xs)
        if isinstance(out, dict):
            return tuple(out.values())
        return out


def _shapes(input_shape, model) -> list[tuple]:
    if input_shape is None:
        input_shape = getattr(model, "input_shape", None)
        if input_shape is None:
            raise ConfigError("export_onnx: expected `input_shape` (the shape of one sample, e.g. "
                              "(3, 224, 224)), received None for a model without an input_shape")
    shapes = input_shape if (isinstance(input_shape, list) and input_shape
                             and all(isinstance(s, (tuple, list)) for s in input_shape)) else [input_shape]
    out = []
    for shape in shapes:
        if not isinstance(shape, (tuple, list)) or not all(
                s is None or (isinstance(s, int) and not isinstance(s, bool) and s >= 1) for s in shape):
            raise expected("export_onnx", "input_shape", "a tuple of positive ints (None for a dynamic "
                           "axis) without the batch axis, e.g. (3, 224, 224), or a list of them", input_shape)
        out.append(tuple(shape))
    return out


def _input_dtype(model: nn.Module, dtype) -> torch.dtype:
    if dtype is not None:
        if not isinstance(dtype, torch.dtype):
            raise expected("export_onnx", "input_dtype", "a torch.dtype", dtype, error=DTypeError)
        return dtype
    if any("Embedding" in type(m).__name__ for m in model.modules()):
        return torch.int64
    for p in model.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.float32


def _example(shapes, batch: int, dynamic_size: int, dtype, generator) -> tuple:
    xs = []
    for shape in shapes:
        full = (batch, *[dynamic_size if s is None else s for s in shape])
        if dtype.is_floating_point:
            xs.append(torch.randn(full, generator=generator, dtype=dtype))
        else:
            xs.append(torch.randint(0, 2, full, generator=generator, dtype=dtype))
    return tuple(xs)


def _flat(out) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, dict):
        out = tuple(out.values())
    if isinstance(out, (tuple, list)):
        flat = []
        for o in out:
            flat.extend(_flat(o))
        return flat
    raise ExportError(f"export_onnx: expected the model to return tensors, received {type(out).__name__}")


def _dynamic_axes(shapes) -> list[dict[int, str]]:
    axes = []
    for shape in shapes:
        entry = {0: "batch"}
        for i, s in enumerate(shape, start=1):
            if s is None:
                entry[i] = "time" if (len(shape) == 2 and i == 1) else f"axis{i}"
        axes.append(entry)
    return axes


def _export_dynamo(wrapper, example, path, input_names, output_names, axes, opset):
    dims = {}
    dynamic_shapes = []
    for entry in axes:
        spec = {}
        for axis, name in entry.items():
            if name not in dims:
                dims[name] = torch.export.Dim(name.replace("axis", "axis_"), min=1, max=2**20)
            spec[axis] = dims[name]
        dynamic_shapes.append(spec)
    kw = {} if opset is None else {"opset_version": opset}
    sink = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(sink):
        warnings.simplefilter("ignore")
        torch.onnx.export(wrapper, example, path, dynamo=True, input_names=input_names,
                          output_names=output_names, dynamic_shapes=(tuple(dynamic_shapes),),
                          external_data=False, verbose=False, **kw)


def _export_torchscript(wrapper, example, path, input_names, output_names, axes, opset):
    dynamic = {name: dict(entry) for name, entry in zip(input_names, axes)}
    for name in output_names:
        dynamic[name] = {0: "batch"}
    kw = {} if opset is None else {"opset_version": opset}
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), _quiet_fd(1):
        warnings.simplefilter("ignore")
        torch.onnx.export(wrapper, example, path, dynamo=False, input_names=input_names,
                          output_names=output_names, dynamic_axes=dynamic, **kw)


@contextlib.contextmanager
def _quiet_fd(fd: int):
    """Silence file descriptor ``fd`` for the block. The tracing exporter always switches its C++
    log on (torch 2.9-2.13 test the function ``_jit_is_onnx_log_enabled`` instead of calling it)
    and prints the whole graph to stdout when an operator fails to convert."""
    try:
        saved = os.dup(fd)
        null = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        yield
        return
    try:
        try:
            import sys

            (sys.stdout if fd == 1 else sys.stderr).flush()
        except (AttributeError, ValueError, OSError):
            pass
        os.dup2(null, fd)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)
        os.close(null)


def _verify(path, wrapper, shapes, dtype, input_names, axes, rtol, atol) -> tuple[tuple, float]:
    try:
        import numpy as np
        import onnxruntime as ort
    except ImportError:
        raise ConfigError(f"export_onnx(verify=True) needs onnxruntime; {_INSTALL}, or pass "
                          "verify=False") from None
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ExportError(f"export_onnx: onnxruntime cannot load the exported {path!r}: "
                          f"{str(exc).splitlines()[0][:300]}") from None
    g = torch.Generator().manual_seed(0)
    has_dynamic = any(len(a) > 1 for a in axes)
    cases = [(1, 3), (3, 2 * _EXAMPLE_DYNAMIC + 1)] if has_dynamic else [(1, None), (3, None)]
    worst = 0.0
    for batch, length in cases:
        xs = _example(shapes, batch, length or _EXAMPLE_DYNAMIC, dtype, g)
        with torch.no_grad():
            want = [t.detach().float().numpy() for t in _flat(wrapper(*xs))]
        got = session.run(None, {n: x.numpy() for n, x in zip(input_names, xs)})
        if len(got) != len(want):
            raise ExportError(f"export_onnx: expected {len(want)} outputs from the ONNX model, received "
                              f"{len(got)}")
        for k, (a, b) in enumerate(zip(got, want)):
            if a.shape != b.shape:
                raise ExportError(f"export_onnx: output {k} at batch {batch}: expected shape {b.shape} "
                                  f"(PyTorch), received {a.shape} from onnxruntime")
            err = float(np.max(np.abs(a.astype(np.float64) - b))) if a.size else 0.0
            bound = atol + rtol * (float(np.max(np.abs(b))) if b.size else 0.0)
            if not err <= bound:
                raise ExportError(
                    f"export_onnx: onnxruntime's output {k} differs from PyTorch's at batch {batch}: "
                    f"expected max |difference| <= {bound:.3g}, received {err:.3g}")
            worst = max(worst, err)
    return tuple(b for b, _ in cases), worst


def export_onnx(model: nn.Module, path: str | os.PathLike, input_shape=None, *, exporter: str = "auto",
                opset: int | None = None, input_dtype: torch.dtype | None = None, verify: bool = True,
                rtol: float = 1e-5, atol: float = 1e-5,
                input_names: Sequence[str] | None = None,
                output_names: Sequence[str] | None = None) -> OnnxExport:
    """Write ``model`` to ``path`` as ONNX with a dynamic batch axis; check it with onnxruntime.

    Args:
        model: any ``torch.nn.Module`` (a layer-algebra Network, a registered
            architecture, a recurrent network …); exported in eval mode.
        path: the ``.onnx`` file (parent folders are created; written atomically).
        input_shape: one sample's shape without the batch axis, e.g. ``(1, 32, 32)``;
            ``None`` entries are dynamic axes (``(None, 8)``: any sequence length); a
            list of shapes for several inputs. Default: ``model.input_shape``.
        exporter: "auto" (default: tracing, then dynamo if tracing fails or does not
            verify), "torchscript" or "dynamo".
        opset: the ONNX opset (default: the exporter's own).
        input_dtype: dtype of the inputs (default: int64 for models with an
            Embedding, else the model's parameter dtype).
        verify: run the file with onnxruntime at batch sizes 1 and 3 and compare
            with PyTorch (default True); a difference beyond the bound raises.
        rtol, atol: the verification bound ``atol + rtol * max|torch|`` (default 1e-5 each).
        input_names, output_names: ONNX names (default "input"/"output", or
            "input_0", "input_1" … for several).

    Returns:
        :class:`OnnxExport` ``(path, exporter, input_names, output_names, batch_sizes, max_error)``.

    Raises:
        ConfigError: bad arguments, or onnx/onnxruntime missing.
        ExportError: the model cannot be exported, or its ONNX output differs from PyTorch's.
    """
    if not isinstance(model, nn.Module):
        raise expected("export_onnx", "model", "a torch.nn.Module", type(model).__name__, error=DTypeError)
    exporter = check_choice("export_onnx", "exporter", exporter, _EXPORTERS)
    rtol = check_number("export_onnx", "rtol", rtol, low=0.0)
    atol = check_number("export_onnx", "atol", atol, low=0.0)
    path = check_path("export_onnx", "path", path)
    if os.path.isdir(path):
        raise expected("export_onnx", "path", "a .onnx file path", f"the folder {path!r}")
    shapes = _shapes(input_shape, model)
    dtype = _input_dtype(model, input_dtype)
    try:
        import onnx  # noqa: F401  (both exporters write through it)
    except ImportError:
        raise ConfigError(f"export_onnx needs the onnx package; {_INSTALL}") from None
    names_in = list(input_names) if input_names is not None else (
        ["input"] if len(shapes) == 1 else [f"input_{i}" for i in range(len(shapes))])
    if len(names_in) != len(shapes):
        raise expected("export_onnx", "input_names", f"{len(shapes)} names", input_names)
    axes = _dynamic_axes(shapes)
    was_training = model.training
    model.eval()
    wrapper = _Positional(model, len(shapes)).eval()
    g = torch.Generator().manual_seed(0)
    example = _example(shapes, 2, _EXAMPLE_DYNAMIC, dtype, g)
    try:
        try:
            with torch.no_grad():
                n_out_probe = len(_flat(wrapper(*example)))
        except ShapeError as exc:
            own = getattr(model, "input_shape", None)
            if input_shape is not None and own is not None and _shapes(own, model) != shapes:
                raise expected("export_onnx", "input_shape", f"the model's input shape {format_shape(own)} "
                               "(one sample, without the batch axis)", input_shape) from exc
            raise
        except NeuralabError:
            raise
        except (RuntimeError, ValueError, TypeError, IndexError) as exc:
            raise ExportError(f"export_onnx: the model does not run on inputs of shape "
                              f"{[tuple(x.shape[1:]) for x in example]} per sample ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0][:300]})") from None
        names_out = list(output_names) if output_names is not None else (
            ["output"] if n_out_probe == 1 else [f"output_{i}" for i in range(n_out_probe)])
        if len(names_out) != n_out_probe:
            raise expected("export_onnx", "output_names", f"{n_out_probe} names", output_names)
        folder = os.path.dirname(os.path.abspath(path))
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"export_onnx: cannot create the folder of {path!r}: "
                              f"{exc.strerror or exc}") from None
        tmp = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.exporting.onnx")
        try:
            used, sizes, worst = _export_and_verify(
                exporter, wrapper, example, tmp, names_in, names_out, axes, opset,
                (shapes, dtype, rtol, atol) if verify else None)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    finally:
        model.train(was_training)
    logger.info("exported %s to %s (%s exporter, max |onnx - torch| %.3g)", type(model).__name__, path,
                used, worst)
    return OnnxExport(path, used, tuple(names_in), tuple(names_out), sizes, worst)


def _export_and_verify(exporter, wrapper, example, tmp, names_in, names_out, axes, opset, check):
    """Try the exporters in order; the first whose file loads and matches PyTorch wins."""
    order = {"auto": ("torchscript", "dynamo"), "dynamo": ("dynamo",),
             "torchscript": ("torchscript",)}[exporter]
    failures = []
    for i, name in enumerate(order):
        fn = _export_dynamo if name == "dynamo" else _export_torchscript
        try:
            fn(wrapper, example, tmp, names_in, names_out, axes, opset)
            if check is None:
                return name, (), math.nan
            shapes, dtype, rtol, atol = check
            sizes, worst = _verify(tmp, wrapper, shapes, dtype, names_in, axes, rtol, atol)
            return name, sizes, worst
        except ConfigError:
            raise
        except Exception as exc:  # the exporters raise many types (torch.export's UserError …)
            text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
            failures.append(f"{name}: {type(exc).__name__}: {text}")
            if i + 1 < len(order):
                logger.info("export_onnx: the %s exporter failed on %s (%s); trying %s", name,
                            type(wrapper.model).__name__, text, order[i + 1])
    raise ExportError(f"export_onnx: cannot export {type(wrapper.model).__name__}: " + "; ".join(failures))

"""Memory preflight: estimate what a second-order method will hold before it allocates.

A dense P×P matrix of a LeNet-5 (61,706 parameters) in float32 takes 15 GB; the
methods that keep one (Levenberg–Marquardt's JᵀJ, Newton's Hessian, the
quasi-Newton approximations) would be killed by the OOM killer, or fail in the
allocator, long after the user asked for them. Each of them calls
:func:`preflight` at construction, when P and the dtype are known, and a plan
that does not fit raises :class:`~neuralab.errors.ConfigError` with the estimate,
the parameter count and the methods that scale.

    >>> format_bytes(15.2e9)
    '15.2 GB'
    >>> preflight("QuasiNewton", 10, 8, [("inverse-Hessian approximation", 2)])
    1600
"""

from __future__ import annotations

import os
from typing import Iterable, Sequence

from ..errors import ConfigError

__all__ = ["available_memory", "format_bytes", "preflight", "resolve_limit", "SCALABLE",
           "MemoryPlanError"]


class MemoryPlanError(ConfigError):
    """The preflight's refusal: a plan that does not fit (``estimate`` and ``allowed``, in bytes).

    A :class:`~neuralab.errors.ConfigError`, so ``except ConfigError`` catches it;
    :func:`neuralab.optimizers.create` catches it to map a dense method to the
    one that fits.
    """

    def __init__(self, message: str, estimate: float, allowed: float, n_params: int):
        super().__init__(message)
        self.estimate, self.allowed, self.n_params = estimate, allowed, n_params

#: what to use instead when a dense P×P method does not fit (registered names)
SCALABLE = ("'lbfgs' (limited-memory quasi-Newton, torch.optim.LBFGS)",
            "'newton_cg' (matrix-free truncated Newton, O(P) memory)",
            "'cg' (conjugate gradient, O(P) memory)",
            "'hessian_diagonal' (diagonal Newton, O(P) memory)")

#: fraction of the memory available at construction a method may plan to use by
#: default: half, so that a run that fits leaves the machine usable
AVAILABLE_FRACTION = 0.5


def _read_int(path: str) -> int | None:
    try:
        with open(path) as fh:
            text = fh.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def available_memory() -> int | None:
    """Bytes of memory this process could still allocate (Linux), or None if unknown.

    The smaller of the kernel's ``MemAvailable`` and the room left under the
    cgroup limit (a container's ``memory.max``), when there is one.
    """
    candidates = []
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    candidates.append(int(line.split()[1]) * 1024)
                    break
    except OSError:
        pass
    if not candidates and hasattr(os, "sysconf"):
        try:
            candidates.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError):
            pass
    limit = _read_int("/sys/fs/cgroup/memory.max")
    used = _read_int("/sys/fs/cgroup/memory.current")
    if limit is not None and used is not None:
        candidates.append(max(0, limit - used))
    return min(candidates) if candidates else None


def format_bytes(n: float) -> str:
    """``1536`` → ``'1.5 kB'`` (decimal units, as memory is sold)."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"


def resolve_limit(memory_limit: float | None) -> tuple[float, str]:
    """``(bytes allowed, where the number comes from)`` for a ``memory_limit`` option."""
    if memory_limit is not None:
        return float(memory_limit), f"memory_limit={format_bytes(memory_limit)}"
    available = available_memory()
    if available is None:
        return float("inf"), "available memory unknown"
    return AVAILABLE_FRACTION * available, (
        f"{AVAILABLE_FRACTION:.0%} of the {format_bytes(available)} available")


def preflight(owner: str, n_params: int, itemsize: int,
              matrices: Sequence[tuple[str, int]], extra: Iterable[tuple[str, float]] = (),
              memory_limit: float | None = None,
              alternatives: Sequence[str] = SCALABLE, remedy: str | None = None) -> int:
    """Raise ConfigError when a plan's dense matrices would not fit; return its bytes.

    Args:
        owner: the optimizer named in the message.
        n_params: P, the number of trained parameters.
        itemsize: bytes per number (4 for float32).
        matrices: ``(what, count)`` of P×P matrices alive at the peak.
        extra: ``(what, bytes)`` of other buffers (Jacobian chunks, Hessian rows).
        memory_limit: bytes allowed; None = half of the memory available now.
        alternatives: what the message suggests instead.
        remedy: the message's advice in place of "use a method that scales instead: …".
    """
    dense = n_params * n_params * itemsize
    total = sum(count for _, count in matrices) * dense
    extra = list(extra)
    total += sum(b for _, b in extra)
    allowed, source = resolve_limit(memory_limit)
    if total > allowed:
        parts = [f"{count} × {n_params:,}×{n_params:,} {what}" for what, count in matrices]
        parts += [f"{what} {format_bytes(b)}" for what, b in extra]
        if remedy is None:
            remedy = f"Use a method that scales instead: {', '.join(alternatives)}"
        raise MemoryPlanError(
            f"{owner}: needs about {format_bytes(total)} for {n_params:,} parameters "
            f"({', '.join(parts)}; {itemsize} bytes per number), more than the "
            f"{format_bytes(allowed)} allowed ({source}). {remedy}; or pass a larger "
            "memory_limit.", total, allowed, n_params)
    return int(total)

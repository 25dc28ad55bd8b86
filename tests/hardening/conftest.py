"""Bounds for the hostile-input tests: a hang fails the test, a large allocation fails at once.

Neither is a timing assertion: the time limit is a minute (a hang, not slowness), and
the memory limit turns an allocation the loaders should never make into an error
instead of an out-of-memory kill.
"""

import contextlib
import resource
import signal

import pytest


@contextlib.contextmanager
def _no_hang(seconds: int = 60):
    def hung(signum, frame):
        raise TimeoutError(f"the call did not return within {seconds} s (a hang)")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _address_space() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize in /proc/self/status")


@contextlib.contextmanager
def _memory_cap(extra_bytes: int = 2 << 30):
    """Cap the address space at what the process maps now plus ``extra_bytes``."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = _address_space() + extra_bytes
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@pytest.fixture
def no_hang():
    """``with no_hang():`` fails with TimeoutError after a minute instead of hanging the suite."""
    return _no_hang


@pytest.fixture
def memory_cap():
    """``with memory_cap():`` makes allocations beyond 2 GB more than now fail at once."""
    return _memory_cap

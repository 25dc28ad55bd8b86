"""Suite-wide fixtures."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    """One intra-op thread per test.

    The suite's models are small: on a shared 2-core machine extra threads
    spin-wait and make tiny kernels up to 100x slower, and one thread keeps
    results reproducible. The previous setting is restored afterwards.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def pytest_configure(config):
    """Module- and session-scoped fixtures run outside ``_one_thread``: start single-threaded too."""
    torch.set_num_threads(1)

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread_float64():
    """Tiny problems: one thread avoids spin-wait on a shared machine; restore afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

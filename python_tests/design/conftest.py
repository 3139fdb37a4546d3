"""The design tests run torch on one thread: their cells are small (n <= 8), where a second
thread only adds synchronisation - and on a shared machine, OpenMP threads that wait for a busy
core cost several times the work itself."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

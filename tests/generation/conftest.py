"""Fixtures shared by the generation tests."""

import pytest
import torch


@pytest.fixture
def one_torch_thread():
    """Torch on one thread for the test, restored after: small nets only contend on more (2 CI cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

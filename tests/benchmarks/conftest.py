"""What the benchmark scripts' tests share."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture()
def restore_threads():
    """torch's thread count as before the test (the scripts set it, as their users want)."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)

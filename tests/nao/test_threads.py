"""``torch_threads`` sets torch's CPU thread count for one block and always puts it back."""

from __future__ import annotations

import pytest
import torch

from nao.threads import torch_threads


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_the_block_runs_with_the_count_asked_for_and_the_old_one_comes_back(two_threads):
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2


def test_none_leaves_the_count_as_it_is(two_threads):
    with torch_threads(None):
        assert torch.get_num_threads() == 2
    assert torch.get_num_threads() == 2


def test_the_count_comes_back_when_the_block_raises(two_threads):
    with pytest.raises(KeyError), torch_threads(1):
        raise KeyError("x")
    assert torch.get_num_threads() == 2

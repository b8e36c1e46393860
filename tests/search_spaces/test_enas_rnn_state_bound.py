"""The enas-rnn cell's state stays bounded: a cell of identity / ReLU nodes with large weights
would otherwise grow its state step after step until the loss is NaN (it did at lr 20)."""

from __future__ import annotations

import torch

import search_spaces.enas_rnn_net as net
from search_spaces import get_space
from search_spaces.enas_rnn_net import MAX_HIDDEN_NORM, EnasRnnCell


def test_every_steps_state_norm_is_capped_and_small_states_pass_unchanged(monkeypatch):
    space = get_space("enas-rnn:nodes=3")
    arch = space.from_string("identity | 1 relu | 2 identity")
    cell = EnasRnnCell(arch, 4, 6)
    with torch.no_grad():
        for p in cell.parameters():
            p.fill_(1.0)  # every step multiplies the state: unbounded without the cap
    x = torch.ones(30, 2, 4)
    out, last = cell(x, cell.init_hidden(2))
    norms = out.norm(dim=-1)
    assert torch.isfinite(out).all() and norms.max() <= MAX_HIDDEN_NORM * (1 + 1e-5)
    assert torch.allclose(norms[-1], torch.full((2,), MAX_HIDDEN_NORM))  # it did hit the cap
    torch.manual_seed(0)
    fresh = EnasRnnCell(arch, 4, 6)  # the usual small weights: the cap never applies
    x = torch.randn(30, 2, 4)
    capped, _ = fresh(x, fresh.init_hidden(2))
    monkeypatch.setattr(net, "bound_state", lambda state: state)
    assert torch.equal(capped, fresh(x, fresh.init_hidden(2))[0])

"""Children trained from scratch (pipelines/search/train_evaluator.py): every space with networks
builds and trains its children through the evaluator, at the size the space declares."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.search.train_evaluator import ChildTraining, DataSpec, TrainEvaluator
from search_spaces import Buildable, available, get_space

# small options where a family's default network is large
OPTIONS = {"enas-macro": "enas-macro:layers=3", "nas-rl": "nas-rl:layers=2"}
BUILDABLE = [family for family in available()
             if isinstance(get_space(OPTIONS.get(family, family)), Buildable)]


def test_the_bundled_spaces_with_networks_are_all_checked():
    assert {"enas-micro", "enas-macro", "nas-rl", "nao-cnn"} <= set(BUILDABLE)


@pytest.mark.parametrize("family", BUILDABLE)
def test_every_buildable_space_trains_a_child_at_its_declared_size(family, monkeypatch):
    space = get_space(OPTIONS.get(family, family))
    built = []
    real_build = type(space).build

    def recording(self, arch, channels, num_classes, layers, in_channels, **kwargs):
        built.append((channels, layers))
        return real_build(self, arch, channels, num_classes, layers, in_channels, **kwargs)

    monkeypatch.setattr(type(space), "build", recording)
    evaluator = TrainEvaluator(space, DataSpec("standin:1x8x8", train_size=64),
                               ChildTraining(epochs=1, batch_size=32))
    result = evaluator.evaluate(space.sample(np.random.default_rng(0)))
    assert built == [(space.child_channels, space.child_layers)]
    assert space.child_channels >= 1 and space.child_layers >= 1
    assert 0.0 <= result.valid <= 1.0 and 0.0 <= result.test <= 1.0
    assert result.info["params"] > 0


def test_a_spaces_own_child_size_is_what_its_children_get():
    space = get_space("nao-cnn:channels=6,layers=2")
    assert (space.child_channels, space.child_layers) == (6, 2)

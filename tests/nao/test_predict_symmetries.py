"""``NAO.predict`` averages the predictor over equivalent token sequences
(``predict_symmetries``): one network gets one prediction, whichever sequence names it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nao import NAO
from nao.errors import ConfigError

SMALL = {"epochs": 30, "patience": None, "embedding_size": 8, "hidden_size": 16,
         "mlp_hidden_size": 16, "max_symmetries": 2, "random_state": 0}


@pytest.fixture(scope="module")
def fitted(cora, cora_sample):
    archs, y = cora_sample
    # min-max targets: unscaling is linear, so the mean of predictions is the prediction of
    # the mean output and the two can be compared exactly
    return NAO(cora, target_transform="minmax", **SMALL).fit(archs[:30], y[:30])


def with_many_sequences(space, archs, at_least: int) -> list:
    out = [a for a in archs if len(space.symmetries(a)) >= at_least]
    assert len(out) >= 3, "the sample should hold architectures with several sequences"
    return out


def test_the_prediction_is_the_mean_over_the_first_k_sequences(cora, cora_sample, fitted):
    archs = with_many_sequences(cora, cora_sample[0], 3)
    fitted.set_params(predict_symmetries=1)
    own = [fitted.predict(cora.symmetries(a)[:3]) for a in archs]
    fitted.set_params(predict_symmetries=3)
    np.testing.assert_allclose(fitted.predict(archs), [p.mean() for p in own], rtol=1e-6)
    fitted.set_params(predict_symmetries=1)
    np.testing.assert_allclose(fitted.predict(archs), [p[0] for p in own], rtol=1e-6)


def test_equivalent_sequences_get_one_prediction_when_all_are_averaged(cora, cora_sample,
                                                                       fitted):
    archs = with_many_sequences(cora, cora_sample[0], 2)
    full = max(len(cora.symmetries(a)) for a in archs)
    for k, expect_equal in ((1, False), (full, True)):
        fitted.set_params(predict_symmetries=k)
        first = fitted.predict(archs)
        other = fitted.predict([cora.symmetries(a)[-1] for a in archs])
        assert np.allclose(first, other, rtol=1e-6) == expect_equal


def test_a_model_saved_before_the_option_existed_predicts_its_own_sequence(
        cora, cora_sample, fitted, tmp_path):
    path = tmp_path / "old.pt"
    fitted.set_params(predict_symmetries=4)
    fitted.save(path)
    blob = torch.load(path, weights_only=True)
    del blob["params"]["predict_symmetries"]
    torch.save(blob, path)
    loaded = NAO.load(path, cora)
    assert loaded.predict_symmetries == 1
    fitted.set_params(predict_symmetries=1)
    np.testing.assert_allclose(loaded.predict(cora_sample[0]), fitted.predict(cora_sample[0]),
                               rtol=1e-6)


@pytest.mark.parametrize("value", [0, 1.5, "4"])
def test_a_bad_value_is_named(cora, cora_sample, value):
    archs, y = cora_sample
    with pytest.raises(ConfigError, match=r"predict_symmetries must be .*, got "):
        NAO(cora, predict_symmetries=value, **SMALL).fit(archs[:4], y[:4])

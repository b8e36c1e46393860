"""``NAO.load`` reads a saved estimator as plain data: a crafted file runs no code, and any file
that ``NAO.save`` did not write is one :class:`DataError` line naming the file. The space is the
caller's: the file names the one it was saved for, and another is a :class:`ConfigError`."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest
import torch
from support import TouchOnLoad, write_generic_bad

from nao import NAO
from nao.errors import ConfigError, DataError
from search_spaces import get_space

TINY = {"epochs": 2, "embedding_size": 8, "hidden_size": 8, "mlp_hidden_size": 8,
        "max_symmetries": 1, "random_state": 0}


@pytest.fixture(scope="module")
def saved(cora, cora_sample, tmp_path_factory) -> pathlib.Path:
    archs, y = cora_sample
    path = tmp_path_factory.mktemp("model") / "nao.pt"
    NAO(cora, **TINY).fit(archs[:12], y[:12]).save(path)
    return path


def test_a_saved_model_loads_as_plain_data_and_predicts_the_same(saved, cora, cora_sample):
    archs, y = cora_sample
    blob = torch.load(saved, weights_only=True)  # nothing in it needs the unsafe unpickler
    assert blob["space"] == cora.name
    np.testing.assert_allclose(NAO.load(saved, cora).predict(archs),
                               NAO(cora, **TINY).fit(archs[:12], y[:12]).predict(archs),
                               rtol=1e-6)


def test_every_fitted_attribute_survives_save_and_load(saved, cora, cora_sample):
    archs, y = cora_sample
    fitted = NAO(cora, **TINY).fit(archs[:12], y[:12])
    loaded = NAO.load(saved, cora)
    learned = sorted(k for k in vars(fitted) if k.endswith("_") and not k.startswith("_"))
    assert learned == sorted(k for k in vars(loaded) if k.endswith("_") and not k.startswith("_"))
    assert {"model_", "y_sorted_", "train_keys_", "loss_curve_"} <= set(learned)
    # what the search relies on: the architectures already trained on, never proposed again
    assert loaded.train_keys_ == {cora.canonical(a) for a in archs[:12]} == fitted.train_keys_
    assert len(loaded.loss_curve_) == TINY["epochs"]
    np.testing.assert_allclose(loaded.loss_curve_, fitted.loss_curve_, rtol=1e-6)
    np.testing.assert_array_equal(loaded.y_sorted_, np.sort(y[:12]))
    weights, again = fitted.model_.state_dict(), loaded.model_.state_dict()
    assert weights.keys() == again.keys()
    for k in weights:
        torch.testing.assert_close(again[k].cpu(), weights[k].cpu())
    assert loaded.device_ == fitted.device_


def bad_file(path: pathlib.Path, kind: str, marker: pathlib.Path, saved: pathlib.Path) -> None:
    good = torch.load(saved, weights_only=True)
    if write_generic_bad(path, kind, marker, saved.read_bytes()):
        return
    if kind == "torch-code":  # all the keys of a model, and code in its parameters
        torch.save({**good, "params": {"x": TouchOnLoad(marker)}}, path)
    elif kind == "missing-keys":
        torch.save({k: v for k, v in good.items() if k != "state_dict"}, path)
    elif kind == "unknown-param":
        torch.save({**good, "params": {**good["params"], "bogus": 1}}, path)
    elif kind == "space-not-a-name":
        torch.save({**good, "space": 3}, path)
    elif kind == "wrong-weights":
        torch.save({**good, "state_dict": {"encoder.weight": torch.zeros(1)}}, path)
    elif kind == "missing-file":
        pass
    else:
        raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["torch-code", "pickle-code", "garbage", "empty", "truncated",
                                  "list", "tensor", "missing-keys", "unknown-param",
                                  "space-not-a-name", "wrong-weights", "missing-file"])
def test_load_refuses_anything_save_did_not_write_with_one_line(kind, tmp_path, saved, cora):
    marker = tmp_path / "MARKER"
    path = tmp_path / "model.pt"
    bad_file(path, kind, marker, saved)
    with pytest.raises(DataError) as info:
        NAO.load(path, cora)
    message = str(info.value)
    assert message.startswith(f"{path} is not a NAO model written by NAO.save (")
    assert "\n" not in message and len(message) < 400
    assert not marker.exists()


def test_load_names_the_code_a_crafted_file_asked_for(tmp_path, saved, cora):
    path = tmp_path / "model.pt"
    bad_file(path, "pickle-code", tmp_path / "MARKER", saved)
    with pytest.raises(DataError, match=r"refers to (posix|os)\.system, which is not plain data"):
        NAO.load(path, cora)


def test_a_model_loaded_over_another_space_is_one_line_naming_both(saved, cora):
    enas = get_space("enas-micro")
    with pytest.raises(ConfigError) as info:
        NAO.load(saved, enas)
    assert str(info.value) == (f"the NAO model in {saved} was saved for space {cora.name!r}, "
                               f"not 'enas-micro'; load it with "
                               f"search_spaces.get_space({cora.name!r})")
    blob = torch.load(saved, weights_only=True)
    with pytest.raises(ConfigError, match=r"^this NAO model was saved for space .*cora"):
        NAO.from_state_dict(blob, enas)


@pytest.mark.parametrize("space", [None, "nasbench-graph:cora"])
def test_load_needs_a_space_object_not_a_name(saved, space):
    with pytest.raises(ConfigError, match=r"needs the search space object it was saved for, "
                                          r"got (NoneType|str); pass search_spaces.get_space"):
        NAO.load(saved, space)

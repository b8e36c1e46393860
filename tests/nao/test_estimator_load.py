"""``NAO.load`` reads a saved estimator as plain data: a crafted file runs no code, and any file
that ``NAO.save`` did not write is one :class:`DataError` line naming the file. The space is the
caller's: the file names the one it was saved for, and another is a :class:`ConfigError`."""

from __future__ import annotations

import fnmatch
import pathlib
import pickle

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
    with pytest.raises(ConfigError, match=rf"needs the search space object it was saved for, "
                                          rf"got {type(space).__name__}; pass "
                                          r"search_spaces.get_space"):
        NAO.load(saved, space)


@pytest.mark.parametrize(("kind", "reason"), [
    ("garbage", "it holds more than tensors and plain data"),
    ("empty", "the file is empty or cut short"),
    ("list", "a list"),
    ("tensor", "a Tensor"),
    ("missing-keys", "no state_dict"),
    ("space-not-a-name", "its space is a int, not a name"),
    ("unknown-param", "TypeError: *__init__*() got an unexpected keyword argument 'bogus'"),
    ("wrong-weights", "RuntimeError: Error(s) in loading state_dict for NAOModel:"),
    ("missing-file", "No such file or directory"),
])
def test_load_says_why_a_file_is_not_a_model(kind, reason, tmp_path, saved, cora):
    path = tmp_path / "model.pt"
    bad_file(path, kind, tmp_path / "MARKER", saved)
    with pytest.raises(DataError) as info:
        NAO.load(path, cora)
    assert fnmatch.fnmatchcase(str(info.value), f"{path} is not a NAO model written by "
                               f"NAO.save ({reason}); pass a file that NAO.save wrote")


def test_load_names_every_missing_part_of_a_model(tmp_path, saved, cora):
    good = torch.load(saved, weights_only=True)
    path = tmp_path / "model.pt"
    torch.save({k: v for k, v in good.items() if k in ("space", "params", "loss_curve")}, path)
    with pytest.raises(DataError, match=r"\(no state_dict, y_sorted, train_keys\); pass"):
        NAO.load(path, cora)


def test_load_runs_no_code_even_when_the_environment_turns_torchs_safe_default_off(
        tmp_path, saved, cora, monkeypatch):
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    marker = tmp_path / "MARKER"
    path = tmp_path / "model.pt"
    bad_file(path, "pickle-code", marker, saved)
    with pytest.raises(DataError, match="nothing in it was run"):
        NAO.load(path, cora)
    assert not marker.exists()


def test_a_model_whose_tensors_were_saved_on_a_gpu_loads_on_the_cpu(tmp_path, saved, cora,
                                                                    cora_sample, monkeypatch):
    """Torch files name the device each tensor was saved from; the model is read onto the CPU
    whatever that was, so a file written on a GPU machine loads on one without."""
    import torch.serialization as serialization

    def cuda_tag(obj):
        return "cuda:0" if serialization._cpu_tag(obj) == "cpu" else None

    path = tmp_path / "gpu.pt"
    blob = torch.load(saved, weights_only=True)
    with monkeypatch.context() as patched:  # tag every storage as a CUDA one while saving
        patched.setattr(serialization, "_package_registry",
                        [(0, cuda_tag, serialization._cpu_deserialize),
                         *serialization._package_registry])
        torch.save(blob, path)
    assert b"cuda:0" in path.read_bytes()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    loaded = NAO.load(path, cora)
    np.testing.assert_allclose(loaded.predict(cora_sample[0]),
                               NAO.load(saved, cora).predict(cora_sample[0]))


def test_a_load_reason_is_the_first_line_of_the_error_cut_to_160_characters():
    from nao.estimator import LOAD_REASON_CHARS, one_line

    assert one_line(RuntimeError("  first line\nsecond line")) == "RuntimeError: first line"
    assert one_line(KeyError()) == "KeyError"  # no message: the type alone
    assert one_line(RuntimeError(" \n ")) == "RuntimeError"
    fits = RuntimeError("x" * (LOAD_REASON_CHARS - len("RuntimeError: ")))
    assert one_line(fits) == str(fits.__class__.__name__) + ": " + str(fits)
    assert len(one_line(fits)) == LOAD_REASON_CHARS == 160
    cut = one_line(RuntimeError("y" * 500))
    assert cut == ("RuntimeError: " + "y" * 500)[:157] + "..." and len(cut) == 160


def test_load_plain_says_why_a_torch_file_is_unreadable(tmp_path, monkeypatch):
    from nao.estimator import load_plain

    def reason(data: bytes) -> str:
        path = tmp_path / "file.pt"
        path.write_bytes(data)
        with pytest.raises(ValueError) as info:
            load_plain(path)
        return str(info.value)

    assert reason(b"PK\x03\x04" + bytes(200)) == "a damaged or cut-short torch file"
    assert reason(b"") == "the file is empty or cut short"
    assert reason(pickle.dumps(3, protocol=2)).startswith("not a torch file: RuntimeError: ")
    with pytest.raises(ValueError, match="^Is a directory$"):
        load_plain(tmp_path)

    def unreadable(*args, **kwargs):
        raise OSError()  # no errno and no message: the type names it

    monkeypatch.setattr(torch, "load", unreadable)
    with pytest.raises(ValueError, match="^OSError$"):
        load_plain(tmp_path / "file.pt")


def test_a_space_whose_keys_do_not_compare_saves_and_loads(cora, cora_sample):
    """``canonical`` may return any hashable key; keys of mixed types (no order between them)
    still save, and come back as the same set."""
    import copy

    archs, y = cora_sample
    mixed = copy.copy(cora)

    def canonical(arch):
        key = cora.canonical(arch)
        return str(key) if key % 2 else key

    mixed.canonical = canonical
    est = NAO(mixed, **TINY).fit(archs[:12], y[:12])
    keys = {canonical(a) for a in archs[:12]}
    assert {type(k) for k in keys} == {int, str}
    assert NAO.from_state_dict(est.state_dict(), mixed).train_keys_ == keys == est.train_keys_


def test_pretraining_architectures_are_saved_only_for_a_model_that_replays_them(cora,
                                                                                cora_sample):
    archs, y = cora_sample
    for replay in (0, 4):
        est = NAO(cora, replay=replay, **TINY).pretrain(archs[12:20], 1).fit(archs[:12], y[:12])
        assert ("replay_tokens" in est.state_dict()) == bool(replay)

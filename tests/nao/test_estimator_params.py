"""NAO's parameters are checked for type and range (``NAO._validate_params``, also run by
``fit``) with the shared checks of :mod:`nao.validation`, before any training."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

from nao.errors import ConfigError
from nao.estimator import NAO
from nao.validation import check_bool, check_choice, check_float, check_int, check_options

BAD_PARAMS = [
    ("embedding_size", 0), ("hidden_size", 1.5), ("hidden_size", 10**6), ("mlp_hidden_size", "8"),
    ("encoder_layers", 0), ("decoder_layers", True), ("mlp_layers", -1), ("dropout", 1.0),
    ("dropout", -0.1), ("trade_off", 1.5), ("epochs", -1), ("epochs", 0), ("epochs", "abc"),
    ("batch_size", 0), ("lr", 0.0), ("lr", float("nan")), ("weight_decay", -1e-4),
    ("grad_clip", 0), ("max_symmetries", 0), ("patience", 0), ("tol", float("inf")),
    ("step_size", 0), ("max_step_size", 0.5), ("max_step_size", 1e9), ("warm_start", "maybe"),
    ("warm_patience", 2.5), ("target_transform", "log"), ("num_threads", 10**6),
    ("device", "tpu"), ("random_state", -1), ("random_state", "abc"), ("replay", -1),
    ("replay", 10**6),
]


@pytest.mark.parametrize("param, value", BAD_PARAMS)
def test_each_bad_parameter_is_named_before_any_training(cora, cora_sample, monkeypatch, param,
                                                         value):
    monkeypatch.setattr(NAO, "_train", lambda *a, **k: pytest.fail("training started"))
    archs, scores = cora_sample
    with pytest.raises(ConfigError, match=rf"^NAO: {param} must be .*, got "):
        NAO(cora, **{param: value}).fit(archs, scores)


def test_a_parameter_set_after_construction_is_checked_by_fit(cora, cora_sample):
    # scikit-learn style: parameters may change between __init__ and fit
    est = NAO(cora)
    est.epochs = "abc"
    with pytest.raises(ConfigError, match="epochs must be a whole number >= 1, got 'abc'"):
        est.fit(*cora_sample)


def test_the_caller_names_the_parameters():
    with pytest.raises(ConfigError, match=r"^nao strategy: nao_params\.epochs must be"):
        NAO(None, epochs=-1)._validate_params("nao strategy", prefix="nao_params.")


def test_defaults_and_the_strategy_presets_are_valid():
    from pipelines.strategies.nao_strategy import DEFAULT_NAO_PARAMS, PRESETS

    NAO(None)._validate_params()
    NAO(None, **DEFAULT_NAO_PARAMS)._validate_params()
    NAO(None, **PRESETS["paper"]["nao_params"])._validate_params()


def test_numpy_numbers_and_optional_nulls_are_accepted():
    est = NAO(None, epochs=np.int64(3), lr=np.float32(0.01), patience=None, warm_patience=None,
              num_threads=None, random_state=np.int64(5), dropout=0)
    est._validate_params()


def test_a_small_fit_with_valid_edge_values_trains(cora, cora_sample):
    archs, scores = cora_sample
    est = NAO(cora, epochs=1, batch_size=1, mlp_layers=0, dropout=0, trade_off=1,
              max_symmetries=1, hidden_size=8, embedding_size=4, mlp_hidden_size=4,
              random_state=0).fit(archs[:4], scores[:4])
    assert len(est.loss_curve_) == 1


def test_a_width_above_1024_is_refused_saying_why_and_1024_is_accepted():
    for param in ("embedding_size", "hidden_size", "mlp_hidden_size"):
        with pytest.raises(ConfigError, match=rf"^NAO: {param} must be a whole number >= 1 and "
                                              r"<= 1024, got 4096; the paper's layers are 48 "
                                              r"to 200 units wide"):
            NAO(None, **{param: 4096})._validate_params()
        NAO(None, **{param: 1024})._validate_params()


def test_more_threads_than_cpus_train_with_as_many_threads_as_there_are_cpus(
        cora, cora_sample, monkeypatch):
    import nao.estimator as estimator
    import nao.threads

    monkeypatch.setattr(estimator, "available_cpus", lambda: 2)
    asked: list = []

    def recording(n):  # what torch_threads does with n is tests/nao/test_threads.py's part
        asked.append(n)
        return contextlib.nullcontext()

    monkeypatch.setattr(nao.threads, "torch_threads", recording)
    archs, scores = cora_sample
    for threads in (8, 2, 1, None):
        NAO(cora, num_threads=threads, epochs=1, random_state=0).fit(archs[:4], scores[:4])
    NAO(cora, num_threads=256, random_state=0).pretrain(archs[:4], epochs=1)
    assert asked == [2, 2, 1, None, 2]


def test_slow_settings_name_threads_beyond_the_cpus_and_layers_wider_than_256(monkeypatch):
    import nao.estimator as estimator

    monkeypatch.setattr(estimator, "available_cpus", lambda: 2)
    assert NAO(None).slow_settings() == []
    assert NAO(None, num_threads=2, hidden_size=256, embedding_size=256,
               mlp_hidden_size=256).slow_settings() == []
    threads, = NAO(None, num_threads=3).slow_settings("nao_params.")
    assert threads.startswith("nao_params.num_threads=3 is more than the 2 CPU(s)")
    assert "NAO trains with 2" in threads
    wide, = NAO(None, hidden_size=257, mlp_hidden_size=1024).slow_settings()
    assert wide.startswith("hidden_size=257 and mlp_hidden_size=1024: layers wider than 256")
    assert "60 times as long" in wide
    assert NAO(None, hidden_size=1024, device="cuda").slow_settings() == []  # not on a CPU


# ----- scikit-learn's get_params / set_params -----------------------------------------------------
def test_get_params_gives_every_constructor_argument_so_they_rebuild_the_estimator(cora):
    est = NAO(cora, epochs=7, lr=0.01, patience=None)
    params = est.get_params()
    assert params["space"] is cora and params["epochs"] == 7 and params["patience"] is None
    assert NAO(**params).get_params() == params
    assert list(params) == ["space", *NAO._PARAMS]
    assert "random_state" in NAO._PARAMS and "space" not in NAO._PARAMS


def test_set_params_changes_named_parameters_and_refuses_unknown_ones(cora):
    est = NAO(cora)
    assert est.set_params(epochs=3, rank_loss="logistic") is est
    assert (est.epochs, est.rank_loss) == (3, "logistic")
    with pytest.raises(ConfigError, match=r"^NAO has no parameter 'epoch'; use one of space, "
                                          r"embedding_size, "):
        est.set_params(epochs=4, epoch=5)
    assert est.epochs == 3  # nothing changed


def test_a_saved_model_holds_every_hyperparameter_but_not_the_space(cora, cora_sample):
    archs, y = cora_sample
    est = NAO(cora, epochs=1, embedding_size=4, hidden_size=4, mlp_hidden_size=4,
              max_symmetries=1, random_state=0).fit(archs[:4], y[:4])
    params = est.state_dict()["params"]
    assert params == {k: v for k, v in est.get_params().items() if k != "space"}


# ----- the shared checks -----------------------------------------------------------------------
@pytest.mark.parametrize("value", [True, 1.5, 3.0, "3", None, [3]])
def test_a_whole_number_must_be_an_integer(value):
    with pytest.raises(ConfigError, match="x must be a whole number"):
        check_int("o", "x", value)


def test_a_whole_number_in_range_is_returned_as_int():
    assert check_int("o", "x", np.int32(4), 1, 4) == 4 and type(check_int("o", "x", 4)) is int
    assert check_int("o", "x", None, 1, optional=True) is None
    with pytest.raises(ConfigError, match=r"x must be a whole number >= 1 and <= 4, got 5"):
        check_int("o", "x", 5, 1, 4)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), 10**400, "1",
                                   False, 0.0, 2.0])
def test_a_real_number_must_be_finite_and_in_range(value):
    with pytest.raises(ConfigError, match=r"^o: x must be a finite number > 0 and < 2, got "):
        check_float("o", "x", value, 0, 2, low_open=True, high_open=True)


def test_a_real_number_may_be_an_integer_and_comes_back_as_float():
    assert check_float("o", "x", 1, 0, 1) == 1.0 and type(check_float("o", "x", 1)) is float


@pytest.mark.parametrize("value", ["true", 1, 0, None, "maybe"])
def test_a_flag_must_be_true_or_false(value):
    with pytest.raises(ConfigError, match="x must be true or false"):
        check_bool("o", "x", value)


def test_a_choice_and_a_group_name_what_they_accept():
    assert check_choice("o", "x", "b", ("a", "b")) == "b"
    with pytest.raises(ConfigError, match="x must be one of a, b, got 'c'"):
        check_choice("o", "x", "c", ("a", "b"))
    with pytest.raises(ConfigError, match="g has no option zz; it takes a, b"):
        check_options("o", "g", {"a": 1, "zz": 2}, ("a", "b"))
    with pytest.raises(ConfigError, match="g must be a group of options"):
        check_options("o", "g", [1], ("a",))


def test_a_message_is_one_short_line_whatever_the_value():
    with pytest.raises(ConfigError) as err:
        check_int("o", "x", "line one\nline two" + "z" * 500)
    assert "\n" not in str(err.value) and len(str(err.value)) < 120


def test_keyword_parameters_are_the_keyword_only_ones_in_signature_order():
    from nao.estimator import keyword_parameters

    def init(self, space, *, b=1, a=2, **rest):
        pass

    assert keyword_parameters(init) == ("b", "a")
    assert keyword_parameters(NAO.__init__) == NAO._PARAMS
    assert NAO._PARAMS[:2] == ("embedding_size", "hidden_size")


def test_available_cpus_counts_all_cpus_where_the_system_has_no_affinity(monkeypatch):
    import os

    from nao.estimator import available_cpus

    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert available_cpus() == 6
    monkeypatch.setattr(os, "cpu_count", lambda: None)  # unknown: one
    assert available_cpus() == 1


def test_the_defaults_are_the_documented_ones():
    """The module docstring's defaults: the paper's training settings, smaller layers, rank
    targets, four symmetric copies, one thread on the CPU."""
    assert NAO(None).get_params() == {
        "space": None, "embedding_size": 32, "hidden_size": 64, "encoder_layers": 1,
        "decoder_layers": 1, "mlp_layers": 3, "mlp_hidden_size": 100, "dropout": 0.1,
        "trade_off": 0.8, "epochs": 1000, "batch_size": 100, "lr": 1e-3, "weight_decay": 1e-4,
        "grad_clip": 5.0, "max_symmetries": 4, "predict_symmetries": 4, "patience": 100,
        "tol": 1e-4, "step_size": 1.0, "max_step_size": 100.0, "warm_start": False,
        "warm_patience": None, "target_transform": "rank", "rank_loss_weight": 0.0,
        "rank_loss": "hinge", "replay": 0, "num_threads": 1, "device": "cpu",
        "random_state": None,
    }


EDGES = {  # parameter: (values accepted at the edges of its range, values just outside it)
    "embedding_size": ([1, 1024], [0, 1025]), "hidden_size": ([1, 1024], [0, 1025]),
    "mlp_hidden_size": ([1, 1024], [0, 1025]), "encoder_layers": ([1, 16], [0, 17]),
    "decoder_layers": ([1, 16], [0, 17]), "mlp_layers": ([0, 16], [-1, 17]),
    "dropout": ([0, 0.99], [-0.01, 1]), "trade_off": ([0, 1], [-0.01, 1.01]),
    "epochs": ([1], [0]), "batch_size": ([1], [0]), "max_symmetries": ([1], [0]),
    "predict_symmetries": ([1], [0]), "patience": ([1, None], [0]),
    "warm_patience": ([1, None], [0]), "lr": ([1e-9, 1], [0, 1.01]),
    "weight_decay": ([0, 1], [-0.01, 1.01]), "grad_clip": ([1e-9, 1e9], [0]),
    "tol": ([0, 1e9], [-1e-9]), "rank_loss_weight": ([0, 1e9], [-1e-9]),
    "warm_start": ([True, False], [1]), "target_transform": (["minmax", "rank"], ["Rank"]),
    "rank_loss": (["hinge", "logistic"], ["Hinge"]), "replay": ([0, 10_000], [-1, 10_001]),
    "num_threads": ([1, 256, None], [0, 257]), "device": (["auto", "cpu", "cuda"], ["CPU"]),
    "random_state": ([0, None], [-1]),
}


@pytest.mark.parametrize("param", sorted(EDGES))
def test_each_parameter_takes_its_whole_range_and_nothing_beyond(param):
    accepted, refused = EDGES[param]
    for value in accepted:
        NAO(None, **{param: value})._validate_params()
    for value in refused:
        with pytest.raises(ConfigError, match=rf"^o: p\.{param} must be .*, got "):
            NAO(None, **{param: value})._validate_params("o", prefix="p.")


def test_max_step_size_lies_between_one_step_and_the_most_steps_propose_takes():
    for step, accepted, refused in ((1.0, [1.0, 10_000.0], [0.99, 10_000.01]),
                                    (0.5, [0.5, 5_000.0], [0.49, 5_000.01])):
        for value in accepted:
            NAO(None, step_size=step, max_step_size=value)._validate_params()
        for value in refused:
            with pytest.raises(ConfigError, match=r"^NAO: max_step_size must be"):
                NAO(None, step_size=step, max_step_size=value)._validate_params()
    with pytest.raises(ConfigError, match=r"^NAO: step_size must be a finite number > 0"):
        NAO(None, step_size=0.0)._validate_params()


def test_device_auto_picks_cuda_when_present_else_the_cpu():
    import torch

    from nao.estimator import resolve_device

    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")


def test_device_cuda_is_refused_without_a_visible_gpu_and_taken_with_one(monkeypatch):
    import torch

    from nao.estimator import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match=r"^--device cuda was asked for but no CUDA device is "
                                          r"visible; use auto$"):
        resolve_device("cuda")
    with pytest.raises(ConfigError, match=r"^unknown device 'tpu'; use auto, cpu or cuda$"):
        resolve_device("tpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("cuda") == resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cpu") == torch.device("cpu")

"""Weight-sharing search: every controller end to end, exact resume, scoring that never changes
the supernet, NAO fitted on re-told scores, and the ``nao ws`` command line."""

from __future__ import annotations

import json
from functools import partial

import pytest
import torch
from support import assert_one_line_error, killed_and_resumed, make_fake_fashion, run_cli

from nao.errors import ConfigError
from pipelines.cli import main
from pipelines.oneshot.supernet_evaluator import SupernetEvaluator
from pipelines.oneshot.weight_sharing import CONTROLLERS, WeightSharingSearch
from pipelines.strategies import make_strategy
from pipelines.training.data import load_data
from search_spaces import get_space

DATA = "standin:1x8x8"
TINY = {"epochs": 2, "channels": 4, "layers": 1, "batch_size": 50, "pool_size": 4,
        "eval_batches": 1, "final_candidates": 2, "device": "cpu", "progress": False}
NAO_FAST = {"nao_params": {"epochs": 5, "hidden_size": 16, "embedding_size": 8,
                           "mlp_hidden_size": 16}}
CLI_TINY = ["--data", DATA, "--epochs", "2", "--channels", "4", "--layers", "1",
            "--batch-size", "50", "--pool-size", "4", "--device", "cpu", "--threads", "1",
            "--quiet", "--json"]


@pytest.fixture(scope="module")
def space():
    return get_space("enas-micro")


@pytest.fixture(scope="module")
def data():
    return load_data(DATA, seed=0)


def search(space, controller, **kwargs) -> WeightSharingSearch:
    options = NAO_FAST if controller == "nao" else None
    return WeightSharingSearch(space, controller, controller_options=options,
                               **{**TINY, **kwargs})


@pytest.mark.parametrize("controller", CONTROLLERS)
def test_each_controller_runs_end_to_end_and_picks_a_valid_architecture(space, data, controller,
                                                                         tmp_path):
    s = search(space, controller, out_dir=tmp_path).fit(data)
    result = s.result(data)
    arch = space.from_string(result["best"]["arch"])  # a valid, parseable architecture
    assert space.to_string(arch) == result["best"]["arch"]
    assert 0.0 <= result["best"]["valid"] <= 1.0
    assert [h["epoch"] for h in result["history"]] == [1, 2]
    assert result["best"]["valid"] == max(c["valid"] for c in result["candidates"])
    lines = (tmp_path / "log.csv").read_text().splitlines()
    assert lines[0].startswith("epoch,lr,train_loss,train_acc,valid_mean,valid_best")
    assert len(lines) == 3 and len((tmp_path / "log.jsonl").read_text().splitlines()) == 2
    assert (tmp_path / "checkpoint.pt").exists()


def test_a_seed_fixes_the_search(space, data):
    a = search(space, "random", random_state=5).fit(data).result(data)
    b = search(space, "random", random_state=5).fit(data).result(data)
    assert a["best"] == b["best"]
    assert [h["train_loss"] for h in a["history"]] == [h["train_loss"] for h in b["history"]]


@pytest.mark.parametrize("controller", ["nao", "rl"])
def test_resume_after_a_kill_gives_the_uninterrupted_result(space, data, controller, tmp_path,
                                                            monkeypatch):
    whole, resumed = killed_and_resumed(partial(search, space, controller), data, tmp_path,
                                        monkeypatch)
    whole, out = whole.result(data), resumed.result(data)
    assert out["best"] == whole["best"]
    assert [h["train_loss"] for h in out["history"]] == [h["train_loss"] for h in whole["history"]]


def test_run_directory_rules(space, data, tmp_path):
    search(space, "random", epochs=1, out_dir=tmp_path).fit(data)
    with pytest.raises(ConfigError, match="--resume"):
        search(space, "random", epochs=1, out_dir=tmp_path).fit(data)
    with pytest.raises(ConfigError, match="different epochs"):
        search(space, "random", epochs=2, out_dir=tmp_path, resume=True).fit(data)
    with pytest.raises(ConfigError, match="no checkpoint"):
        search(space, "random", out_dir=tmp_path / "new", resume=True).fit(data)
    with pytest.raises(ConfigError, match="needs --out"):
        search(space, "random", resume=True).fit(data)
    done = search(space, "random", epochs=1, out_dir=tmp_path, resume=True).fit(data)
    assert len(done.history_) == 1  # a finished run resumes straight to its pick


@pytest.mark.parametrize("kwargs, message", [
    ({"controller": "bogus"}, "unknown controller"),
    ({"controller": "rl", "keep": 1}, "on-policy"),
    ({"pool_size": 1}, "pool_size"),
    ({"keep": 4}, "keep"),
    ({"epochs": 0}, "epochs"),
    ({"batch_size": 10_000}, "batch size"),
    ({"stem_stride": 3}, "stem_stride"),
])
def test_bad_options_are_config_errors(space, data, kwargs, message):
    controller = kwargs.pop("controller", "random")
    with pytest.raises(ConfigError, match=message):
        search(space, controller, **kwargs).fit(data)


def test_scoring_uses_one_set_of_batches_per_call_and_leaves_the_supernet_unchanged(space, data):
    torch.manual_seed(0)
    supernet = space.build_supernet(4, data.num_classes, 1, data.in_channels)
    supernet.eval()
    before = {k: v.clone() for k, v in supernet.state_dict().items()}
    evaluator = SupernetEvaluator(supernet, data, batch_size=32, n_batches=2,
                                  generator=torch.Generator().manual_seed(0))
    arch = space.sample(__import__("numpy").random.default_rng(0))
    first, again = evaluator.evaluate_many([arch, arch])
    assert first.valid == again.valid  # same batches within a call
    assert first.info["images"] == 64 and 0 <= first.valid <= 1
    after = supernet.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # running stats untouched
    assert not supernet.training  # mode restored
    full = SupernetEvaluator(supernet, data, batch_size=64, n_batches=None)
    assert full.evaluate(arch).info["images"] == len(data.valid)


def test_nao_fit_on_latest_uses_only_the_last_told_pool(space):
    import numpy as np

    rng = np.random.default_rng(0)
    pool = [space.sample(rng) for _ in range(4)]
    strategy = make_strategy("nao", space, random_state=0, n_init=4, round_size=2, top_k=2,
                             fit_on="latest", pretrain_archs=20, pretrain_epochs=2, **NAO_FAST)
    strategy.tell(pool, [0.1, 0.2, 0.3, 0.4])
    strategy.tell(pool[:3], [0.9, 0.8, 0.7])  # re-told with fresh scores
    archs, scores = strategy._training_set()
    assert archs == pool[:3] and scores == [0.9, 0.8, 0.7]
    assert len(strategy.archs) == 7  # the history keeps everything
    proposals = strategy.ask(2)
    assert len(proposals) == 2
    state = strategy.state_dict()
    copy = make_strategy("nao", space, random_state=0, fit_on="latest")
    copy.load_state_dict(state)
    assert copy._training_set() == (archs, scores)
    default = make_strategy("nao", space, random_state=0)
    default.tell(pool, [0.1, 0.2, 0.3, 0.4])
    default.tell(pool[:1], [0.5])
    assert len(default._training_set()[0]) == 5  # "all": the old behaviour
    with pytest.raises(ConfigError, match="fit_on"):
        make_strategy("nao", space, fit_on="newest")


# ----- command line --------------------------------------------------------------------------
@pytest.mark.parametrize("controller", CONTROLLERS)
def test_cli_ws_prints_the_json_keys(controller, capsys, tmp_path):
    extra = ["--set", "nao_params.epochs=5"] if controller == "nao" else []
    code = main(["ws", "--space", "enas-micro", "--controller", controller, "--seed", "2",
                 "--out", str(tmp_path), *CLI_TINY, *extra])
    captured = capsys.readouterr()
    assert code == 0 and captured.err == ""  # --quiet: no progress
    out = json.loads(captured.out)
    assert {"best", "history", "wall_s", "controller", "data", "epochs"} <= set(out)
    assert out["controller"] == controller and out["seed"] == 2 and out["device"] == "cpu"
    assert out["channels"] == 4 and out["layers"] == 1 and out["batch_size"] == 50
    assert out["pool_size"] == 4 and len(out["history"]) == 2
    assert [h["controller_step"] for h in out["history"]] == [True, True]  # 2 epochs, 5 rounds
    assert main(["ws", "--controller", controller, "--out", str(tmp_path), "--resume",
                 "--seed", "2", *CLI_TINY, *extra]) == 0
    assert json.loads(capsys.readouterr().out)["best"] == out["best"]


def test_cli_ws_progress_goes_to_stderr_and_summary_to_stdout(capsys):
    assert main(["ws", "--controller", "random", *[a for a in CLI_TINY
                                                   if a not in ("--quiet", "--json")]]) == 0
    captured = capsys.readouterr()
    assert "ws random" in captured.err
    assert captured.out.startswith("space     enas-micro") and "valid" in captured.out


def test_cli_ws_train_size_subsamples_the_training_split(capsys):
    assert main(["ws", "--controller", "random", *CLI_TINY, "--epochs", "1",
                 "--train-size", "120", "--batch-size", "30"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["data"]["train"] == 120 and out["data"]["valid"] == 200


def test_cli_ws_stem_stride_reaches_the_supernet_and_the_resume_check(capsys, tmp_path):
    args = ["ws", "--controller", "random", *CLI_TINY, "--epochs", "1", "--out", str(tmp_path)]
    assert main([*args, "--stem-stride", "2"]) == 0
    assert json.loads(capsys.readouterr().out)["stem_stride"] == 2
    assert main_exit([*args, "--resume"]) == 2  # the checkpoint was made with stride 2
    assert "stem_stride" in capsys.readouterr().err


def test_cli_ws_controller_every_spaces_the_rounds(capsys):
    assert main(["ws", "--controller", "random", *CLI_TINY, "--epochs", "3",
                 "--controller-every", "2"]) == 0
    history = json.loads(capsys.readouterr().out)["history"]
    assert [h["controller_step"] for h in history] == [False, True, True]  # and the last epoch


def test_cli_ws_reads_data_dir(capsys, tmp_path):
    make_fake_fashion(tmp_path)
    code = main(["ws", "--controller", "random", *CLI_TINY, "--data", "fashion-mnist",
                 "--data-dir", str(tmp_path), "--batch-size", "8", "--epochs", "1"])
    assert code == 0
    assert json.loads(capsys.readouterr().out)["data"]["name"] == "fashion-mnist"


@pytest.mark.parametrize("argv, message", [
    (["--controller", "evolution"], "invalid choice"),
    (["--epochs", "0"], "at least 1"),
    (["--device", "tpu"], "invalid choice"),
    (["--resume"], "needs --out"),
    (["--data", "imagenet"], "unknown data set"),
    (["--data", "fashion-mnist", "--data-dir", "/nonexistent"], "dataset-fashion-mnist"),
    (["--data", "cifar10", "--data-dir", "/nonexistent"], "--download"),
    (["--space", "nasbench-graph:cora"], "has no supernet, which nao ws needs"),
    (["--set", "nonsense=1"], "no option"),
    (["--batch-size", "5000"], "batch size"),
    (["--threads", "0"], "at least 1"),
    (["--pool-size", "1"], "pool_size"),
    (["--controller-every", "0"], "at least 1"),
    (["--train-size", "0"], "at least 1"),
])
def test_cli_ws_bad_input_exits_2_with_one_line(argv, message, capsys):
    code = main_exit(["ws", *CLI_TINY, *argv])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and err.count("\n") == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_cli_ws_device_cuda_without_a_gpu_exits_2(capsys):
    assert main_exit(["ws", *CLI_TINY, "--device", "cuda"]) == 2
    assert "no CUDA device" in capsys.readouterr().err


def test_cli_ws_download_flag_reaches_torchvision(monkeypatch, capsys, tmp_path):
    seen = []

    class FakeCIFAR:
        classes = list(range(10))

        def __init__(self, root, train, download):
            import numpy as np

            seen.append(download)
            n = 200 if train else 20
            self.data = np.zeros((n, 8, 8, 3), dtype=np.uint8)
            self.targets = list(np.arange(n) % 10)

    import torchvision.datasets

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", FakeCIFAR)
    code = main(["ws", "--controller", "random", *CLI_TINY, "--data", "cifar10", "--data-dir",
                 str(tmp_path), "--download", "--epochs", "1"])
    assert code == 0 and seen == [True, True]


def main_exit(argv) -> int:
    """``main`` returns 2 on a NaoError; argparse errors exit 2 via SystemExit."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code)


@pytest.mark.parametrize(("space", "scratch"), [("nao-cnn", True), ("nas-rl:layers=2", True),
                                                ("nasbench-graph:cora", False)])
def test_ws_refuses_a_space_without_a_supernet_before_loading_data(capsys, monkeypatch, space,
                                                                   scratch):
    import pipelines.training.data as data_module

    monkeypatch.setattr(data_module, "load_data",
                        lambda *a, **k: pytest.fail("data loaded before the space was checked"))
    code, _out, err = run_cli(capsys, "ws", "--space", space, "--epochs", "1")
    line = assert_one_line_error(code, err, "has no supernet", "enas-micro", "enas-macro",
                                 command="ws")
    assert ("nao search --space" in line) == scratch
    assert "nao-cnn," not in line and "nas-rl" not in line.split("use one of:")[1]


def test_each_epochs_log_names_the_pools_best_member_and_its_score(space, data, monkeypatch):
    """The row's ``best_arch`` / ``valid_best`` are the highest-scored member of the pool the
    epoch trained (scores made distinct and known here), ``valid_mean`` their mean."""
    from pipelines.search.evaluators import Evaluation

    def known(arch) -> float:
        return (sum(map(ord, space.to_string(arch))) % 997) / 997

    scored: list[list] = []

    def evaluate_many(self, archs):
        scored.append(list(archs))
        return [Evaluation(valid=known(a)) for a in archs]

    monkeypatch.setattr(SupernetEvaluator, "evaluate_many", evaluate_many)
    s = search(space, "random", epochs=1, pool_size=5).fit(data)
    pool = scored[0]  # the first call scores the trained pool
    row = s.history_[0]
    best = max(pool, key=known)
    assert row["best_arch"] == space.to_string(best) and row["valid_best"] == known(best)
    assert row["valid_mean"] == pytest.approx(sum(map(known, pool)) / len(pool))
    assert len({known(a) for a in pool}) == len(pool)  # no tie decides it

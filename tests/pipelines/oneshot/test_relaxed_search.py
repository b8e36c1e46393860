"""The relaxed controllers of ``nao ws`` (darts, snas, sf, relax, ram) on a tiny supernet: end to
end with the pool controllers' JSON keys, what each epoch records and steps on, exact resume and
the settings it must match, DARTS's second-order step, valid derived architectures, and one-line
errors for bad options."""

from __future__ import annotations

import json
from functools import partial

import numpy as np
import pytest
import torch
from support import killed_and_resumed, untimed

from nao.errors import ConfigError
from pipelines.cli import main
from pipelines.oneshot.arch_params import ArchParams
from pipelines.oneshot.relaxed_search import (
    RELAXED_CONTROLLERS,
    RelaxedSearch,
    SupernetObjective,
    estimator_options,
    split_options,
)
from pipelines.training.data import load_data
from pipelines.training.runtime import Runtime
from pipelines.training.task import ImageClassification
from search_spaces import Buildable, get_space
from search_spaces.enas_macro import EnasMacroSpace
from search_spaces.enas_micro_relaxation import MicroRelaxation

DATA = "standin:1x8x8"
TINY = {"epochs": 2, "channels": 4, "layers": 1, "batch_size": 50, "eval_batches": 1,
        "device": "cpu", "threads": 1, "progress": False}


@pytest.fixture(scope="module")
def space():
    return get_space("enas-micro")


@pytest.fixture(scope="module")
def data():
    return load_data(DATA, seed=0, train_size=50)


def search(space, controller, **kwargs) -> RelaxedSearch:
    return RelaxedSearch(space, controller, **{**TINY, **kwargs})


@pytest.mark.parametrize("controller", RELAXED_CONTROLLERS)
def test_each_relaxed_controller_runs_end_to_end_and_logs_entropy_and_accuracy(
        space, data, controller, tmp_path):
    s = search(space, controller, out_dir=tmp_path).fit(data)
    out = s.result(data)
    assert space.to_string(space.from_string(out["best"]["arch"])) == out["best"]["arch"]
    assert {"space", "controller", "data", "seed", "epochs", "channels", "pool_size", "device",
            "best", "candidates", "history", "wall_s", "out"} <= set(out)  # nao ws's keys
    assert [h["epoch"] for h in out["history"]] == [1, 2]
    rows = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert len(rows) == 2
    uniform = ArchParams(space).entropy().item()
    for row in rows:
        assert 0 < row["entropy"] <= uniform + 1e-4
        assert 0 <= row["valid_derived"] <= 1 and 0 <= row["valid_sampled"] <= 1
    assert rows[-1]["entropy"] < uniform  # alpha moved
    assert out["entropy"] == pytest.approx(rows[-1]["entropy"])


@pytest.mark.parametrize("controller", ["darts", "relax", "sf"])
def test_resume_after_a_kill_gives_the_same_alpha_and_pick(space, data, controller, tmp_path,
                                                           monkeypatch):
    whole, resumed = killed_and_resumed(partial(search, space, controller), data, tmp_path,
                                        monkeypatch)
    assert torch.equal(resumed.params_.alpha, whole.params_.alpha)
    assert resumed.result(data)["best"] == whole.result(data)["best"]
    # every logged figure but the timings, the scores of the samples drawn for the log included
    assert untimed(resumed.history_) == untimed(whole.history_)


def test_a_seed_fixes_the_search_and_another_seed_changes_it(space, data):
    a = search(space, "sf", random_state=3).fit(data)
    b = search(space, "sf", random_state=3).fit(data)
    c = search(space, "sf", random_state=4).fit(data)
    assert torch.equal(a.params_.alpha, b.params_.alpha)
    assert not torch.equal(a.params_.alpha, c.params_.alpha)


def test_darts_second_order_step_restores_the_weights_and_tends_to_first_order(space, data):
    torch.manual_seed(0)
    supernet = space.build_supernet(4, data.num_classes, 1, data.in_channels)
    params = ArchParams(space)
    with torch.no_grad():
        params.alpha.normal_(0, 0.5, generator=torch.Generator().manual_seed(0))
    relaxation = MicroRelaxation(space, params)
    task = ImageClassification(data)
    gen = torch.Generator().manual_seed(0)
    train = next(iter(task.train_batches(50, gen)))
    valid = (data.valid.images[:50].float() / 255, data.valid.labels[:50])
    objective = SupernetObjective(supernet, params, relaxation, task, Runtime("cpu"), valid,
                                  train, lr=0.05, weight_decay=3e-4)
    before = {k: v.clone() for k, v in supernet.state_dict().items()}
    (first,) = torch.autograd.grad(objective.relaxed_loss(params.probs()), params.alpha)
    second, _ = objective.second_order_grad(params, xi=0.05)
    assert all(torch.equal(before[k], v) for k, v in supernet.state_dict().items())
    assert not torch.allclose(first, second, atol=1e-6)
    tiny, _ = objective.second_order_grad(params, xi=1e-7)
    assert torch.allclose(first, tiny, rtol=1e-2, atol=1e-4)


class MixedLinear(torch.nn.Module):
    """A tiny supernet: logits ``sum_dk w[d, k] tanh(x W_dk) V``, so the weights and the mix
    interact (the mixed Hessian d2 L / d alpha d w is not zero)."""

    def __init__(self, decisions: int, choices: int, features: int, classes: int):
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.inner = torch.nn.Parameter(torch.randn(decisions, choices, features, 6,
                                                    generator=gen))
        self.outer = torch.nn.Parameter(torch.randn(6, classes, generator=gen))

    def forward(self, x, mix):
        hidden = torch.tanh(torch.einsum("nf,dkfh->ndkh", x, self.inner))
        return torch.einsum("ndkh,dk,hc->nc", hidden, mix, self.outer)


class IdentityRelaxation:
    def op_weights(self, weights):
        return weights


def test_darts_second_order_gradient_is_the_derivative_through_the_unrolled_step():
    """Against autograd of ``L_val(w - xi (grad_w L_train(w, a) + wd w), a)`` in ``a``: the
    finite-difference Hessian term is there, with its sign."""
    from types import SimpleNamespace

    from torch.func import functional_call

    sizes = (3, 2)
    params = ArchParams(SimpleNamespace(name="toy"), [tuple(range(n)) for n in sizes])
    with torch.no_grad():
        params.alpha.copy_(torch.tensor([[0.4, -0.3, 0.1], [0.2, -0.5, 0.0]]))
    net = MixedLinear(len(sizes), max(sizes), 4, 3)
    gen = torch.Generator().manual_seed(1)
    train = (torch.randn(32, 4, generator=gen), torch.randint(0, 3, (32,), generator=gen))
    valid = (torch.randn(32, 4, generator=gen), torch.randint(0, 3, (32,), generator=gen))
    task = SimpleNamespace(loss=torch.nn.functional.cross_entropy)
    xi, wd = 0.5, 0.01
    objective = SupernetObjective(net, params, IdentityRelaxation(), task, Runtime("cpu"),
                                  valid, train, lr=0.1, weight_decay=wd)

    names = [n for n, _ in net.named_parameters()]
    weights = [p.detach().clone().requires_grad_() for p in net.parameters()]

    def loss_at(ws, batch):
        logits = functional_call(net, dict(zip(names, ws, strict=True)),
                                 (batch[0], params.probs()))
        return torch.nn.functional.cross_entropy(logits, batch[1])

    grads = torch.autograd.grad(loss_at(weights, train), weights, create_graph=True)
    stepped = [w - xi * (g + wd * w) for w, g in zip(weights, grads, strict=True)]
    (exact,) = torch.autograd.grad(loss_at(stepped, valid), params.alpha)
    (at_stepped,) = torch.autograd.grad(loss_at([s.detach() for s in stepped], valid),
                                        params.alpha)  # without the Hessian term

    second, val = objective.second_order_grad(params, xi=xi)
    hessian_term = (exact - at_stepped).abs().max()
    assert hessian_term > 0.05 * exact.abs().max()  # the check is not vacuous
    assert (second - exact).abs().max() <= 0.05 * hessian_term, (second, exact)
    with torch.no_grad():
        val_at_stepped = float(loss_at([s.detach() for s in stepped], valid))
    assert val == pytest.approx(val_at_stepped, rel=1e-5)


def test_derived_architectures_are_always_valid(space):
    params = ArchParams(space)
    relaxation = MicroRelaxation(space, params)
    gen = torch.Generator().manual_seed(0)
    for _ in range(50):
        with torch.no_grad():
            params.alpha.normal_(0, 3, generator=gen)
        for arch in (params.derive(), relaxation.derive_top2(),
                     params.to_arch(params.sample(gen))):
            assert space.from_string(space.to_string(arch)) == arch
        top2 = relaxation.derive_top2()
        assert all(node.in_a != node.in_b for cell in top2 for node in cell)  # distinct inputs


def test_top2_rule_keeps_the_strongest_input_and_the_next_distinct_one(space):
    params = ArchParams(space)
    relaxation = MicroRelaxation(space, params)
    with torch.no_grad():  # node 2 of the normal cell: both branches prefer input 3 most
        for pos, weights in ((8, [0, 0, 1, 5]), (10, [0, 2, 1, 4])):
            params.alpha[pos, :4] = torch.tensor(weights, dtype=torch.float)
    node = relaxation.derive_top2().normal[2]
    assert node.in_a == 3 and node.in_b == 1  # branch a is stronger; b takes its next best


def test_sampled_choices_map_onto_the_supernet_weights_the_discrete_path_runs(space, data):
    """A one-hot table through the relaxation computes exactly what the sampled arch does."""
    torch.manual_seed(0)
    supernet = space.build_supernet(4, data.num_classes, 1, data.in_channels)
    params = ArchParams(space)
    relaxation = MicroRelaxation(space, params)
    index = params.sample(torch.Generator().manual_seed(1))
    table = torch.nn.functional.one_hot(index, params.alpha.shape[1]).float()
    x = torch.randn(4, 1, 8, 8)
    assert torch.equal(supernet(x, params.to_arch(index)), supernet(x, relaxation.op_weights(table)))


@pytest.mark.parametrize("kwargs, message", [
    ({"controller_options": {"darts": {"order": 3}}}, "order"),
    ({"controller_options": {"bogus": 1}}, "no option"),
    ({"controller_options": {"arch_lr": 0}}, "arch_lr"),
    ({"controller_options": {"warmup_epochs": 2}}, "warmup_epochs"),
    ({"epochs": 0}, "epochs"),
    ({"batch_size": 10_000}, "batch size"),
])
def test_bad_options_are_one_line_config_errors(space, data, kwargs, message):
    with pytest.raises(ConfigError, match=message) as err:
        search(space, "darts", **kwargs).fit(data)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("argv, message", [
    (["--controller", "snas", "--pool-size", "5"], "has no pool"),
    (["--controller", "sf", "--pool-size", "20"], "has no pool"),  # the default, said aloud
    (["--controller", "ram", "--set", "ram.decisions=-1"], "decisions"),
    (["--controller", "sf", "--set", "order=2"], "no option"),
])
def test_cli_refuses_bad_relaxed_options_in_one_line(argv, message, capsys):
    assert main(["ws", "--data", DATA, *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and err.startswith("nao ws: error:")


def test_cli_ws_relaxed_prints_the_json_and_resumes(capsys, tmp_path):
    argv = ["ws", "--controller", "ram", "--data", DATA, "--train-size", "100", "--epochs", "1",
            "--channels", "4", "--batch-size", "50", "--threads", "1", "--quiet", "--json",
            "--out", str(tmp_path), "--set", "ram.decisions=2"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["controller"] == "ram" and out["options"]["decisions"] == 2
    assert out["pool_size"] is None and len(out["history"]) == 1
    assert main([*argv, "--resume"]) == 0
    assert json.loads(capsys.readouterr().out)["best"] == out["best"]
    assert np.isfinite(out["entropy"])


# ----- what a search records, step by step -------------------------------------------------------
ROW_KEYS = {"epoch", "lr", "train_loss", "train_acc", "entropy", "valid_derived", "valid_sampled",
            "alpha_steps", "derived_arch", "epoch_s", "wall_s"}


class StepRecorder:
    """Records, through the classes a search runs on, every weight step's loss and gradient clip
    and the hits and size of each batch scored (with a gradient: the weight steps; without: the
    validation scoring), and every alpha-step objective."""

    def __init__(self, monkeypatch):
        from pipelines.training.task import ImageClassification

        self.steps: list[tuple[float, float | None]] = []
        self.train_hits: list[tuple[int, int]] = []
        self.scored: list[int] = []
        self.objectives: list[SupernetObjective] = []
        step, hits, init = Runtime.step, ImageClassification.hits, SupernetObjective.__init__

        def record_step(runtime, loss, optimizer, parameters, grad_clip):
            self.steps.append((float(loss.detach()), grad_clip))
            return step(runtime, loss, optimizer, parameters, grad_clip)

        def record_hits(task, output, target):
            n = hits(task, output, target)
            if torch.is_grad_enabled():
                self.train_hits.append((n, len(target)))
            else:
                self.scored.append(len(target))
            return n

        def record_objective(objective, *args, **kwargs):
            init(objective, *args, **kwargs)
            self.objectives.append(objective)

        monkeypatch.setattr(Runtime, "step", record_step)
        monkeypatch.setattr(ImageClassification, "hits", record_hits)
        monkeypatch.setattr(SupernetObjective, "__init__", record_objective)


@pytest.fixture(scope="module")
def data210():
    return load_data(DATA, seed=0, train_size=210)  # three minibatches of 70; 200 validation


def test_a_darts_search_records_each_epoch_and_reports_the_nao_ws_json(space, data210, tmp_path,
                                                                        monkeypatch):
    from pipelines.training.data import batches
    from pipelines.training.run_files import CHECKPOINT

    recorder = StepRecorder(monkeypatch)
    options = {"warmup_epochs": 1, "darts": {"order": 1}}
    s = search(space, "darts", batch_size=70, grad_clip=3.0, weight_decay=1e-4,
               controller_options=options, out_dir=tmp_path).fit(data210)
    rows = s.history_
    uniform = ArchParams(space).entropy().item()

    # the rows: epoch 1 trains the weights only (warmup), epoch 2 alpha as well
    assert [r["epoch"] for r in rows] == [1, 2]
    assert set(rows[0]) == ROW_KEYS and set(rows[1]) == ROW_KEYS | {"alpha_loss"}
    assert [r["alpha_steps"] for r in rows] == [False, True]
    assert rows[0]["entropy"] == pytest.approx(uniform, abs=1e-5)  # alpha untouched
    assert rows[1]["entropy"] < uniform - 1e-4
    assert rows[0]["lr"] == s.lr_max
    assert rows[1]["lr"] == pytest.approx((s.lr_max + s.lr_min) / 2)  # cosine, half way
    for r in rows:
        assert 0 <= r["valid_derived"] <= 1 and 0 <= r["valid_sampled"] <= 1
        for key in ("epoch_s", "wall_s"):
            assert isinstance(r[key], float) and r[key] == round(r[key], 3)
        assert 0 < r["epoch_s"] <= r["wall_s"] < 600
    assert rows[0]["wall_s"] - rows[0]["epoch_s"] < 0.5  # the clock starts with the run
    assert rows[1]["wall_s"] >= rows[0]["wall_s"] + rows[1]["epoch_s"] - 0.01

    # train_loss and train_acc: per-example means over the epoch's three weight steps
    assert [clip for _, clip in recorder.steps] == [3.0] * 6
    for epoch, r in enumerate(rows):
        losses = [loss for loss, _ in recorder.steps[3 * epoch:3 * epoch + 3]]
        hits = recorder.train_hits[3 * epoch:3 * epoch + 3]
        assert [n for _, n in hits] == [70] * 3
        assert r["train_loss"] == pytest.approx(np.mean(losses), rel=1e-6)
        assert r["train_acc"] == sum(h for h, _ in hits) / 210

    # the alpha steps: each on a full, reshuffled validation minibatch and the weight step's
    # minibatch, with the weights' learning rate and weight decay for DARTS's unrolled step
    assert len(recorder.objectives) == 3
    in_order = next(iter(batches(data210, data210.valid, 70)))[0]
    assert not torch.equal(recorder.objectives[0].valid[0], in_order)
    for objective in recorder.objectives:
        assert objective.relaxation is not None
        assert len(objective.valid[1]) == 70 and len(objective.train[1]) == 70
        assert objective.lr == pytest.approx(rows[1]["lr"]) and objective.weight_decay == 1e-4

    # scoring: each epoch the derived architecture and LOG_SAMPLES samples on eval_batches (1)
    # minibatches; the pick on the whole validation split in order (70, 70, 60)
    assert recorder.scored == [70] * 11 + [70, 70, 60]

    # the pick: DARTS's top-2 rule, not the mode of p_alpha
    top2 = MicroRelaxation(space, s.params_).derive_top2()
    assert top2 != s.params_.derive()  # the check below is not vacuous
    assert s.best_arch_ == top2 and rows[-1]["derived_arch"] == space.to_string(top2)

    out = s.result(data210)
    best = {"arch": space.to_string(top2), "valid": s.best_valid_}
    assert out == {
        "space": "enas-micro", "controller": "darts", "data": data210.summary(), "seed": 0,
        "epochs": 2, "channels": 4, "layers": 1, "stem_stride": s.stem_stride,
        "batch_size": 70, "pool_size": None, "device": "cpu", "best": best,
        "candidates": [best], "entropy": pytest.approx(rows[1]["entropy"]),
        "options": {"arch_lr": 0.02, "arch_weight_decay": 1e-3, "warmup_epochs": 1, "order": 1},
        "history": rows, "wall_s": round(s.wall_s_, 3), "out": str(tmp_path)}
    assert rows[-1]["wall_s"] <= out["wall_s"] < rows[-1]["wall_s"] + 60  # and the pick

    # the checkpoint: Adam on alpha with DARTS's betas and the options' rate and decay; the
    # fitted supernet and estimator are the ones it holds
    state = torch.load(tmp_path / CHECKPOINT, weights_only=False)
    group = state["arch_optimizer"]["param_groups"][0]
    assert (group["lr"], group["betas"], group["weight_decay"]) == (0.02, (0.5, 0.999), 1e-3)
    assert all(torch.equal(v, state["supernet"][k]) for k, v in s.supernet_.state_dict().items())
    assert s.estimator_.name == "darts" and s.estimator_.order == 1


def test_snas_anneals_its_temperature_and_picks_the_mode_of_p_alpha(space, data):
    s = search(space, "snas").fit(data)
    assert [r["tau"] for r in s.history_] == pytest.approx([1.0, 0.1])  # max, then min
    assert s.best_arch_ == s.params_.derive()
    assert s.best_arch_ != MicroRelaxation(space, s.params_).derive_top2()  # not vacuous
    out = s.result(data)
    assert out["out"] is None and out["controller"] == "snas"
    assert out["options"] == {"arch_lr": 0.02, "arch_weight_decay": 1e-3, "warmup_epochs": 0}


@pytest.mark.parametrize("controller", ["darts", "snas"])
def test_the_mixed_path_methods_search_enas_macro_through_its_relaxation(data, controller,
                                                                        monkeypatch):
    """darts and snas train and score enas-macro's supernet on MacroWeights (its declared
    mixed path), and pick an architecture of the space: the mode of p_alpha."""
    from search_spaces.enas_macro_net import MacroSupernet, MacroWeights

    macro = get_space("enas-macro:layers=3")
    kinds: list[str] = []
    forward = MacroSupernet.forward
    monkeypatch.setattr(MacroSupernet, "forward", lambda self, x, choice: (
        kinds.append(type(choice).__name__), forward(self, x, choice))[1])
    s = search(macro, controller, epochs=1).fit(data)
    assert MacroWeights.__name__ in kinds  # alpha and weight steps through the mix
    assert s.best_arch_ == s.params_.derive()
    assert macro.from_string(macro.to_string(s.best_arch_)) == s.best_arch_


class _MacroWithoutMixedPath(EnasMacroSpace):
    """enas-macro as a space of someone else's package that declares no mixed path."""

    mixed_path = False
    relaxation = Buildable.relaxation


def test_the_sampling_methods_run_on_a_space_without_mixed_ops(data, monkeypatch):
    macro = _MacroWithoutMixedPath()
    asked: list[int] = []  # recorded, not set: more threads in a forked test process can hang
    monkeypatch.setattr(torch, "set_num_threads", asked.append)
    s = search(macro, "sf", epochs=1, threads=3).fit(data)
    assert asked == [3]  # torch's threads as the search was told
    assert macro.from_string(macro.to_string(s.best_arch_)) == s.best_arch_


def test_a_resume_with_other_settings_is_refused_naming_each_one(space, data, tmp_path):
    search(space, "sf", epochs=1, out_dir=tmp_path).fit(data)
    other = RelaxedSearch(
        get_space("enas-macro"), "relax", epochs=2, channels=6, layers=2, stem_stride=2,
        batch_size=40, eval_batches=2, lr_max=0.1, lr_min=0.01, momentum=0.8,
        weight_decay=1e-4, grad_clip=2.0, controller_options={"arch_lr": 0.05}, device="cpu",
        threads=1, random_state=1, out_dir=tmp_path, resume=True, progress=False)
    with pytest.raises(ConfigError) as err:
        other.fit(load_data("standin:1x6x6", seed=0, train_size=50))
    changed = str(err.value).split("made with different ", 1)[1].split(" (", 1)[0]
    assert changed.split(", ") == [
        "batch_size", "channels", "controller", "controller_options", "data", "epochs",
        "eval_batches", "grad_clip", "layers", "lr_max", "lr_min", "momentum", "seed", "space",
        "stem_stride", "weight_decay"]


def test_a_resume_from_a_file_that_is_no_checkpoint_names_the_command(space, data, tmp_path):
    from pipelines.training.run_files import CHECKPOINT

    (tmp_path / CHECKPOINT).write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="is not a checkpoint of nao ws"):
        search(space, "sf", out_dir=tmp_path, resume=True).fit(data)


def test_a_batch_must_fit_in_both_the_training_and_the_validation_split(space, data, tmp_path):
    with pytest.raises(ConfigError) as err:
        search(space, "sf", batch_size=60).fit(data)  # 50 training, 200 validation images
    assert str(err.value) == ("batch size 60 exceeds the 50 training or 200 validation images; "
                              "lower --batch-size")
    # a batch of the whole validation split fits: the run gets as far as the (empty) directory
    with pytest.raises(ConfigError, match="no checkpoint"):
        search(space, "sf", batch_size=200, out_dir=tmp_path, resume=True).fit(
            load_data(DATA, seed=0, train_size=200))


def test_a_space_the_supernet_cannot_build_is_refused_naming_the_command(data):
    with pytest.raises(ConfigError, match=r"which weight sharing \(nao ws\) needs"):
        search(get_space("nasbench-graph"), "sf").fit(data)


@pytest.mark.parametrize("kwargs, message", [
    ({"controller": "bogus"},
     "unknown relaxed controller 'bogus'; choose one of darts, snas, sf, relax, ram (or an installed relaxed plugin)"),
    ({"epochs": 0}, "epochs must be at least 1, got 0"),
    ({"eval_batches": 0}, "eval_batches must be at least 1, got 0"),
    ({"resume": True}, "--resume needs --out DIR (the run directory to continue)"),
    ({"controller_options": {"arch_lr": 0}}, "nao ws: arch_lr must be a finite number > 0, got 0"),
    ({"controller_options": {"arch_weight_decay": -1}},
     "nao ws: arch_weight_decay must be a finite number >= 0, got -1"),
    ({"controller_options": {"warmup_epochs": -1}},
     "nao ws: warmup_epochs must be a whole number >= 0 and <= 1, got -1"),
    ({"controller_options": {"bogus": 1}},
     "nao ws: --set has no option bogus; it takes arch_lr, arch_weight_decay, darts, order, "
     "warmup_epochs, xi"),
    ({"controller_options": {"darts": {"bogus": 1}}},
     "darts: darts has no option bogus; it takes order, xi"),
    ({"space": "nas-rl"},
     "--controller darts needs a supernet with a mixed-op path (a forward on op weights), "
     "which space nas-rl:layers=6 does not have; use --space enas-macro or enas-micro or "
     "enas-rnn:nodes=8 or --controller nao, rl, random, sf, relax, ram"),
])
def test_check_refuses_a_bad_setting_with_its_one_line_message(space, kwargs, message):
    kwargs = {"controller": "darts", **kwargs}
    chosen = get_space(kwargs.pop("space")) if "space" in kwargs else space
    with pytest.raises(ConfigError) as err:
        RelaxedSearch(chosen, kwargs.pop("controller"), **{**TINY, **kwargs}).check()
    assert str(err.value) == message


def test_check_accepts_the_edges_and_gives_the_method_the_search_seed(space):
    shared, estimator = search(space, "darts", epochs=1).check()
    assert shared == {"arch_lr": 0.02, "arch_weight_decay": 1e-3, "warmup_epochs": 0}
    shared, _ = search(space, "darts", controller_options={"warmup_epochs": 1}).check()
    assert shared["warmup_epochs"] == 1  # epochs - 1: the last epoch still searches
    assert search(space, "relax", random_state=7).check()[1].seed == 7
    assert search(space, "relax", random_state=None).check()[1].seed == 0


def test_split_options_sends_each_option_to_the_search_or_the_method():
    shared, method = split_options("darts", {"order": 2, "arch_lr": 0.1, "darts": {"xi": 0.01}})
    assert shared == {"arch_lr": 0.1} and method == {"order": 2, "xi": 0.01}
    assert {name: estimator_options(name) for name in RELAXED_CONTROLLERS} == {
        "darts": ("order", "xi"), "snas": ("tau_max", "tau_min"), "sf": ("baseline_decay",),
        "relax": ("hidden", "lr", "temperature"), "ram": ("decisions",)}


def test_the_constructor_keeps_every_argument_and_its_defaults(space):
    import inspect

    s = RelaxedSearch(space)
    assert (s.controller, s.epochs, s.device, s.random_state, s.progress) == \
        ("darts", 20, "auto", 0, True)
    given = {"controller": "sf", "epochs": 3, "channels": 5, "layers": 2, "stem_stride": 2,
             "batch_size": 7, "eval_batches": 3, "lr_max": 0.3, "lr_min": 0.2, "momentum": 0.7,
             "weight_decay": 0.1, "grad_clip": 9.0, "controller_options": {"arch_lr": 0.5},
             "device": "cpu", "threads": 3, "random_state": 11, "out_dir": "somewhere",
             "resume": True, "progress": False}
    assert set(given) == set(inspect.signature(RelaxedSearch).parameters) - {"space"}
    s = RelaxedSearch(space, **given)
    assert {name: getattr(s, name) for name in given} == given
    assert s.network().to_dict() == {"channels": 5, "layers": 2, "stem_stride": 2,
                                     "batch_size": 7}


class SineNet(torch.nn.Module):
    """One weight ``w`` and the mix ``m = sum_dk mix_dk C_dk``: the loss on a training batch
    (``x`` 1) is ``m sin(K w)``, on a validation batch (``x`` 0) ``m A w``; ``unused`` is a
    weight no loss reaches."""

    K, A = 100.0, 1e-3
    C = torch.tensor([[1.0, -2.0, 0.5], [0.3, 2.0, -1.0]])

    def __init__(self, w: float):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor([w]))
        self.unused = torch.nn.Parameter(torch.ones(2))

    def forward(self, x, mix):
        m = (mix * self.C).sum()
        return m * (x * torch.sin(self.K * self.w) + (1 - x) * self.A * self.w)


def test_darts_second_order_gradient_is_the_documented_central_difference():
    """``w' = w - xi (grad_w L_train + wd w)``; ``grad_alpha L_val(w')`` minus ``xi`` times the
    central difference of ``grad_alpha L_train`` at ``w +- eps grad_w' L_val``, ``eps`` 0.01
    over that gradient's norm: here in closed form, with a norm below 1 and a training loss
    steep in ``w`` (so that the difference's radius shows), and a weight no loss reaches."""
    import math
    from types import SimpleNamespace

    params = ArchParams(SimpleNamespace(name="toy"), [(0, 1, 2), (0, 1, 2)])
    logits = np.array([[0.4, -0.3, 0.1], [0.2, -0.5, 0.0]])
    with torch.no_grad():
        params.alpha.copy_(torch.tensor(logits))
    w, xi, wd = 0.25, 0.05, 0.01
    net = SineNet(w)
    task = SimpleNamespace(loss=lambda out, y: out.sum())
    objective = SupernetObjective(net, params, IdentityRelaxation(), task, Runtime("cpu"),
                                  (torch.tensor(0.0), None), (torch.tensor(1.0), None),
                                  lr=0.1, weight_decay=wd)
    got, val = objective.second_order_grad(params, xi=xi)

    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    c = SineNet.C.double().numpy()
    m = float((p * c).sum())
    dm = p * (c - (p * c).sum(1, keepdims=True))  # d m / d alpha
    k, a = SineNet.K, SineNet.A
    stepped = w - xi * (m * k * math.cos(k * w) + wd * w)
    d_w = m * a  # grad_w' L_val, of norm below 1
    eps = 0.01 / abs(d_w)
    central = (math.sin(k * (w + eps * d_w)) - math.sin(k * (w - eps * d_w))) / (2 * eps)
    np.testing.assert_allclose(got.numpy(), a * stepped * dm - xi * central * dm, rtol=1e-4,
                               atol=1e-7)
    assert val == pytest.approx(m * a * stepped, rel=1e-5)
    assert net.w.detach().item() == w and torch.equal(net.unused, torch.ones(2))  # restored

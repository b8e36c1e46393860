"""The relaxed controllers of ``nao ws`` (darts, snas, sf, relax, ram) on a tiny supernet: end to
end with the pool controllers' JSON keys, exact resume, DARTS's second-order step, valid derived
architectures, and one-line errors for bad options."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from support import kill_after_epoch

from nao.errors import ConfigError
from pipelines.cli import main
from pipelines.oneshot.arch_params import ArchParams
from pipelines.oneshot.micro_relaxation import MicroRelaxation
from pipelines.oneshot.relaxed_search import (
    RELAXED_CONTROLLERS,
    RelaxedSearch,
    SupernetObjective,
)
from pipelines.training.data import load_data
from pipelines.training.runtime import Runtime
from pipelines.training.task import ImageClassification
from search_spaces import get_space

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
    whole = search(space, controller, epochs=2).fit(data)
    calls = kill_after_epoch(monkeypatch, 1)
    with pytest.raises(KeyboardInterrupt):
        search(space, controller, epochs=2, out_dir=tmp_path).fit(data)
    resumed = search(space, controller, epochs=2, out_dir=tmp_path, resume=True).fit(data)
    assert calls == [1, 2]  # the finished epochs were not run again
    assert torch.equal(resumed.params_.alpha, whole.params_.alpha)
    assert resumed.result(data)["best"] == whole.result(data)["best"]
    assert [h["train_loss"] for h in resumed.history_] == [h["train_loss"] for h in whole.history_]


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
    (["--controller", "darts", "--space", "enas-macro"], "only enas-micro"),
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

"""enas-micro: grammar, string form, equivalence, and the supernet/child weight sharing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nao.errors import ConfigError, InvalidArchitectureError
from search_spaces import get_space
from search_spaces.enas_micro import N_NODES, OPS, EnasMicroSpace, MicroArch, Node
from search_spaces.enas_micro_arch import N_CELL_INPUTS, branches
from search_spaces.enas_micro_net import OpWeights

CHANNELS = 8  # tiny networks keep the suite fast on a shared CPU
CLASSES = 10
BATCH = 4
DIGITS = (1, 8, 8)  # scikit-learn digits
CIFAR = (3, 32, 32)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny networks run fastest on one thread; several threads stall on a busy shared CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def space() -> EnasMicroSpace:
    return get_space("enas-micro")


@pytest.fixture()
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def example_arch() -> MicroArch:
    normal = (
        Node(0, "sep_conv_3x3", 1, "identity"),
        Node(1, "avg_pool_3x3", 2, "sep_conv_5x5"),
        Node(0, "max_pool_3x3", 3, "identity"),
        Node(2, "sep_conv_3x3", 1, "sep_conv_3x3"),
        Node(4, "identity", 5, "avg_pool_3x3"),
    )
    reduce = tuple(Node(0, "max_pool_3x3", 1, "sep_conv_5x5") for _ in range(N_NODES))
    return MicroArch(normal, reduce)


# ----- grammar and conversions -----------------------------------------------------------------
def test_registered_with_40_tokens_and_inputs_limited_per_node(space):
    assert space.name == "enas-micro" and space.length == 2 * N_NODES * 4
    assert [space.vocab[t] for t in space.valid_tokens(())] == ["in0", "in1"]
    assert len(space.valid_tokens((0,) * 16)) == N_NODES + 1  # normal cell, node 4: in0..in5
    assert len(space.valid_tokens((0,) * 20)) == 2  # reduce cell, node 0: the cell inputs
    assert [space.vocab[t] for t in space.valid_tokens((0,))] == list(OPS)


def test_registry_rejects_an_option():
    with pytest.raises(ConfigError, match="plain enas-micro"):
        get_space("enas-micro:cifar")


@pytest.mark.parametrize("bad", ["", "a", "nodes=5", "nodes=-1", "9" * 5000, "="])
def test_any_text_after_the_colon_is_a_one_line_error_naming_plain_enas_micro(bad):
    with pytest.raises(ConfigError, match="use plain enas-micro") as info:
        get_space(f"enas-micro:{bad}")
    assert "\n" not in str(info.value)


def test_string_form_reads_like_a_genotype(space):
    """(Round trips of random architectures: tests/search_spaces/test_space_contract.py.)"""
    arch = example_arch()
    text = space.to_string(arch)
    assert text.startswith("normal: 0 sep_conv_3x3 1 identity | 1 avg_pool_3x3 2 sep_conv_5x5")
    assert " ; reduce: 0 max_pool_3x3 1 sep_conv_5x5" in text
    assert space.from_string(text) == arch


@pytest.mark.parametrize(
    ("edit", "position", "where"),
    [
        (lambda s: s.replace("1 avg_pool_3x3", "4 avg_pool_3x3", 1), 4, "normal cell, node 1"),
        (lambda s: s.replace("sep_conv_5x5 |", "conv_7x7 |", 1), 7, "normal cell, node 1"),
        (lambda s: s.replace("reduce:", "reduction:"), 20, "reduce cell, node 0"),
        (lambda s: s.rsplit(" | ", 1)[0], 36, "reduce cell, node 4"),
        (lambda s: s.replace("| 0 max_pool_3x3 3 identity", "| 0 max_pool_3x3 3", 1), 8,
         "normal cell, node 2"),
    ],
)
def test_from_string_names_token_cell_and_node(space, edit, position, where):
    with pytest.raises(InvalidArchitectureError) as err:
        space.from_string(edit(space.to_string(example_arch())))
    assert err.value.position == position
    assert where in str(err.value) and err.value.expected


def test_from_string_rejects_a_missing_cell(space):
    with pytest.raises(InvalidArchitectureError, match="expected 2"):
        space.from_string("normal: 0 identity 1 identity")


def test_from_tokens_rejects_a_forward_input_with_its_position(space):
    tokens = list(space.to_tokens(example_arch()))
    tokens[22] = 2  # reduce cell, node 0, in_b: only cell inputs 0 and 1 exist yet
    with pytest.raises(InvalidArchitectureError, match="reduce cell, node 0, in_b") as err:
        space.from_tokens(tokens)
    assert err.value.position == 22 and err.value.expected == "in0, in1"
    with pytest.raises(InvalidArchitectureError):
        space.from_tokens(tokens[:39])


# ----- equivalence -----------------------------------------------------------------------------
def test_swapped_branches_share_the_canonical_key(space):
    arch = example_arch()
    swapped = arch._replace(normal=(Node(1, "identity", 0, "sep_conv_3x3"), *arch.normal[1:]))
    assert space.canonical(swapped) == space.canonical(arch)
    other = arch._replace(normal=(Node(1, "identity", 0, "sep_conv_5x5"), *arch.normal[1:]))
    assert space.canonical(other) != space.canonical(arch)


def test_symmetries_are_distinct_equivalent_and_capped(space, rng):
    for _ in range(20):
        arch = space.sample(rng)
        variants = space.symmetries(arch)
        assert variants[0] == arch and 1 < len(variants) <= space.max_symmetries
        assert len({space.to_tokens(v) for v in variants}) == len(variants)
        assert {space.canonical(v) for v in variants} == {space.canonical(arch)}
        assert variants == space.symmetries(arch)  # deterministic


def test_symmetries_lists_all_swaps_when_few_nodes_differ(space):
    same = Node(0, "identity", 0, "identity")
    arch = MicroArch((Node(0, "identity", 1, "identity"),) + (same,) * 4, (same,) * N_NODES)
    assert len(space.symmetries(arch)) == 2
    assert len(EnasMicroSpace(max_symmetries=1).symmetries(example_arch())) == 1


# ----- networks --------------------------------------------------------------------------------
def _warm_up(supernet, shape, rng, space, steps=3):
    """A few train-mode passes with different children so BatchNorm statistics are not trivial."""
    supernet.train()
    with torch.no_grad():
        for _ in range(steps):
            supernet(torch.randn(BATCH, *shape), space.sample(rng))


@pytest.mark.parametrize(("shape", "stem_stride"), [(DIGITS, 1), (CIFAR, 1), (CIFAR, 2)])
def test_child_with_supernet_weights_computes_what_the_supernet_does(space, rng, shape,
                                                                     stem_stride):
    torch.manual_seed(0)
    supernet = space.build_supernet(CHANNELS, CLASSES, 1, shape[0], stem_stride)
    _warm_up(supernet, shape, rng, space)
    x = torch.randn(BATCH, *shape)
    for _ in range(3):
        arch = space.sample(rng)
        child = space.build(arch, CHANNELS, CLASSES, 1, shape[0], stem_stride=stem_stride)
        child.load_from_supernet(supernet)
        assert child.num_params() < sum(p.numel() for p in supernet.parameters())
        for train in (False, True):
            supernet.train(train)
            child.train(train)
            with torch.no_grad():
                assert torch.allclose(child(x), supernet(x, arch), atol=1e-5)


def test_load_from_supernet_rejects_another_configuration(space):
    supernet = space.build_supernet(CHANNELS, CLASSES, 1, 1)
    for child in (space.build(example_arch(), CHANNELS, CLASSES, 2, 1),
                  space.build(example_arch(), CHANNELS, CLASSES, 1, 1, stem_stride=2)):
        with pytest.raises(ConfigError, match="same channels"):
            child.load_from_supernet(supernet)


@pytest.mark.parametrize("shape", [DIGITS, CIFAR])
def test_supernet_backward_reaches_only_the_sampled_child(space, rng, shape):
    supernet = space.build_supernet(CHANNELS, CLASSES, 1, shape[0])
    arch = space.sample(rng)
    loss = torch.nn.functional.cross_entropy(
        supernet(torch.randn(BATCH, *shape), arch), torch.randint(CLASSES, (BATCH,))
    )
    loss.backward()
    child_keys = set(dict(space.build(arch, CHANNELS, CLASSES, 1, shape[0]).named_parameters()))
    for name, param in supernet.named_parameters():
        assert (param.grad is not None) == (name in child_keys), name
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in supernet.parameters())


def test_auxiliary_head_gives_logits_in_training_only(space):
    child = space.build(example_arch(), CHANNELS, CLASSES, 1, 1, auxiliary=True, drop_path=0.2)
    x = torch.randn(BATCH, *DIGITS)
    logits, aux = child.train()(x)
    assert logits.shape == aux.shape == (BATCH, CLASSES)
    assert child.eval()(x).shape == (BATCH, CLASSES)
    assert child.num_params(include_auxiliary=True) > child.num_params()


def test_drop_path_is_stochastic_in_training_and_settable(space):
    torch.manual_seed(0)
    child = space.build(example_arch(), CHANNELS, CLASSES, 1, 1, drop_path=0.5).train()
    x = torch.randn(BATCH, *DIGITS)
    assert not torch.allclose(child(x), child(x))
    child.drop_path_prob = 0.0
    child.eval()
    assert torch.allclose(child(x), child(x))


def test_drop_path_set_after_building_is_what_forward_drops_with(space, monkeypatch):
    from search_spaces import enas_micro_net

    used: list[float] = []
    real = enas_micro_net.drop_path

    def recording(x, prob):
        used.append(prob)
        return real(x, prob)

    monkeypatch.setattr(enas_micro_net, "drop_path", recording)
    torch.manual_seed(0)
    child = space.build(example_arch(), CHANNELS, CLASSES, 1, 1, drop_path=0.0).train()
    x = torch.randn(BATCH, *DIGITS)
    plain = child(x)
    assert used and set(used) == {0.0}
    assert torch.allclose(child(x), plain)  # nothing dropped: training mode is deterministic
    used.clear()
    child.drop_path_prob = 0.9  # as final training's ramp sets it between epochs
    assert not torch.allclose(child(x), child(x))
    assert used and set(used) == {0.9}
    used.clear()
    child.drop_path_prob = 0.0
    assert torch.allclose(child(x), plain) and set(used) == {0.0}


def test_reduction_cells_halve_the_spatial_size_and_double_channels(space):
    child = space.build(example_arch(), CHANNELS, CLASSES, 1, 3)
    sizes = []
    hooks = [cell.register_forward_hook(lambda m, i, o: sizes.append(tuple(o.shape[1:])))
             for cell in child.cells]
    child.eval()(torch.randn(2, *CIFAR))
    for hook in hooks:
        hook.remove()
    assert [cell.reduction for cell in child.cells] == [False, True, False, True, False]
    assert sizes == [(8, 32, 32), (16, 16, 16), (16, 16, 16), (32, 8, 8), (32, 8, 8)]


def test_stem_stride_two_halves_the_images_before_the_first_cell(space):
    child = space.build(example_arch(), CHANNELS, CLASSES, 1, 1, stem_stride=2)
    sizes = []
    hooks = [cell.register_forward_hook(lambda m, i, o: sizes.append(tuple(o.shape[2:])))
             for cell in child.cells]
    assert child.eval()(torch.randn(2, 1, 28, 28)).shape == (2, CLASSES)
    for hook in hooks:
        hook.remove()
    assert sizes == [(14, 14), (7, 7), (7, 7), (4, 4), (4, 4)]
    with pytest.raises(ConfigError, match="stem stride must be one of"):
        space.build_supernet(CHANNELS, CLASSES, 1, 1, stem_stride=3)


def test_build_rejects_too_few_layers(space):
    with pytest.raises(ConfigError, match="at least 1"):
        space.build_supernet(CHANNELS, CLASSES, 0, 1)


# ----- NAO on this space -----------------------------------------------------------------------
def test_nao_fits_and_proposes_new_valid_architectures(space, rng):
    from nao.estimator import NAO

    archs = [space.sample(rng) for _ in range(30)]
    scores = rng.random(len(archs))
    model = NAO(space, embedding_size=16, hidden_size=32, mlp_hidden_size=32, epochs=30,
                patience=None, random_state=0).fit(archs, scores)
    assert model.predict(archs).shape == (len(archs),)
    seeds = [archs[i] for i in np.argsort(scores)[-5:]]
    proposed = model.propose(seeds, 5)
    assert proposed
    known = {space.canonical(a) for a in archs}
    for arch in proposed:
        assert space.from_tokens(space.to_tokens(arch)) == arch
        assert space.canonical(arch) not in known


# ----- pictures ----------------------------------------------------------------------------
def test_graph_has_two_op_labelled_input_edges_per_node(space, rng):
    for arch in [example_arch()] + [space.sample(rng) for _ in range(20)]:
        graphs = space.graph(arch)
        assert [g.name for g in graphs] == ["normal", "reduce"]
        for graph, cell in zip(graphs, arch, strict=True):
            assert [n.label for n in graph.nodes if n.kind == "input"] == ["c_{k-2}", "c_{k-1}"]
            for i, node in enumerate(cell):
                edges = graph.inputs_of(str(2 + i))
                assert [(e.src, e.label) for e in edges] == [
                    (str(node.in_a), node.op_a), (str(node.in_b), node.op_b)]


def test_graph_concat_takes_exactly_the_nodes_no_node_reads(space, rng):
    normal, reduce = space.graph(example_arch())
    assert [e.src for e in normal.inputs_of("out")] == ["6"]  # nodes 2..5 are all read
    assert [e.src for e in reduce.inputs_of("out")] == ["2", "3", "4", "5", "6"]
    for arch in [space.sample(rng) for _ in range(20)]:
        for graph, cell in zip(space.graph(arch), arch, strict=True):
            read = {str(k) for node in cell for k in (node.in_a, node.in_b)}
            unread = [str(2 + i) for i in range(N_NODES) if str(2 + i) not in read]
            assert [e.src for e in graph.inputs_of("out")] == unread
            assert all(e.label is None for e in graph.inputs_of("out"))


# ----- the mixed-op path (DARTS / SNAS feed op weights, not one choice) -----------------------
def _grads(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("train", [True, False])
def test_one_hot_op_weights_compute_and_train_what_the_discrete_path_does(space, rng, train,
                                                                         float64):
    torch.manual_seed(0)
    supernet = space.build_supernet(CHANNELS, CLASSES, 1, DIGITS[0]).train(train)
    arch = space.sample(rng)
    x, y = torch.randn(BATCH, *DIGITS), torch.randint(CLASSES, (BATCH,))
    outputs, grads = [], []
    for choice in (arch, OpWeights.one_hot(arch)):
        supernet.zero_grad(set_to_none=True)
        out = supernet(x, choice)
        torch.nn.functional.cross_entropy(out, y).backward()
        outputs.append(out.detach())
        grads.append(_grads(supernet))
    assert torch.equal(outputs[0], outputs[1])
    discrete, mixed = grads
    assert discrete and set(discrete) <= set(mixed)  # the mixed path also reaches unchosen ops
    for name, grad in discrete.items():  # equal up to the order gradients are summed in
        assert torch.allclose(grad, mixed[name], rtol=1e-10, atol=1e-12), name
    unchosen = set(mixed) - set(discrete)
    assert unchosen and all(mixed[n].abs().sum() == 0 for n in unchosen)  # weight 0: no step


def test_uniform_op_weights_make_each_node_the_mean_of_its_ops(space, rng):
    torch.manual_seed(0)
    cell = space.build_supernet(CHANNELS, CLASSES, 1, DIGITS[0]).cells[0]
    arch = space.sample(rng)
    s0, s1 = torch.randn(BATCH, CHANNELS, 8, 8), torch.randn(BATCH, CHANNELS, 8, 8)
    weights = OpWeights.uniform(arch).normal
    with torch.no_grad():
        states = cell.node_states(s0, s1, arch.normal, weights=weights)
        for i, node in enumerate(arch.normal):
            expected = sum(
                torch.stack([op(states[inp]) for op in cell.branches[2 * i + b].values()]).mean(0)
                for b, (inp, _op) in enumerate(branches(node)))
            assert torch.allclose(states[N_CELL_INPUTS + i], expected, atol=1e-5), i


def test_gradients_reach_the_op_weights(space, rng):
    supernet = space.build_supernet(CHANNELS, CLASSES, 1, DIGITS[0])
    arch = space.sample(rng)
    alpha = torch.zeros(2, N_NODES, 2, len(OPS), requires_grad=True)  # DARTS's parameters
    probs = torch.softmax(alpha, dim=-1)
    out = supernet(torch.randn(BATCH, *DIGITS), OpWeights(arch, probs[0], probs[1]))
    torch.nn.functional.cross_entropy(out, torch.randint(CLASSES, (BATCH,))).backward()
    assert alpha.grad is not None
    assert (alpha.grad[0].abs().sum(-1) > 0).all() and (alpha.grad[1].abs().sum(-1) > 0).all()


def test_op_weights_of_the_wrong_length_are_refused(space, rng):
    supernet = space.build_supernet(CHANNELS, CLASSES, 1, DIGITS[0])
    arch = space.sample(rng)
    short = torch.ones(N_NODES, 2, len(OPS) - 1)
    with pytest.raises(ConfigError, match="one weight per op"):
        supernet(torch.randn(BATCH, *DIGITS), OpWeights(arch, short, short))

"""The contract every registered search space keeps, checked generically: a new space is tested
by its registry line alone. What is special to one space (its grammar, its table, its networks)
stays in that space's own test file."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nao.errors import ConfigError, InvalidArchitectureError
from search_spaces import available, get_space
from search_spaces.base import CellGraph, SearchSpace, Tabular

# the command-line name each family is tested under: small options where a space is large
OPTIONS: dict[str, str] = {"nasbench-graph": "nasbench-graph:cora",
                           # ENAS's 12 layers with a restricted op set: the masked ops as well
                           "enas-macro": "enas-macro:ops=conv3+conv5+max"}
N_ARCHS = 20  # random architectures per check; each space is cheap to sample
FUZZ = settings(max_examples=100, deadline=None)

_SPACES: dict[str, SearchSpace] = {}


@pytest.fixture(scope="module", params=available())
def space(request) -> SearchSpace:
    """One instance per family for the whole module (a space caches its tables and groups)."""
    family = request.param
    if family not in _SPACES:
        _SPACES[family] = get_space(OPTIONS.get(family, family))
    return _SPACES[family]


def samples(space: SearchSpace, seed: int = 0, n: int = N_ARCHS) -> list:
    rng = np.random.default_rng(seed)
    return [space.sample(rng) for _ in range(n)]


def assert_valid(space: SearchSpace, arch) -> None:
    """``arch`` passes the space's own check and survives both of its written forms."""
    tokens = space.to_tokens(arch)
    assert len(tokens) == space.length
    assert space.from_tokens(tokens) == arch
    assert space.from_string(space.to_string(arch)) == arch


def assert_one_line_positional(space: SearchSpace, err: InvalidArchitectureError) -> None:
    """The error a user sees: one line, and a position (when given) inside the sequence with
    what the space would accept there."""
    message = str(err)
    assert message and "\n" not in message, repr(message)
    assert space.name in message
    if err.position is not None:
        assert 0 <= err.position <= space.length
        assert err.expected


# ----- declaration -------------------------------------------------------------------------
def test_a_space_declares_a_name_a_vocabulary_of_distinct_tokens_and_a_length(space):
    assert space.name.split(":")[0] in available()
    assert space.length > 0
    assert len(space.vocab) == len(set(space.vocab)) > 1


# ----- written forms -----------------------------------------------------------------------
def test_string_and_tokens_round_trip_to_the_same_architecture(space):
    for arch in samples(space):
        tokens = space.to_tokens(arch)
        assert all(isinstance(t, int) and 0 <= t < len(space.vocab) for t in tokens)
        assert space.from_tokens(tokens) == arch
        text = space.to_string(arch)
        assert isinstance(text, str) and "\n" not in text
        assert space.from_string(text) == arch
        assert space.to_tokens(space.from_string(text)) == tokens


# ----- sampling and neighbours --------------------------------------------------------------
def test_samples_and_mutations_are_valid_and_a_mutation_changes_the_canonical_key(space):
    rng = np.random.default_rng(1)
    for arch in samples(space, seed=2):
        assert_valid(space, arch)
        child = space.mutate(arch, rng)
        assert_valid(space, child)
        assert space.canonical(child) != space.canonical(arch)


def test_sampling_is_fixed_by_the_generator_seed(space):
    strings = [space.to_string(a) for a in samples(space, seed=3)]
    assert strings == [space.to_string(a) for a in samples(space, seed=3)]
    assert strings != [space.to_string(a) for a in samples(space, seed=4)]


# ----- the validity mask, as NAO's decoder and the RL controller use it ---------------------
def test_the_mask_lists_exactly_the_valid_tokens_of_each_prefix(space):
    for arch in samples(space, seed=5, n=5):
        tokens = space.to_tokens(arch)
        for pos in range(space.length):
            mask = space.valid_mask(tokens[:pos])
            assert mask.dtype == bool and mask.shape == (len(space.vocab),)
            assert tuple(np.flatnonzero(mask)) == tuple(sorted(space.valid_tokens(tokens[:pos])))


def test_decoding_under_the_mask_never_gives_an_invalid_architecture(space):
    """Position by position, any token the mask allows: the result is always an architecture
    (hypothesis drives the choices and shrinks a failing walk to its shortest form)."""

    @FUZZ
    @given(st.data())
    def check(data):
        tokens: list[int] = []
        for _pos in range(space.length):
            allowed = np.flatnonzero(space.valid_mask(tokens))
            assert allowed.size, f"no token allowed after {tokens}"
            tokens.append(int(data.draw(st.sampled_from(allowed.tolist()))))
        assert_valid(space, space.from_tokens(tokens))

    check()


def test_a_token_the_mask_refuses_is_an_error_naming_its_position(space):
    skip_if_nothing_is_refused(space)
    rng = np.random.default_rng(6)
    for arch in samples(space, seed=7, n=10):
        tokens, pos = bad_tokens(space, arch, rng)
        with pytest.raises(InvalidArchitectureError) as info:
            space.from_tokens(tokens)
        assert info.value.position == pos
        assert info.value.expected == space.expected_at(tuple(tokens[:pos]))
        assert_one_line_positional(space, info.value)


def test_a_token_sequence_of_the_wrong_length_is_an_error(space):
    tokens = list(space.to_tokens(samples(space, n=1)[0]))
    for wrong in (tokens[:-1], tokens + tokens[-1:], []):
        with pytest.raises(InvalidArchitectureError) as info:
            space.from_tokens(wrong)
        assert_one_line_positional(space, info.value)


def skip_if_nothing_is_refused(space: SearchSpace) -> None:
    """A space of free positions (every token valid everywhere) has no refused token to test."""
    if all(space.valid_mask(list(space.to_tokens(a))[:p]).all()
           for a in samples(space, n=3) for p in range(space.length)):
        pytest.skip(f"{space.name}: every token is valid at every position")


def bad_tokens(space: SearchSpace, arch, rng: np.random.Generator) -> tuple[list[int], int]:
    """``arch``'s tokens with one position set to a vocabulary token the grammar refuses there
    (a position with nothing to refuse is skipped), and that position."""
    tokens = list(space.to_tokens(arch))
    positions = [p for p in range(space.length) if not space.valid_mask(tokens[:p]).all()]
    pos = int(rng.choice(positions))
    tokens[pos] = int(rng.choice(np.flatnonzero(~space.valid_mask(tokens[:pos]))))
    return tokens, pos


# ----- equivalence -------------------------------------------------------------------------
def test_symmetries_start_with_the_arch_are_distinct_valid_and_share_the_canonical_key(space):
    for arch in samples(space, seed=8):
        variants = space.symmetries(arch)
        assert variants[0] == arch
        assert len({space.to_tokens(v) for v in variants}) == len(variants)
        for variant in variants:
            assert_valid(space, variant)
            assert space.canonical(variant) == space.canonical(arch)
        assert hash(space.canonical(arch)) == hash(space.canonical(variants[-1]))


# ----- pictures ----------------------------------------------------------------------------
def test_graph_is_well_formed_and_every_op_node_reaches_the_output(space):
    """Besides what :class:`CellGraph` checks when built (unique ids, known kinds, edges only
    from earlier nodes): inputs are fed by nothing, every op node is fed, one output closes each
    graph, and no op node is a dead end. A space may define no graph form (``nao show`` then
    says so in one line)."""
    try:
        space.graph(samples(space, n=1)[0])
    except ConfigError as err:
        assert "no graph form" in str(err)
        pytest.skip(f"{space.name} defines no graph form")
    for arch in samples(space, seed=9):
        graphs = space.graph(arch)
        assert graphs and all(isinstance(g, CellGraph) for g in graphs)
        assert len({g.name for g in graphs}) == len(graphs)
        for g in graphs:
            CellGraph(g.name, g.nodes, g.edges)  # the construction checks hold as returned
            kinds = [n.kind for n in g.nodes]
            assert kinds.count("output") == 1 and g.nodes[-1].kind == "output"
            assert "input" in kinds and all(n.label for n in g.nodes)
            for n in g.nodes:
                fed = bool(g.inputs_of(n.id))
                assert fed == (n.kind != "input"), f"{g.name}: node {n.id} ({n.kind})"
            reaches = {g.nodes[-1].id}
            for n in reversed(g.nodes):
                if any(e.src == n.id and e.dst in reaches for e in g.edges):
                    reaches.add(n.id)
            dead = [n.id for n in g.nodes if n.kind == "op" and n.id not in reaches]
            assert not dead, f"{g.name}: op nodes {dead} do not reach the output"


# ----- bad strings -------------------------------------------------------------------------
def test_a_string_with_one_refused_token_names_that_position(space):
    """A valid string whose architecture has one token the grammar refuses at ``pos``: the
    parser reports ``pos`` (the first wrong token), whatever the space's written form."""
    skip_if_nothing_is_refused(space)
    rng = np.random.default_rng(10)
    for arch in samples(space, seed=11, n=10):
        tokens, pos = bad_tokens(space, arch, rng)
        text = space.to_string(space._arch_from_tokens(tuple(tokens)))
        with pytest.raises(InvalidArchitectureError) as info:
            space.from_string(text)
        assert info.value.position == pos, str(info.value)
        assert_one_line_positional(space, info.value)


def edited_strings(space: SearchSpace) -> st.SearchStrategy[str]:
    """Valid strings of the space with up to three characters replaced, deleted or inserted
    (characters the written form uses, so edits stay close to the form)."""
    alphabet = sorted({c for a in samples(space, seed=12, n=5) for c in space.to_string(a)})

    def edit(seed: int, edits: list[tuple[int, int, str]]) -> str:
        text = space.to_string(space.sample(np.random.default_rng(seed)))
        for kind, where, char in edits:
            at = where % (len(text) + 1)
            if kind == 0:
                text = text[:at] + char + text[at + 1:]
            elif kind == 1:
                text = text[:at] + text[at + 1:]
            else:
                text = text[:at] + char + text[at:]
        return text

    return st.builds(edit, st.integers(0, 2**32 - 1),
                     st.lists(st.tuples(st.integers(0, 2), st.integers(0, 10**4),
                                        st.sampled_from(alphabet)), max_size=3))


def test_any_string_parses_to_a_valid_architecture_or_gives_the_one_line_positional_error(space):
    @FUZZ
    @given(edited_strings(space) | st.text(max_size=60))
    def check(text):
        try:
            arch = space.from_string(text)
        except InvalidArchitectureError as err:
            assert_one_line_positional(space, err)
        else:  # what parses is an architecture of the space
            assert_valid(space, arch)

    check()


# ----- capabilities ------------------------------------------------------------------------
def test_a_tabular_space_has_a_record_for_every_sample_shared_by_its_symmetries(space):
    if not isinstance(space, Tabular):
        pytest.skip(f"{space.name} declares no table")
    assert space.size >= len(space.benchmark) > 0
    for arch in samples(space, seed=13, n=10):
        record = space.lookup(arch)
        assert space.lookup(space.symmetries(arch)[-1]) == record
        assert space.benchmark.valid_rank(record.valid) >= 1

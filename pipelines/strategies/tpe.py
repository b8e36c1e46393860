"""Optuna's TPE sampler as an ask/tell strategy: the library bar NAO has to clear.

The space is searched through its token grammar, so TPE runs on any :class:`SearchSpace` without
space-specific code: every position with more than one valid token becomes one categorical
parameter whose choices are the tokens the space allows after the prefix chosen so far, and the
trial's picks, read in order, are the architecture's tokens. Every proposal is therefore valid
under the grammar; one the space's whole-architecture :meth:`SearchSpace.check` rejects is told
to Optuna as failed and drawn again.

Parameter names. Optuna keeps one set of choices per parameter name, and the valid tokens at a
position can depend on the prefix (NAS-Bench-Graph's input links). A parameter is named by its
position *and* its choice set (``"p4|1,2"``). The alternatives model less: one name per prefix
would give every parameter a handful of trials, so TPE would learn almost nothing; one name per
position with the union of all tokens would let TPE propose invalid tokens, which then have to be
mapped to valid ones and distort its densities. With position and choice set, a position whose
choices never change (an op, or an input of a fixed node) is one parameter across every trial, so
the multivariate TPE models all positions jointly; only where the grammar narrows the choices does
the parameter split, and then the split follows the context that narrowed it. Optuna's
``group=True`` decomposition gives such conditional parameters a joint model of their own instead
of leaving them to the independent fallback: on NAS-Bench-Graph the four ops and the first input
link form one group modelled jointly, and each choice set of the later links is a group of its own.

Repeats. The loop counts distinct architectures, so a trial that proposes an architecture already
told is told its known score at once (TPE should learn from it like any trial) and TPE is asked
again, up to ``max_retries`` times per architecture wanted, before a random unseen architecture
fills the slot. Every told architecture is told to the trial that proposed it; one no trial
proposed (the random start, a random fill) is added to the study as a finished trial, so TPE
learns from it too.

The random start. The first ``n_startup_trials`` architectures are, by default
(``startup="space"``), the space's own uniform draws from the strategy's generator: the same
architectures random search, evolution and NAO start from with the same seed. Optuna's startup
is random too, but from other draws, so a comparison of strategies at a small budget would
measure the luck of two different random starts instead of what each does once it steers
(on NAS-Bench-Graph pubmed, TPE's own start of 10 was 0.0017 ahead of the shared one over 20
seeds, on computers 0.0031 behind). ``startup="optuna"`` keeps Optuna's draws. Optuna itself
seeds its TPE's startup sampler with the TPE's seed, the same idea within one library.

Determinism and resume. Each trial gets a fresh sampler seeded from ``self.rng``, so all of the
search's randomness is the strategy's own generator: the same seed replays the same search, and
:meth:`state_dict` (the finished trials plus the generator's state) rebuilds a strategy that
proposes exactly what the original would have.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Iterator, Sequence
from typing import Any

from nao.errors import ConfigError, InvalidArchitectureError
from nao.validation import check_bool, check_choice, check_int
from search_spaces.base import Arch, SearchSpace, Tokens

from .base import Strategy

# Optuna's own defaults, except where a short tabular budget argues otherwise (none so far).
DEFAULT_N_STARTUP_TRIALS = 10
DEFAULT_N_EI_CANDIDATES = 24
DEFAULT_BATCH_SIZE = 1  # TPE is sequential: each proposal should see every score told before it
MAX_RETRIES = 20  # TPE proposals per wanted architecture before a random unseen one stands in
# beyond these limits a proposal takes seconds and a crowded space would look like a hang
MAX_EI_CANDIDATES = 10_000
MAX_RETRIES_LIMIT = 10_000
_SEED_BOUND = 2**31 - 1
STARTUPS = ("space", "optuna")
INSTALL_HINT = "the tpe strategy needs Optuna: pip install -e '.[optuna]'"


def import_optuna() -> Any:
    """Optuna, quiet; a :class:`ConfigError` that says how to install it when missing."""
    try:
        import optuna
    except ImportError as err:
        raise ConfigError(INSTALL_HINT) from err
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def param_name(pos: int, choices: Tokens) -> str:
    """The parameter of position ``pos`` when ``choices`` are valid there (see the module doc)."""
    return f"p{pos}|{','.join(map(str, choices))}"


class TPEStrategy(Strategy):
    """Optuna's multivariate TPE over the space's token grammar, one trial per proposal."""

    def __init__(self, space: SearchSpace, random_state: int | None = None,
                 n_startup_trials: int = DEFAULT_N_STARTUP_TRIALS,
                 n_ei_candidates: int = DEFAULT_N_EI_CANDIDATES, multivariate: bool = True,
                 group: bool = True, batch_size: int = DEFAULT_BATCH_SIZE,
                 max_retries: int = MAX_RETRIES, startup: str = "space"):
        super().__init__(space, random_state)
        self.optuna = import_optuna()
        owner = "tpe strategy"
        self.n_startup_trials = check_int(owner, "n_startup_trials", n_startup_trials, 0)
        self.n_ei_candidates = check_int(owner, "n_ei_candidates", n_ei_candidates, 1,
                                         MAX_EI_CANDIDATES)
        self.multivariate = check_bool(owner, "multivariate", multivariate)
        self.group = check_bool(owner, "group", group)
        self.ask_size = check_int(owner, "batch_size", batch_size, 1)
        self.max_retries = check_int(owner, "max_retries", max_retries, 0, MAX_RETRIES_LIMIT)
        self.startup = check_choice(owner, "startup", startup, STARTUPS)
        if self.group and not self.multivariate:
            raise ConfigError("tpe strategy: group=true needs multivariate=true; "
                              "set group=false for the independent TPE")
        self.n_random_fill = 0
        self.n_repeats = 0  # trials that proposed an architecture already told
        self._known: dict[Hashable, float] = {}  # canonical key -> score told
        self._pending: dict[Hashable, list[Any]] = {}  # canonical key -> trials awaiting a score
        self.study = self._new_study()

    # ----- optuna plumbing -----------------------------------------------------------------
    def _new_study(self) -> Any:
        """An empty study; its sampler is replaced before every trial (:meth:`_sampler`)."""
        return self.optuna.create_study(direction="maximize",
                                        sampler=self.optuna.samplers.RandomSampler(seed=0))

    def _sampler(self) -> Any:
        """A TPE sampler seeded from ``self.rng``; a fresh one per trial keeps the strategy's
        generator the only source of randomness (its state is all a resume needs)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", self.optuna.exceptions.ExperimentalWarning)
            return self.optuna.samplers.TPESampler(
                n_startup_trials=self.n_startup_trials, n_ei_candidates=self.n_ei_candidates,
                multivariate=self.multivariate, group=self.group,
                seed=int(self.rng.integers(_SEED_BOUND)))

    def _params(self, tokens: Tokens) -> dict[str, tuple[Any, int]]:
        """The trial parameters that write ``tokens``: name -> (distribution, token)."""
        dist = self.optuna.distributions.CategoricalDistribution
        out = {}
        for pos, tok in enumerate(tokens):
            choices = self.space.valid_tokens(tokens[:pos])
            if len(choices) > 1:
                out[param_name(pos, choices)] = (dist(list(choices)), tok)
        return out

    def _suggest(self, trial: Any) -> Tokens:
        tokens: list[int] = []
        for pos in range(self.space.length):
            choices = self.space.valid_tokens(tuple(tokens))
            tok = (choices[0] if len(choices) == 1
                   else trial.suggest_categorical(param_name(pos, choices), list(choices)))
            tokens.append(int(tok))
        return tuple(tokens)

    def _add_finished(self, tokens: Tokens, score: float | None) -> None:
        """A trial nobody asked for (the random start, a random fill, a restored one), finished
        with ``score`` (``None``: failed)."""
        params = self._params(tokens)
        state = self.optuna.trial.TrialState
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", self.optuna.exceptions.ExperimentalWarning)
            self.study.add_trial(self.optuna.trial.create_trial(
                params={k: tok for k, (_, tok) in params.items()},
                distributions={k: d for k, (d, _) in params.items()},
                value=score, state=state.COMPLETE if score is not None else state.FAIL))

    # ----- ask / tell ----------------------------------------------------------------------
    def ask(self, n: int) -> list[Arch]:
        """Up to ``n`` architectures neither told nor repeated within this ask."""
        out: list[Arch] = []
        taken: set[Hashable] = set()
        for _ in range(n):
            # the shared random start (module doc) is drawn like a fill, not proposed by TPE
            starting = (self.startup == "space"
                        and len(self.archs) + len(out) < self.n_startup_trials)
            arch = None if starting else self._propose(taken)
            if arch is None:
                fill = self.sample_unseen(1, exclude=taken)
                if not starting:
                    self.n_random_fill += len(fill)
                if not fill:
                    break
                arch = fill[0]
            taken.add(self.space.canonical(arch))
            out.append(arch)
        return out

    def _propose(self, taken: set[Hashable]) -> Arch | None:
        """A new architecture from TPE, telling repeats their known score along the way."""
        found = self.space.distinct(self._suggestions(), 1, taken)
        return found[0] if found else None

    def _suggestions(self) -> Iterator[Arch | None]:
        """Up to ``max_retries + 1`` TPE trials as architectures; a failed or already told one
        is ``None`` (and is told to the study at once)."""
        for _ in range(self.max_retries + 1):
            self.study.sampler = self._sampler()
            trial = self.study.ask()
            tokens = self._suggest(trial)
            try:
                arch = self.space.from_tokens(tokens)
            except InvalidArchitectureError:
                self.study.tell(trial, state=self.optuna.trial.TrialState.FAIL)
                yield None
                continue
            key = self.space.canonical(arch)
            if key in self._known:
                self.n_repeats += 1
                self.study.tell(trial, self._known[key])
                yield None
                continue
            self._pending.setdefault(key, []).append(trial)
            yield arch

    def tell(self, archs: Sequence[Arch], scores: Sequence[float]) -> None:
        super().tell(archs, scores)
        for arch, score in zip(archs, scores, strict=True):
            key = self.space.canonical(arch)
            self._known[key] = float(score)
            trials = self._pending.pop(key, [])
            for trial in trials:
                self.study.tell(trial, float(score))
            if not trials:
                self._add_finished(self.space.to_tokens(arch), float(score))

    # ----- resume --------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """The base state plus every finished trial (tokens, value; ``None`` for a failed one)
        in order. Trials still waiting for a score are not kept: they are proposals the loop
        never evaluated, and a tell for them after a restore adds them as new trials."""
        state = super().state_dict()
        finished = self.optuna.trial.TrialState
        state["trials"] = [
            (list(self._tokens_of(t)), t.value if t.state == finished.COMPLETE else None)
            for t in self.study.get_trials(deepcopy=False)
            if t.state in (finished.COMPLETE, finished.FAIL)
        ]
        state["n_random_fill"] = self.n_random_fill
        state["n_repeats"] = self.n_repeats
        return state

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self._known = {self.space.canonical(a): s for a, s in zip(self.archs, self.scores,
                                                                   strict=True)}
        self._pending = {}
        self.study = self._new_study()
        for tokens, value in state["trials"]:
            self._add_finished(tuple(tokens), value)
        self.n_random_fill = state["n_random_fill"]
        self.n_repeats = state["n_repeats"]

    def _tokens_of(self, trial: Any) -> Tokens:
        """A finished trial's tokens, read back through the grammar as :meth:`_suggest` wrote
        them."""
        tokens: list[int] = []
        for pos in range(self.space.length):
            choices = self.space.valid_tokens(tuple(tokens))
            tokens.append(int(choices[0] if len(choices) == 1
                              else trial.params[param_name(pos, choices)]))
        return tuple(tokens)

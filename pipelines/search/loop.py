"""The search loop: strategy asks -> evaluator scores -> store records -> strategy is told."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from nao.errors import NaoError
from search_spaces.base import Arch, SearchSpace, Tabular

from ..strategies.base import Strategy
from .engine import Engine, SerialEngine
from .evaluators import Evaluation, Evaluator
from .store import Store, key_text


@dataclass
class HistoryEntry:
    query: int  # 1-based: the n-th distinct architecture evaluated
    arch: str
    valid: float
    test: float | None


@dataclass
class SearchResult:
    space: str
    strategy: str
    seed: int | None
    queries: int
    wall_s: float
    history: list[HistoryEntry] = field(default_factory=list)
    best: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        out = {
            "space": self.space, "strategy": self.strategy, "seed": self.seed,
            "queries": self.queries, "wall_s": round(self.wall_s, 3), "best": self.best,
            "history": [asdict(h) for h in self.history],
        }
        out.update(self.extra)
        return out


class SearchStalledError(NaoError):
    """The strategy keeps asking for architectures that were all evaluated already.

    ``queries`` is how many distinct architectures were evaluated before it gave up.
    """

    def __init__(self, message: str, queries: int = 0):
        super().__init__(message)
        self.queries = queries


def pick_record(arch: str, valid: float, test: float | None, query: int, benchmark=None) -> dict:
    """The ``best`` entry of a result: the pick, with its ranks in the table when there is one."""
    best = {"arch": arch, "valid": valid, "test": test, "query": query}
    if benchmark is not None:
        best["valid_rank"] = benchmark.valid_rank(valid)
        if test is not None:
            best["test_rank"] = benchmark.test_rank(test)
    return best


def run_search(space: SearchSpace, strategy: Strategy, evaluator: Evaluator, budget: int, *,
               strategy_name: str = "", seed: int | None = None, store: Store | None = None,
               on_query: Callable[[HistoryEntry], None] | None = None,
               max_stalls: int = 50, engine: Engine | None = None) -> SearchResult:
    """Run until ``budget`` distinct architectures (by canonical key) have been evaluated.

    Architectures already in ``store`` (a resumed run) are answered from it; repeats within
    the run are told their known score without counting against the budget.

    ``engine`` says where children are evaluated (default: here, in whole asks, see
    :class:`SerialEngine`). With a parallel engine the loop keeps ``engine.capacity`` children
    running: each one that finishes is stored and told at once, and the strategy is asked for
    more whenever fewer than that are running (a strategy that plans in rounds, like NAO, is
    asked again when its round has drained, and is told as results arrive). An architecture
    asked while an equal one is running is told that one's score when it comes.
    """
    start = time.perf_counter()
    engine = engine or SerialEngine(evaluator)
    stored = store.evaluations() if store is not None else {}
    known: dict[str, Evaluation] = {}
    history: list[HistoryEntry] = []
    running: dict[str, Arch] = {}  # submitted to the engine, not finished
    order: dict[str, int] = {}  # key -> when it was taken up, so a batch is recorded in ask order
    waiting: list[tuple[Arch, str]] = []  # asked and not told yet
    stalls = 0
    try:
        while len(history) < budget:
            room = budget - len(history) - len(running)
            asked_now = False
            finished: list[tuple[str, Arch, Evaluation, bool]] = []  # ..., evaluated here
            if room > 0 and len(running) < engine.capacity:
                asked_now = True
                asked = strategy.ask(max(1, min(strategy.ask_size, room)))
                todo: list[tuple[Arch, str]] = []
                taken = set(known) | set(running)
                for arch in asked:
                    key = key_text(space.canonical(arch))
                    waiting.append((arch, key))
                    if key not in taken:
                        taken.add(key)
                        todo.append((arch, key))
                for arch, key in todo[:room]:
                    order[key] = len(order)
                    if key in stored:
                        s = stored[key]
                        finished.append((key, arch, Evaluation(s.valid, s.test, s.info), False))
                    else:
                        running[key] = arch
                        engine.submit(key, arch)
                # asked beyond the budget: never evaluated, so never told
                pending = set(known) | set(running) | {f[0] for f in finished}
                waiting = [(a, k) for a, k in waiting if k in pending]
                stalls = 0 if todo else stalls + 1
            if running:
                finished += [(key, running.pop(key), evaluation, True)
                             for key, evaluation in engine.wait()]
            for key, arch, evaluation, fresh in sorted(finished, key=lambda f: order[f[0]]):
                if fresh and store is not None:
                    store.add(space.canonical(arch), space.to_string(arch), evaluation.valid,
                              evaluation.test, evaluation.info)
                known[key] = evaluation
                entry = HistoryEntry(len(history) + 1, space.to_string(arch), evaluation.valid,
                                     evaluation.test)
                history.append(entry)
                if on_query is not None:
                    on_query(entry)
            told = [(a, k) for a, k in waiting if k in known]
            waiting = [(a, k) for a, k in waiting if k not in known]
            if told or asked_now:
                strategy.tell([a for a, _ in told], [known[k].valid for _, k in told])
            if stalls >= max_stalls:
                raise SearchStalledError(
                    f"{strategy_name or type(strategy).__name__} proposed only already-evaluated "
                    f"architectures {max_stalls} times in a row after {len(history)} queries; "
                    "the space may be exhausted (lower --budget)", queries=len(history)
                )
    finally:
        engine.close()
    return summarize(space, history, strategy_name, seed, time.perf_counter() - start)


def summarize(space: SearchSpace, history: list[HistoryEntry], strategy_name: str,
              seed: int | None, wall_s: float) -> SearchResult:
    """The result of a search from its history: the first entry with the best validation
    accuracy is the pick."""
    best_i = max(range(len(history)), key=lambda i: history[i].valid)
    b = history[best_i]
    benchmark = space.benchmark if isinstance(space, Tabular) else None
    best = pick_record(b.arch, b.valid, b.test, b.query, benchmark)
    extra: dict = {}
    if benchmark is not None:
        extra = {"optimum_valid": benchmark.optimum_valid, "optimum_test": benchmark.optimum_test}
    return SearchResult(space.name, strategy_name, seed, len(history), wall_s, history, best,
                        extra)


def result_from_store(space: SearchSpace, store: Store, budget: int, *, strategy_name: str = "",
                      seed: int | None = None) -> SearchResult:
    """A finished search (``budget`` or more stored evaluations) read back without replaying
    the strategy: the same history as the run that made it, since the loop stores every
    evaluation in query order. A store holding more than ``budget`` gives its first ``budget``.
    """
    start = time.perf_counter()
    stored = sorted(store.evaluations().values(), key=lambda s: s.query)
    if len(stored) < budget:
        raise ValueError(f"the store holds {len(stored)} evaluations, fewer than {budget}")
    history = [HistoryEntry(i + 1, s.arch, s.valid, s.test) for i, s in enumerate(stored[:budget])]
    return summarize(space, history, strategy_name, seed, time.perf_counter() - start)

"""The engines that train children in parallel, with real (tiny) nas-rl children on a generated
stand-in image set: local worker processes give the same results as one process, a dask
worker killed mid-training loses nothing finished and its child is trained elsewhere, a
resumed run never trains a stored child again, and a missing dask is one line."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from concurrent.futures import Future
from types import SimpleNamespace

import pytest
from joblib.externals.loky import BrokenProcessPool

import pipelines.search.engine as engine_module
from nao.errors import ConfigError
from pipelines import cli
from pipelines.search.engine import DaskEngine, LocalEngine, SerialEngine, WorkerLostError
from pipelines.search.loop import run_search
from pipelines.search.store import Store
from pipelines.search.train_evaluator import ChildTraining, DataSpec, TrainEvaluator
from pipelines.strategies import make_strategy
from search_spaces import get_space

SPACE = "nas-rl:layers=2"
DATA = DataSpec("standin:1x12x12", train_size=128, seed=0)
QUICK = ChildTraining(epochs=1, batch_size=32)


def evaluator(training: ChildTraining = QUICK) -> TrainEvaluator:
    return TrainEvaluator(get_space(SPACE), DATA, training, seed=0)


def search(engine_of, budget: int, store: Store | None = None, on_query=None, seed: int = 0):
    ev = evaluator()
    space = ev.space
    strategy = make_strategy("random", space, random_state=seed, batch_size=2)
    return run_search(space, strategy, ev, budget, store=store, on_query=on_query,
                      engine=engine_of(ev))


def results(result) -> set[tuple[str, float, float]]:
    return {(h.arch, h.valid, h.test) for h in result.history}


def test_two_local_worker_processes_find_the_same_results_as_one_process():
    one = search(SerialEngine, 6)
    two = search(lambda ev: LocalEngine(ev, 2), 6)
    assert len(results(one)) == 6
    assert results(two) == results(one)


class Spy:
    """Wraps an engine: records every key submitted, and stops the run (as a crash would)
    once ``stop_after`` results came back."""

    def __init__(self, engine, stop_after: int | None = None):
        self.engine, self.stop_after = engine, stop_after
        self.submitted: list[str] = []
        self.returned = 0

    @property
    def capacity(self) -> int:
        return self.engine.capacity

    def submit(self, key, arch) -> None:
        self.submitted.append(key)
        self.engine.submit(key, arch)

    def wait(self):
        if self.stop_after is not None and self.returned >= self.stop_after:
            raise KeyboardInterrupt
        out = self.engine.wait()
        self.returned += len(out)
        return out

    def close(self) -> None:
        self.engine.close()


def test_a_resumed_run_never_trains_a_stored_child_again(tmp_path):
    store = Store(tmp_path / "store.sqlite")
    crashed = Spy(None, stop_after=2)
    with pytest.raises(KeyboardInterrupt):
        search(lambda ev: setattr(crashed, "engine", LocalEngine(ev, 2)) or crashed, 6, store)
    before = store.evaluations()
    assert len(before) >= 2  # what finished before the crash is stored
    resumed = Spy(None)
    result = search(lambda ev: setattr(resumed, "engine", LocalEngine(ev, 2)) or resumed, 6,
                    store)
    assert not set(resumed.submitted) & set(before)
    assert len(store) == 6 == len({h.arch for h in result.history})
    for s in before.values():  # the stored results are the run's, unchanged
        assert store.evaluations()[s.key] == s
    store.close()


def test_without_dask_a_scheduler_is_one_line_saying_how_to_install_it(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    code = cli.main(["search", "--space", SPACE, "--data", "standin", "--budget", "2", "--strategy", "random",
                     "--scheduler", "tcp://127.0.0.1:8786", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "pip install -e '.[dask]'" in err[0]


@pytest.fixture
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, host="127.0.0.1") as c:
        yield c


def test_a_dask_engine_finds_the_same_results_as_one_process():
    """The plain suite's run of DaskEngine: one in-process worker thread (the killed-worker
    test below, on a process cluster, is slow)."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        remote = search(lambda ev: DaskEngine(ev, cluster.scheduler_address), 4)
    assert len(results(remote)) == 4
    assert results(remote) == results(search(SerialEngine, 4))


@pytest.mark.slow  # a process cluster and a SIGKILL
def test_a_dask_worker_killed_mid_training_loses_no_result_and_its_child_trains_elsewhere(
        cluster, tmp_path):
    store = Store(tmp_path / "store.sqlite")
    done: dict[str, tuple[float, float | None]] = {}  # arch -> scores, as they are recorded
    engines: list[DaskEngine] = []
    killed: dict = {}

    def on_query(entry) -> None:
        done[entry.arch] = (entry.valid, entry.test)

    def kill_a_busy_worker() -> None:
        """Once a child is finished, SIGKILL the process of a worker that is training one."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed:
            if engines and done:
                engine = engines[0]
                processing = engine.client.processing()
                for nanny in cluster.workers.values():
                    keys = processing.get(nanny.worker_address, ())
                    ours = {f.key: k for f, k in list(engine.futures.items())}
                    busy = [ours[k] for k in keys if k in ours]
                    if busy:
                        killed.update(key=busy[0], finished=dict(done))
                        os.kill(nanny.process.process.pid, signal.SIGKILL)
                        return
            time.sleep(0.01)

    def make(ev):
        engines.append(DaskEngine(ev, cluster.scheduler_address))
        return engines[0]

    killer = threading.Thread(target=kill_a_busy_worker, daemon=True)
    killer.start()
    result = search(make, 6, store, on_query, seed=1)
    killer.join(timeout=5)
    assert killed, "no worker was killed while training"
    assert len(result.history) == len(store) == 6  # the same number of distinct evaluations
    assert len({h.arch for h in result.history}) == 6
    history = {h.arch: (h.valid, h.test) for h in result.history}
    for arch, scores in killed["finished"].items():  # nothing finished before the kill is lost
        assert history[arch] == scores
    stored_keys = set(store.evaluations())
    assert killed["key"] in stored_keys  # the killed worker's child was trained elsewhere
    store.close()


def test_nao_benchmark_on_a_dask_cluster_gives_the_searches_of_a_local_run_and_saves_them(
        tmp_path):
    distributed = pytest.importorskip("distributed")
    from pipelines.search.benchmark import RUNS_DIR, run_benchmark

    args = ("nasbench-graph:cora", ["random", "evolution"], 6, 2)
    local = run_benchmark(*args, n_jobs=1)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        remote = run_benchmark(*args, cache_dir=tmp_path / RUNS_DIR,
                               scheduler=cluster.scheduler_address)
    for name, res in local["results"].items():  # all but the wall times
        assert remote["results"][name]["curve"] == res["curve"]
    assert [r["best"] for r in remote["runs"]] == [r["best"] for r in local["runs"]]
    assert len(list((tmp_path / RUNS_DIR).glob("*.json"))) == 4  # saved by this process


@pytest.mark.slow  # worker processes and a SIGKILL; LocalEngine runs in the plain suite above
def test_a_local_worker_killed_mid_search_loses_no_result_and_its_children_start_again():
    done: dict[str, tuple[float, float | None]] = {}
    engines: list[LocalEngine] = []
    killed: dict = {}

    def kill_a_worker() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if engines and done and engines[0].futures:
                pids = list(engines[0]._pool._processes)  # loky's worker processes
                killed.update(finished=dict(done))
                os.kill(pids[0], signal.SIGKILL)
                return
            time.sleep(0.01)

    def make(ev):
        engines.append(LocalEngine(ev, 2))
        return engines[0]

    killer = threading.Thread(target=kill_a_worker, daemon=True)
    killer.start()
    result = search(make, 5, on_query=lambda e: done.__setitem__(e.arch, (e.valid, e.test)),
                    seed=2)
    killer.join(timeout=5)
    assert killed and engines[0].resubmitted >= 1
    history = {h.arch: (h.valid, h.test) for h in result.history}
    assert len(history) == 5
    assert all(history[a] == s for a, s in killed["finished"].items())


# The engines' own logic in this process: stand-ins for loky's executor and a dask client, so
# no test below starts a worker process or a cluster (the tests above run the real ones).


class Scores:
    """A stand-in evaluator: a child's score is its name's; ``fate[arch]`` lists what its next
    trainings do ("dies": its worker is killed, "held": it has not started yet), then it scores."""

    def __init__(self, **fate):
        self.fate = {a: list(f) for a, f in fate.items()}
        self.batches: list[list[str]] = []

    def evaluate_many(self, archs):
        self.batches.append(list(archs))
        return [f"score of {a}" for a in archs]

    def task(self, arch):
        def train():
            what = self.fate.get(arch, []).pop(0) if self.fate.get(arch) else "scores"
            if what == "dies":
                raise BrokenProcessPool("a worker died")
            return None if what == "held" else f"score of {arch}"
        return train


class Pool:
    """loky's executor in this process: a call runs when submitted; a held one never starts."""

    def __init__(self, made: list, **kwargs):
        made.append(kwargs)
        self.futures: list[Future] = []

    def submit(self, call) -> Future:
        future = Future()
        try:
            value = call()
        except BrokenProcessPool as exc:
            future.set_exception(exc)
        else:
            if value is not None:
                future.set_result(value)
        self.futures.append(future)
        return future


@pytest.fixture
def pools(monkeypatch):
    """The keyword arguments of every executor a LocalEngine makes; loky's ``wait`` reports the
    first finished future only (another may finish between its return and the engine's look)."""
    import joblib.externals.loky as loky

    made: list[dict] = []
    monkeypatch.setattr(loky, "get_reusable_executor", lambda **kw: Pool(made, **kw))

    def first_done(futures, return_when):
        assert return_when == loky.FIRST_COMPLETED
        done = [f for f in futures if f.done()]
        assert done, "the engine waited with nothing that can finish"
        return {done[0]}, set(futures) - {done[0]}

    monkeypatch.setattr(loky, "wait", first_done)
    return made


def test_a_serial_engine_scores_all_it_was_given_in_one_batch_in_order():
    scores = Scores()
    engine = SerialEngine(scores)
    assert engine.capacity == 1
    engine.submit("k1", "a")
    engine.submit("k2", "b")
    assert engine.wait() == [("k1", "score of a"), ("k2", "score of b")]
    assert engine.wait() == []  # nothing is scored twice
    assert scores.batches == [["a", "b"], []]


def test_a_serial_engine_refuses_an_evaluator_that_drops_a_child():
    class Drops(Scores):
        def evaluate_many(self, archs):
            return super().evaluate_many(archs)[:-1]

    engine = SerialEngine(Drops())
    engine.submit("k1", "a")
    engine.submit("k2", "b")
    with pytest.raises(ValueError, match="zip"):
        engine.wait()


def test_an_engine_used_in_a_with_block_is_itself_and_is_closed_at_its_end(pools):
    engine = LocalEngine(Scores(a=["held"]), 2)
    with engine as entered:
        assert entered is engine
        engine.submit("k", "a")
        held = next(iter(engine.futures))
    assert held.cancelled() and engine.futures == {}


def test_local_workers_return_each_child_as_it_finishes_and_keep_the_rest_running(pools):
    engine = LocalEngine(Scores(b=["held"]), 3)
    assert engine.capacity == 3
    assert [p["max_workers"] for p in pools] == [3]
    engine.submit("ka", "a")
    engine.submit("kb", "b")
    engine.submit("kc", "c")
    assert engine.wait() == [("ka", "score of a")]
    assert engine.wait() == [("kc", "score of c")]
    assert list(engine.futures.values()) == [("kb", "b", 0)]  # still training
    assert engine.resubmitted == 0 and len(pools) == 1


def test_a_dead_worker_restarts_the_pool_and_every_child_it_had_not_finished(pools):
    """a's worker dies: the pool is broken, so c (broken too) and d (not started) are submitted
    again to a fresh pool, each with one more try; b, finished in the old pool meanwhile, is kept."""
    engine = LocalEngine(Scores(a=["dies"], c=["dies"], d=["held"]), 2)
    for arch in "abcd":
        engine.submit(f"k{arch}", arch)
    assert engine.wait() == []
    assert len(pools) == 2 and pools[1] == pools[0]  # the same pool, started fresh
    assert engine.resubmitted == 3
    assert sorted(engine.futures.values()) == [("ka", "a", 1), ("kb", "b", 0), ("kc", "c", 1),
                                               ("kd", "d", 1)]
    finished = [engine.wait() for _ in range(4)]
    assert sorted(finished) == [[(f"k{a}", f"score of {a}")] for a in "abcd"]
    assert engine.futures == {} and engine.resubmitted == 3


def test_a_child_whose_worker_dies_four_times_is_a_worker_lost_error(pools):
    engine = LocalEngine(Scores(x=["dies"] * 5), 2)
    engine.submit("kx", "x")
    for tries in range(1, 4):
        assert engine.wait() == []
        assert list(engine.futures.values()) == [("kx", "x", tries)]
    with pytest.raises(WorkerLostError, match=r"^the worker training kx died 4 times; check its "
                       r"memory use \(fewer --workers\) and the machine's logs$"):
        engine.wait()
    assert engine.resubmitted == 3


def test_closing_a_local_engine_cancels_the_children_not_started(pools):
    engine = LocalEngine(Scores(a=["held"], b=["held"]), 2)
    engine.submit("ka", "a")
    engine.submit("kb", "b")
    futures = list(engine.futures)
    engine.close()
    assert all(f.cancelled() for f in futures) and engine.futures == {}


def test_a_worker_watches_the_process_that_made_its_pool_and_exits_once_it_is_gone(
        monkeypatch):
    parent = os.getppid()
    before = threading.active_count()
    class Exited(Exception):
        pass

    def exit_now(code):
        raise Exited(code)

    monkeypatch.setattr(os, "_exit", exit_now)
    engine_module.exit_with_parent(os.getpid())  # run in the pool's own process: no watch
    assert threading.active_count() == before
    # the process that made the pool died before this worker got to its initializer
    with pytest.raises(Exited, match="1"):
        engine_module.exit_with_parent(max(parent, os.getpid()) + 1)
    assert threading.active_count() == before

    exits: list[int] = []
    monkeypatch.setattr(os, "_exit", exits.append)
    seen = iter([parent, parent, parent + 99])  # the parent dies after two looks
    monkeypatch.setattr(engine_module, "PARENT_CHECK_S", 0.01)
    monkeypatch.setattr(os, "getppid", lambda: next(seen, parent + 99))
    engine_module.exit_with_parent(parent)
    watcher = [t for t in threading.enumerate() if t.name == "exit-with-parent"]
    assert len(watcher) == 1 and watcher[0].daemon
    watcher[0].join(timeout=5)
    assert not watcher[0].is_alive() and exits == [1]


def test_the_watch_waits_between_looks(monkeypatch):
    slept: list[float] = []
    looks = iter([1, 1, 2])
    monkeypatch.setattr(os, "getppid", lambda: next(looks, 2))
    monkeypatch.setattr(os, "_exit", lambda code: None)
    monkeypatch.setattr(engine_module.time, "sleep", slept.append)
    monkeypatch.setattr(engine_module.threading, "Thread",
                        lambda target, name, daemon: SimpleNamespace(start=target))
    engine_module.exit_with_parent(1)
    assert slept == [engine_module.PARENT_CHECK_S] and 0 < slept[0] <= 1


class KilledWorker(Exception):
    """dask's error for a child whose workers died too often (matched by name)."""


class DaskFuture:
    def __init__(self, value):
        self.value, self.cancelled = value, False

    def result(self):
        if isinstance(self.value, BaseException):
            raise self.value
        return self.value

    def cancel(self):
        self.cancelled = True


class Client:
    """A dask client of a cluster in this process: a call runs when submitted."""

    def __init__(self, nthreads: dict):
        self._nthreads, self.loop, self.closed = nthreads, object(), False
        self.submitted: list[dict] = []

    def nthreads(self):
        return dict(self._nthreads)

    def submit(self, call, **kwargs):
        self.submitted.append(kwargs)
        try:
            return DaskFuture(call())
        except Exception as exc:
            return DaskFuture(exc)

    def close(self):
        self.closed = True


class AsCompleted:
    """dask's ``as_completed``: futures in the order they finish (here: last submitted first)."""

    def __init__(self, futures=(), loop=None):
        if loop is None:  # dask takes the default client's loop, and ours are not the default
            raise ValueError("No clients found")
        self.loop, self.queue = loop, list(futures)[::-1]

    def add(self, future):
        self.queue.insert(0, future)

    def __iter__(self):
        return self

    def __next__(self):
        if not self.queue:
            raise StopIteration
        return self.queue.pop(0)

    def next_batch(self, block=True):
        assert not block or self.queue, "would wait for a child still training"
        out, self.queue = self.queue, []
        return out


@pytest.fixture
def dask(monkeypatch):
    """A stand-in dask.distributed whose ``connect`` gives a client of 2 + 3 worker threads."""
    fake = SimpleNamespace(as_completed=AsCompleted, clients=[], addresses=[])

    def connect(address):
        fake.addresses.append(address)
        fake.clients.append(Client({"w1": 2, "w2": 3}))
        return fake.clients[-1]

    monkeypatch.setattr(engine_module, "import_distributed", lambda: fake)
    monkeypatch.setattr(engine_module, "connect", connect)
    return fake


class Raises:
    """A stand-in evaluator whose children score their name, or raise what ``errors`` holds."""

    def __init__(self, **errors):
        self.errors = errors

    def task(self, arch):
        def train():
            if arch in self.errors:
                raise self.errors[arch]
            return f"score of {arch}"
        return train


def test_a_dask_engine_returns_all_that_finished_without_waiting_for_more(dask):
    engine = DaskEngine(Raises(), "tcp://10.0.0.1:8786")
    assert dask.addresses == ["tcp://10.0.0.1:8786"] and engine.address == "tcp://10.0.0.1:8786"
    client = dask.clients[0]
    assert engine._finished.loop is client.loop
    assert engine.capacity == 5  # every worker thread of the cluster
    engine.submit("ka", "a")
    engine.submit("kb", "b")
    assert client.submitted == [{"pure": False}] * 2  # a child is trained again if submitted again
    assert engine.wait() == [("kb", "score of b"), ("ka", "score of a")]
    assert engine.futures == {}
    client._nthreads = {}
    assert engine.capacity == 1  # a cluster whose workers are not up yet


def test_a_dask_child_whose_workers_kept_dying_is_a_worker_lost_error(dask):
    engine = DaskEngine(Raises(a=KilledWorker("a")), "tcp://10.0.0.1:8786")
    engine.submit("ka", "a")
    with pytest.raises(WorkerLostError, match=r"^dask workers died several times while training "
                       r"ka; check their memory and logs$") as caught:
        engine.wait()
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_a_dask_childs_own_error_is_raised_as_it_is(dask):
    error = ValueError("bad child")
    engine = DaskEngine(Raises(a=error), "tcp://10.0.0.1:8786")
    engine.submit("ka", "a")
    with pytest.raises(ValueError) as caught:
        engine.wait()
    assert caught.value is error


def test_closing_a_dask_engine_cancels_its_children_and_closes_the_client(dask):
    engine = DaskEngine(Raises(), "tcp://10.0.0.1:8786")
    engine.submit("ka", "a")
    future = next(iter(engine.futures))
    engine.close()
    assert future.cancelled and engine.futures == {} and dask.clients[0].closed


def test_dask_unordered_yields_each_result_as_it_finishes_and_closes_its_client(dask):
    results = list(engine_module.dask_unordered([lambda: 1, lambda: 2, lambda: 3], "tcp://h:1"))
    assert results == [3, 2, 1]  # the stand-in finishes the last call first
    client = dask.clients[0]
    assert client.submitted == [{"pure": False}] * 3 and client.closed
    assert dask.addresses == ["tcp://h:1"]

    def fails():
        raise ValueError("bad search")

    with pytest.raises(ValueError, match="bad search"):
        list(engine_module.dask_unordered([fails], "tcp://h:1"))
    assert dask.clients[1].closed


def test_make_engine_picks_the_engine_the_options_name(monkeypatch):
    monkeypatch.setattr(engine_module, "DaskEngine", lambda ev, address: ("dask", ev, address))
    monkeypatch.setattr(engine_module, "LocalEngine", lambda ev, workers: ("local", ev, workers))
    ev = Scores()
    assert engine_module.make_engine(ev, 4, "tcp://h:1") == ("dask", ev, "tcp://h:1")
    assert engine_module.make_engine(ev, 2) == ("local", ev, 2)
    for engine in (engine_module.make_engine(ev), engine_module.make_engine(ev, 1)):
        assert isinstance(engine, SerialEngine) and engine.evaluator is ev


def test_without_dask_importing_it_is_one_line_saying_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ConfigError) as caught:
        engine_module.import_distributed()
    assert str(caught.value) == ("--scheduler needs dask.distributed, which is not installed; "
                                 "install it with pip install -e '.[dask]'")
    assert caught.value.__suppress_context__


class Distributed:
    """A stand-in dask.distributed whose Client records its arguments, or fails as ``error``
    says after starting its event loop's runner."""

    def __init__(self, error: BaseException | None = None, runner: bool = True):
        made, stopped = [], []
        self.made, self.stopped = made, stopped

        class Client:
            def __init__(self, *args, **kwargs):
                made.append(self)
                self.args, self.kwargs, self.status = args, kwargs, "running"
                if runner:
                    self._loop_runner = SimpleNamespace(stop=lambda: stopped.append(self))
                if error is not None:
                    raise error

        self.Client = Client


def test_connect_probes_the_address_then_makes_a_client_that_is_not_the_default(monkeypatch):
    probed = []
    monkeypatch.setattr(engine_module, "_probe", probed.append)
    fake = Distributed()
    monkeypatch.setattr(engine_module, "import_distributed", lambda: fake)
    client = engine_module.connect("tcp://10.0.0.1:8786")
    assert probed == ["tcp://10.0.0.1:8786"]
    assert isinstance(client, fake.Client) and client.args == ("tcp://10.0.0.1:8786",)
    assert client.kwargs == {"timeout": engine_module.CONNECT_TIMEOUT_S, "set_as_default": False}


@pytest.mark.parametrize("error, why", [(OSError("refused\nmore"), "OSError: refused"),
                                        (TimeoutError(), "TimeoutError: "),
                                        (ValueError("bad"), "ValueError: bad")])
def test_a_client_that_cannot_connect_is_closed_and_one_line(monkeypatch, error, why):
    monkeypatch.setattr(engine_module, "_probe", lambda address: None)
    fake = Distributed(error)
    monkeypatch.setattr(engine_module, "import_distributed", lambda: fake)
    with pytest.raises(ConfigError) as caught:
        engine_module.connect("tcp://10.0.0.1:8786")
    assert str(caught.value) == (
        f"--scheduler tcp://10.0.0.1:8786: cannot reach a dask scheduler there ({why}); start "
        "one with 'dask scheduler' and workers with 'dask worker ADDRESS' (docs/cluster.md), or "
        "check the address")
    assert caught.value.__suppress_context__
    assert [c.status for c in fake.made] == ["closed"] and fake.stopped == fake.made


def test_a_client_failing_before_its_loop_started_is_closed_and_its_error_kept(monkeypatch):
    fake = Distributed(KeyboardInterrupt(), runner=False)
    Client = engine_module._client_class(fake)
    with pytest.raises(KeyboardInterrupt):
        Client("tcp://10.0.0.1:8786")
    assert [c.status for c in fake.made] == ["closed"] and fake.stopped == []


@pytest.mark.parametrize("address, reached", [
    ("tcp://10.0.0.1:8786", ("10.0.0.1", 8786)), ("node-3:8787", ("node-3", 8787)),
    ("tls://[::1]:8786", ("::1", 8786)), ("NODEX:8786", ("NODEX", 8786)),
    ("ucx://10.0.0.1:13337", None),
    ("inproc://192.0.2.2/17049/1", None)])
def test_the_probe_connects_to_the_host_and_port_over_tcp_only(monkeypatch, address, reached):
    calls = []

    class Connection:
        def recv(self, size):
            calls.append(("recv", size))
            return b"\x00"

    @contextlib.contextmanager
    def create_connection(host_port, timeout):
        calls.append((host_port, timeout))
        yield Connection()

    monkeypatch.setattr(engine_module.socket, "create_connection", create_connection)
    engine_module._probe(address)
    expected = [] if reached is None else [(reached, engine_module.CONNECT_TIMEOUT_S)]
    if address.startswith(("tcp://", "node-3", "NODEX")):  # plain tcp: the scheduler speaks first
        expected.append(("recv", 1))
    assert calls == expected


@pytest.mark.parametrize("port, valid", [(0, False), (1, True), (8786, True), (65535, True),
                                         (65536, False)])
def test_a_scheduler_port_is_1_to_65535(port, valid):
    problem = engine_module.address_problem(f"tcp://10.0.0.1:{port}")
    assert (problem is None) == valid
    if not valid:
        assert problem == (f"'tcp://10.0.0.1:{port}' is not a dask scheduler address; give "
                           "tcp://HOST:PORT as 'dask scheduler' prints it, e.g. "
                           "tcp://127.0.0.1:8786")
        with pytest.raises(ConfigError) as caught:
            engine_module.check_address(f"tcp://10.0.0.1:{port}")
        assert str(caught.value) == f"--scheduler {problem}"

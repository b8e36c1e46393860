"""The engines that train children in parallel, with real (tiny) nas-rl children on a generated
stand-in image set: local worker processes give the same results as one process, a dask
worker killed mid-training loses nothing finished and its child is trained elsewhere, a
resumed run never trains a stored child again, and a missing dask is one line."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import pytest

from pipelines import cli
from pipelines.search.engine import DaskEngine, LocalEngine, SerialEngine
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

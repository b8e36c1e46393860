"""Local worker processes outlive no process killed outright (SIGKILL): a parallel `nao benchmark`'s
workers, and `nao search --workers`', see their parent gone and exit within a second or so,
loky's resource trackers with them; a benchmark's idle worker exits after seconds, not joblib's
five minutes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

import pipelines.search.benchmark as benchmark
from pipelines.search.engine import LocalEngine, exit_with_parent

START_WAIT_S = 120  # the workers import the strategies and load the table: slow on a busy machine
ORPHAN_WAIT_S = 30


def _processes() -> dict[int, tuple[int, str, int]]:
    """pid -> (parent pid, state, start time) of every process, read from /proc."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # ended meanwhile
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
        found[int(entry.name)] = (int(fields[1]), fields[0], int(fields[19]))
    return found


def _descendants(root: int) -> dict[int, int]:
    """pid -> start time of every process below ``root``."""
    processes, found, frontier = _processes(), {}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, _, start) in processes.items():
            if ppid == parent and pid not in found:
                found[pid] = start
                frontier.append(pid)
    return found


def _alive(seen: dict[int, int]) -> dict[int, str]:
    """Those of ``seen`` still running (the same process: same start time, not a zombie), with
    their command lines."""
    processes, alive = _processes(), {}
    for pid, start in seen.items():
        if pid in processes and processes[pid][2] == start and processes[pid][1] != "Z":
            try:
                alive[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
    return alive


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
def test_a_parallel_benchmark_killed_with_sigkill_leaves_no_workers_alive(tmp_path):
    out = tmp_path / "bench"
    command = [sys.executable, "-m", "pipelines.cli", "benchmark", "--strategies", "random",
               "--budget", "10", "--seeds", "500", "--jobs", "2", "--quiet", "--out", str(out)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen: dict[int, int] = {}
    try:
        deadline = time.monotonic() + START_WAIT_S
        while not any((out / benchmark.RUNS_DIR).glob("*.json")):  # the workers are searching
            assert proc.poll() is None, "the benchmark ended before it could be killed"
            assert time.monotonic() < deadline, "no search finished"
            seen.update(_descendants(proc.pid))
            time.sleep(0.05)
        seen.update(_descendants(proc.pid))
        workers = [c for c in _alive(seen).values() if "LokyProcess" in c]
        assert len(workers) == 2, _alive(seen)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + ORPHAN_WAIT_S
        while _alive(seen) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _alive(seen) == {}, f"still alive {ORPHAN_WAIT_S} s after the kill"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in _alive(seen):  # this test's own processes: never left running
            os.kill(pid, signal.SIGKILL)


WORKER = """
import pathlib, sys, time
from pipelines.search.engine import exit_with_parent
exit_with_parent(int(sys.argv[1]))
pathlib.Path(sys.argv[2]).touch()
time.sleep(600)
"""
PARENT = """
import subprocess, sys, os, time
worker = subprocess.Popen([sys.executable, "-c", sys.argv[1], str(os.getpid()), *sys.argv[2:]])
print(worker.pid, flush=True)
time.sleep(600)
"""


@contextmanager
def _parent_and_worker(worker_code: str, *args: str):
    """A parent process that starts ``worker_code`` (given the parent's pid and ``args``) and
    sleeps: the parent and the worker's (pid -> start time); both are killed on the way out."""
    parent = subprocess.Popen([sys.executable, "-c", PARENT, worker_code, *args],
                              stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[3])
    worker = int(parent.stdout.readline())
    seen = {worker: _processes()[worker][2]}
    try:
        yield parent, seen
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        for pid in _alive(seen):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
def test_a_worker_exits_within_seconds_once_the_process_that_started_it_is_killed(tmp_path):
    ready = tmp_path / "ready"
    with _parent_and_worker(WORKER, str(ready)) as (parent, seen):
        deadline = time.monotonic() + START_WAIT_S
        while not ready.exists():
            assert time.monotonic() < deadline and _alive(seen), "the worker did not start"
            time.sleep(0.05)
        time.sleep(1)  # the worker sees its parent alive: it does not exit on its own
        assert _alive(seen)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 10
        while _alive(seen) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _alive(seen) == {}, "the orphaned worker is still running"


LATE_WORKER = """
import pathlib, sys, time
go = pathlib.Path(sys.argv[2])
while not go.exists():  # still starting (importing torch) when its parent is killed
    time.sleep(0.05)
from pipelines.search.engine import exit_with_parent
exit_with_parent(int(sys.argv[1]))
pathlib.Path(sys.argv[3]).touch()
time.sleep(600)
"""


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
def test_a_worker_whose_parent_died_while_it_was_starting_exits_at_once(tmp_path):
    """The race CI met: a benchmark killed while its second worker was still importing. The
    worker's initializer then finds another parent; it must not take that for 'nothing to
    watch' and wait on a dead pool's queue."""
    go, past = tmp_path / "go", tmp_path / "past-the-initializer"
    with _parent_and_worker(LATE_WORKER, str(go), str(past)) as (parent, seen):
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        go.touch()  # the worker now reaches its initializer, orphaned
        deadline = time.monotonic() + START_WAIT_S
        while _alive(seen) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _alive(seen) == {}, "the worker orphaned before its initializer is still running"
        assert not past.exists()


def test_the_benchmarks_workers_watch_their_parent_and_end_when_idle(monkeypatch):
    """How the pool is made (what the slow test above sees): each worker watches the process
    that started it, and an idle one exits after seconds (joblib's default keeps it five
    minutes, orphaned or not)."""
    import joblib

    made = []

    class Recording(joblib.Parallel):
        def __init__(self, *args, **kwargs):
            made.append(kwargs)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(joblib, "Parallel", Recording)
    benchmark.run_all("nasbench-graph:cora", ["random"], 3, [0], {}, n_jobs=1)
    assert len(made) == 1
    assert 0 < made[0]["idle_worker_timeout"] <= 10
    assert made[0]["initializer"] is exit_with_parent
    assert made[0]["initargs"] == (os.getpid(),)


def test_a_searchs_worker_processes_watch_their_parent(monkeypatch):
    """``nao search --workers``' pool: each worker exits once this process is gone."""
    import joblib.externals.loky as loky

    made = []
    monkeypatch.setattr(loky, "get_reusable_executor", lambda **kwargs: made.append(kwargs))
    LocalEngine(evaluator=None, workers=2)
    assert made == [{"max_workers": 2, "initializer": exit_with_parent,
                     "initargs": (os.getpid(),)}]

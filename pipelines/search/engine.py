"""Where the children of a search are evaluated: in this process, in local worker processes
(joblib's loky), or on a dask.distributed cluster. The search loop is the same for all three:
it submits architectures, waits for whichever finish first, stores and tells them at once, and
asks for replacements (Archai's split of a synchronous and an asynchronous evaluator behind one
interface: a local run and a cluster differ in this one object).

A worker that dies mid-training (killed, out of memory, a machine gone) loses only the child it
was training: a local engine starts a fresh pool and submits that child again, and dask's
scheduler reassigns it to another worker on its own. Every child already finished is in the
store by then.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from nao.errors import ConfigError, NaoError
from nao.validation import shown
from search_spaces.base import Arch

from .evaluators import Evaluation, Evaluator

RETRIES = 3  # a child whose worker died is submitted again this many times at most
CONNECT_TIMEOUT_S = 10  # reaching a dask scheduler
PARENT_CHECK_S = 0.5  # how often a local worker looks whether the process that made it is alive
DASK_INSTALL = "pip install -e '.[dask]'"
# a scheduler's address as dask takes it: [PROTOCOL://]HOST:PORT, an IPv6 host in brackets
ADDRESS = re.compile(r"(?:(?P<protocol>tcp|tls|ws|wss|ucx)://)?"
                     r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(?P<port>[0-9]{1,5})")
IN_PROCESS = re.compile(r"inproc://[^\s/]+/[0-9]+/[0-9]+")  # a threaded cluster of this process
T = TypeVar("T")


class WorkerLostError(NaoError):
    """A child's worker died more often than :data:`RETRIES` allows."""


class Engine(ABC):
    """Runs evaluations of architectures, possibly many at once."""

    @property
    @abstractmethod
    def capacity(self) -> int:
        """How many children can train at once: the loop keeps this many submitted."""

    @abstractmethod
    def submit(self, key: str, arch: Arch) -> None:
        """Start evaluating ``arch`` (``key``: its canonical key, unique among those running)."""

    @abstractmethod
    def wait(self) -> list[tuple[str, Evaluation]]:
        """Block until at least one submitted evaluation is done; return every one done so far
        (a child's own error is raised here)."""

    def close(self) -> None:  # noqa: B027 - nothing to release by default
        """Cancel what is still running and release the workers."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class SerialEngine(Engine):
    """Everything in this process: :meth:`wait` scores all that was submitted with one
    ``evaluate_many`` call, so the loop asks, evaluates and tells in whole batches (the results
    of a seed are exactly those of a loop without an engine)."""

    capacity = 1

    def __init__(self, evaluator: Evaluator):
        self.evaluator = evaluator
        self.pending: list[tuple[str, Arch]] = []

    def submit(self, key: str, arch: Arch) -> None:
        self.pending.append((key, arch))

    def wait(self) -> list[tuple[str, Evaluation]]:
        batch, self.pending = self.pending, []
        results = self.evaluator.evaluate_many([a for _, a in batch])
        return [(k, r) for (k, _), r in zip(batch, results, strict=True)]


class LocalEngine(Engine):
    """``workers`` local processes (joblib's loky executor: processes started fresh, so torch's
    threads in this one do not matter); results are taken as they finish. The processes are
    loky's reusable ones, so a second search in the same process (a test, a script) finds them
    started, with torch imported; each ends on its own if this process is killed
    (:func:`exit_with_parent`)."""

    def __init__(self, evaluator: Evaluator, workers: int):
        self.evaluator = evaluator
        self.workers = workers
        self._pool = self._executor()
        self.futures: dict = {}  # future -> (key, arch, tries)
        self.resubmitted = 0  # children started again after their worker died

    def _executor(self):
        from joblib.externals.loky import get_reusable_executor

        return get_reusable_executor(max_workers=self.workers, initializer=exit_with_parent,
                                     initargs=(os.getpid(),))

    @property
    def capacity(self) -> int:
        return self.workers

    def submit(self, key: str, arch: Arch, tries: int = 0) -> None:
        self.futures[self._pool.submit(self.evaluator.task(arch))] = (key, arch, tries)

    def wait(self) -> list[tuple[str, Evaluation]]:
        from joblib.externals.loky import FIRST_COMPLETED, BrokenProcessPool, wait

        done, _ = wait(list(self.futures), return_when=FIRST_COMPLETED)
        out, lost = [], []
        for future in done:
            key, arch, tries = self.futures.pop(future)
            try:
                out.append((key, future.result()))
            except BrokenProcessPool:
                lost.append((key, arch, tries))
        if lost:  # a worker died: the pool is broken, so every unfinished child starts again
            lost += [v for f, v in self.futures.items() if not f.done() or _broken(f)]
            self.futures = {f: v for f, v in self.futures.items() if f.done() and not _broken(f)}
            self._pool = self._executor()  # loky replaces a broken executor
            for key, arch, tries in lost:
                if tries >= RETRIES:
                    raise WorkerLostError(f"the worker training {key} died {tries + 1} times; "
                                          "check its memory use (fewer --workers) and the "
                                          "machine's logs")
                self.submit(key, arch, tries + 1)
                self.resubmitted += 1
        return out

    def close(self) -> None:
        """Children not started are cancelled; the idle processes stay for the next search
        of this process (loky ends them when it exits, or after a while idle)."""
        for future in self.futures:
            future.cancel()
        self.futures = {}


def exit_with_parent(parent: int) -> None:
    """Each local worker's initializer (a search's children, a benchmark's searches): a thread
    that ends the worker once ``parent``, the process that made the pool, is gone. A process
    killed outright (SIGKILL) never stops its pool, and loky's workers would go on with the work
    queued for them (writing into the run directory after its lock is released), then idle out
    and wait half a minute for a goodbye from the dead process; loky's resource trackers end
    with the last worker. A worker whose parent died while it was still starting (importing
    torch can take seconds) is an orphan already: it exits at once."""
    if os.getpid() == parent:  # run in the pool's own process (no worker): nothing to watch
        return
    if os.getppid() != parent:  # the parent died before this worker got here
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_S)
        os._exit(1)  # orphaned: what finished is saved, what was running is redone

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _broken(future) -> bool:
    from joblib.externals.loky import BrokenProcessPool

    return isinstance(future.exception(), BrokenProcessPool)


class DaskEngine(Engine):
    """Children sent to a dask.distributed cluster at ``address`` (``tcp://HOST:PORT``, started
    with dask's own ``dask scheduler`` / ``dask worker``; see docs/cluster.md). The scheduler
    moves a dead worker's child to another worker by itself."""

    def __init__(self, evaluator: Evaluator, address: str):
        distributed = import_distributed()
        self.evaluator = evaluator
        self.address = address
        self.client = connect(address)
        self._finished = distributed.as_completed(loop=self.client.loop)
        self.futures: dict = {}  # future -> key

    @property
    def capacity(self) -> int:
        return max(1, sum(self.client.nthreads().values()))

    def submit(self, key: str, arch: Arch) -> None:
        future = self.client.submit(self.evaluator.task(arch), pure=False)
        self.futures[future] = key
        self._finished.add(future)

    def wait(self) -> list[tuple[str, Evaluation]]:
        done = [next(self._finished), *self._finished.next_batch(block=False)]
        out = []
        for future in done:
            key = self.futures.pop(future)
            try:
                out.append((key, future.result()))
            except Exception as exc:
                if type(exc).__name__ == "KilledWorker":
                    raise WorkerLostError(f"dask workers died several times while training "
                                          f"{key}; check their memory and logs") from None
                raise
        return out

    def close(self) -> None:
        for future in self.futures:
            future.cancel()
        self.futures = {}
        self.client.close()


def address_problem(address: str) -> str | None:
    """What is wrong with ``address`` as a dask scheduler's address, or None when it has the
    form ``[tcp://]HOST:PORT`` (tls, ws, wss and ucx too) that ``dask scheduler`` prints, or is
    the ``inproc://`` address of a cluster of threads in this process (``LocalCluster(processes=
    False)``, for the Python entry points)."""
    match = ADDRESS.fullmatch(address)
    if match is not None and 1 <= int(match["port"]) <= 65535 or IN_PROCESS.fullmatch(address):
        return None
    return (f"{shown(address)} is not a dask scheduler address; give tcp://HOST:PORT as "
            "'dask scheduler' prints it, e.g. tcp://127.0.0.1:8786")


def check_address(address: str) -> None:
    """A ConfigError unless ``address`` has a scheduler address's form (:func:`address_problem`);
    needs no dask and touches no network."""
    problem = address_problem(address)
    if problem is not None:
        raise ConfigError(f"--scheduler {problem}")


def connect(address: str):
    """A dask client of the scheduler at ``address``, or the one-line error saying how to start
    one. A port nobody listens on is refused at once (a plain TCP connection tried first), and a
    client that failed to start is closed on the spot: no half-made client is left to time out
    at exit."""
    check_address(address)
    distributed = import_distributed()
    try:
        _probe(address)
        return _client_class(distributed)(address, timeout=CONNECT_TIMEOUT_S,
                                          set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        why = (str(exc).splitlines() or [""])[0]
        raise ConfigError(f"--scheduler {address}: cannot reach a dask scheduler there "
                          f"({type(exc).__name__}: {why}); start one with 'dask scheduler' and "
                          "workers with 'dask worker ADDRESS' (docs/cluster.md), or check the "
                          "address") from None


def _probe(address: str) -> None:
    """A TCP connection to ``address``'s host and port, closed at once (OSError when none can be
    made within :data:`CONNECT_TIMEOUT_S`); ucx and inproc run over no socket, so are not
    probed. Over plain tcp a dask scheduler speaks first (its handshake), so a port that accepts
    and then stays silent, another service, is refused too: dask's client waits for that
    handshake with no time limit and would hang the command."""
    match = ADDRESS.fullmatch(address)
    if match is None or match["protocol"] == "ucx":
        return
    with socket.create_connection((match["host"].strip("[]"), int(match["port"])),
                                  timeout=CONNECT_TIMEOUT_S) as connection:
        if match["protocol"] in (None, "tcp"):  # tls and ws wait for the client to speak
            _await_greeting(connection)


def _await_greeting(connection: socket.socket) -> None:
    """Returns once the peer has sent a byte; TimeoutError when it sends none within the
    connection's timeout, OSError when it closes first."""
    try:
        greeting = connection.recv(1)
    except TimeoutError:
        raise TimeoutError(f"something accepts connections there but sent no dask handshake "
                           f"within {CONNECT_TIMEOUT_S} s") from None
    if not greeting:
        raise OSError("something accepts connections there but closed without a dask handshake")


def _client_class(distributed):
    """``distributed.Client``, except that one failing in its constructor marks itself closed and
    stops its event loop: dask's own client, left half-started, would spend 20 s at garbage
    collection trying to close and then print a traceback ("Exception ignored in
    Client.__del__")."""

    class Client(distributed.Client):
        def __init__(self, *args, **kwargs):
            try:
                super().__init__(*args, **kwargs)
            except BaseException:
                self.status = "closed"  # close() and __del__ have nothing left to do
                runner = getattr(self, "_loop_runner", None)
                if runner is not None:  # its event loop's thread (stopping twice is a no-op)
                    runner.stop()
                raise

    return Client


def dask_unordered(calls: Sequence[Callable[[], T]], address: str) -> Iterator[T]:
    """Each call's result as it finishes on the cluster at ``address`` (whole searches of
    ``nao benchmark --scheduler``); a dead worker's call is rerun elsewhere by the scheduler."""
    distributed = import_distributed()
    client = connect(address)
    try:
        futures = [client.submit(call, pure=False) for call in calls]
        for future in distributed.as_completed(futures, loop=client.loop):
            yield future.result()
    finally:
        client.close()


def import_distributed():
    """``dask.distributed``, or the one-line error saying how to install it."""
    try:
        import distributed
    except ImportError:
        raise ConfigError(f"--scheduler needs dask.distributed, which is not installed; "
                          f"install it with {DASK_INSTALL}") from None
    return distributed


def make_engine(evaluator: Evaluator, workers: int = 1, scheduler: str | None = None) -> Engine:
    """The engine the options name: a scheduler address, else ``workers`` local processes
    (1: this process)."""
    if scheduler is not None:
        return DaskEngine(evaluator, scheduler)
    if workers > 1:
        return LocalEngine(evaluator, workers)
    return SerialEngine(evaluator)


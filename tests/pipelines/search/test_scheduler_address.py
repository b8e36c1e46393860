"""`--scheduler`: a malformed address is one line from the parser before anything runs, and a
scheduler that cannot be reached is one line within seconds, its half-made dask client closed
at once (no 20 s wait and no "Exception ignored in: Client.__del__" traceback at exit). Nothing
here leaves 127.0.0.1."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from support import assert_one_line_error, run_cli

import pipelines.search.engine as engine
from nao.errors import ConfigError

QUICK_S = 5  # a refusal this slow waited on something (dask's client waits 20 s when it hangs)


def closed_port() -> str:
    """An address on this machine that nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"tcp://127.0.0.1:{port}"


def refusal(address: str) -> tuple[str, float, list[str]]:
    """``connect(address)``'s ConfigError message, the seconds it took, and what it left
    running: threads it started and dask clients not closed. A half-made dask client keeps its
    event loop's thread and, collected at exit with that loop half gone, waits 20 s in
    ``__del__`` and prints "Exception ignored in: Client.__del__"."""
    distributed = pytest.importorskip("distributed")
    threads = set(threading.enumerate())
    started = time.monotonic()
    try:
        engine.connect(address)
    except ConfigError as exc:
        message = str(exc)
    else:
        pytest.fail(f"connected to {address}")
    seconds = time.monotonic() - started
    left = [t.name for t in threading.enumerate() if t not in threads and t.is_alive()]
    left += [f"client ({c.status})" for c in distributed.Client._instances
             if c.status != "closed"]
    return message, seconds, left


COMMANDS = {
    "search": ["search", "--strategy", "random", "--space", "nas-rl:layers=2", "--data",
               "standin", "--budget", "2", "--quiet"],
    "benchmark": ["benchmark", "--strategies", "random", "--budget", "2", "--seeds", "1",
                  "--quiet"],
}
MALFORMED = ["garbage", "tcp://127.0.0.1", "tcp://127.0.0.1:", "tcp://:8786", "inproc://",
             "tcp://127.0.0.1:99999", "tcp://127.0.0.1:0", "http://127.0.0.1:8786",
             "tcp://host name:8786", "tcp://127.0.0.1:8786/path", ""]


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("address", MALFORMED)
def test_a_malformed_scheduler_address_is_one_line_from_the_parser(command, address, capsys,
                                                                  tmp_path, monkeypatch):
    def no_dask():
        raise AssertionError("dask was reached for a malformed address")

    monkeypatch.setattr(engine, "import_distributed", no_dask)
    started = time.monotonic()
    code, out, err = run_cli(capsys, *COMMANDS[command], "--scheduler", address, "--out",
                             str(tmp_path / "run"))
    assert time.monotonic() - started < QUICK_S
    assert out == ""
    assert_one_line_error(code, err, "--scheduler", "not a dask scheduler address",
                          "tcp://HOST:PORT", command=command)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:8786", "127.0.0.1:8786",
                                     "tls://scheduler.example.org:8786", "tcp://[::1]:8786",
                                     "ws://node-3:8787", "ucx://10.0.0.1:13337",
                                     "inproc://192.0.2.2/17049/1"])
def test_the_addresses_dask_takes_pass_the_check(address):
    assert engine.address_problem(address) is None
    engine.check_address(address)  # no error, no network


def test_the_python_entry_point_refuses_a_malformed_address_before_importing_dask(monkeypatch):
    monkeypatch.setattr(engine, "import_distributed", lambda: pytest.fail("dask imported"))
    with pytest.raises(ConfigError, match="'garbage' is not a dask scheduler address"):
        engine.connect("garbage")


def test_a_scheduler_nobody_listens_on_is_refused_at_once_and_leaves_nothing_running():
    message, seconds, left = refusal(closed_port())
    assert "cannot reach a dask scheduler there" in message
    assert seconds < QUICK_S  # dask's client retries for CONNECT_TIMEOUT_S
    assert left == []


@pytest.fixture
def silent_port():
    """An address on this machine whose port accepts connections (the kernel's backlog) and
    never sends a byte, as another service might."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(4)
        yield f"tcp://127.0.0.1:{s.getsockname()[1]}"


def test_a_port_that_accepts_and_stays_silent_is_refused_within_the_timeout(monkeypatch,
                                                                            silent_port):
    """dask's client waits for a scheduler's handshake with no time limit: without the probe's
    wait for the first byte this hangs for good."""
    monkeypatch.setattr(engine, "CONNECT_TIMEOUT_S", 0.5)
    message, seconds, left = refusal(silent_port)
    assert message.startswith(f"--scheduler {silent_port}: cannot reach a dask scheduler there "
                              "(TimeoutError: something accepts connections there but sent no "
                              "dask handshake within 0.5 s)")
    assert seconds < QUICK_S
    assert left == []


def test_a_port_that_accepts_and_closes_at_once_is_refused(monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(4)
        closer = threading.Thread(target=lambda: s.accept()[0].close(), daemon=True)
        closer.start()
        message, seconds, left = refusal(f"tcp://127.0.0.1:{s.getsockname()[1]}")
        closer.join(QUICK_S)
    assert "(OSError: something accepts connections there but closed without a dask " \
           "handshake)" in message
    assert seconds < QUICK_S
    assert left == [] and not closer.is_alive()


def test_a_dask_scheduler_over_plain_tcp_passes_the_probe():
    """The probe's wait for the first byte must not refuse the real thing."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=0, processes=False, protocol="tcp://",
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tcp://127.0.0.1:")
        started = time.monotonic()
        client = engine.connect(address)
        client.close()
    assert time.monotonic() - started < QUICK_S


def test_a_dask_client_that_fails_to_start_is_closed_on_the_spot(monkeypatch):
    """An address dask itself refuses (here one let past our checks): its client is half-made
    when the constructor raises, and is closed, its loop stopped, before the error is raised."""
    monkeypatch.setattr(engine, "check_address", lambda address: None)
    monkeypatch.setattr(engine, "_probe", lambda address: None)
    message, seconds, left = refusal("garbage")
    assert "cannot reach a dask scheduler there" in message
    assert seconds < QUICK_S
    assert left == []


@pytest.mark.parametrize("command", COMMANDS)
def test_a_scheduler_that_cannot_be_reached_is_one_line_within_seconds(command, capsys,
                                                                      tmp_path):
    pytest.importorskip("distributed")
    import pipelines.search.train_evaluator  # noqa: F401 - torch, loaded before the clock starts

    address = closed_port()
    started = time.monotonic()
    code, out, err = run_cli(capsys, *COMMANDS[command], "--scheduler", address, "--out",
                             str(tmp_path / "run"))
    assert time.monotonic() - started < 3 * QUICK_S  # the table or the stand-in data load too
    assert out == ""
    assert_one_line_error(code, err, f"--scheduler {address}", "cannot reach a dask scheduler",
                          "dask scheduler", command=command)


def test_the_reported_command_exits_2_with_one_line_at_once():
    """``nao search --scheduler garbage`` as a user ran it: one line and exit 2, no wait and no
    "Exception ignored" from a dask client at exit."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "search", "--scheduler",
                           "garbage", "--space", "nas-rl:layers=2", "--budget", "2"],
                          capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).parents[3])
    assert time.monotonic() - started < 3 * QUICK_S
    assert done.stdout == ""
    assert_one_line_error(done.returncode, done.stderr, "'garbage' is not a dask scheduler "
                          "address", command="search")

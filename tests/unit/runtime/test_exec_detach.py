"""A detached exec outlives the daemon: the daemon's {"detach": true} on the exec's monitor
connection (runtime/supervisor.py) and what the monitor does with it at the daemon's end
(runtime/monitor.py); an exec never detached is still killed then."""
from __future__ import annotations

import json
import os
import socket
from typing import Any, List, Tuple

import pytest

from rootless.runtime import monitor
from rootless.runtime.monitor_protocol import MonitorConfig
from rootless.runtime.supervisor import ExecProcess, MonitorExec


class _Child:
    pid = 4242  # never signalled: _kill_exec is recorded instead
    returncode = None


@pytest.fixture
def setup(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A monitor with one exec run whose daemon end is `daemon`; kills are recorded, not sent."""
    mon = monitor.Monitor(MonitorConfig("c1", "/b", "crun", "/run/crun", "disabled", str(tmp_path / "log"),
                                        str(tmp_path)), -1)
    killed: List[int] = []
    monkeypatch.setattr(mon, "_kill_exec", lambda run: killed.append(run.child.pid))
    theirs, daemon = socket.socketpair()
    theirs.setblocking(False)
    run = monitor.ExecRun(theirs, _Child(), str(tmp_path / "p.pid"))
    mon.execs[_Child.pid] = run
    mon._set_interest(theirs.fileno(), 1)
    yield mon, run, daemon, killed
    daemon.close()
    for fd in list(mon.drains):
        os.close(fd)
    theirs.close()


def _hangup(mon: monitor.Monitor, run: monitor.ExecRun) -> None:
    """What the event loop does when the exec's connection is readable."""
    mon._exec_hangup(run.conn.fileno())


def test_an_exec_not_detached_is_killed_when_its_daemon_goes(setup: Tuple[Any, ...]) -> None:
    mon, run, daemon, killed = setup
    daemon.close()  # the daemon stopped, or was SIGKILLed
    _hangup(mon, run)
    assert killed == [_Child.pid] and not mon.drains


def test_a_detached_exec_runs_on_and_its_output_is_drained(setup: Tuple[Any, ...]) -> None:
    mon, run, daemon, killed = setup
    out_r, out_w = os.pipe()
    handle = ExecProcess(MonitorExec(daemon, _Child.pid), "/nonexistent", stderr=os.fdopen(out_r, "rb"))
    handle.detach()  # the daemon's side: {"detach": true} with the output's read end
    _hangup(mon, run)
    assert run.detached and len(run.kept) == 1 and not killed
    handle.stderr.close()  # type: ignore[union-attr]
    daemon.close()  # the daemon goes: the monitor now reads what the process writes
    _hangup(mon, run)
    assert not killed and run.conn.fileno() == -1
    assert list(mon.drains) == run.kept
    os.write(out_w, b"x" * 60000)  # more than once would fit after a few writes, nobody else reading
    mon._drain_exec_output(run.kept[0])
    os.write(out_w, b"x" * 60000)
    mon._drain_exec_output(run.kept[0])
    os.close(out_w)  # the process exited
    mon._drain_exec_output(run.kept[0])
    assert not mon.drains and not run.kept


def test_a_detached_exec_that_exits_closes_what_it_kept(setup: Tuple[Any, ...]) -> None:
    mon, run, daemon, killed = setup
    out_r, out_w = os.pipe()
    daemon.sendall(b'{"det')
    _hangup(mon, run)  # half a line: nothing yet
    assert not run.detached
    socket.send_fds(daemon, [b'ach": true}\n'], [out_r])
    os.close(out_r)
    _hangup(mon, run)
    assert run.detached and len(run.kept) == 1
    kept = run.kept[0]
    mon._exec_exited(_Child.pid, 0)  # crun exec exited while the daemon still listened
    assert json.loads(daemon.recv(100)) == {"exit": 0} and not run.kept and _Child.pid not in mon.execs
    with pytest.raises(OSError):
        os.fstat(kept)
    os.close(out_w)


def test_a_detached_tty_exec_is_drained_at_once(setup: Tuple[Any, ...]) -> None:
    """`exec -d -t`: nobody in the daemon reads the pty, so the monitor does from the start."""
    mon, run, daemon, killed = setup
    out_r, out_w = os.pipe()  # stands in for the pty master
    handle = ExecProcess(MonitorExec(daemon, _Child.pid), "/nonexistent", stderr=os.fdopen(out_r, "rb"))
    handle.detach(drain=True)
    _hangup(mon, run)
    assert run.detached and not killed
    assert list(mon.drains) == run.kept  # draining while the daemon is still there
    os.write(out_w, b"x" * 60000)
    mon._drain_exec_output(run.kept[0])
    daemon.close()  # the daemon goes later: the same fds go on being drained, registered once
    _hangup(mon, run)
    assert not killed and list(mon.drains) == run.kept
    handle.stderr.close()  # type: ignore[union-attr]
    os.close(out_w)
    mon._drain_exec_output(run.kept[0])
    assert not mon.drains and not run.kept

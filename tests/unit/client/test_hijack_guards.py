"""client/hijack.py's guards around an attached session: raw mode, SIGWINCH, --sig-proxy.

They were contextlib generators on the signal module; now they are small
classes on _signal, so that `rootless run` loads neither contextlib nor enum
(bench/README.md "CLI start-up, session 9"). These check what they do with a
real pty and real signals sent to this process.
"""
from __future__ import annotations

import os
import signal
import termios
from typing import Iterator, List, Tuple

import pytest

from rootless.cli.container import streaming
from rootless.client.hijack import PROXIED_SIGNALS, ForwardSignals, RawTerminal, ResizeOnWinch


@pytest.fixture
def pty() -> Iterator[Tuple[int, int]]:
    leader, follower = os.openpty()
    yield leader, follower
    os.close(leader)
    os.close(follower)


def test_forward_signals_sends_each_proxied_signal_by_name_and_restores_the_handlers() -> None:
    before = {name: signal.getsignal(getattr(signal, name)) for name in PROXIED_SIGNALS}
    sent: List[str] = []
    with ForwardSignals(sent.append):
        for name in PROXIED_SIGNALS:
            os.kill(os.getpid(), getattr(signal, name))  # the handler runs before kill returns
    assert sent == list(PROXIED_SIGNALS)
    assert {name: signal.getsignal(getattr(signal, name)) for name in PROXIED_SIGNALS} == before


def test_a_failed_forward_does_not_end_the_session() -> None:
    def refuse(name: str) -> None:
        raise RuntimeError("the container is gone")

    with ForwardSignals(refuse):
        os.kill(os.getpid(), signal.SIGUSR1)


def test_resize_on_winch_sends_the_size_now_and_on_each_sigwinch(pty) -> None:  # type: ignore[no-untyped-def]
    _, follower = pty
    _set_size(follower, 24, 80)
    before = signal.getsignal(signal.SIGWINCH)
    sizes: List[Tuple[int, int]] = []
    with ResizeOnWinch(lambda h, w: sizes.append((h, w)), follower):
        _set_size(follower, 40, 120)
        os.kill(os.getpid(), signal.SIGWINCH)
    os.kill(os.getpid(), signal.SIGWINCH)  # after: no longer ours
    assert sizes == [(24, 80), (40, 120)]
    assert signal.getsignal(signal.SIGWINCH) == before


def _set_size(fd: int, rows: int, columns: int) -> None:
    import fcntl
    import struct

    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))


def test_raw_terminal_sets_raw_mode_and_restores_it(pty) -> None:  # type: ignore[no-untyped-def]
    _, follower = pty
    cooked = termios.tcgetattr(follower)
    assert cooked[3] & termios.ICANON
    with RawTerminal(follower):
        assert not termios.tcgetattr(follower)[3] & (termios.ICANON | termios.ECHO)
    assert termios.tcgetattr(follower) == cooked


def test_raw_terminal_leaves_what_is_not_a_terminal_alone(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with open(tmp_path / "f", "w") as f, RawTerminal(f.fileno()):
        pass


class Recorder:
    def __init__(self, log: List[str], name: str, fail: bool = False) -> None:
        self.log, self.name, self.fail = log, name, fail

    def __enter__(self) -> None:
        self.log.append("enter " + self.name)

    def __exit__(self, *exc: object) -> None:
        self.log.append("exit " + self.name)
        if self.fail:
            raise OSError(self.name)


class FakeSession:
    def __init__(self, log: List[str], error: bool = False) -> None:
        self.log, self.error = log, error

    def run(self) -> None:
        self.log.append("run")
        if self.error:
            raise ConnectionResetError("cut")


def test_the_session_runs_inside_every_guard_and_each_is_left_in_reverse_order() -> None:
    """As the contextlib.ExitStack it replaced: every exit runs even when the session or an exit fails."""
    log: List[str] = []
    streaming._run_within([Recorder(log, "a"), Recorder(log, "b")], FakeSession(log))  # type: ignore[list-item, arg-type]
    assert log == ["enter a", "enter b", "run", "exit b", "exit a"]
    log.clear()
    with pytest.raises(OSError, match="b"):
        streaming._run_within([Recorder(log, "a"), Recorder(log, "b", fail=True)],  # type: ignore[list-item]
                              FakeSession(log, error=True))  # type: ignore[arg-type]
    assert log == ["enter a", "enter b", "run", "exit b", "exit a"]

"""Wiring a hijacked stream to this terminal: raw mode, resize, signals, detach."""
from __future__ import annotations

import os

TYPE_CHECKING = False  # True for mypy; importing typing costs ~3 ms (cli/fast_run.py)
if TYPE_CHECKING:
    from typing import Callable, List, Optional, Tuple, Union

    from rootless.client.hijack import ForwardSignals, RawTerminal, ResizeOnWinch

    Guard = Union[RawTerminal, ResizeOnWinch, ForwardSignals]

from rootless.cli.app import App
from rootless.cli.container.creating import echo_error
from rootless.client.hijack import ForwardSignals, RawTerminal, ResizeOnWinch, Session, parse_detach_keys, terminal_size
from rootless.client.transport import HttpResponse
from rootless.errors import InvalidArgument, RootlessError
from rootless.wire import exitcodes


def terminal_fd() -> Optional[int]:
    """The fd whose terminal size the container's TTY should take (stdout first, like docker)."""
    for fd in (1, 0):
        if os.isatty(fd):
            return fd
    return None


def console_size() -> Optional[Tuple[int, int]]:
    """(height, width) of our terminal, for the container's TTY (ConsoleSize)."""
    fd = terminal_fd()
    size = terminal_size(fd) if fd is not None else None
    return (size[0], size[1]) if size else None


def check_tty_input(interactive: bool, tty: bool) -> None:
    """docker refuses -it when stdin is not a terminal."""
    if interactive and tty and not os.isatty(0):
        raise InvalidArgument("the input device is not a TTY",
                              hint="drop -t, or run from a terminal (for a pipe use -i alone)")


def stream_session(response: HttpResponse, *, tty: bool, interactive: bool,
                   resize: Optional[Callable[[int, int], None]], kill: Optional[Callable[[str], None]],
                   sig_proxy: bool, detach_keys: str = "") -> bool:
    """Stream until the daemon closes; True when the user typed the detach keys."""
    keys = parse_detach_keys(detach_keys) if tty and interactive else b""
    session = Session(response, tty, stdin=0 if interactive else None, detach_keys=keys)
    fd = terminal_fd()
    guards: List[Guard] = []
    if tty and interactive:
        guards.append(RawTerminal(0))
    if tty and resize is not None and fd is not None:
        guards.append(ResizeOnWinch(resize, fd))
    if not tty and sig_proxy and kill is not None:
        guards.append(ForwardSignals(kill))
    _run_within(guards, session)
    return session.detached


def _run_within(guards: List[Guard], session: Session) -> None:
    """session.run() inside each guard in turn, as nested `with` statements (no contextlib.ExitStack:
    contextlib loads collections and functools, ~1 ms of a `rootless run`)."""
    if not guards:
        session.run()
        return
    with guards[0]:
        _run_within(guards[1:], session)


def start_container(app: App, container_id: str) -> None:
    """Start; a failure carries docker's 125/126/127 as exit_status for the root group."""
    try:
        app.client.start(container_id)
    except RootlessError as exc:
        exc.exit_status = exitcodes.run_start_exit_code(exc.message)  # type: ignore[attr-defined]
        raise


def run_attached(app: App, container_id: str, *, tty: bool, interactive: bool, condition: str,
                 sig_proxy: bool, detach_keys: str) -> int:
    """Attach, wait, start and stream (docker run's order); the exit status, 0 after a detach."""
    client = app.client
    stream = client.attach(container_id, stdin=interactive, stdout=True, stderr=True,
                           detach_keys=detach_keys or None)
    waiter = client.wait_begin(container_id, condition)
    try:
        start_container(app, container_id)
    except RootlessError:
        stream.close()
        waiter.close()
        raise
    detached = stream_session(
        stream, tty=tty, interactive=interactive, sig_proxy=sig_proxy, detach_keys=detach_keys,
        resize=lambda h, w: client.resize(container_id, h, w), kill=lambda s: client.kill(container_id, s))
    if detached:
        waiter.close()
        return 0
    try:
        result = waiter.json() or {}
    finally:
        waiter.close()
    message = (result.get("Error") or {}).get("Message")
    if message:
        echo_error(f"Error: {message}")
    return int(result.get("StatusCode", 125))

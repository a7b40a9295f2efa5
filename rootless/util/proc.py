"""The one place that starts external programs.

Every tool call goes through :func:`run` (short-lived) or :func:`spawn`
(long-lived helpers), so a failed tool always becomes a ToolError that carries
the tool's stderr, and every argv is logged at DEBUG.
"""
from __future__ import annotations

import contextlib
import errno
import logging
import os
import select
import shlex
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from typing import IO, Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from rootless.errors import ToolError

logger = logging.getLogger(__name__)

Arg = Union[str, "os.PathLike[str]", "Secret"]

# Debian package that ships each tool, for the "not found" hint.
PACKAGE_OF_TOOL: Dict[str, str] = {
    "crun": "crun",
    "newuidmap": "uidmap",
    "newgidmap": "uidmap",
    "slirp4netns": "slirp4netns",
    "pasta": "passt",
    "fuse-overlayfs": "fuse-overlayfs",
    "conmon": "conmon",
    "tar": "tar",
    "docker-registry": "docker-registry",
    "catatonit": "catatonit",
    "tini": "tini",
    "ps": "procps",
    "mksquashfs": "squashfs-tools",
    "unsquashfs": "squashfs-tools",
    "squashfuse": "squashfuse",
}

STDERR_TAIL_BYTES = 4096
# Re-exported so callers of popen() need not import subprocess.
PIPE = subprocess.PIPE
DEVNULL = subprocess.DEVNULL


class Secret:
    """An argv element that is passed as is but logged as ****."""

    def __init__(self, value: str) -> None:
        self.value = value

    def __str__(self) -> str:
        return "****"

    def __repr__(self) -> str:
        return "Secret('****')"


@dataclass(frozen=True)
class Completed:
    """What a finished tool left behind."""

    argv: Sequence[str]
    returncode: int
    stdout: bytes
    stderr: bytes

    @property
    def text(self) -> str:
        return self.stdout.decode("utf-8", "replace")


def _real_argv(argv: Sequence[Arg]) -> list[str]:
    return [a.value if isinstance(a, Secret) else os.fspath(a) for a in argv]


def _shown_argv(argv: Sequence[Arg]) -> str:
    return shlex.join(str(a) if isinstance(a, Secret) else os.fspath(a) for a in argv)


def _missing_tool(tool: str, argv0: str) -> ToolError:
    package = PACKAGE_OF_TOOL.get(tool, tool)
    return ToolError(
        tool,
        f"not found: {argv0}",
        hint=f"install it: apt-get install {package}",
    )


def run(
    argv: Sequence[Arg],
    *,
    tool: Optional[str] = None,
    check: bool = True,
    input: Optional[bytes] = None,
    env: Optional[Mapping[str, str]] = None,
    cwd: Optional[str] = None,
    timeout: Optional[float] = 120,
    stdout: Optional[Union[int, IO[Any]]] = subprocess.PIPE,
    pass_fds: Sequence[int] = (),
    preexec_fn: Optional[Callable[[], None]] = None,
) -> Completed:
    """Run a tool to completion; raise ToolError when it fails and check is set."""
    real = _real_argv(argv)
    tool = tool or os.path.basename(real[0])
    logger.debug("executing: %s", _shown_argv(argv))
    try:
        child = _popen_class()(
            real, stdin=subprocess.DEVNULL if input is None else subprocess.PIPE, stdout=stdout,
            stderr=subprocess.PIPE, env=dict(env) if env is not None else None, cwd=cwd, pass_fds=tuple(pass_fds),
            preexec_fn=preexec_fn)
        returncode, out, err = _communicate(child, input, timeout)
    except FileNotFoundError as exc:
        raise _missing_tool(tool, real[0]) from exc
    except subprocess.TimeoutExpired as exc:
        raise ToolError(tool, f"timed out after {timeout}s", argv=real) from exc
    result = Completed(real, returncode, out or b"", err or b"")
    if check and returncode != 0:
        raise failed(tool, result)
    return result


def _communicate(child: "subprocess.Popen[bytes]", input: Optional[bytes],
                 timeout: Optional[float]) -> Tuple[int, Optional[bytes], Optional[bytes]]:
    """subprocess.run's body, with our Popen: its wait after the pipes' EOF is a pidfd's, where
    Popen.wait(timeout) first sleeps 1 ms (a tool's pipes close just before it can be reaped:
    ~1 ms on every `crun start`, bench/README.md)."""
    with child:
        try:
            out, err = child.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
            raise
        except BaseException:
            child.kill()  # __exit__ reaps it
            raise
        return child.wait(), out, err  # reaped by communicate: at once


def failed(tool: str, result: Completed) -> ToolError:
    """The error for a tool that exited non-zero, carrying the tail of its stderr."""
    stderr = result.stderr[-STDERR_TAIL_BYTES:].decode("utf-8", "replace")
    return ToolError(tool, f"exited with status {result.returncode}", argv=list(result.argv),
                     returncode=result.returncode, stderr=stderr)


def which(name: str) -> Optional[str]:
    """Where a tool is on PATH (or the common sbin dirs), or None."""
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin:/usr/local/sbin"
    return shutil.which(name, path=path)


# errnos of a full fd table: "try again later", never "the file/process is gone".
OUT_OF_FDS = (errno.EMFILE, errno.ENFILE)


def wait_readable(fds: Sequence[int], timeout: Optional[float]) -> List[int]:
    """The fds that are readable (or hung up) within timeout seconds (None: no limit).

    poll(2), not select(2): select refuses fds above 1024, which a daemon with
    many clients and a raised open files limit hands out (issue 7).
    """
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN)
    millis = None if timeout is None else max(0, int(timeout * 1000 + 0.999))  # round up: no spinning
    return [fd for fd, _ in poller.poll(millis)]


def wait_exit_fd(pid: int, timeout: float) -> bool:
    """Block until pid exits or timeout passes; True if it exited. Needs no SIGCHLD.

    Popen.wait(timeout) polls with sleeps that grow to 50 ms, which put ~20-30 ms
    on every `crun create` and monitor launch (bench/README.md); a pidfd
    (pidfd_open(2), Linux 5.3) becomes readable the moment the process exits.
    """
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):  # old kernel or already reaped: let wait() poll
        return False
    try:
        return bool(wait_readable([pidfd], timeout))
    finally:
        os.close(pidfd)


class Popen(subprocess.Popen):  # type: ignore[type-arg]
    """subprocess.Popen whose wait(timeout) returns as soon as the child exits."""

    def wait(self, timeout: Optional[float] = None) -> int:
        if timeout is not None and self.returncode is None:
            deadline = time.monotonic() + timeout
            wait_exit_fd(self.pid, timeout)
            timeout = max(deadline - time.monotonic(), 0.0)
        return super().wait(timeout)


def _popen_class() -> Any:
    # pytest-subprocess swaps subprocess.Popen (and module-level aliases of it) for
    # a fake in unit tests: honour it. Our base class is the one name it can't rebind.
    return Popen if subprocess.Popen is Popen.__bases__[0] else subprocess.Popen


def popen(
    argv: Sequence[Arg],
    *,
    tool: Optional[str] = None,
    stdin: Optional[Union[int, IO[Any]]] = subprocess.DEVNULL,
    stdout: Optional[Union[int, IO[Any]]] = subprocess.DEVNULL,
    stderr: Optional[Union[int, IO[Any]]] = subprocess.PIPE,
    env: Optional[Mapping[str, str]] = None,
    cwd: Optional[str] = None,
    pass_fds: Sequence[int] = (),
    start_new_session: bool = False,
    preexec_fn: Optional[Callable[[], None]] = None,
) -> "subprocess.Popen[bytes]":
    """Start a tool without waiting for it (the caller owns its lifetime)."""
    real = _real_argv(argv)
    tool = tool or os.path.basename(real[0])
    logger.debug("executing: %s", _shown_argv(argv))
    try:
        return _popen_class()(  # type: ignore[no-any-return]
            real,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            pass_fds=tuple(pass_fds),
            start_new_session=start_new_session,
            preexec_fn=preexec_fn,
        )
    except FileNotFoundError as exc:
        raise _missing_tool(tool, real[0]) from exc


def terminate(proc: "subprocess.Popen[bytes]", timeout: float = 5.0) -> None:
    """Stop a helper: SIGTERM, wait, then SIGKILL."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait()


def _read_tail(stream: Optional[IO[bytes]]) -> str:
    if stream is None:
        return ""
    with contextlib.suppress(OSError, ValueError):
        os.set_blocking(stream.fileno(), False)
        data = stream.read() or b""
        return data[-STDERR_TAIL_BYTES:].decode("utf-8", "replace")
    return ""


@contextlib.contextmanager
def spawn(
    argv: Sequence[Arg],
    *,
    tool: Optional[str] = None,
    ready_fd_arg: Optional[Callable[[int], Sequence[str]]] = None,
    ready_timeout: float = 10.0,
    env: Optional[Mapping[str, str]] = None,
    pass_fds: Sequence[int] = (),
) -> Iterator["subprocess.Popen[bytes]"]:
    """Run a long-lived helper for the duration of a with block.

    With ready_fd_arg, a pipe's write end is handed to the helper (the
    callable returns the extra argv naming it) and we wait until the helper
    writes to it or exits, as rootlesskit does for slirp4netns.
    """
    real = _real_argv(argv)
    tool = tool or os.path.basename(real[0])
    read_fd = write_fd = -1
    extra: Sequence[str] = ()
    if ready_fd_arg is not None:
        read_fd, write_fd = os.pipe()
        extra = ready_fd_arg(write_fd)
    full = list(argv[:1]) + list(extra) + list(argv[1:])
    fds = tuple(pass_fds) + ((write_fd,) if write_fd >= 0 else ())
    proc = popen(full, tool=tool, env=env, pass_fds=fds)
    try:
        if write_fd >= 0:
            os.close(write_fd)
            write_fd = -1
            wait_ready(proc, read_fd, tool, ready_timeout)
        yield proc
    finally:
        for fd in (read_fd, write_fd):
            if fd >= 0:
                os.close(fd)
        terminate(proc)


def wait_ready(proc: "subprocess.Popen[bytes]", read_fd: int, tool: str, timeout: float) -> None:
    """Wait until the helper writes to its ready fd; raise with its log if it dies."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ToolError(tool, f"not ready after {timeout}s", stderr=_read_tail(proc.stderr))
        readable = wait_readable([read_fd], min(remaining, 0.05))
        if readable and os.read(read_fd, 1):
            return
        if proc.poll() is not None:
            raise ToolError(
                tool,
                f"exited with status {proc.returncode} before it was ready",
                returncode=proc.returncode,
                stderr=_read_tail(proc.stderr),
            )

"""The `rootless` command line: docker's verbs, talking to rootlessd's API.

This module is the entry point (pyproject's console script, `python -m
rootless.cli`) and stays import-light: `rootless --version` answers before
click is imported (click alone costs ~20 ms of every start on the measured
host, bench/README.md "CLI start-up"), and so do `ps` and `images` with the
flags cli/fast.py knows and `run` with those of cli/fast_run.py. Everything else runs the click group of cli/root.py,
which imports click and then only the verb that runs.
"""
from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing costs ~5 ms to import; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any, List, NoReturn, Optional

VERSION_MESSAGE = "rootless version {}"
# `ps` and `images` (and `container ls`, `image list`...) run without click when cli/fast.py
# knows every argument (bench/README.md "CLI fast path"); `run` when cli/fast_run.py does.
FAST_VERBS = frozenset(("ps", "images", "ls", "list"))


def main(argv: Optional[List[str]] = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    status = _fast(args)
    if status is None:
        _click(args)
    elif status:
        sys.exit(status)


def command() -> None:
    """main() as the `rootless` process itself (bin/rootless, `python -m rootless.cli`): a command
    the click-free paths finished ends with os._exit once stdout and stderr are flushed.

    The interpreter's own shutdown (a last full collection, every module's teardown) cost ~2.4 ms
    of CPU and 3.5-7 ms of wall time of a `rootless run --rm` (bench/README.md "rootless run, client
    side"), and these paths need none of it: they register no atexit handler, start no thread
    that is not a daemon, and the kernel closes their sockets as close() would. In-process
    callers (tests) use main(), which returns.
    """
    args = sys.argv[1:]
    status = _fast(args)
    if status is None:
        _click(args)
        return
    exit_now(status)


def _click(args: List[str]) -> None:
    """A command the click-free paths don't handle: click's path runs it from the start."""
    from rootless.cli.root import main as run_root

    run_root(args)


def exit_now(status: int) -> NoReturn:
    """os._exit(status) after flushing stdout and stderr.

    A flush that fails (`rootless run ... | head -c 5`: the reader is gone) can't deliver what is
    left; it exits with 1 if status was 0, silently, as a BrokenPipeError in the command does
    (cli/root.py). Left to the interpreter, its last flush failed again: "Exception ignored ...
    BrokenPipeError" on stderr and exit status 120.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except OSError:
            status = status or 1
    os._exit(status)


def _fast(args: List[str]) -> Optional[int]:
    """The exit status of a command answered without click (`--version`, cli/fast.py's `ps` and
    `images`, cli/fast_run.py's `run`); None: click's path runs it."""
    if args == ["--version"]:
        from rootless import __version__

        sys.stdout.write(VERSION_MESSAGE.format(__version__) + "\n")
        return 0
    # Shell completion runs through click (cli/complete.py), whatever the words are.
    if (not FAST_VERBS.isdisjoint(args) or "run" in args) and "_ROOTLESS_COMPLETE" not in os.environ:
        return _run_fast(args)
    return None


def _run_fast(args: List[str]) -> Optional[int]:
    """cli/fast.py's `ps`/`images`, with the cyclic GC off while it runs: its imports would set
    off ~20 collections (~0.5 ms) in a process that lives for a few milliseconds."""
    import gc

    was_enabled = gc.isenabled()
    gc.disable()
    try:
        if "run" in args:  # `run` and `container run`: cli/fast_run.py
            from rootless.cli.fast_run import run as run_container

            status = run_container(args)
            if status is not None or FAST_VERBS.isdisjoint(args):
                return status
        from rootless.cli.fast import run

        return run(args)
    finally:
        if was_enabled:
            gc.enable()


# What callers knew as attributes of this package before cli/root.py existed (tests,
# `from rootless.cli import cli`); loaded from there on first use.
_ROOT_NAMES = frozenset({"cli", "App", "ROOT_VALUE_OPTIONS", "_command_words", "_error_exit_code"})


def __getattr__(name: str) -> Any:
    if name in _ROOT_NAMES:
        from rootless.cli import root

        return getattr(root, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

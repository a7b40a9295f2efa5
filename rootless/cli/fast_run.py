"""`rootless run` without click (issue 13, bench/README.md "CLI fast path: run").

The click command (cli/container/run.py) costs ~25 ms of imports before it
sends anything; the common flags of `run` are parsed here instead and the
same code then runs: CreateOptions and the create body of cli/container/body.py,
send_create of creating.py (create_container's steps, the answer read after
streaming.py is imported), start_container and run_attached of streaming.py.
Anything this parser does not know (a flag, --help, a root
option other than -H/-c/--root) returns None before any request, and so does
any error before the create request (a flag value body.py refuses, -it
without a terminal) and a create refused for a missing image or never sent
because no daemon listens: the caller then runs the click command from the
start, which gives click's messages and exit codes, pulls or starts the
daemon. Other errors from the create on are reported here exactly as
cli/root.py reports them (it is imported for that, with click, on that path
only), and a create is never sent twice. Nothing on the way to a started container may import click or typing
(tests/unit/cli/test_fast_run.py).
"""
from __future__ import annotations

import os
import sys

from rootless.cli.fast_args import ROOT_OPTIONS, Unknown, parse_options

TYPE_CHECKING = False  # True for mypy; importing typing costs ~3 ms (cli/fast.py)
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Sequence, Tuple

    from rootless.cli.app import App
    from rootless.cli.container.body import CreateOptions
    from rootless.errors import RootlessError

# The verb, as cli/commands.py spells it: the words before the verb's own flags.
RUN_WORDS = (["run"], ["container", "run"])

# Each option as click declares it: option -> (parameter name, takes a value).
RUN_OPTIONS = {
    "--rm": ("rm", False), "-d": ("detach", False), "--detach": ("detach", False),
    "-i": ("interactive", False), "--interactive": ("interactive", False),
    "-t": ("tty", False), "--tty": ("tty", False), "--name": ("name", True),
    "-e": ("env", True), "--env": ("env", True), "--network": ("network", True), "--net": ("network", True),
    "-w": ("workdir", True), "--workdir": ("workdir", True), "-u": ("user", True), "--user": ("user", True),
    "--entrypoint": ("entrypoint", True), "-v": ("volume", True), "--volume": ("volume", True),
    "-p": ("publish", True), "--publish": ("publish", True),
}
MULTIPLE = frozenset(("hosts", "env", "volume", "publish"))  # click's multiple=True: every value, in order
# run's own options that are not create flags, at click's defaults (their flags go to click's path).
SIG_PROXY = True
DETACH_KEYS = ""
PULL = "never"  # a missing image is a NotFound: click's path then says "Unable to find image" and pulls


def parse_run(args: List[str]) -> Optional[Tuple[Dict[str, object], Dict[str, object], str, Tuple[str, ...]]]:
    """(root options, run flags, image, command) when this module knows every argument; else None."""
    try:
        root, words = parse_options(args, ROOT_OPTIONS, frozenset(("hosts",)))
        verb = next((w for w in RUN_WORDS if words[:len(w)] == w), None)
        if verb is None:
            return None
        flags, rest = parse_options(words[len(verb):], RUN_OPTIONS, MULTIPLE)
    except Unknown:
        return None
    if rest[:1] == ["--"]:
        rest = rest[1:]
    if not rest:
        return None  # click: "Missing argument 'IMAGE'."
    return root, flags, rest[0], tuple(rest[1:])


def run(args: List[str]) -> Optional[int]:
    """Run `run` when every argument is one this module knows: the exit status; None: use click."""
    parsed = parse_run(args)
    if parsed is None:
        return None
    root, flags, image, command = parsed
    try:
        app, opts = _app(root), _options(flags)
        _check(opts, image, command)
    except KeyboardInterrupt:
        return _interrupted()
    except Exception:  # a flag value body.py refuses, -it without a terminal, a bad endpoint, a bug: click's path
        return None
    return _create_and_run(app, args, opts, image, command)


def _app(root: Dict[str, object]) -> App:
    """The App the root click group makes from these options, never starting the daemon."""
    from rootless.cli.app import App
    from rootless.client.containers import RunClient
    from rootless.client.endpoint import HostOptions

    hosts = root.get("hosts", ())
    context = root.get("context", "")
    assert isinstance(hosts, tuple) and isinstance(context, str)
    # --root has click's envvar=ROOTLESS_ROOT: an empty variable counts as unset.
    storage_root = root["root"] if "root" in root else (os.environ.get("ROOTLESS_ROOT") or None)
    assert storage_root is None or isinstance(storage_root, str)
    app = App(storage_root=storage_root, host_options=HostOptions(hosts=hosts, context=context))
    # App.client's steps without its /_ping and start on demand: a daemon that does not answer
    # refuses the create, and click's path then starts it.
    endpoint = app.endpoint()
    if endpoint.local:
        app.run_paths.has_run_dir()  # before connecting: another user may have made our runtime dir (issue 7)
    # The container endpoints alone: run's steps call nothing else (the parity tests run every one).
    app._client = RunClient(endpoint.target)  # type: ignore[assignment]
    return app


def _options(flags: Dict[str, object]) -> CreateOptions:
    """CreateOptions as click's run passes them: the flags not given keep the dataclass defaults,
    which are click's (tests/unit/cli/test_fast_run.py)."""
    from rootless.cli.container.body import CreateOptions

    return CreateOptions.from_kwargs(flags)


def _check(opts: CreateOptions, image: str, command: Sequence[str]) -> None:
    """cli/container/run.py's steps before the create, and the body built once so that a value
    body.py refuses goes to click's path before anything is sent (it says so with exit status 125)."""
    from rootless.cli.container.body import build_create_body
    from rootless.cli.container.creating import read_text

    if opts.tty:  # both checks concern a TTY; without one streaming.py loads while the daemon creates
        from rootless.cli.container.streaming import check_tty_input, console_size

        if not opts.detach:
            check_tty_input(opts.interactive, opts.tty)
        opts.console_size = console_size()
    build_create_body(opts, image, command, os.environ, read_text, os.getcwd())


def _create_and_run(app: App, args: List[str], opts: CreateOptions, image: str, command: Sequence[str]
                    ) -> Optional[int]:
    """cli/container/run.py from the create on, with cli/root.py's error handling; None when the
    create failed without making a container and click's path does more than report it."""
    import gc

    from rootless.cli.container.creating import send_create

    container_id = None
    try:
        sent = send_create(app, opts, image, command, PULL, None)
        # Imported while the daemon creates: ~0.6 ms off the wall clock (bench/README.md "rootless run,
        # client side").
        from rootless.cli.container.streaming import run_attached, start_container

        gc.enable()  # cli/__init__.py turned it off for the imports; an attached run may last hours
        container_id = sent.container_id()
        if opts.detach:
            start_container(app, container_id)
            sys.stdout.write(container_id + "\n")  # an id is hex: click.echo would write the same
            sys.stdout.flush()
            return 0
        return run_attached(app, container_id, tty=opts.tty, interactive=opts.interactive,
                            condition="removed" if opts.rm else "next-exit", sig_proxy=SIG_PROXY,
                            detach_keys=DETACH_KEYS)
    except KeyboardInterrupt:
        return _interrupted()
    except Exception as exc:
        if container_id is None and _click_does_more(exc):
            return None
        return _failed(args, exc)


def _click_does_more(exc: Exception) -> bool:
    """A refused create that click's path answers with more than its message: a missing image
    (it pulls, creating.py) or no daemon listening (it starts one, cli/app.py). Nothing was created:
    the request was not sent, or refused. Any other failure is reported here, never sent again,
    so that a create whose answer was lost can't make a second container."""
    from rootless.errors import NotFound, Unavailable

    if isinstance(exc, NotFound):
        return "no such image" in exc.message.lower()  # creating.py's _is_missing_image
    return isinstance(exc, Unavailable) and exc.message.startswith("can't connect to rootlessd")


def _failed(args: List[str], exc: Exception) -> int:
    """cli/root.py's answer to an exception out of the command: its message and exit status."""
    from rootless.errors import RootlessError

    if isinstance(exc, RootlessError):
        return _report(args, exc)
    if isinstance(exc, BrokenPipeError):
        return 1
    from rootless.cli.container.creating import echo_error

    # a bug: cli/root.py's one line (its traceback needs --debug, a flag of click's path)
    echo_error(f"Error: internal error: {exc!r} (run with --debug for the traceback)")
    return 1


def _report(args: List[str], exc: RootlessError) -> int:
    """What cli/root.py prints for a daemon error, and its exit status (125/126/127 for start)."""
    from rootless.cli.container.creating import echo_error
    from rootless.cli.root import _error_exit_code

    echo_error(f"Error: {exc.message}")
    if exc.hint:
        echo_error(f"hint: {exc.hint}")
    return _error_exit_code(args, exc)


def _interrupted() -> int:
    from rootless.wire.exitcodes import INTERRUPTED

    return INTERRUPTED

"""`rootless run` without click (issue 13, bench/README.md "CLI fast path: run").

The click command (cli/container/run.py) costs ~25 ms of imports before it
sends anything; the common flags of `run` are parsed here instead and the
same code then runs: CreateOptions and the create body of cli/container/body.py,
create_container of creating.py, start_container and run_attached of
streaming.py. Anything this parser does not know (a flag, --help, a root
option other than -H/-c/--root) returns None before any request, and so does
any error up to and including the create request (a flag value body.py
refuses, a missing image, a daemon that is not running): the caller then runs
the click command from the start, which gives click's messages, pulls and
exit codes. Once the container exists, errors are reported here exactly as
cli/root.py reports them (it is imported for that, with click, on that path
only). Nothing on the way to a started container may import click or typing
(tests/unit/cli/test_fast_run.py).
"""
from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # True for mypy; importing typing costs ~3 ms (cli/fast.py)
if TYPE_CHECKING:
    from typing import Dict, FrozenSet, List, Optional, Sequence, Tuple

    from rootless.cli.app import App
    from rootless.cli.container.body import CreateOptions
    from rootless.errors import RootlessError

# The verb, as cli/commands.py spells it: the words before the verb's own flags.
RUN_WORDS = (["run"], ["container", "run"])

# Each option as click declares it: option -> (parameter name, takes a value).
ROOT_OPTIONS = {"-H": ("hosts", True), "--host": ("hosts", True), "-c": ("context", True),
                "--context": ("context", True), "--root": ("root", True)}
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


class Unknown(Exception):
    """An argument this parser does not handle: click's path takes the command."""


def parse_options(args: List[str], options: Dict[str, Tuple[str, bool]], multiple: FrozenSet[str]
                  ) -> Tuple[Dict[str, object], List[str]]:
    """(parameter values, the words from the first positional on) as click's parser reads args
    with allow_interspersed_args off: flags may be grouped (-dit), a value may be attached (-eA=1,
    --name=x) or be the next argument, even one starting with '-'; `--` ends the flags and stays
    first in the words. A flag given again: the last value (a multiple one: each, in order)."""
    values: Dict[str, object] = {}
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        if arg == "--" or not arg.startswith("-") or arg == "-":
            return values, [arg] + rest
        for name, value in _split_option(arg, rest, options):
            if name in multiple:
                previous = values.get(name, ())
                assert isinstance(previous, tuple)
                values[name] = previous + (value,)
            else:
                values[name] = value
    return values, []


def _split_option(arg: str, rest: List[str], options: Dict[str, Tuple[str, bool]]) -> List[Tuple[str, object]]:
    """One argument starting with '-' as (parameter, value) pairs; a value may come from rest.
    Unknown, if click would refuse it or if it is not an option this module handles."""
    if arg.startswith("--"):
        opt, eq, attached = arg.partition("=")
        name, takes_value = options.get(opt, ("", False))
        if not name or (eq and not takes_value):  # click: "Option '--rm' does not take a value."
            raise Unknown(arg)
        return [(name, (attached if eq else _next_value(rest, arg)) if takes_value else True)]
    pairs: List[Tuple[str, object]] = []
    for index in range(1, len(arg)):  # click's short options: -dit, -eA=1, -ie A=1; -e=x is -e with "=x"
        name, takes_value = options.get("-" + arg[index], ("", False))
        if not name:
            raise Unknown(arg)
        if takes_value:
            pairs.append((name, arg[index + 1:] or _next_value(rest, arg)))
            return pairs
        pairs.append((name, True))
    return pairs


def _next_value(rest: List[str], arg: str) -> str:
    if not rest:
        raise Unknown(arg)  # click: "Option '--name' requires an argument."
    return rest.pop(0)


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
        container_id = _create(app, opts, image, command)
    except KeyboardInterrupt:
        return _interrupted()
    except Exception:  # a flag value body.py refuses, a missing image, no daemon, a bug: click's path says which
        return None
    return _finish(app, args, opts, container_id)


def _app(root: Dict[str, object]) -> App:
    """The App the root click group makes from these options, never starting the daemon."""
    from rootless.cli.app import App
    from rootless.client.api import APIClient
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
    app._client = APIClient(endpoint.target)
    return app


def _options(flags: Dict[str, object]) -> CreateOptions:
    """CreateOptions as click's run passes them: the flags not given keep the dataclass defaults,
    which are click's (tests/unit/cli/test_fast_run.py)."""
    from rootless.cli.container.body import CreateOptions

    return CreateOptions.from_kwargs(flags)


def _create(app: App, opts: CreateOptions, image: str, command: Sequence[str]) -> str:
    """cli/container/run.py's steps up to the create request (refusals raise: click's path)."""
    from rootless.cli.container.creating import create_container
    from rootless.cli.container.streaming import check_tty_input, console_size

    if not opts.detach:
        check_tty_input(opts.interactive, opts.tty)
    if opts.tty:
        opts.console_size = console_size()
    return create_container(app, opts, image, command, PULL, None)


def _finish(app: App, args: List[str], opts: CreateOptions, container_id: str) -> int:
    """cli/container/run.py after the create, with cli/root.py's error handling."""
    import gc

    gc.enable()  # cli/__init__.py turned it off for the start; an attached run may last hours
    from rootless.cli.container.streaming import run_attached, start_container
    from rootless.errors import RootlessError

    try:
        if opts.detach:
            start_container(app, container_id)
            sys.stdout.write(container_id + "\n")  # an id is hex: click.echo would write the same
            sys.stdout.flush()
            return 0
        return run_attached(app, container_id, tty=opts.tty, interactive=opts.interactive,
                            condition="removed" if opts.rm else "next-exit", sig_proxy=SIG_PROXY,
                            detach_keys=DETACH_KEYS)
    except RootlessError as exc:
        return _report(args, exc)
    except KeyboardInterrupt:
        return _interrupted()
    except BrokenPipeError:
        return 1
    except Exception as exc:  # a bug: cli/root.py's one line (its traceback needs --debug, a click-path flag)
        from rootless.cli.container.creating import echo_error

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

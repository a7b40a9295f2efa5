"""`rootless ps` and `rootless images` without click (issue 13, bench/README.md "CLI fast path").

A click CLI can't start in less than ~35 ms here (the interpreter, then click
and typing), about twice `docker ps`. These two read-only verbs are the ones
typed most, so their common flags are parsed here. What prints is
cli/listings.py's, as for the click commands. Anything this parser does not
know, or any error, returns None: the caller then runs the click command, which
gives click's messages and exit codes. The request is read-only, so doing it
again there is harmless. Nothing here or in what it imports may import click
or typing (tests/unit/cli/test_fast.py).
"""
from __future__ import annotations

import os
import sys

from rootless.cli.fast_args import ROOT_OPTIONS, Unknown, parse_options

TYPE_CHECKING = False  # True for mypy; importing typing costs ~3 ms (cli/fast.py)
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Tuple

    from rootless.client.base import ListClient

# The verbs, as cli/commands.py spells them: the words before the verb's own flags.
PS_WORDS = (["ps"], ["container", "ls"], ["container", "ps"], ["container", "list"])
IMAGES_WORDS = (["images"], ["image", "ls"], ["image", "list"])

# Each command's options as click declares them: option -> (parameter name, takes a value).
PS_OPTIONS = {"-a": ("all_", False), "--all": ("all_", False), "-q": ("quiet", False), "--quiet": ("quiet", False),
              "-f": ("filters", True), "--filter": ("filters", True), "--format": ("fmt", True),
              "--no-trunc": ("no_trunc", False), "-n": ("last", True), "--last": ("last", True),
              "-l": ("latest", False), "--latest": ("latest", False), "-s": ("size", False), "--size": ("size", False)}
IMAGES_OPTIONS = {"-a": ("all_", False), "--all": ("all_", False), "-q": ("quiet", False),
                  "--quiet": ("quiet", False), "--digests": ("digests", False), "-f": ("filters", True),
                  "--filter": ("filters", True), "--format": ("fmt", True), "--no-trunc": ("no_trunc", False)}
MULTIPLE = frozenset(("hosts", "filters"))  # click's multiple=True: every value kept, in order


def _text(values: Dict[str, object], name: str) -> Optional[str]:
    value = values.get(name)
    return value if isinstance(value, str) else None


def _strings(values: Dict[str, object], name: str) -> List[str]:
    value = values.get(name)
    return list(value) if isinstance(value, tuple) else []


def _int(values: Dict[str, object], name: str, default: int) -> int:
    text = _text(values, name)
    try:
        return default if text is None else int(text)  # click's INT is int(value)
    except ValueError:
        raise Unknown(text) from None


def run(args: List[str]) -> Optional[int]:
    """Run `ps`/`images` when every argument is one this module knows; None: use click."""
    try:
        root, words = parse_options(args, ROOT_OPTIONS, MULTIPLE)
        verb = next((w for w in PS_WORDS + IMAGES_WORDS if words[:len(w)] == w), None)
        if verb is None or "--" in words[len(verb):]:
            return None
        ps = verb in PS_WORDS
        values, extra = parse_options(words[len(verb):], PS_OPTIONS if ps else IMAGES_OPTIONS, MULTIPLE,
                                      interspersed=True)
        if len(extra) > (0 if ps else 1):
            return None
        values["reference"] = extra[0] if extra else None
        values["last"] = _int(values, "last", -1)
    except Unknown:
        return None
    try:
        lines = _lines(root, ps, values)
    except KeyboardInterrupt:
        from rootless.wire.exitcodes import INTERRUPTED

        return INTERRUPTED
    return None if lines is None else _write(lines)


def _lines(root: Dict[str, object], ps: bool, values: Dict[str, object]) -> Optional[List[str]]:
    """The verb's output, or None for anything that went wrong (click's path reports it)."""
    from rootless.cli.listings import images_lines, ps_lines

    connection = Connection(root)
    flag, fmt, filters = values.get, _text(values, "fmt"), _strings(values, "filters")
    try:
        if ps:
            last = values["last"]
            assert isinstance(last, int)
            return ps_lines(connection, flag("all_") is True, flag("quiet") is True, filters, fmt,
                            flag("no_trunc") is True, last, flag("latest") is True, flag("size") is True)
        return images_lines(connection, flag("all_") is True, flag("quiet") is True, flag("digests") is True,
                            filters, fmt, flag("no_trunc") is True, _text(values, "reference"))
    except Exception:  # the daemon is down, a bad filter or template, a bug: click's path says which
        return None


class Connection:
    """What cli/listings.py asks of cli/app.py's App: .client, connected as App connects but without
    /_ping and start on demand (a daemon that does not answer sends the command to click's path,
    which starts it). A ListClient, and no App: the fast path loads neither the mixins nor app.py."""

    def __init__(self, root: Dict[str, object]) -> None:
        self.hosts = tuple(_strings(root, "hosts"))
        self.context = _text(root, "context") or ""
        # --root has click's envvar=ROOTLESS_ROOT: an empty variable counts as unset.
        self.storage_root = _text(root, "root") if "root" in root else (os.environ.get("ROOTLESS_ROOT") or None)

    @property
    def client(self) -> ListClient:
        """App.client's endpoint (App.endpoint, App.run_paths) and runtime dir check."""
        from rootless.client.base import ListClient
        from rootless.client.endpoint import HostOptions, resolve
        from rootless.config.paths import Paths

        run_paths = Paths.from_env(self.storage_root)
        endpoint = resolve(HostOptions(hosts=self.hosts, context=self.context), os.environ, run_paths.socket)
        if endpoint.local:
            run_paths.has_run_dir()  # before connecting: another user may have made our runtime dir (issue 7)
        return ListClient(endpoint.target)


def _write(lines: List[str]) -> Optional[int]:
    """Print as click.echo would. It strips ANSI escapes when stdout is not a terminal and
    re-encodes for an ASCII stdout, and what stdout can't encode is its error: these cases
    are left to it (None)."""
    text = "".join(line + "\n" for line in lines)
    if "\x1b" in text or (sys.stdout.encoding or "").lower().replace("-", "") != "utf8":
        return None
    try:
        text.encode("utf-8", sys.stdout.errors or "strict")
    except (UnicodeError, LookupError):
        return None
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:  # `rootless ps | head -1`: as cli/root.py
        return 1
    return 0

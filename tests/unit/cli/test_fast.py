"""`ps` and `images` without click (cli/fast.py, issue 13): the same bytes as click's path, or click's path.

Both paths run in-process against a fake daemon on a UNIX socket in tmp_path
(test_startup_imports.py's), which records every request. For each supported
flag combination the fast path must print what the click command prints, with
the same exit status and the same list request. Anything else must make the
fast path decline (None), so that click's messages and exit codes apply.
"""
from __future__ import annotations

import json
import os
import socket
from typing import Dict, Iterator, List, Tuple

import click
import pytest

import rootless.cli
import rootless.cli.root
from rootless.cli import fast
from tests.unit.cli.test_startup_imports import (ANSWERS, NOT_FOR_LOCAL_VERBS, FakeDaemon, daemon,  # noqa: F401
                                                 fresh_rootless, read_request_head)

PS_CASES = [
    [], ["-a"], ["--all"], ["-q"], ["--quiet"], ["-aq"], ["--no-trunc"], ["-a", "--no-trunc"], ["-n", "1"], ["-n1"],
    ["--last", "2"], ["--last=2"], ["-n", " 3 "], ["-l"], ["--latest"], ["-s"], ["--size"], ["-as"],
    ["--format", "{{.Names}}"], ["--format={{.ID}} {{.Status}}"], ["--format", "json"], ["--format", ""],
    ["--format", "table {{.Names}}\t{{.Image}}"], ["-q", "--format", "{{.Image}}"],
    ["-f", "status=exited"], ["-fstatus=exited"], ["--filter", "name=web", "--filter=label=a=b"],
    ["-af", "status=exited"], ["-n", "1", "-n", "2"], ["--format", "{{.Names}}", "--format", "{{.ID}}"],
    ["-a", "-q", "--no-trunc", "-s", "-f", "status=exited", "--format", "{{.ID}}\t{{.Size}}"],
]
IMAGES_CASES = [
    [], ["-a"], ["--all"], ["-q"], ["--quiet"], ["-aq"], ["--digests"], ["--no-trunc"], ["--no-trunc", "-q"],
    ["busybox"], ["busybox", "-q"], ["-q", "busybox"], ["-f", "dangling=false"], ["--filter=reference=busy*"],
    ["--format", "{{.Repository}}:{{.Tag}}"], ["--format=json"], ["-a", "--digests", "--format", "{{.Digest}}"],
]
VERBS = {"ps": [["ps"], ["container", "ls"], ["container", "ps"], ["container", "list"]],
         "images": [["images"], ["image", "ls"], ["image", "list"]]}
# Root group options before the verb; {socket} is the fake daemon's path.
ROOT_CASES = [[], ["-H", "unix://{socket}"], ["--host=unix://{socket}"], ["-Hunix://{socket}"],
              ["--context", "default"], ["-c", "default"], ["--root", "{tmp}/store"], ["--root={tmp}/store"]]

# Options of the click commands that the fast path leaves to click, each with a value if it takes one.
PS_FALLS_BACK = {"-h": [], "--help": []}
IMAGES_FALLS_BACK = {"-h": [], "--help": []}
ROOT_FALLS_BACK = {"-h": [], "--help": [], "-D": [], "--debug": [], "--tls": [], "--tlsverify": [],
                   "--tlscacert": ["/x"], "--tlscert": ["/x"], "--tlskey": ["/x"], "--insecure-tcp": [],
                   "--version": []}


class RecordingDaemon(FakeDaemon):
    """The fake daemon, keeping each request's target with its query; status 400 answers {"message": ...}."""

    status = 200

    def __init__(self, path: str) -> None:
        self.targets: List[str] = []
        super().__init__(path)

    def _answer(self, conn: socket.socket) -> None:
        head = read_request_head(conn)
        if not head:
            return
        target = head.split(b" ", 2)[1].decode()
        self.targets.append(target)
        path = target.split("?", 1)[0]
        status = 200 if path == "/_ping" else self.status
        body = b"OK" if path == "/_ping" else json.dumps(
            ANSWERS.get(path, {}) if status == 200 else {"message": "invalid filter 'bogus'"}).encode()
        conn.sendall(b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                     % (status, len(body), body))


@pytest.fixture
def recording(daemon: FakeDaemon) -> Iterator[RecordingDaemon]:  # noqa: F811
    daemon.close()
    os.unlink(daemon.path)
    fake = RecordingDaemon(daemon.path)
    yield fake
    fake.close()


def run_fast(args: List[str], capsys: pytest.CaptureFixture[str]) -> Tuple[object, str, str]:
    status = fast.run(args)
    out, err = capsys.readouterr()
    return status, out, err


def run_click(args: List[str], capsys: pytest.CaptureFixture[str]) -> Tuple[object, str, str]:
    try:
        rootless.cli.root.main(args)
        status: object = 0
    except SystemExit as exc:
        status = exc.code
    out, err = capsys.readouterr()
    return status, out, err


def expand(args: List[str], daemon: FakeDaemon, tmp: str) -> List[str]:
    return [arg.replace("{socket}", daemon.path).replace("{tmp}", tmp) for arg in args]


def cases() -> List[List[str]]:
    """Each verb spelling with some flags, each flag case with the short verb, each root case."""
    out = [verb + PS_CASES[index % len(PS_CASES)] for index, verb in enumerate(VERBS["ps"])]
    out += [verb + IMAGES_CASES[index % len(IMAGES_CASES)] for index, verb in enumerate(VERBS["images"])]
    out += [["ps"] + case for case in PS_CASES] + [["images"] + case for case in IMAGES_CASES]
    out += [root + ["ps", "-a"] for root in ROOT_CASES] + [root + ["images", "-q"] for root in ROOT_CASES]
    return out


@pytest.mark.parametrize("args", cases(), ids=" ".join)
def test_the_fast_path_prints_what_click_prints(recording, capsys, tmp_path, args) -> None:  # type: ignore[no-untyped-def]
    args = expand(args, recording, str(tmp_path))
    fast_result = run_fast(args, capsys)
    fast_requests = list(recording.targets)
    recording.targets.clear()
    click_result = run_click(args, capsys)
    assert fast_result[0] == 0, "the fast path declined a case it supports"
    assert fast_result == click_result
    assert fast_result[1].strip()
    assert fast_requests == [t for t in recording.targets if t != "/_ping"]  # the same list request


@pytest.mark.parametrize("args", [
    ["ps", "--help"], ["ps", "-h"], ["ps", "-x"], ["ps", "--bogus"], ["ps", "--all=1"], ["ps", "-n"],
    ["ps", "-n", "many"], ["ps", "--last="], ["ps", "stray"], ["ps", "--", "-a"], ["ps", "-"],
    ["images", "a", "b"], ["images", "--", "busybox"], ["images", "-n", "1"], ["images", "--digests=yes"],
    ["-D", "ps"], ["--debug", "images"], ["--tls", "ps"], ["-Hunix:///x", "-D", "ps"], ["ps", "-H", "unix:///x"],
    ["container", "--help", "ls"], ["container", "rm"], ["image", "pull"], ["network", "ls"], ["volume", "ls"],
    ["context", "ls"], ["-c"], ["ps", "-aZ"], ["--", "ps"], ["run", "ps"], [],
] + [["ps", opt] + value for opt, value in PS_FALLS_BACK.items()]
  + [["images", opt] + value for opt, value in IMAGES_FALLS_BACK.items()]
  + [[opt] + value + ["ps"] for opt, value in ROOT_FALLS_BACK.items()], ids=" ".join)
def test_what_the_fast_path_does_not_know_goes_to_click(recording, capsys, args) -> None:  # type: ignore[no-untyped-def]
    assert fast.run(args) is None
    assert capsys.readouterr() == ("", "")
    assert recording.targets == []  # declined before asking the daemon anything


def test_shell_completion_is_clicks_even_for_ps(recording, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("_ROOTLESS_COMPLETE", "bash_complete")
    monkeypatch.setenv("COMP_WORDS", "rootless ps --no-")
    monkeypatch.setenv("COMP_CWORD", "2")
    with pytest.raises(SystemExit):
        rootless.cli.main(["ps"])
    assert "--no-trunc" in capsys.readouterr().out
    assert recording.targets == []


def test_click_reports_what_the_fast_path_declined(recording, capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) as exc:
        rootless.cli.main(["ps", "--bogus"])
    assert exc.value.code == 2
    assert "Error: No such option '--bogus'." in capsys.readouterr().err


@pytest.mark.parametrize("args", [["ps", "-f", "nokeyvalue"], ["ps", "--format", "{{.Nope"],
                                  ["images", "--format", "{{json}"], ["ps", "-f", "bogus=1"]])
def test_errors_go_to_clicks_path_which_reports_them(recording, capsys, monkeypatch, args) -> None:  # type: ignore[no-untyped-def]
    if "bogus=1" in args:  # the daemon refuses the filter: a 400
        monkeypatch.setattr(recording, "status", 400)
    assert run_fast(args, capsys) == (None, "", "")
    status, out, err = run_click(args, capsys)
    assert status != 0 and err.startswith("Error: ") and out == ""


def test_a_daemon_that_is_not_running_goes_to_clicks_path(daemon, capsys) -> None:  # type: ignore[no-untyped-def]
    daemon.close()  # the socket file stays; nobody listens: click's path would start rootlessd
    assert run_fast(["ps"], capsys) == (None, "", "")


def test_what_stdout_cannot_encode_is_left_to_click(recording, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A name with a lone surrogate: click's path reports the encoding error; the fast path must not
    print half of the output and a traceback."""
    monkeypatch.setitem(ANSWERS, "/containers/json", [dict(ANSWERS["/containers/json"][0], Names=["/\udc80x"])])
    assert run_fast(["ps"], capsys) == (None, "", "")
    status, out, err = run_click(["ps"], capsys)
    assert status == 1 and "UnicodeEncodeError" in err and out.startswith("CONTAINER ID")


def test_ansi_escapes_are_left_to_click_echo(recording, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """click.echo strips them when stdout is not a terminal; the fast path does not try to."""
    monkeypatch.setitem(ANSWERS, "/containers/json", [dict(ANSWERS["/containers/json"][0], Names=["/\x1b[31mred"])])
    assert run_fast(["ps"], capsys) == (None, "", "")
    status, out, _ = run_click(["ps"], capsys)
    assert status == 0 and "red" in out and "\x1b" not in out


# What the fast path exists to skip (bench/README.md "CLI fast path"): click and typing (~26 ms together),
# dataclasses (~8 ms with inspect), socket (~2 ms: its IntEnums, selectors), datetime, struct, contextlib.
NOT_FOR_THE_FAST_PATH = ("click", "typing", "dataclasses", "inspect", "socket", "selectors", "datetime", "struct",
                         "contextlib", "base64", "fcntl") + NOT_FOR_LOCAL_VERBS + (
    # The second pass: App and the client's mixins (a ListClient does), the template engine for
    # formats of fields only (cli/table.py does), the filter rules without a --filter, and the
    # json package (util/jsonlite.py reads the reply with its C scanner).
    "json", "rootless.cli.app", "rootless.client.api", "rootless.client.containers", "rootless.client.images",
    "rootless.client.networks", "rootless.client.volumes", "rootless.cli.format", "rootless.wire",
    # Session 9: `re` (~4.5 ms), which bin/rootless no longer imports (test_script.py), nor does the
    # context store's read of currentContext.
    "re", "enum")


@pytest.mark.parametrize("docker_host", [True, False], ids=["DOCKER_HOST", "default context"])
def test_the_fast_path_imports_nothing_it_exists_to_skip(recording, monkeypatch, capsys, docker_host) -> None:  # type: ignore[no-untyped-def]
    if docker_host:
        monkeypatch.setenv("DOCKER_HOST", f"unix://{recording.path}")
    # The default context reads currentContext through the context store, DOCKER_HOST is parsed by
    # config/hosts.py: both import rootless.errors only where they raise.
    blocked = (NOT_FOR_THE_FAST_PATH if docker_host else tuple(
        m for m in NOT_FOR_THE_FAST_PATH if m != "rootless.config.contexts")) + ("rootless.errors",)
    with fresh_rootless(blocked):
        rootless_cli = __import__("rootless.cli", fromlist=["main"])
        rootless_cli.main(["ps", "-a", "--format", "{{.Names}} {{.CreatedAt}}"])
        rootless_cli.main(["images", "-q"])
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("web 2023-11-") and out[1:] == ["bbbbbbbbbbbb"]


def option_table(command: click.Command, ctx: click.Context) -> Dict[str, Tuple[bool, bool]]:
    """Each option string of a click command, its help option included: (takes a value, multiple)."""
    table: Dict[str, Tuple[bool, bool]] = {}
    for param in command.get_params(ctx):
        if isinstance(param, click.Option):
            for opt in param.opts + param.secondary_opts:
                table[opt] = (not param.is_flag, param.multiple)
    return table


def fast_table(options: Dict[str, Tuple[str, bool]]) -> Dict[str, Tuple[bool, bool]]:
    return {opt: (takes_value, name in fast.MULTIPLE) for opt, (name, takes_value) in options.items()}


def command(*words: str) -> Tuple[click.Command, click.Context]:
    """The command these words name, with its context as click makes it (help names -h, --help)."""
    found: click.Command = rootless.cli.root.cli
    ctx = found.make_context("rootless", [], resilient_parsing=True)
    for word in words:
        assert isinstance(found, click.Group)
        next_command = found.get_command(ctx, word)
        assert next_command is not None
        found, ctx = next_command, next_command.make_context(word, [], parent=ctx, resilient_parsing=True)
    return found, ctx


@pytest.mark.parametrize("words,options,falls_back,cases_", [
    (["ps"], fast.PS_OPTIONS, PS_FALLS_BACK, PS_CASES),
    (["images"], fast.IMAGES_OPTIONS, IMAGES_FALLS_BACK, IMAGES_CASES),
    ([], fast.ROOT_OPTIONS, ROOT_FALLS_BACK, ROOT_CASES),
])
def test_every_option_of_the_click_command_is_handled_or_falls_back(words, options, falls_back, cases_) -> None:  # type: ignore[no-untyped-def]
    """A flag added to the click command fails here until cli/fast.py supports it (and PS_CASES or
    IMAGES_CASES show it prints the same) or it is listed in *_FALLS_BACK (and shown to fall back)."""
    theirs = option_table(*command(*words))
    ours = fast_table(options)
    assert {opt: theirs.get(opt) for opt in ours} == ours, "the fast path reads an option differently from click"
    assert sorted(set(theirs) - set(ours)) == sorted(falls_back)
    used = {arg.split("=")[0] for case in cases_ for arg in case if arg.startswith("--")}
    used |= {"-" + ch for case in cases_ for arg in case if arg.startswith("-") and not arg.startswith("--")
             for ch in arg[1:2]}
    assert set(ours) <= used, "a supported option without a case in the byte-for-byte test"


@pytest.mark.parametrize("words,arguments", [(["ps"], []), (["images"], [("reference", 1, False)]),
                                              (["container", "ls"], []), (["image", "ls"], [("reference", 1, False)])])
def test_the_commands_take_the_arguments_the_fast_path_expects(words, arguments) -> None:  # type: ignore[no-untyped-def]
    params = [(p.name, p.nargs, p.required) for p in command(*words)[0].params if isinstance(p, click.Argument)]
    assert params == arguments


def test_the_verb_spellings_are_the_command_tables() -> None:
    """cli/commands.py names of ps and images: the fast path knows each spelling of these two verbs."""
    from rootless.cli.commands import CONTAINER_COMMANDS, IMAGE_COMMANDS, TOP_COMMANDS

    ps, images = CONTAINER_COMMANDS["ls"], IMAGE_COMMANDS["ls"]
    spellings = sorted([[name] for name, target in TOP_COMMANDS.items() if target in (ps, images)]
                       + [["container", name] for name, target in CONTAINER_COMMANDS.items() if target == ps]
                       + [["image", name] for name, target in IMAGE_COMMANDS.items() if target == images])
    assert spellings == sorted(list(fast.PS_WORDS) + list(fast.IMAGES_WORDS)) == sorted(VERBS["ps"] + VERBS["images"])
    assert rootless.cli.FAST_VERBS == {w[-1] for w in spellings}

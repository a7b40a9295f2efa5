"""`rootless run` without click (cli/fast_run.py, issue 13): the same requests, bytes and status as click's path.

Both paths run in-process against a fake daemon on a UNIX socket in tmp_path
that records each request with its body and answers create, attach (a 101 and
then the container's output), wait and start. For each supported flag
combination the fast path must send the same create body and the same
requests, print the same stdout and stderr and exit with the same status as
the click command. Anything else must make the fast path decline (None)
before any output, and before any request unless the create itself failed.
"""
from __future__ import annotations

import json
import os
import socket
import struct
from typing import Any, Dict, Iterator, List, Optional, Tuple

import click
import pytest

import rootless.cli
import rootless.cli.root
from rootless.cli import fast_run
from rootless.cli.container.body import CreateOptions
from tests.unit.cli.test_fast import command, option_table
from tests.unit.cli.test_startup_imports import (NOT_FOR_LOCAL_VERBS, FakeDaemon, daemon,  # noqa: F401
                                                 fresh_rootless, read_request_head)

CONTAINER_ID = "c" * 64

# The flags after `run`; the image and command follow. Each supported option appears in one.
CASES = [
    ["--rm"], ["-d"], ["--detach"], ["--rm", "-d"], ["-i"], ["--interactive"], ["-t"], ["--tty"], ["-t", "--rm"],
    ["-d", "-i", "-t"], ["-dit"], ["-di"], ["-dt"], ["--name", "web"], ["--name=web"], ["--name", "a", "--name", "b"],
    ["-e", "A=1"], ["-eA=1"], ["--env", "A=1", "--env=B", "-e", "C="], ["-ie", "A=1"], ["--network", "none"],
    ["--net", "host"], ["--net=mynet"], ["-w", "/tmp"], ["--workdir", "/srv"], ["-w/srv"], ["-u", "1000:1000"],
    ["--user", "nobody"], ["-u0"], ["--entrypoint", "/bin/sh"], ["--entrypoint", ""], ["--entrypoint=env"],
    ["-v", "/data"], ["-v", "/srv:/srv:ro"], ["--volume", "vol:/x", "-v", "./rel:/y"], ["-p", "8080:80"],
    ["--publish", "127.0.0.1:53:53/udp", "-p", "90"], ["-d", "--name", "-dash"], ["--"], ["--rm", "--"],
    ["--rm", "-d", "--name", "x", "-e", "A=1", "--net", "none", "-w", "/", "-u", "1", "--entrypoint", "sh",
     "-v", "/v", "-p", "1:2"],
]
COMMANDS = [[], ["true"], ["sh", "-c", "echo hi"], ["--rm", "-d"], ["--", "x"]]
VERBS = [["run"], ["container", "run"]]
ROOT_CASES = [[], ["-H", "unix://{socket}"], ["--host=unix://{socket}"], ["-c", "default"], ["--root", "{tmp}/s"]]

# Options of click's run that the fast path leaves to click (each declines: see the fallback test).
RUN_FALLS_BACK = {
    "--add-host", "--blkio-weight", "--cap-add", "--cap-drop", "--cpu-period", "--cpu-quota", "--cpus",
    "--cpuset-cpus", "--cpuset-mems", "--detach-keys", "--device", "--device-cgroup-rule", "--dns", "--env-file",
    "--expose", "--health-cmd", "--health-interval", "--health-retries", "--health-start-interval",
    "--health-start-period", "--health-timeout", "--help", "--hostname", "--init", "--ipc", "--label",
    "--log-driver", "--log-opt", "--memory", "--memory-reservation", "--memory-swap", "--mount", "--network-alias",
    "--no-healthcheck", "--pid", "--pids-limit", "--platform", "--privileged", "--publish-all", "--pull",
    "--read-only", "--restart", "--security-opt", "--shm-size", "--sig-proxy", "--stop-signal", "--stop-timeout",
    "--tmpfs", "--ulimit", "--userns", "--volumes-from", "-P", "-c", "-h", "-l", "-m", "--cpu-shares",
}


class RunDaemon(FakeDaemon):
    """Answers create, attach, wait and start; keeps (method, target, body) of each request."""

    def __init__(self, path: str) -> None:
        self.requests: List[Tuple[str, str, Any]] = []
        self.create: Tuple[int, Dict[str, Any]] = (201, {"Id": CONTAINER_ID, "Warnings": []})
        self.start: Tuple[int, Dict[str, Any]] = (204, {})
        self.wait: Dict[str, Any] = {"StatusCode": 3}
        self.frames = [(1, b"out\n"), (2, b"err\n")]
        self.tty = False
        self.drop_create = False  # close the connection without answering the create
        super().__init__(path)

    def _answer(self, conn: socket.socket) -> None:
        data = read_request_head(conn)
        if not data:
            return
        head, _, body = data.partition(b"\r\n\r\n")
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        while len(body) < length:
            body += conn.recv(65536)
        method, target = head.decode().split(" ")[:2]
        self.requests.append((method, target, json.loads(body) if body else None))
        path = target.split("?", 1)[0]
        if path.endswith("/create") and self.drop_create:
            return
        if path.endswith("/attach"):
            conn.sendall(b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
                         b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
            conn.sendall(b"".join(payload if self.tty else struct.pack(">BxxxL", stream, len(payload)) + payload
                                  for stream, payload in self.frames))
            return
        status, answer = ((200, {}) if path == "/_ping" else self.create if path.endswith("/create")
                          else self.start if path.endswith("/start") else (200, self.wait))
        text = b"" if status == 204 else json.dumps(answer).encode()
        conn.sendall(b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                     % (status, len(text), text))


@pytest.fixture
def fake(daemon: FakeDaemon, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunDaemon]:  # noqa: F811
    daemon.close()
    os.unlink(daemon.path)
    recorder = RunDaemon(daemon.path)
    monkeypatch.setenv("DOCKER_HOST", f"unix://{daemon.path}")
    null = os.open(os.devnull, os.O_RDONLY)
    saved = os.dup(0)
    os.dup2(null, 0)  # -i reads fd 0: an empty stdin, never the test runner's terminal
    try:
        yield recorder
    finally:
        os.dup2(saved, 0)
        os.close(saved)
        os.close(null)
        recorder.close()


Result = Tuple[object, str, str, List[Tuple[str, str, Any]]]


def run_fast(args: List[str], fake: RunDaemon, capfd: pytest.CaptureFixture[str]) -> Result:
    fake.requests.clear()
    status = fast_run.run(args)
    out, err = capfd.readouterr()
    return status, out, err, list(fake.requests)


def run_click(args: List[str], fake: RunDaemon, capfd: pytest.CaptureFixture[str]) -> Result:
    fake.requests.clear()
    try:
        rootless.cli.root.main(args)
        status: object = 0
    except SystemExit as exc:
        status = exc.code
    out, err = capfd.readouterr()
    return status, out, err, [r for r in fake.requests if r[1] != "/_ping"]


def expand(args: List[str], fake: RunDaemon, tmp: str) -> List[str]:
    return [arg.replace("{socket}", fake.path).replace("{tmp}", tmp) for arg in args]


def cases() -> List[List[str]]:
    out = [["run"] + flags + ["img"] + COMMANDS[i % len(COMMANDS)] for i, flags in enumerate(CASES)]
    out += [verb + ["--rm", "img", "true"] for verb in VERBS]
    return out + [root + ["run", "-d", "img"] for root in ROOT_CASES]


@pytest.mark.parametrize("args", cases(), ids=" ".join)
def test_the_fast_path_does_what_click_does(fake, capfd, tmp_path, args) -> None:  # type: ignore[no-untyped-def]
    args = expand(args, fake, str(tmp_path))
    fast_result = run_fast(args, fake, capfd)
    click_result = run_click(args, fake, capfd)
    assert fast_result[0] is not None, "the fast path declined a case it supports"
    assert fast_result == click_result
    assert fast_result[3][0][1].startswith("/containers/create")


@pytest.mark.parametrize("detach", [False, True])
def test_what_the_cases_show(fake, capfd, detach) -> None:  # type: ignore[no-untyped-def]
    """Not vacuous: attached runs print the output and exit with the status; --rm waits for removal."""
    status, out, err, requests = run_fast(["run", "--rm"] + (["-d"] if detach else []) + ["img"], fake, capfd)
    targets = [target for _, target, _ in requests]
    if detach:
        assert (status, out, err) == (0, CONTAINER_ID + "\n", "")
        assert [t.split("?")[0] for t in targets] == ["/containers/create", f"/containers/{CONTAINER_ID}/start"]
    else:
        assert (status, out, err) == (3, "out\n", "err\n")
        assert any(t.startswith(f"/containers/{CONTAINER_ID}/wait?condition=removed") for t in targets)
    assert requests[0][2]["HostConfig"]["AutoRemove"] is True


@pytest.mark.parametrize("case", ["start-missing-binary", "start-refused", "wait-error", "warning", "tty-output"])
def test_after_the_create_the_fast_path_reports_as_click_does(fake, capfd, case) -> None:  # type: ignore[no-untyped-def]
    if case == "start-missing-binary":
        fake.start = (400, {"message": 'exec: "nope": executable file not found in $PATH'})
    elif case == "start-refused":
        fake.start = (500, {"message": "boom"})
    elif case == "wait-error":
        fake.wait = {"StatusCode": 0, "Error": {"Message": "removal failed"}}
    elif case == "warning":
        fake.create = (201, {"Id": CONTAINER_ID, "Warnings": ["memory limit ignored"]})
    else:
        fake.tty, fake.frames = True, [(1, b"raw\r\n")]
    for args in (["run", "img", "nope"], ["run", "-d", "img"], ["run", "-t", "img"]):
        fast_result = run_fast(args, fake, capfd)
        assert fast_result[0] is not None and fast_result == run_click(args, fake, capfd)
        if case.startswith("start"):
            assert fast_result[0] in (125, 127) and fast_result[2].startswith("Error: ")
        elif case == "wait-error" and "-d" not in args:
            assert "Error: removal failed" in fast_result[2]


@pytest.mark.parametrize("args", [
    ["run"], ["run", "--help"], ["run", "-h", "x", "img"], ["run", "--bogus", "img"], ["run", "--rm=1", "img"],
    ["run", "--name"], ["run", "-d"], ["run", "--"], ["run", "-dZ", "img"], ["run", "-e"], ["-D", "run", "img"],
    ["--tls", "run", "img"], ["--", "run", "img"], ["ps", "run"], ["container", "--help", "run"], ["create", "img"],
    ["run", "--pull", "never", "img"], ["run", "--sig-proxy=false", "img"], ["run", "-P", "img"],
] + [["run", opt, "x", "img"] for opt in sorted(RUN_FALLS_BACK)], ids=" ".join)
def test_what_the_fast_path_does_not_know_goes_to_click(fake, capfd, args) -> None:  # type: ignore[no-untyped-def]
    assert run_fast(args, fake, capfd) == (None, "", "", [])


@pytest.mark.parametrize("case", ["bad-flag-value", "not-a-tty", "missing-image", "no-daemon"])
def test_errors_before_the_create_go_to_clicks_path(fake, capfd, case) -> None:  # type: ignore[no-untyped-def]
    """Nothing printed, at most a create refused for a missing image: click's path says why, pulls or starts rootlessd."""
    args = {"bad-flag-value": ["run", "-p", "99999", "img"], "not-a-tty": ["run", "-it", "img"]}.get(
        case, ["run", "--name", "x", "img"])
    if case == "missing-image":
        fake.create = (404, {"message": "No such image: img:latest"})
    elif case == "no-daemon":
        fake.close()
    status, out, err, requests = run_fast(args, fake, capfd)
    assert (status, out, err) == (None, "", "")
    assert [target.split("?")[0] for _, target, _ in requests] == (["/containers/create"] if case == "missing-image" else [])


@pytest.mark.parametrize("case", ["name-taken", "bad-request", "server-error", "answer-lost"])
def test_a_failed_create_is_reported_as_click_does_and_never_sent_twice(fake, capfd, case) -> None:  # type: ignore[no-untyped-def]
    """The create may have been made (an answer lost) or was refused for good: reported here, as click's path
    reports it, with one create request."""
    if case == "answer-lost":
        fake.drop_create = True
    else:
        fake.create = {"name-taken": (409, {"message": 'Conflict. The container name "/x" is already in use'}),
                       "bad-request": (400, {"message": "invalid mount config"}),
                       "server-error": (500, {"message": "boom"})}[case]
    args = ["run", "--rm", "--name", "x", "img"]
    fast_result = run_fast(args, fake, capfd)
    assert fast_result == run_click(args, fake, capfd)
    assert fast_result[0] == 125 and fast_result[1] == "" and fast_result[2].startswith("Error: ")
    assert [target.split("?")[0] for _, target, _ in fast_result[3]] == ["/containers/create"]


def test_a_missing_image_is_pulled_by_clicks_path(fake, capfd) -> None:  # type: ignore[no-untyped-def]
    fake.create = (404, {"message": "No such image: img:latest"})
    with pytest.raises(SystemExit):
        rootless.cli.main(["run", "--rm", "img"])
    assert "Unable to find image 'img:latest' locally" in capfd.readouterr().err


# What the fast path exists to skip: click and typing (~25 ms together), dataclasses (~8 ms with inspect),
# and what no local verb needs (test_startup_imports.py). Session 9 (bench/README.md "CLI start-up,
# session 9"): re, json and enum (~5 ms: json's decoder loads re, signal's IntEnums enum), datetime
# and calendar (wire/times.py, for --health-* only), contextlib, collections and functools (~1 ms),
# threading (only for -i's stdin pump), and APIClient with its image, network and volume mixins
# (client/containers.RunClient has what run calls).
NOT_FOR_RUN = ("click", "typing", "dataclasses", "inspect", "socket", "selectors", "re", "json", "enum", "signal",
               "datetime", "calendar", "locale", "contextlib", "collections", "functools", "threading",
               "rootless.wire.times", "rootless.client.api", "rootless.client.images", "rootless.client.networks",
               "rootless.client.volumes") + NOT_FOR_LOCAL_VERBS


@pytest.mark.parametrize("args", [["run", "--rm", "-e", "A=1", "img", "true"], ["run", "-d", "img"]])
def test_the_fast_path_does_not_import_click(fake, capfd, args) -> None:  # type: ignore[no-untyped-def]
    with fresh_rootless(NOT_FOR_RUN):
        rootless_cli = __import__("rootless.cli", fromlist=["main"])
        with pytest.raises(SystemExit) if "-d" not in args else _nothing():
            rootless_cli.main(args)
    assert capfd.readouterr().out in ("out\n", CONTAINER_ID + "\n")


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def test_every_option_of_click_run_is_handled_or_falls_back() -> None:
    """A flag added to click's run fails here until cli/fast_run.py supports it (with a case in CASES)
    or it is listed in RUN_FALLS_BACK (and shown to decline)."""
    for words in VERBS:
        theirs = option_table(*command(*words))
        ours = {opt: (takes_value, name in fast_run.MULTIPLE) for opt, (name, takes_value) in fast_run.RUN_OPTIONS.items()}
        assert {opt: theirs.get(opt) for opt in ours} == ours, "the fast path reads an option differently from click"
        assert sorted(set(theirs) - set(ours)) == sorted(RUN_FALLS_BACK)
    used = {arg.split("=")[0] for case in CASES for arg in case if arg.startswith("--")}
    used |= {"-" + ch for case in CASES for arg in case if arg.startswith("-") and not arg.startswith("--")
             for ch in arg[1:]}
    assert set(fast_run.RUN_OPTIONS) <= used, "a supported option without a case in the parity test"


def test_the_fast_paths_names_and_defaults_are_clicks() -> None:
    """Each flag the fast path sets is a CreateOptions field named as click's parameter, and every field
    it leaves alone has click's default (what click's run would pass to CreateOptions.from_kwargs)."""
    run_command, ctx = command("run")
    params = {p.name: p for p in run_command.params if isinstance(p, click.Option)}
    fields = {name: getattr(CreateOptions, name) for name in CreateOptions._fields}
    for opt, (name, _) in fast_run.RUN_OPTIONS.items():
        assert name in fields and opt in params[name].opts + params[name].secondary_opts
    passed = run_command.make_context("run", ["img"], parent=ctx).params  # what click's run gets with no flags
    for name, default in fields.items():
        if name != "console_size":  # not a flag: run.py sets it from the terminal, as the fast path does
            assert passed[name] == default, name
    assert (passed["sig_proxy"], passed["detach_keys"], passed["pull"], passed["platform"]) == (
        fast_run.SIG_PROXY, fast_run.DETACH_KEYS, "missing", None)
    assert [(p.name, p.nargs) for p in run_command.params if isinstance(p, click.Argument)] == [
        ("image", 1), ("command", -1)]


def test_the_verb_spellings_are_the_command_tables() -> None:
    from rootless.cli.commands import CONTAINER_COMMANDS, TOP_COMMANDS

    target = TOP_COMMANDS["run"]
    spellings = sorted([[name] for name, t in TOP_COMMANDS.items() if t == target]
                       + [["container", name] for name, t in CONTAINER_COMMANDS.items() if t == target])
    assert spellings == sorted(fast_run.RUN_WORDS)


def test_the_entry_point_takes_the_fast_path(fake, capfd, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """cli/__init__.py sends `run` here first; None (here: an unknown flag) means click's command runs."""
    seen: List[Optional[int]] = []
    real = fast_run.run
    monkeypatch.setattr(fast_run, "run", lambda args: seen.append(real(args)) or seen[-1])
    with pytest.raises(SystemExit) as exc:
        rootless.cli.main(["run", "--rm", "img"])
    assert exc.value.code == 3 and seen == [3]
    with pytest.raises(SystemExit) as exc:
        rootless.cli.main(["run", "--bogus", "img"])
    assert exc.value.code == 125 and seen[-1] is None
    assert "No such option" in capfd.readouterr().err


def test_the_run_client_has_every_endpoint_runs_steps_call() -> None:
    """cli/fast_run.py talks through client/containers.RunClient, not APIClient: every client method
    creating.py and streaming.py call must be on it, pull aside (the fast path never pulls: a
    missing image goes to click's path)."""
    import inspect
    import re

    from rootless.cli.container import creating, streaming
    from rootless.client.containers import RunClient

    called = set(re.findall(r"client\.(\w+)\(", inspect.getsource(creating) + inspect.getsource(streaming)))
    assert {"create_container", "create_container_send", "attach", "wait_begin", "start", "resize", "kill",
            "pull"} <= called
    assert sorted(called - {"pull"} - set(dir(RunClient))) == []

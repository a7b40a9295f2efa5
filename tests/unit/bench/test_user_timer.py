"""bench/user_timer.py's protocol and error reporting (pure: the command runner is handed in)."""
from __future__ import annotations

import io
import json
from typing import List

import pytest

from bench import user_timer
from bench.user_timer import ProtocolError, Reply, Request


def test_a_request_round_trips_as_one_line() -> None:
    env = {"HOME": "/home/u", "X": "a\nb"}  # a newline in a value stays inside the line
    line = user_timer.encode_request(["docker", "run", "--rm", "busybox", "true"], env, "/home/u", 120)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert user_timer.decode_request(line) == Request(["docker", "run", "--rm", "busybox", "true"], env,
                                                      "/home/u", 120.0)


def test_a_reply_round_trips() -> None:
    reply = Reply(0.0451, 0.012, 1, "Error: no such image\n", "")
    line = user_timer.encode_reply(reply)
    assert line.count(b"\n") == 1 and user_timer.decode_reply(line) == reply
    started_not = Reply(0.0003, 0.0, None, "", "could not start: [Errno 2] No such file")
    assert user_timer.decode_reply(user_timer.encode_reply(started_not)) == started_not


@pytest.mark.parametrize("line, message", [
    (b"not json\n", "request: not JSON"),
    (b"[1]\n", "request: not a JSON object"),
    (b'{"argv": [], "env": {}, "cwd": "/", "timeout": 1}\n', "request: argv: not a non-empty list of strings"),
    (b'{"argv": ["true", 1], "env": {}, "cwd": "/", "timeout": 1}\n', "request: argv:"),
    (b'{"argv": ["true"], "env": {"A": 1}, "cwd": "/", "timeout": 1}\n', "request: env: not an object of strings"),
    (b'{"argv": ["true"], "env": {}, "timeout": 1}\n', "request: cwd: not a string"),
    (b'{"argv": ["true"], "env": {}, "cwd": "/", "timeout": true}\n', "request: timeout: not a positive number"),
    (b'{"argv": ["true"], "env": {}, "cwd": "/", "timeout": 0}\n', "request: timeout: not a positive number"),
])
def test_a_malformed_request_names_the_field(line: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        user_timer.decode_request(line)


@pytest.mark.parametrize("data, message", [
    ({"cpu": 0.1, "returncode": 0}, "reply: seconds: not a number"),
    ({"seconds": "fast", "cpu": 0.1, "returncode": 0}, "reply: seconds: not a number"),
    ({"seconds": 0.1, "cpu": True, "returncode": 0}, "reply: cpu: not a number"),
    ({"seconds": 0.1, "cpu": 0.1, "returncode": 1.5}, "reply: returncode: not an integer or null"),
    ({"seconds": 0.1, "cpu": 0.1, "returncode": 0, "error": None}, "reply: stderr_tail and error: not strings"),
])
def test_a_malformed_reply_names_the_field(data: object, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        user_timer.decode_reply(json.dumps(data).encode())


def test_failure_checks_the_exit_only_when_asked() -> None:
    argv = ["docker", "ps"]
    assert user_timer.failure(argv, Reply(0.02, 0.01, 0), check=True) is None
    failed = Reply(0.02, 0.01, 1, "Cannot connect to the Docker daemon\n")
    assert user_timer.failure(argv, failed, check=True) == (
        "docker ps exited 1\nstderr (tail): Cannot connect to the Docker daemon\n")
    assert user_timer.failure(argv, failed, check=False) is None  # like `rootless --version`, check=False
    assert user_timer.failure(argv, Reply(0.02, 0.01, 2), check=True) == "docker ps exited 2"


def test_a_command_that_never_exited_fails_even_unchecked() -> None:
    """subprocess.run raised for these before, whatever check was."""
    timed_out = Reply(0.5, 0.0, None, "pulling...\n", "timed out after 0.5 s")
    assert user_timer.failure(["sleep", "5"], timed_out, check=False) == (
        "sleep 5: timed out after 0.5 s\nstderr (tail): pulling...\n")
    not_started = Reply(0.0, 0.0, None, "", "could not start: [Errno 2] No such file or directory: 'podman'")
    assert user_timer.failure(["podman", "ps"], not_started, check=False) == (
        "podman ps: could not start: [Errno 2] No such file or directory: 'podman'")


def test_the_stderr_tail_keeps_the_end() -> None:
    text = ("x" * 5000 + "the error\n").encode()
    tail = user_timer.tail(text)
    assert len(tail) == user_timer.STDERR_TAIL_CHARS and tail.endswith("the error\n")
    assert user_timer.tail(b"\xffbad utf-8") == "\ufffdbad utf-8"


def test_serve_answers_each_line_and_survives_a_bad_one() -> None:
    seen: List[Request] = []

    def run(request: Request) -> Reply:
        seen.append(request)
        return Reply(0.001 * len(seen), 0.0, 0 if request.argv == ["true"] else 1, "")

    requests = io.BytesIO(user_timer.encode_request(["true"], {}, "/home/u", 10) + b"{oops\n"
                          + user_timer.encode_request(["false"], {"A": "1"}, "/", 5))
    replies = io.BytesIO()
    user_timer.serve(requests, replies, run)
    lines = replies.getvalue().splitlines(keepends=True)
    first, bad, last = [user_timer.decode_reply(line) for line in lines]
    assert (first, last) == (Reply(0.001, 0.0, 0), Reply(0.002, 0.0, 1))
    assert bad.returncode is None and bad.error.startswith("request: not JSON: ")
    assert user_timer.failure(["?"], bad, check=False) == f"?: {bad.error}"  # the root side raises it
    assert [r.argv for r in seen] == [["true"], ["false"]] and seen[1].env == {"A": "1"} and seen[1].cwd == "/"

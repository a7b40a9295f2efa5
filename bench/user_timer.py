"""The timer that runs as the bench user: times each command it is sent, from the user's side.

The benchmarks start as root and used to time each sample as root's
`subprocess.run(..., preexec_fn=setuid)`. A preexec_fn turns off CPython's
vfork, so every sample paid a fork of root's big Python plus the setuid
(~3.7 ms of 4.3 against 0.6 ms for a plain spawn, bench/README.md "Timing from
the user's side"), on both sides of every ratio, pulling the ratios toward 1.
This process is started once per benchmark, already as the user, and spawns
each command with a plain `subprocess.run` (vfork, no preexec_fn), the way a
shell or a CI script of the user would.

Protocol, one JSON object per line each way over its stdin/stdout:
request {"argv": [...], "env": {...}, "cwd": "...", "timeout": seconds};
reply {"seconds": wall, "cpu": user+sys of the command and what it waited for,
"returncode": int or null, "stderr_tail": "...", "error": "..."}.
returncode null with an error: the command could not start or timed out.

Stdlib only (it runs under the system python3 with -I, whatever the user's
PYTHONPATH); the root side (bench/harness.py UserTimer) imports the same
encode/decode functions, so the two ends can't drift apart.
"""
from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from typing import IO, Callable, Dict, List, NamedTuple, Optional, Sequence

# Enough of a failing command's stderr to see its error, not a whole log per sample.
STDERR_TAIL_CHARS = 2000


class Request(NamedTuple):
    argv: List[str]
    env: Dict[str, str]
    cwd: str
    timeout: float


class Reply(NamedTuple):
    seconds: float
    cpu: float
    returncode: Optional[int]  # None: never ran to an exit (error says why)
    stderr_tail: str = ""
    error: str = ""


class ProtocolError(ValueError):
    """A line that is not a well-formed request or reply."""


class CommandFailed(RuntimeError):
    """A timed command exited non-zero (when checked), could not start, or timed out."""


def encode_request(argv: Sequence[str], env: Dict[str, str], cwd: str, timeout: float) -> bytes:
    return _line({"argv": list(argv), "env": env, "cwd": cwd, "timeout": timeout})


def decode_request(line: bytes) -> Request:
    data = _object(line, "request")
    argv, env, cwd, timeout = data.get("argv"), data.get("env"), data.get("cwd"), data.get("timeout")
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
        raise ProtocolError("request: argv: not a non-empty list of strings")
    if not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
        raise ProtocolError("request: env: not an object of strings")
    if not isinstance(cwd, str):
        raise ProtocolError("request: cwd: not a string")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ProtocolError("request: timeout: not a positive number")
    return Request(argv, env, cwd, float(timeout))


def encode_reply(reply: Reply) -> bytes:
    return _line(reply._asdict())


def decode_reply(line: bytes) -> Reply:
    data = _object(line, "reply")
    seconds, cpu, code = _number(data, "seconds"), _number(data, "cpu"), data.get("returncode")
    if code is not None and (isinstance(code, bool) or not isinstance(code, int)):
        raise ProtocolError("reply: returncode: not an integer or null")
    tail, error = data.get("stderr_tail", ""), data.get("error", "")
    if not isinstance(tail, str) or not isinstance(error, str):
        raise ProtocolError("reply: stderr_tail and error: not strings")
    return Reply(seconds, cpu, code, tail, error)


def _number(data: Dict[str, object], name: str) -> float:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProtocolError(f"reply: {name}: not a number")
    return float(value)


def _line(data: object) -> bytes:
    # No newline can hide inside: json.dumps escapes them in strings.
    return json.dumps(data, separators=(",", ":")).encode() + b"\n"


def _object(line: bytes, what: str) -> Dict[str, object]:
    try:
        data = json.loads(line)
    except ValueError as exc:
        raise ProtocolError(f"{what}: not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ProtocolError(f"{what}: not a JSON object")
    return data


def failure(argv: Sequence[str], reply: Reply, check: bool) -> Optional[str]:
    """Why a reply counts as a failed sample, or None.

    An error (not started, timed out) always fails, as subprocess.run raised
    for it before; a non-zero exit only when check (the old check=True).
    """
    command = " ".join(argv)
    if reply.error:
        what = f"{command}: {reply.error}"
    elif check and reply.returncode != 0:
        what = f"{command} exited {reply.returncode}"
    else:
        return None
    return f"{what}\nstderr (tail): {reply.stderr_tail}" if reply.stderr_tail else what


def tail(data: bytes) -> str:
    return data[-STDERR_TAIL_CHARS:].decode(errors="replace")


def children_cpu() -> float:
    """User+sys seconds of the children this process has waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_command(request: Request) -> Reply:
    """Run and time one command: perf_counter around a plain subprocess.run (vfork).

    stdout goes to /dev/null (nothing reads it), stderr to a pipe for the tail
    on failure, as the old capture_output did; stdin is /dev/null, as before.
    """
    cpu_before, start = children_cpu(), time.perf_counter()
    try:
        done = subprocess.run(request.argv, env=request.env, cwd=request.cwd, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=request.timeout)
    except subprocess.TimeoutExpired as exc:
        seconds = time.perf_counter() - start
        return Reply(seconds, children_cpu() - cpu_before, None, tail(exc.stderr or b""),
                     f"timed out after {request.timeout:g} s")
    except OSError as exc:  # not found, not executable, bad cwd
        return Reply(time.perf_counter() - start, children_cpu() - cpu_before, None, "", f"could not start: {exc}")
    seconds = time.perf_counter() - start
    stderr = tail(done.stderr) if done.returncode != 0 else ""
    return Reply(seconds, children_cpu() - cpu_before, done.returncode, stderr)


def answer(line: bytes, run: Callable[[Request], Reply]) -> Reply:
    """The reply to one request line; a malformed request is an error reply, not the end of the timer."""
    try:
        request = decode_request(line)
    except ProtocolError as exc:
        return Reply(0.0, 0.0, None, "", str(exc))
    return run(request)


def serve(requests: IO[bytes], replies: IO[bytes], run: Callable[[Request], Reply] = run_command) -> None:
    """Answer request lines until end of input (the root side closed its end: the benchmark is over)."""
    for line in requests:
        replies.write(encode_reply(answer(line, run)))
        replies.flush()


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)

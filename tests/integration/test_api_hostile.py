"""The API server against clients that misbehave (issue 7): abandoned waits and
event streams, too many connections, broken framing, bodies nobody reads,
slow headers, big bodies.

The raw HTTP runs as the test user (CLIENT below, run with `python -c`): the
daemon serves its own user, and root's connections may be refused.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from typing import Any, Dict, Iterator, List, Tuple

import pytest

from tests.integration.conftest import VENV_PYTHON, Engine, TestUser, kill_engine_processes, make_engine

CLIENT = r'''
import json, socket, sys, time
args = json.loads(sys.stdin.readline())

def connect(timeout=None):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    s.connect(args["socket"])
    s.settimeout(None)
    return s

def read_all(s, timeout):
    s.settimeout(timeout)
    out = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                return out, "eof"
            out += d
    except socket.timeout:
        return out, "timeout"
    except OSError as e:
        return out, "error: %s" % e

def read_head(s, timeout=10):
    s.settimeout(timeout)
    out = b""
    while b"\r\n\r\n" not in out:
        d = s.recv(65536)
        if not d:
            break
        out += d
    return out.decode("latin-1")

def exchange(data, timeout):
    s = connect(5)
    try:
        s.sendall(data)
    except OSError as e:
        pass
    out, end = read_all(s, timeout)
    s.close()
    return {"data": out.decode("latin-1"), "end": end}

def hold():
    held, heads = [], []
    for _ in range(args["count"]):
        try:
            s = connect(args.get("connect_timeout"))
            s.sendall(args["data"].encode("latin-1"))
        except OSError:
            break  # the daemon is out of fds: its backlog is full
        held.append(s)
        if args.get("wait_head"):
            heads.append(read_head(s))
    probe = exchange(args["probe"].encode("latin-1"), 5) if args.get("probe") else None
    print(json.dumps({"held": len(held), "heads": heads, "probe": probe}), flush=True)
    time.sleep(args.get("seconds", 0))
    for s in held:
        s.close()

def slow():
    conns = [connect(5) for _ in range(args["count"])]
    started = time.monotonic()
    closed_after = [None] * len(conns)
    for s in conns:
        s.sendall(b"GET /_ping HTTP/1.1\r\n")
        s.setblocking(False)
    while time.monotonic() - started < args["seconds"] and None in closed_after:
        for i, s in enumerate(conns):
            if closed_after[i] is not None:
                continue
            try:
                s.sendall(b"X")  # a header that never ends
                if s.recv(65536) == b"":
                    closed_after[i] = time.monotonic() - started
            except BlockingIOError:
                pass
            except OSError:
                closed_after[i] = time.monotonic() - started
        time.sleep(0.2)
    print(json.dumps({"closed_after": closed_after, "ping": exchange(b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 5)}))

op = args["op"]
if op == "exchange":
    print(json.dumps(exchange(args["data"].encode("latin-1"), args.get("read_timeout", 5))))
elif op == "abandon":
    for _ in range(args["count"]):
        s = connect()  # blocking: waits while the listen backlog is full
        s.sendall(args["data"].encode("latin-1"))
        if args.get("wait_head"):
            read_head(s)
        s.close()
    print(json.dumps({"done": True}))
elif op == "hold":
    hold()
elif op == "slow":
    slow()
'''


def run_client(user: TestUser, sock: str, **args: Any) -> Dict[str, Any]:
    result = user.run([VENV_PYTHON, "-c", CLIENT], input=json.dumps({"socket": sock, **args}) + "\n", timeout=180)
    parsed: Dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return parsed


def exchange(user: TestUser, sock: str, data: bytes, timeout: float = 5) -> Dict[str, Any]:
    return run_client(user, sock, op="exchange", data=data.decode("latin-1"), read_timeout=timeout)


def responses(raw: str) -> List[Dict[str, Any]]:
    """The responses in a raw byte stream (Content-Length bodies): status, headers, body."""
    found = []
    while raw.startswith("HTTP/1.1 "):
        head, _, rest = raw.partition("\r\n\r\n")
        lines = head.split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        found.append({"status": int(lines[0].split()[1]), "headers": headers, "body": rest[:length]})
        raw = rest[length:]
    return found


def assert_json_error(response: Dict[str, Any], status: int, needle: str = "") -> None:
    assert response["status"] == status, response
    assert response["headers"]["content-type"] == "application/json", response
    message = json.loads(response["body"])["message"]
    assert needle.lower() in message.lower(), message


def count(path: str) -> int:
    return len(os.listdir(path))


def wait_until(predicate: Any, timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


def set_fd_limit(user: TestUser, pid: int, soft: int) -> Tuple[int, int]:
    """Set the daemon's soft RLIMIT_NOFILE (as its user: root may lack CAP_SYS_RESOURCE); the old limits."""
    script = ("import resource, sys; pid = int(sys.argv[1]); old = resource.prlimit(pid, resource.RLIMIT_NOFILE); "
              "resource.prlimit(pid, resource.RLIMIT_NOFILE, (int(sys.argv[2]), old[1])); print(*old)")
    old = user.run([VENV_PYTHON, "-c", script, str(pid), str(soft)]).stdout.split()
    return int(old[0]), int(old[1])


def write_config(engine: Engine, text: str) -> None:
    directory = os.path.join(engine.config_home, "rootless")
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "config.toml"), "w") as f:
        f.write(text)
    for path in (directory, os.path.join(directory, "config.toml")):
        os.chown(path, engine.user.uid, engine.user.gid)


@pytest.fixture(scope="module")
def busybox(engine: Engine, images) -> str:  # type: ignore[no-untyped-def]
    engine.docker("pull", "-q", images.busybox, timeout=300)
    return str(images.busybox)


@pytest.fixture()
def shared_dir() -> Iterator[str]:
    """A temporary directory the test user can read (pytest's tmp_path is root's alone)."""
    directory = tempfile.mkdtemp(prefix="rootless-hostile-", dir="/tmp")
    os.chmod(directory, 0o755)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def tight_engine(user: TestUser) -> Iterator[Engine]:
    """An engine with small limits: 20 connections, 1 MiB of JSON, 2 s for headers."""
    base = tempfile.mkdtemp(prefix="rootless-tight-", dir="/tmp")
    eng = make_engine(user, base)
    write_config(eng, "[api]\nmax_connections = 20\nmax_json_body = 1048576\nheader_timeout = 2.0\n")
    eng.cli("info")
    yield eng
    eng.stop()
    kill_engine_processes(eng.run_dir)
    shutil.rmtree(base, ignore_errors=True)


# -- abandoned waits and event streams -------------------------------------------------
def test_abandoned_waits_and_events_let_go_and_exits_are_still_recorded(engine: Engine, user: TestUser,
                                                                        busybox: str) -> None:
    sleeper = engine.docker("run", "-d", busybox, "sleep", "600").stdout.strip()
    try:
        pid = engine.daemon_pid()
        fds, threads = count(f"/proc/{pid}/fd"), count(f"/proc/{pid}/task")
        wait = f"POST /v1.44/containers/{sleeper}/wait?condition=next-exit HTTP/1.1\r\nHost: x\r\n\r\n"
        events = "GET /v1.44/events HTTP/1.1\r\nHost: x\r\n\r\n"
        for data in (wait, events):
            # Half read their headers first (the server is then blocked waiting), half don't.
            run_client(user, engine.socket, op="abandon", data=data, count=550, wait_head=True)
            run_client(user, engine.socket, op="abandon", data=data, count=550)
        def pinged() -> bool:  # the server notices the gone clients within its check interval
            ping = exchange(user, engine.socket, b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return bool(responses(ping["data"])[0]["body"] == "OK")
        assert wait_until(pinged, timeout=15)
        # Each abandoned request gave its thread and its fd back.
        assert wait_until(lambda: count(f"/proc/{pid}/fd") <= fds + 10 and count(f"/proc/{pid}/task") <= threads + 10,
                          timeout=15), (count(f"/proc/{pid}/fd"), fds, count(f"/proc/{pid}/task"), threads)
        name = engine.docker("run", "-d", busybox, "sh", "-c", "sleep 1; exit 3").stdout.strip()
        assert wait_until(lambda: engine.docker("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}",
                                                name).stdout.strip() == "exited 3", timeout=30)
        engine.docker("rm", name)
    finally:
        engine.docker("rm", "-f", sleeper, check=False)


def test_a_wait_still_answers_its_client(engine: Engine, busybox: str) -> None:
    """The client-gone check must not end a wait whose client is still there."""
    name = engine.docker("run", "-d", busybox, "sh", "-c", "sleep 3; exit 7").stdout.strip()
    assert engine.docker("wait", name).stdout.strip() == "7"
    engine.docker("rm", name)


@pytest.mark.parametrize("monitor", ["python", "conmon"])
def test_an_exit_is_recorded_after_the_daemon_ran_out_of_fds(fresh_engine: Engine, user: TestUser, images,  # type: ignore[no-untyped-def]
                                                            monitor: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """With its fd table full when the container exits, the exit is still recorded.

    Our monitor's exit needs new fds (its notifier's dup, exit.json): the engine
    retries. conmon's wait closes the init's pidfd at the exit, which frees the
    fd the exit file is read with: no retry is needed, the record is right.
    """
    if monitor == "conmon" and not os.path.exists("/usr/bin/conmon"):
        pytest.skip("conmon is not installed")
    monkeypatch.setenv("ROOTLESS_MONITOR", monitor)
    write_config(fresh_engine, "[api]\nmax_connections = 5000\n")  # the fd limit must be what runs out
    fresh_engine.cli("info")
    fresh_engine.docker("pull", "-q", images.busybox, timeout=300)
    name = fresh_engine.docker("run", "-d", images.busybox, "sh", "-c", "sleep 5; exit 3").stdout.strip()
    kind_file = os.path.join(fresh_engine.run_dir, "monitors", name, "monitor.kind")
    assert os.path.exists(kind_file) == (monitor == "conmon")  # the monitor asked for runs it
    pid = fresh_engine.daemon_pid()
    soft, hard = set_fd_limit(user, pid, count(f"/proc/{pid}/fd") + 40)
    holder = user.popen([VENV_PYTHON, "-c", CLIENT], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        holder.stdin.write(json.dumps({  # type: ignore[union-attr]
            "socket": fresh_engine.socket, "op": "hold", "count": 300, "connect_timeout": 1, "seconds": 10,
            "data": "GET /v1.44/events HTTP/1.1\r\nHost: x\r\n\r\n"}).encode() + b"\n")
        holder.stdin.close()  # type: ignore[union-attr]
        report = json.loads(holder.stdout.readline())  # type: ignore[union-attr]
        assert report["held"] >= 40, report  # at least the free fds: the table is full
        holder.wait(30)
    finally:
        holder.kill()
        set_fd_limit(user, pid, soft)
    assert wait_until(lambda: fresh_engine.docker("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}",
                                                  name, check=False).stdout.strip() == "exited 3", timeout=30), \
        fresh_engine.log()[-3000:]
    if monitor == "python":
        assert "retrying" in fresh_engine.log()


# -- connection cap, header deadline, body limit -----------------------------------------
def test_too_many_connections_get_a_503_in_json(tight_engine: Engine, user: TestUser) -> None:
    report = run_client(user, tight_engine.socket, op="hold", count=20, wait_head=True,
                        data="GET /v1.44/events HTTP/1.1\r\nHost: x\r\n\r\n",
                        probe="GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
    assert report["held"] == 20 and all(h.startswith("HTTP/1.1 200") for h in report["heads"])
    refused = responses(report["probe"]["data"])
    assert len(refused) == 1 and report["probe"]["end"] == "eof"
    assert_json_error(refused[0], 503, "too many connections: 20")
    # The held connections closed: their slots come back.
    assert wait_until(lambda: responses(exchange(user, tight_engine.socket,
                                                 b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n", 1)["data"])[0]["status"] == 200,
                      timeout=10)


def test_slow_headers_are_cut_off_and_others_still_served(tight_engine: Engine, user: TestUser) -> None:
    report = run_client(user, tight_engine.socket, op="slow", count=10, seconds=8)
    assert all(t is not None and 1.5 < t < 5 for t in report["closed_after"]), report
    assert responses(report["ping"]["data"])[0]["body"] == "OK"


def test_json_bodies_are_limited_and_the_memory_comes_back(tight_engine: Engine, user: TestUser) -> None:
    big = json.dumps({"Name": "x", "Labels": {"k": "a" * (2 << 20)}}).encode()
    head = b"POST /v1.44/volumes/create HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(big)
    answer = responses(exchange(user, tight_engine.socket, head + big)["data"])
    assert_json_error(answer[0], 400, "request body too large")
    chunked = b"POST /v1.44/volumes/create HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + \
        b"".join(b"%x\r\n%s\r\n" % (len(big[i:i + 65536]), big[i:i + 65536]) for i in range(0, len(big), 65536)) + \
        b"0\r\n\r\n"
    answer = responses(exchange(user, tight_engine.socket, chunked)["data"])
    assert_json_error(answer[0], 400, "request body too large")
    assert tight_engine.docker("volume", "ls", "-q").stdout.strip() == ""


def test_memory_is_given_back_after_a_big_request(engine: Engine, user: TestUser) -> None:
    pid = engine.daemon_pid()

    def rss_kb() -> int:
        with open(f"/proc/{pid}/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))

    before = rss_kb()
    big = json.dumps({"Name": "no such/name!", "Labels": {"k": "a" * (50 << 20)}}).encode()
    for framing in (b"Content-Length: %d\r\n" % len(big), b"Transfer-Encoding: chunked\r\n"):
        body = big if framing.startswith(b"Content") else b"%x\r\n%s\r\n0\r\n\r\n" % (len(big), big)
        answer = exchange(user, engine.socket, b"POST /v1.44/volumes/create HTTP/1.1\r\nHost: x\r\n" + framing +
                          b"Connection: close\r\n\r\n" + body, timeout=60)
        assert responses(answer["data"])[0]["status"] == 400
    assert wait_until(lambda: rss_kb() < before + 20 * 1024, timeout=10), (before, rss_kb())


def test_image_loads_are_streamed_not_held(engine: Engine, user: TestUser, shared_dir: str) -> None:
    """A 96 MiB layer through POST /images/load: the daemon's peak RSS stays far below it."""
    archive = _layer_archive(shared_dir, 96 << 20)
    pid = engine.daemon_pid()
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM, the peak
    result = user.run(["sh", "-c", f"curl -sS --unix-socket {engine.socket} -H 'Content-Type: application/x-tar' "
                       f"-T {archive} -X POST http://x/v1.44/images/load"], timeout=120)
    assert "Loaded image: streamed:latest" in result.stdout
    with open(f"/proc/{pid}/status") as f:
        peak = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    assert peak < rss + 48 * 1024, (peak, rss)
    engine.docker("rmi", "streamed:latest")


def _layer_archive(directory: str, size: int) -> str:
    """A docker-archive with one layer holding `size` incompressible bytes, built on disk."""
    import hashlib
    import io
    import tarfile
    big = os.path.join(directory, "big")
    with open(big, "wb") as f:
        for i in range(size >> 20):
            f.write(hashlib.sha512(str(i).encode()).digest() * 16384)
    layer = os.path.join(directory, "layer.tar")
    with tarfile.open(layer, "w") as tar:
        tar.add(big, arcname="big")
    digest = hashlib.sha256()
    with open(layer, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + digest.hexdigest()]}}).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": ["streamed:latest"],
                            "Layers": [digest.hexdigest() + "/layer.tar"]}]).encode()
    archive = os.path.join(directory, "image.tar")
    with tarfile.open(archive, "w") as tar:
        for name, data in (("manifest.json", manifest), (config_name, config)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        tar.add(layer, arcname=digest.hexdigest() + "/layer.tar")
    os.chmod(archive, 0o644)
    return archive


# -- framing and errors ---------------------------------------------------------------
BAD_FRAMING = {
    "negative length": b"Content-Length: -1\r\n\r\n{}",
    "non-numeric length": b"Content-Length: 12abc\r\n\r\n{}",
    "two lengths": b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
    "length list": b"Content-Length: 2, 2\r\n\r\n{}",
    "huge length": b"Content-Length: 99999999999999999999999\r\n\r\n{}",
    "length and chunked": b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    "gzip encoding": b"Transfer-Encoding: gzip\r\n\r\n{}",
    "garbage chunk size": b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    "negative chunk size": b"Transfer-Encoding: chunked\r\n\r\n-2\r\n{}\r\n0\r\n\r\n",
    "huge chunk size": b"Transfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n{}\r\n0\r\n\r\n",
    "chunk without crlf": b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}XX0\r\n\r\n",
    "truncated body": b"Content-Length: 10\r\n\r\n{}",
}


# Found in the body, not the headers: a route that does not read it (a 404) answers
# first; the framing error then only closes the connection, as in Go's net/http.
IN_BODY = ("garbage chunk size", "negative chunk size", "huge chunk size", "chunk without crlf")


@pytest.mark.parametrize("path", ["/v1.44/volumes/create", "/v1.44/no/such/route"])
def test_bad_framing_is_a_400_in_json_and_the_connection_closes(engine: Engine, user: TestUser, path: str) -> None:
    for case, tail in BAD_FRAMING.items():
        data = f"POST {path} HTTP/1.1\r\nHost: x\r\n".encode() + tail
        answer = exchange(user, engine.socket, data, timeout=3)
        assert "<html" not in answer["data"].lower()
        if case == "truncated body":  # nothing to answer until the client gives up
            assert answer["data"] == "" and answer["end"] == "timeout", answer
            continue
        found = responses(answer["data"])
        assert len(found) == 1 and answer["end"] == "eof", (case, answer)
        unread = case in IN_BODY and path.endswith("/route")
        assert_json_error(found[0], 404 if unread else 400)


STDLIB_ERRORS = {
    b"GARBAGE\r\n\r\n": 400,
    b"GET /_ping HTTP/2.0\r\n\r\n": 505,
    b"FOO /_ping HTTP/1.1\r\nHost: x\r\n\r\n": 501,
    b"GET /_ping HTTP/1.1\r\nX: " + b"a" * 70000 + b"\r\n\r\n": 431,
    b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n": 414,
    b"GET /_ping HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(120)) + b"\r\n": 431,
    b"PATCH /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n": 405,
    b"OPTIONS /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n": 404,
}


def test_the_servers_own_errors_are_json_never_html(engine: Engine, user: TestUser) -> None:
    for data, status in STDLIB_ERRORS.items():
        answer = exchange(user, engine.socket, data)
        found = responses(answer["data"])
        assert len(found) == 1 and answer["end"] == "eof", (data[:40], answer)
        assert_json_error(found[0], status)
        assert "<html" not in answer["data"].lower()


def test_an_unread_body_does_not_spill_into_the_next_request(engine: Engine, user: TestUser) -> None:
    ping = b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    for body in (b"Content-Length: 10\r\n\r\n0123456789",
                 b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n5\r\n12345\r\n0\r\n\r\n",
                 b"Content-Length: 200000\r\n\r\n" + b"x" * 200000):
        for first in (b"POST /v1.44/no/such/route", b"POST /v9.99/containers/create",
                      b"DELETE /v1.44/containers/json"):
            answer = exchange(user, engine.socket, first + b" HTTP/1.1\r\nHost: x\r\n" + body + ping)
            found = responses(answer["data"])
            assert [r["status"] for r in found] == [found[0]["status"], 200], (first, answer["data"][:300])
            assert found[0]["status"] in (400, 404, 405) and found[1]["body"] == "OK"
            assert_json_error(found[0], found[0]["status"])


def test_a_big_unread_body_closes_the_connection_after_the_answer(engine: Engine, user: TestUser) -> None:
    data = b"POST /v1.44/no/such/route HTTP/1.1\r\nHost: x\r\nContent-Length: 4000000\r\n\r\n" + b"x" * 4000000
    answer = exchange(user, engine.socket, data + b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n", timeout=10)
    found = responses(answer["data"])
    assert len(found) == 1 and answer["end"] == "eof", answer["data"][:300]
    assert_json_error(found[0], 404, "page not found")
    assert found[0]["headers"]["connection"] == "close"


def test_docker_cli_on_an_unknown_endpoint_gets_the_json_error(engine: Engine, shared_dir: str) -> None:
    """`docker plugin create` posts a tar to /plugins/create, which this engine does not serve
    (this test used `docker build` before /build was served)."""
    for size in (10, 8 << 20):
        context = os.path.join(shared_dir, f"ctx{size}")
        os.makedirs(os.path.join(context, "rootfs"))
        for name, data in (("config.json", b"{}"), ("rootfs/blob", os.urandom(size))):
            with open(os.path.join(context, name), "wb") as f:
                f.write(data)
            os.chmod(os.path.join(context, name), 0o644)
        os.chmod(context, 0o755)
        os.chmod(os.path.join(context, "rootfs"), 0o755)
        for _ in range(3):  # what went wrong before depended on timing
            result = engine.docker("plugin", "create", "someplugin", context, check=False)
            output = result.stdout + result.stderr
            assert result.returncode != 0
            assert "page not found" in output, output
            assert "Unsolicited" not in output and "broken pipe" not in output, output

"""What a CLI start imports: the common verbs load only what they use (issue 13, bench/README.md).

Each test imports a fresh copy of the rootless package with the modules it must
not need made unimportable (None in sys.modules: importing one raises
ImportError naming the culprit in the traceback), runs the command in-process
against a small fake daemon on a UNIX socket in tmp_path, and then puts
sys.modules back as it was. No timings: only which modules load.
"""
from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import threading
from typing import Any, Dict, Iterator, List, Sequence

import pytest

# Never needed by a command that talks to the local socket. Each one cost 1-35 ms of start-up
# (with what it imports in turn) or is only for remote endpoints (ssl, the dialers, contexts).
NOT_FOR_LOCAL_VERBS = (
    "ssl", "tarfile", "http.client", "email", "logging", "hashlib", "urllib.parse", "ipaddress", "shutil",
    "tempfile", "ctypes", "subprocess", "fractions", "decimal", "tomllib", "tomli", "requests", "zstandard",
    "rootless.config.settings", "rootless.config.contexts", "rootless.client.dialers", "rootless.util.fs",
    "rootless.util.proc", "rootless.api.server", "rootless.engine",
)
# Without DOCKER_HOST the CLI reads currentContext from ~/.docker/config.json, as docker does:
# the context store loads, but nothing it needs only for named contexts.
NOT_FOR_DEFAULT_CONTEXT = tuple(m for m in NOT_FOR_LOCAL_VERBS if m != "rootless.config.contexts")

ANSWERS: Dict[str, Any] = {
    "/containers/json": [{"Id": "c" * 64, "Names": ["/web"], "Image": "busybox", "ImageID": "sha256:" + "a" * 64,
                          "Command": "sleep 1d", "Created": 1700000000, "State": "exited",
                          "Status": "Exited (0) 2 hours ago", "Ports": [], "Labels": {}, "Mounts": []}],
    "/images/json": [{"Id": "sha256:" + "b" * 64, "RepoTags": ["busybox:latest"], "RepoDigests": [],
                      "Created": 1700000000, "Size": 2000000, "SharedSize": -1, "Labels": {}, "Containers": -1,
                      "ParentId": ""}],
}


def read_request_head(conn: socket.socket) -> bytes:
    """What the client sent up to the end of a request's head (and maybe some body); b"": it left first."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return b""
        data += chunk
    return data


class FakeDaemon:
    """Answers /_ping and the list endpoints on a UNIX socket, one request per connection."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.paths: List[str] = []
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(path)
        self.server.listen(8)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with conn:
                self._answer(conn)

    def _answer(self, conn: socket.socket) -> None:
        head = read_request_head(conn)
        if not head:
            return
        target = head.split(b" ", 2)[1].decode()
        path = target.split("?", 1)[0]
        self.paths.append(path)
        body = b"OK" if path == "/_ping" else json.dumps(ANSWERS.get(path, {})).encode()
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                     % (len(body), body))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.server.shutdown(socket.SHUT_RDWR)  # wakes the accept() (close alone does not)
        self.server.close()
        self.thread.join(5)


@contextlib.contextmanager
def fresh_rootless(blocked: Sequence[str]) -> Iterator[None]:
    """A fresh import of every rootless module, with `blocked` unimportable; sys.modules restored after."""
    saved = dict(sys.modules)
    for name in list(sys.modules):
        if name == "rootless" or name.startswith("rootless."):
            del sys.modules[name]
    for name in blocked:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for name in list(sys.modules):
            if name not in saved:
                del sys.modules[name]
        sys.modules.update(saved)


@pytest.fixture
def daemon(tmp_path, monkeypatch) -> Iterator[FakeDaemon]:  # type: ignore[no-untyped-def]
    run_dir = tmp_path / "run"
    run_dir.mkdir(mode=0o700)
    fake = FakeDaemon(str(run_dir / "rootless.sock"))
    monkeypatch.setenv("ROOTLESS_RUNTIME_DIR", str(run_dir))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    for name in ("DOCKER_HOST", "ROOTLESS_HOST", "DOCKER_CONTEXT", "DOCKER_CONFIG", "DOCKER_TLS_VERIFY",
                 "ROOTLESS_CONFIG", "ROOTLESS_ROOT"):
        monkeypatch.delenv(name, raising=False)
    yield fake
    fake.close()


def run_cli(args: List[str]) -> None:
    import rootless.cli

    try:
        rootless.cli.main(args)
    except SystemExit as exc:
        assert not exc.code, f"rootless {' '.join(args)} exited {exc.code}"


@pytest.mark.parametrize("args", [["ps"], ["ps", "-a", "--filter", "status=exited"], ["images"],
                                  ["container", "ls"], ["image", "ls", "--format", "json"]])
def test_listing_verbs_on_the_local_socket_import_only_what_they_use(daemon, monkeypatch, capsys, args) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DOCKER_HOST", f"unix://{daemon.path}")
    with fresh_rootless(NOT_FOR_LOCAL_VERBS):
        run_cli(args)
    assert daemon.paths[-1].endswith("/json")  # the fast path (cli/fast.py) skips /_ping
    assert capsys.readouterr().out


def test_the_default_context_reads_config_json_without_the_context_machinery(daemon, capsys) -> None:  # type: ignore[no-untyped-def]
    with fresh_rootless(NOT_FOR_DEFAULT_CONTEXT):
        run_cli(["ps"])
    assert daemon.paths == ["/containers/json"]
    assert "CONTAINER ID" in capsys.readouterr().out


@pytest.mark.parametrize("verb", ["run", "create", "exec", "logs", "pull", "start", "stop", "rm", "inspect",
                                  "images", "ps"])
def test_resolving_a_common_verb_imports_only_what_it_uses(verb: str) -> None:
    with fresh_rootless(NOT_FOR_LOCAL_VERBS):
        import click

        from rootless.cli.root import cli

        command = cli.get_command(click.Context(cli), verb)
        assert isinstance(command, click.Command)


def test_version_answers_without_click(capsys) -> None:  # type: ignore[no-untyped-def]
    with fresh_rootless(("click", "typing", "json", "socket") + NOT_FOR_LOCAL_VERBS):
        run_cli(["--version"])
    from rootless import __version__

    assert capsys.readouterr().out == f"rootless version {__version__}\n"


def test_version_through_click_says_the_same(capsys) -> None:  # type: ignore[no-untyped-def]
    from rootless import __version__

    run_cli(["--debug", "--version"])
    assert capsys.readouterr().out == f"rootless version {__version__}\n"


def test_a_tcp_host_still_loads_what_it_needs(monkeypatch) -> None:
    """The lazy imports are still there when used: plain TCP without --insecure-tcp is refused."""
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:2375")
    monkeypatch.delenv("DOCKER_TLS_VERIFY", raising=False)
    from rootless.cli.app import App
    from rootless.errors import PermissionDenied

    with pytest.raises(PermissionDenied, match="plain TCP"):
        App().endpoint()


def test_the_package_is_unchanged_for_other_tests() -> None:
    """fresh_rootless put the original modules back: the classes other tests hold are the ones in use."""
    import rootless.errors

    before = rootless.errors.RootlessError
    with fresh_rootless(()):
        import rootless.errors as fresh

        assert fresh.RootlessError is not before
    import rootless.errors as again

    assert again.RootlessError is before and os.path.exists(again.__file__)

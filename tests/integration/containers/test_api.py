"""Container endpoints of issue 4 at the HTTP level (docker-py's low-level client and raw requests)."""
from __future__ import annotations

import base64
import http.client
import json
import socket
import time

from tests.integration.conftest import Engine


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 30) -> None:
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def _request(engine: Engine, method: str, path: str, timeout: float = 30) -> http.client.HTTPResponse:
    conn = UnixHTTPConnection(engine.socket, timeout)
    conn.request(method, "/v1.43" + path)
    return conn.getresponse()


def test_wait_answers_headers_at_once_and_the_status_at_exit(engine: Engine, busybox: str) -> None:
    api = engine.client().api
    container = api.create_container(busybox, ["sh", "-c", "sleep 1.5; exit 4"])["Id"]
    try:
        started = time.monotonic()
        response = _request(engine, "POST", f"/containers/{container}/wait?condition=next-exit", timeout=5)
        assert response.status == 200 and time.monotonic() - started < 1.0  # before the container even starts
        api.start(container)
        assert json.loads(response.read()) == {"StatusCode": 4, "Error": None}
        assert time.monotonic() - started >= 1.4
        assert api.wait(container, condition="not-running", timeout=5)["StatusCode"] == 4
    finally:
        api.remove_container(container, force=True)


def test_wait_for_removed_with_auto_remove(engine: Engine, busybox: str) -> None:
    api = engine.client().api
    host_config = api.create_host_config(auto_remove=True)
    container = api.create_container(busybox, ["sh", "-c", "exit 2"], host_config=host_config)["Id"]
    response = _request(engine, "POST", f"/containers/{container}/wait?condition=removed")
    assert response.status == 200
    api.start(container)
    assert json.loads(response.read())["StatusCode"] == 2
    assert _request(engine, "GET", f"/containers/{container}/json").status == 404


def test_archive_head_has_the_path_stat_header(engine: Engine, busybox: str) -> None:
    api = engine.client().api
    container = api.create_container(busybox, ["true"])["Id"]
    try:
        head = _request(engine, "HEAD", f"/containers/{container}/archive?path=/etc/passwd")
        assert head.status == 200 and head.read() == b""
        stat = json.loads(base64.b64decode(head.getheader("X-Docker-Container-Path-Stat")))
        assert stat["name"] == "passwd" and stat["size"] > 0 and stat["linkTarget"] == ""
        link = _request(engine, "HEAD", f"/containers/{container}/archive?path=/bin/sh")
        assert json.loads(base64.b64decode(link.getheader("X-Docker-Container-Path-Stat")))["linkTarget"] in (
            "/bin/busybox", "busybox")
        assert _request(engine, "HEAD", f"/containers/{container}/archive?path=/nope").status == 404
        assert _request(engine, "HEAD", "/containers/no-such-ctr/archive?path=/").status == 404
    finally:
        api.remove_container(container, force=True)


def test_delete_with_v_removes_anonymous_volumes_only(engine: Engine, busybox: str) -> None:
    client = engine.client()
    api = client.api
    engine.cli("volume", "create", "named-keep")
    kept, removed = [], []
    for remove_volumes, into in ((False, kept), (True, removed)):
        host_config = api.create_host_config(binds=["named-keep:/named"])
        container = api.create_container(busybox, ["true"], volumes=["/anon"], host_config=host_config)["Id"]
        api.start(container)
        api.wait(container)
        info = api.inspect_container(container)
        into += [m["Name"] for m in info["Mounts"] if m["Destination"] == "/anon"]
        api.remove_container(container, v=remove_volumes)
    names = {v.name for v in client.volumes.list()}
    try:
        assert kept[0] in names and removed[0] not in names and "named-keep" in names
    finally:
        engine.cli("volume", "rm", "-f", "named-keep", kept[0], check=False)


def test_exec_inspect_and_resize(engine: Engine, busybox: str) -> None:
    api = engine.client().api
    container = api.create_container(busybox, ["sh", "-c", "while :; do stty size; sleep 0.2; done"], tty=True)["Id"]
    try:
        api.start(container)
        exec_id = api.exec_create(container, ["sh", "-c", "exit 6"], user="app", workdir="/tmp")["Id"]
        before = api.exec_inspect(exec_id)
        assert (before["Running"], before["ExitCode"], before["ContainerID"]) == (False, None, container)
        api.exec_start(exec_id)
        after = api.exec_inspect(exec_id)
        assert (after["Running"], after["ExitCode"]) == (False, 6)
        assert after["ProcessConfig"]["entrypoint"] == "sh" and after["ProcessConfig"]["user"] == "app"
        api.resize(container, 37, 111)
        deadline = time.monotonic() + 10
        while b"37 111" not in api.logs(container):
            assert time.monotonic() < deadline, api.logs(container)[-200:]
            time.sleep(0.2)
    finally:
        api.remove_container(container, force=True)


def test_top_rename_export_and_prune_over_the_api(engine: Engine, busybox: str) -> None:
    api = engine.client().api
    container = api.create_container(busybox, ["sleep", "300"], name="api-top", labels={"api": "prune"})["Id"]
    try:
        api.start(container)
        top = api.top(container, ps_args="-ef")
        assert "PID" in top["Titles"] and any("sleep" in " ".join(p) for p in top["Processes"])
        api.rename(container, "api-top2")
        assert api.inspect_container(container)["Name"] == "/api-top2"
        exported = b"".join(api.export(container))
        assert b"bin/busybox" in exported
        api.kill(container)
        api.wait(container)
        pruned = api.prune_containers(filters={"label": "api=prune"})
        assert pruned["ContainersDeleted"] == [container] and pruned["SpaceReclaimed"] >= 0
    finally:
        if _request(engine, "GET", f"/containers/{container}/json").status == 200:
            api.remove_container(container, force=True)

"""Hostile request bodies against the real engine: a 400 naming the field, nothing stored.

Before the API edge decoded bodies into types (rootless/api/types.py), `Cmd: [1, 2]`
was stored and every `GET /containers/json` answered 500 until the container
was removed; `MaximumRetryCount: "x"` broke inspect; `nlvol\\n` became a volume
that split `docker volume ls`. The requests go over the socket as the test user
(the daemon may check SO_PEERCRED), from a small Python client run as that user.
"""
from __future__ import annotations

import base64
import io
import json
import tarfile
from typing import Any, Dict, Iterator, List, Tuple

import pytest

from tests.integration.conftest import VENV_PYTHON, Engine
from tests.unit.api import bodies

# Reads [{"method", "path", "body"?: JSON value, "raw"?: base64}] on stdin, prints [[status, text]].
CLIENT = r"""
import base64, http.client, json, socket, sys
class Conn(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(60)
        self.sock.connect(sys.argv[1])
out = []
for req in json.load(sys.stdin):
    conn = Conn("localhost")
    if "raw" in req:
        data, kind = base64.b64decode(req["raw"]), "application/x-tar"
    else:
        data, kind = json.dumps(req.get("body")).encode(), "application/json"
    conn.request(req["method"], "/v1.44" + req["path"], body=data, headers={"Content-Type": kind})
    response = conn.getresponse()
    out.append([response.status, response.read().decode(errors="replace")])
    conn.close()
print(json.dumps(out))
"""

Request = Dict[str, Any]


def post_all(engine: Engine, requests: List[Request]) -> List[Tuple[int, str]]:
    result = engine.user.run([VENV_PYTHON, "-c", CLIENT, engine.socket], input=json.dumps(requests), timeout=180)
    return [(status, text) for status, text in json.loads(result.stdout)]


def message_of(text: str) -> str:
    try:
        return str(json.loads(text).get("message", text))
    except ValueError:
        return text


@pytest.fixture(scope="module")
def busybox(engine: Engine, images) -> str:  # type: ignore[no-untyped-def]
    engine.docker("pull", "-q", images.busybox, timeout=300)
    return str(images.busybox)


@pytest.fixture(scope="module")
def running(engine: Engine, busybox: str) -> Iterator[str]:
    engine.docker("run", "-d", "--name", "types-running", busybox, "sleep", "300")
    yield "types-running"
    engine.docker("rm", "-f", "types-running", check=False)


def _create(name: str, image: str, **fields: Any) -> Request:
    return {"method": "POST", "path": f"/containers/create?name={name}", "body": {"Image": image, **fields}}


HOSTILE_CREATES: List[Tuple[Dict[str, Any], str]] = [
    ({"Cmd": [1, 2]}, "Cmd[0]: expected a string, got number"),
    ({"Labels": {"a": 1}}, 'Labels["a"]: expected a string, got number'),
    ({"Labels": {"a": None}}, 'Labels["a"]: expected a string, got null'),
    ({"Env": [None]}, "Env[0]: expected a string, got null"),
    ({"HostConfig": "x"}, "HostConfig: expected an object, got string"),
    ({"HostConfig": {"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": "x"}}},
     "HostConfig.RestartPolicy.MaximumRetryCount: expected an integer, got string"),
    ({"HostConfig": {"Ulimits": ["nofile=1:2"]}}, "HostConfig.Ulimits[0]: expected an object, got string"),
    ({"HostConfig": {"Ulimits": [{"Name": "nofile", "Soft": "1024", "Hard": 2048}]}},
     "HostConfig.Ulimits[0].Soft: expected an integer, got string"),
    ({"HostConfig": {"PortBindings": {"80/tcp": [{"HostPort": 8080}]}}},
     'HostConfig.PortBindings["80/tcp"][0].HostPort: expected a string, got number'),
    ({"HostConfig": {"PortBindings": {"http": [{"HostPort": "8080"}]}}}, "invalid port specification: 'http'"),
    ({"HostConfig": {"Binds": ["nlvol\n:/data"]}}, "HostConfig.Binds[0]: includes invalid characters"),
    ({"HostConfig": {"Mounts": [{"Type": "volume", "Source": "v"}]}}, "field Target must not be empty"),
    ({"HostConfig": {"Mounts": [None]}}, 'invalid mount config for type "": mount type unknown'),
    ({"HostConfig": {"Mounts": [{"Type": "bind", "Source": "rel", "Target": "/t"}]}},
     "invalid mount path: 'rel' mount path must be absolute"),
    ({"HostConfig": {"RestartPolicy": {"Name": "sometimes"}}}, "invalid restart policy: unknown policy 'sometimes'"),
    ({"NetworkingConfig": {"EndpointsConfig": {"bridge": {"Aliases": "a"}}}},
     'NetworkingConfig.EndpointsConfig["bridge"].Aliases: expected an array, got string'),
]


def test_hostile_create_bodies_are_400s_naming_the_field_and_nothing_is_stored(engine: Engine,
                                                                                busybox: str) -> None:
    requests = [_create(f"types-bad-{i}", busybox, **fields) for i, (fields, _) in enumerate(HOSTILE_CREATES)]
    requests.append({"method": "POST", "path": "/containers/create?name=types-bad-list", "body": [busybox]})
    requests.append(_create("types-bad%0A", busybox))  # "types-bad\n": a newline in the name
    requests.append(_create("x", busybox))  # docker's names have two characters at least
    answers = post_all(engine, requests)
    expected = [message for _, message in HOSTILE_CREATES] + [
        "body: expected an object, got array", "Invalid container name ('types-bad\\n')", "Invalid container name (x)"]
    for (status, text), message in zip(answers, expected):
        assert status == 400 and message in message_of(text), (message, status, text)
    assert "types-bad" not in engine.docker("ps", "-a", "--format", "{{.Names}}").stdout
    _reads_still_work(engine)


def test_hostile_volume_and_network_bodies_are_refused(engine: Engine) -> None:
    answers = post_all(engine, [
        {"method": "POST", "path": "/volumes/create", "body": {"Name": "nlvol\n"}},
        {"method": "POST", "path": "/volumes/create", "body": {"Name": 5}},
        {"method": "POST", "path": "/volumes/create", "body": {"Name": "typesvol", "Labels": {"k": ["v"]}}},
        {"method": "POST", "path": "/volumes/create", "body": {"Name": "typesvol", "Labels": {"k" * 2000: "v"}}},
        {"method": "POST", "path": "/networks/create", "body": {"Name": "nlnet\n"}},
        {"method": "POST", "path": "/networks/create", "body": {"Name": "typesnet", "Labels": {"a": 1}}},
        {"method": "POST", "path": "/networks/create", "body": {"Name": "typesnet", "IPAM": {"Config": "x"}}},
        {"method": "POST", "path": "/networks/create", "body": "typesnet"},
    ])
    expected = ["includes invalid characters for a local volume name", "Name: expected a string, got number",
                'Labels["k"]: expected a string, got array', "must be 1 to 1024 characters",
                "create network: invalid name 'nlnet\\n'", 'Labels["a"]: expected a string, got number',
                "IPAM.Config: expected an array, got string", "body: expected an object, got string"]
    for (status, text), message in zip(answers, expected):
        assert status == 400 and message in message_of(text), (message, status, text)
    volumes = engine.docker("volume", "ls", "--format", "{{.Name}}").stdout.split("\n")
    assert not any(v.startswith(("nlvol", "typesvol")) for v in volumes)
    assert "typesnet" not in engine.docker("network", "ls", "--format", "{{.Name}}").stdout
    _reads_still_work(engine)


def test_hostile_exec_and_connect_bodies_are_refused(engine: Engine, running: str) -> None:
    answers = post_all(engine, [
        {"method": "POST", "path": f"/containers/{running}/exec", "body": {"Cmd": "ls"}},
        {"method": "POST", "path": f"/containers/{running}/exec", "body": {"Cmd": ["ls"], "Env": [1]}},
        {"method": "POST", "path": f"/containers/{running}/exec", "body": {"Cmd": ["ls"], "Tty": "yes"}},
        {"method": "POST", "path": "/networks/bridge/connect", "body": {"Container": 5}},
        {"method": "POST", "path": "/networks/bridge/disconnect", "body": {"Container": running, "Force": "y"}},
    ])
    expected = ["Cmd: expected an array, got string", "Env[0]: expected a string, got number",
                "Tty: expected a boolean, got string", "Container: expected a string, got number",
                "Force: expected a boolean, got string"]
    for (status, text), message in zip(answers, expected):
        assert status == 400 and message in message_of(text), (message, status, text)
    exec_id = json.loads(post_all(engine, [{"method": "POST", "path": f"/containers/{running}/exec",
                                            "body": {"Cmd": ["true"]}}])[0][1])["Id"]
    status, text = post_all(engine, [{"method": "POST", "path": f"/exec/{exec_id}/start",
                                      "body": {"Detach": "yes"}}])[0]
    assert status == 400 and "Detach: expected a boolean, got string" in message_of(text)
    assert engine.docker("exec", running, "echo", "still").stdout == "still\n"


def _tar(files: Dict[str, bytes]) -> str:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return base64.b64encode(buffer.getvalue()).decode()


def test_docker_load_of_a_manifest_with_missing_keys_is_a_400(engine: Engine) -> None:
    answers = post_all(engine, [
        {"method": "POST", "path": "/images/load?quiet=1", "raw": _tar({"manifest.json": b'[{"Layers": []}]'})},
        {"method": "POST", "path": "/images/load?quiet=1",
         "raw": _tar({"c.json": b"{}", "manifest.json": b'[{"Config": "c.json", "RepoTags": [7]}]'})},
    ])
    for (status, text), message in zip(answers, ["manifest.json[0].Config: expected a file name",
                                                 "manifest.json[0].RepoTags: expected an array of strings"]):
        # load streams its answer: a refusal before the first line is a 400, later an errorDetail line
        assert message in text and "Traceback" not in text, text
        assert status == 400 or '"errorDetail"' in text, (status, text)


def test_real_client_bodies_still_create_and_read_back(engine: Engine, busybox: str) -> None:
    cli = json.loads(bodies.CLI_RUN_IT)
    py = json.loads(bodies.PY_CREATE_CONTAINER)
    answers = post_all(engine, [_create("types-cli", busybox, **{k: v for k, v in cli.items() if k != "Image"}),
                                _create("types-py", busybox, **{k: v for k, v in py.items() if k != "Image"})])
    try:
        assert [status for status, _ in answers] == [201, 201], answers
        inspected = json.loads(engine.docker("inspect", "types-cli", "types-py").stdout)
        assert inspected[0]["HostConfig"]["AutoRemove"] is True and inspected[0]["Config"]["Tty"] is True
        assert inspected[1]["Config"]["Cmd"] == ["echo", "hi"]
        assert inspected[1]["HostConfig"]["PortBindings"] == {"8080/tcp": [{"HostIp": "", "HostPort": ""}]}
    finally:
        engine.docker("rm", "-f", "types-cli", "types-py", check=False)


def _reads_still_work(engine: Engine) -> None:
    """docker ps / volume ls / network ls / inspect answer, one object per line."""
    for argv in (["ps", "-a"], ["volume", "ls"], ["network", "ls"], ["ps", "-a", "-q"]):
        result = engine.docker(*argv)
        assert result.returncode == 0 and "Error" not in result.stderr, (argv, result.stderr)
    ids = engine.docker("ps", "-a", "-q").stdout.split()
    if ids:
        engine.docker("inspect", *ids)

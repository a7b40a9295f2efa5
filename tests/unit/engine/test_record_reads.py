"""Issue 8: the container record (docker-shaped JSON) is read in one module, engine/container_model.py.

Every other engine module asks the record class for typed values (record.ulimits,
record.port_bindings(), record.dns, ...). This test reads the source of
rootless/engine/*.py and fails on a read of a capitalised docker key
(`x.get("Key")`, `x["Key"]`) off a record-shaped receiver.
"""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterator, List, Tuple

from rootless.engine.container_model import Container

ENGINE = Path(__file__).resolve().parents[3] / "rootless" / "engine"

# Names and attributes that hold the record or one of its docker objects.
RECORD_NAMES = {"record", "container", "data", "config", "host_config", "state", "hc", "internal",
                "recorded", "endpoint", "mount", "m"}  # the last: one recorded attachment or MountPoint
RECORD_ATTRIBUTES = {"data", "config", "host_config", "state"}

ALLOWED = {
    # The record's module: record <-> JSON and the typed reads everything else uses.
    "container_model.py",
    # The codec of Config.Healthcheck and State.Health, called through container_model
    # (merge at create, Container.health_probe, status_suffix); it reads nothing else.
    "health_config.py",
}


def _is_record(node: ast.expr) -> bool:
    if isinstance(node, ast.Name):
        return node.id in RECORD_NAMES
    if isinstance(node, ast.Attribute):
        return node.attr in RECORD_ATTRIBUTES
    if isinstance(node, ast.Subscript):  # config["Healthcheck"]["Test"]: still the record
        return _is_record(node.value)
    return False


def _docker_key(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value[:1].isupper()


def record_key_reads(tree: ast.AST) -> Iterator[Tuple[int, str]]:
    """(line, key) of each capitalised-key read off a record-shaped receiver; writes are not reads."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and _is_record(node.value):
            key = node.slice  # Python >= 3.9: the index expression itself
            if _docker_key(key):
                yield node.lineno, str(key.value)  # type: ignore[attr-defined]
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
              and _is_record(node.func.value) and node.args and _docker_key(node.args[0])):
            yield node.lineno, str(node.args[0].value)  # type: ignore[attr-defined]


def test_no_engine_module_but_the_model_reads_record_keys() -> None:
    found: List[str] = []
    for path in sorted(ENGINE.glob("*.py")):
        if path.name not in ALLOWED:
            found += [f"{path.name}:{line}: {key}" for line, key in record_key_reads(ast.parse(path.read_text()))]
    assert found == [], "read these through a typed read on Container (engine/container_model.py)"


def test_the_check_sees_subscripts_and_gets() -> None:
    source = ('a = container.host_config.get("Ulimits")\nb = host_config["PortBindings"]\n'
              'c = container.config.get("ExposedPorts")\nd = record.data["Config"]["Hostname"]\n'
              'container.data["Mounts"] = []\ne = body.get("HostConfig")\nf = self.state.get("Pid")\n')
    assert sorted(record_key_reads(ast.parse(source))) == [
        (1, "Ulimits"), (2, "PortBindings"), (3, "ExposedPorts"), (4, "Config"), (4, "Hostname"), (7, "Pid")]


def test_typed_reads_of_an_old_record() -> None:
    """A record as an earlier version wrote it (no Networks, no Mounts, null lists) reads as before."""
    record = Container(None, {  # type: ignore[arg-type]
        "Id": "a" * 64, "Name": "/old", "Mounts": None, "ExecIDs": None,
        "Config": {"Hostname": "", "ExposedPorts": {"80/tcp": {}}, "Volumes": None, "Env": None},
        "HostConfig": {"NetworkMode": "default", "PublishAllPorts": True, "Dns": None,
                       "PortBindings": {"53/udp": [{"HostIp": "127.0.0.1", "HostPort": "5353"}], "22/tcp": None},
                       "Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 2048}], "PidsLimit": -1,
                       "Mounts": [{"Target": "/v", "TmpfsOptions": None}]},
        "State": {"Status": "exited", "Pid": 0, "StartedAt": "2024-01-01T00:00:00Z"},
    })
    assert record.hostname == "a" * 12 and record.env == [] and record.image_volumes == [] and record.mounts == []
    assert [(b.port, b.host_ip, b.host_port) for b in record.port_bindings()] == [
        ("22/tcp", "", ""), ("53/udp", "127.0.0.1", "5353"), ("80/tcp", "", "")]
    assert [(u.name, u.soft, u.hard) for u in record.ulimits] == [("nofile", 1024, 2048)]
    assert record.dns == ([], [], []) and record.resources.pids_limit is None
    assert [(m.type, m.target, m.source) for m in record.api_mounts] == [("volume", "/v", "")]
    assert record.mount_points() == [] and list(record.endpoints()) == ["bridge"]
    assert record.attachments() == {"bridge": {}} and record.exec_ids == [] and record.health is None
    record.exec_ids = []
    assert record.data["ExecIDs"] is None  # docker's null, as written before


def test_recorded_mount_points_and_endpoints_read_typed() -> None:
    record = Container(None, {  # type: ignore[arg-type]
        "Id": "b" * 64, "Config": {}, "HostConfig": {"NetworkMode": "appnet"},
        "Mounts": [{"Type": "volume", "Name": "v", "Source": "/s", "Destination": "/d", "RW": False},
                   {"Type": "bind", "Source": "/h", "Destination": "/b"}],
        "NetworkSettings": {"Networks": {"appnet": {"NetworkID": "n1", "IPAddress": "10.89.0.2", "IPPrefixLen": 24,
                                                     "Gateway": "10.89.0.1", "Aliases": ["db"]}}},
    })
    assert [(m.destination, m.source, m.name, m.type, m.read_only) for m in record.mount_points()] == [
        ("/d", "/s", "v", "volume", True), ("/b", "/h", "", "bind", False)]
    endpoint = record.endpoints()["appnet"]
    assert (endpoint.network_id, endpoint.ip_address, endpoint.prefix_len, endpoint.gateway, endpoint.aliases,
            endpoint.endpoint_id) == ("n1", "10.89.0.2", 24, "10.89.0.1", ["db"], "")

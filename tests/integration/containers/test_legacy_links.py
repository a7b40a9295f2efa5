"""Legacy --link as moby 28 has it (issue 16), judged by the docker CLI and docker-py: an alias in
the linking container's /etc/hosts on a user network; on the default bridge the hosts entry and
<ALIAS>_* variables when the child has an address of its own there (else a clear refusal);
`docker rm --link` removes the link, not a container."""
from __future__ import annotations

import json
from typing import Iterator, List

import pytest

from tests.integration.conftest import Engine


@pytest.fixture()
def made(engine: Engine) -> Iterator[List[str]]:
    names: List[str] = []
    yield names
    for name in names:
        engine.docker("rm", "-f", name, check=False)
    engine.docker("network", "rm", "link-net", check=False)


def test_link_on_a_user_network_is_an_alias(engine: Engine, busybox: str, made: List[str]) -> None:
    made += ["link-web", "link-db"]
    engine.docker("network", "create", "link-net")
    engine.docker("run", "-d", "--name", "link-db", "--network", "link-net", busybox, "sleep", "300")
    engine.docker("run", "-d", "--name", "link-web", "--network", "link-net", "--link", "link-db:store",
                  busybox, "sleep", "300")
    db_ip = engine.docker("inspect", "-f", '{{(index .NetworkSettings.Networks "link-net").IPAddress}}',
                          "link-db").stdout.strip()
    hosts = engine.docker("exec", "link-web", "cat", "/etc/hosts").stdout
    assert f"{db_ip}\tstore" in hosts.splitlines()
    assert engine.docker("exec", "link-web", "ping", "-c", "1", "-W", "3", "store", check=False).returncode == 0
    endpoint = json.loads(engine.docker("inspect", "-f", '{{json (index .NetworkSettings.Networks "link-net")}}',
                                        "link-web").stdout)
    assert endpoint["Links"] == ["link-db:store"]
    env = engine.docker("exec", "link-web", "env").stdout
    assert "STORE_NAME" not in env  # variables only on the default bridge, as dockerd


def test_default_bridge_link_and_rm_link(engine: Engine, busybox: str, made: List[str]) -> None:
    import docker

    client = engine.client()
    made += ["bridge-db", "bridge-web"]
    child = client.containers.run(busybox, ["sleep", "300"], detach=True, name="bridge-db",
                                  environment={"SECRET": "s3"}, ports={"5432/tcp": None})
    child.reload()
    parent = client.containers.create(busybox, ["sleep", "300"], name="bridge-web", links={"bridge-db": "data"})
    assert parent.attrs["HostConfig"]["Links"] == ["/bridge-db:/bridge-web/data"]
    own_address = child.attrs["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
    assert own_address not in ("", "10.0.2.100"), own_address  # the default bridge gives each its own address
    parent.start()
    env = parent.exec_run(["env"]).output.decode().splitlines()
    assert "DATA_NAME=/bridge-web/data" in env and "DATA_ENV_SECRET=s3" in env
    assert f"DATA_PORT=tcp://{own_address}:5432" in env
    hosts = parent.exec_run(["cat", "/etc/hosts"]).output.decode()
    assert f"{own_address}\tdata {child.attrs['Config']['Hostname']} bridge-db" in hosts.splitlines()
    done = engine.docker("rm", "--link", "/bridge-web/data")
    assert done.returncode == 0
    assert client.containers.get("bridge-db").status == "running"  # the link went, not the container
    assert client.api.inspect_container("bridge-web")["HostConfig"]["Links"] is None
    wrong = engine.docker("rm", "--link", "bridge-db", check=False)
    assert wrong.returncode != 0 and "cannot remove the default link name" in wrong.stderr
    assert client.containers.get("bridge-db").status == "running"


def test_link_to_a_missing_container_is_refused_at_create(engine: Engine, busybox: str) -> None:
    refused = engine.docker("create", "--name", "link-orphan", "--link", "nosuch:x", busybox, "true", check=False)
    assert refused.returncode != 0 and "could not get container for nosuch" in refused.stderr
    assert "link-orphan" not in engine.docker("ps", "-a", "--format", "{{.Names}}").stdout

"""`network rm` as dockerd 28 does it, through the docker CLI, docker-py and docker-compose:
refused (403, "has active endpoints") while a running container is on the network, allowed while
only stopped ones are. The stopped container keeps the attachment in its record; its next start
fails with "failed to set up container networking: network <id> not found" until `network
disconnect` by name takes it off the removed network."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid

import docker
import pytest

from tests.integration.conftest import Engine


def _name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:6]}"


def _networks(engine: Engine, container: str) -> dict:  # type: ignore[type-arg]
    networks: dict = json.loads(  # type: ignore[type-arg]
        engine.docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", container).stdout)
    return networks


def test_docker_cli_removes_a_network_only_stopped_containers_are_on(
        engine: Engine, busybox: str, cleanup: list) -> None:
    network, container = _name("rmn"), _name("rmc")
    engine.docker("network", "create", network)
    cleanup.append(("network", network))
    network_id = engine.docker("network", "inspect", "-f", "{{.Id}}", network).stdout.strip()
    engine.docker("run", "-d", "--name", container, busybox, "sleep", "300")
    cleanup.append(("container", container))
    engine.docker("network", "connect", network, container)
    refused = engine.docker("network", "rm", network, check=False)
    assert refused.returncode != 0
    assert f"error while removing network: network {network} has active endpoints (name:\"{container}\"" \
        in refused.stderr, refused.stderr
    engine.docker("stop", "-t", "0", container)
    engine.docker("network", "rm", network)
    assert _networks(engine, container)[network]["NetworkID"] == network_id  # the record keeps it, as dockerd's
    started = engine.docker("start", container, check=False)
    assert started.returncode != 0
    assert (f"Error response from daemon: failed to set up container networking: network {network_id} not found"
            in started.stderr), started.stderr
    state = json.loads(engine.docker("inspect", "-f", "{{json .State}}", container).stdout)
    assert state["Status"] == "exited" and "failed to set up container networking" in state["Error"]
    engine.docker("network", "disconnect", network, container)  # by name: the network is gone
    assert list(_networks(engine, container)) == ["bridge"]
    engine.docker("start", container)
    assert engine.docker("inspect", "-f", "{{.NetworkSettings.IPAddress}}", container).stdout.strip()


def test_docker_py_sees_dockerds_status_codes(engine: Engine, busybox: str, cleanup: list) -> None:
    client = engine.client()
    network = client.networks.create(_name("rmp"))
    cleanup.append(("network", network.name))
    container = client.containers.run(busybox, ["sleep", "300"], detach=True, name=_name("rmpc"),
                                      network=network.name)
    cleanup.append(("container", container.name))
    with pytest.raises(docker.errors.APIError) as refused:
        network.remove()
    assert refused.value.status_code == 403 and "has active endpoints" in str(refused.value)
    container.stop(timeout=0)
    network.remove()
    with pytest.raises(docker.errors.NotFound, match=f"network {network.id} not found"):
        container.start()


COMPOSE = """\
version: "3.7"
services:
  app:
    image: {image}
    command: ["sleep", "300"]
"""


def test_compose_down_removes_stopped_services_and_their_network(engine: Engine, busybox: str) -> None:
    if not os.path.exists("/usr/bin/docker-compose"):
        pytest.skip("docker-compose is not installed (setup-host.sh --tests installs it)")
    directory = tempfile.mkdtemp(prefix="rootless-compose-", dir="/tmp")
    os.chmod(directory, 0o755)
    with open(os.path.join(directory, "docker-compose.yml"), "w") as f:
        f.write(COMPOSE.format(image=busybox))
    os.chmod(os.path.join(directory, "docker-compose.yml"), 0o644)
    project = _name("rmcompose")
    compose = ["/usr/bin/docker-compose", "-p", project, "-f", os.path.join(directory, "docker-compose.yml")]
    try:
        engine.user.run([*compose, "up", "-d"], env=engine.env, timeout=180)
        engine.user.run([*compose, "stop", "-t", "0"], env=engine.env, timeout=180)
        down = engine.user.run([*compose, "down"], env=engine.env, timeout=180, check=False)
        assert down.returncode == 0, down.stderr
        left = engine.docker("network", "ls", "-q", "--filter", f"name={project}_default").stdout.strip()
        assert left == "" and engine.docker("ps", "-aq", "--filter", f"name={project}_").stdout.strip() == ""
    finally:
        engine.user.run([*compose, "down", "-t", "0"], env=engine.env, timeout=180, check=False)
        shutil.rmtree(directory, ignore_errors=True)

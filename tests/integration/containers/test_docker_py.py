"""docker-py (the Python SDK) as the judge of API compatibility."""
from __future__ import annotations

import pytest

from tests.integration.conftest import Engine


def test_run_detached_logs_exec_wait(engine: Engine, busybox: str) -> None:
    import docker

    client = engine.client()
    container = client.containers.run(busybox, ["sh", "-c", "echo hello; sleep 300"], detach=True,
                                      name="pyrun", labels={"via": "docker-py"})
    try:
        container.reload()
        assert container.status == "running"
        assert container.labels == {"via": "docker-py"}
        result = container.exec_run(["sh", "-c", "echo out; echo err >&2; exit 2"], demux=True)
        assert result.exit_code == 2
        assert result.output == (b"out\n", b"err\n")
        assert container.logs() == b"hello\n"
        container.kill()
        assert container.wait(timeout=30) == {"StatusCode": 137, "Error": None}
    finally:
        container.remove(force=True)
    with pytest.raises(docker.errors.NotFound):
        client.containers.get("pyrun")


def test_run_attached_returns_output(engine: Engine, busybox: str) -> None:
    import docker

    client = engine.client()
    assert client.containers.run(busybox, ["echo", "attached"], remove=True) == b"attached\n"
    with pytest.raises(docker.errors.ContainerError) as failed:
        client.containers.run(busybox, ["sh", "-c", "echo bad >&2; exit 7"], remove=True)
    assert failed.value.exit_status == 7


def test_ports_and_list_filters(engine: Engine, busybox: str) -> None:
    client = engine.client()
    container = client.containers.run(busybox, ["sleep", "300"], detach=True, ports={"8080/tcp": None},
                                      labels={"suite": "py"})
    try:
        container.reload()
        binding = container.ports["8080/tcp"][0]
        assert int(binding["HostPort"]) > 0
        found = client.containers.list(filters={"label": "suite=py"})
        assert [c.id for c in found] == [container.id]
    finally:
        container.remove(force=True)

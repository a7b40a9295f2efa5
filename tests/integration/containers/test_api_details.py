"""Small, exact Engine API behaviours docker-py, compose and testcontainers rely on (issue 16).

Each is checked through docker-py and, where it has a verb, the docker CLI.
"""
from __future__ import annotations

import time

import pytest

from tests.integration.conftest import Engine

NOT_A_MANAGER = ('This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" '
                 "to connect this node to swarm and try again.")


# -- swarm on a node outside any swarm ----------------------------------------------
def test_swarm_endpoints_answer_503_with_dockers_words(engine: Engine) -> None:
    import docker

    client = engine.client()
    client.swarm.leave(force=True)  # docker-py treats 503 as "not in a swarm": no error
    for path in ("/swarm", "/services", "/nodes", "/tasks", "/secrets", "/configs", "/swarm/unlockkey",
                 "/services/x", "/nodes/x", "/tasks/x", "/secrets/x", "/configs/x"):
        answer = client.api.get(client.api._url(path))
        assert (answer.status_code, answer.json()["message"]) == (503, NOT_A_MANAGER), path
    leave = client.api.post(client.api._url("/swarm/leave"))
    assert (leave.status_code, leave.json()["message"]) == (503, "This node is not part of a swarm")
    with pytest.raises(docker.errors.APIError) as failed:
        client.services.list()
    assert failed.value.status_code == 503
    for verb in (("node", "ls"), ("service", "ls"), ("secret", "ls"), ("config", "ls")):
        listed = engine.docker(*verb, check=False)
        assert listed.returncode != 0
        assert f"Error response from daemon: {NOT_A_MANAGER}" in listed.stderr, verb
    left = engine.docker("swarm", "leave", "--force", check=False)
    assert "This node is not part of a swarm" in left.stderr


def test_swarm_init_is_refused_not_pretended(engine: Engine) -> None:
    client = engine.client()
    answer = client.api.post(client.api._url("/swarm/init"), json={"ListenAddr": "0.0.0.0:2377"})
    assert answer.status_code == 503
    assert "swarm init: not supported" in answer.json()["message"]


# -- attach -------------------------------------------------------------------------
def test_attach_logs_without_stream_to_an_exited_container_ends(engine: Engine, busybox: str) -> None:
    client = engine.client(timeout=20)
    container = client.containers.run(busybox, ["sh", "-c", "echo one; echo two >&2"], detach=True)
    try:
        assert container.wait(timeout=30)["StatusCode"] == 0
        # before: the attach queued for the next start and the read hung until the timeout
        assert container.attach(logs=True, stream=False, stdout=True, stderr=True) == b"one\ntwo\n"
        assert container.attach(logs=True, stream=False, stdout=True, stderr=False) == b"one\n"
        refused = engine.docker("attach", container.id, check=False, timeout=30)
        assert refused.returncode != 0
        assert "You cannot attach to a stopped container, start it first" in refused.stderr
    finally:
        container.remove(force=True)


def test_attach_logs_without_stream_to_a_running_container_ends(engine: Engine, busybox: str) -> None:
    client = engine.client(timeout=20)
    container = client.containers.run(busybox, ["sh", "-c", "echo ready; sleep 300"], detach=True)
    try:
        for _ in range(50):
            if container.logs() == b"ready\n":
                break
            time.sleep(0.1)
        assert container.attach(logs=True, stream=False) == b"ready\n"
    finally:
        container.remove(force=True)


# -- inspect ------------------------------------------------------------------------
def test_inspect_names_the_runtime(engine: Engine, busybox: str) -> None:
    client = engine.client()
    container = client.containers.create(busybox, ["true"])
    try:
        runtime = container.attrs["HostConfig"]["Runtime"]
        assert isinstance(runtime, str) and runtime
        assert runtime in client.info()["Runtimes"]  # a runtime the engine lists, as docker's "runc"
        assert engine.docker("inspect", "-f", "{{.HostConfig.Runtime}}", container.id).stdout.strip() == runtime
    finally:
        container.remove(force=True)


def test_diff_leaves_out_the_engines_etc_bind_targets(engine: Engine, busybox: str) -> None:
    client = engine.client()
    container = client.containers.run(busybox, ["sh", "-c", "touch /tmp/made"], detach=True)
    try:
        container.wait(timeout=30)
        paths = {change["Path"] for change in container.diff()}
        assert "/tmp/made" in paths
        assert not paths & {"/etc/hosts", "/etc/hostname", "/etc/resolv.conf"}
        assert "/etc" not in paths
        shown = engine.docker("diff", container.id).stdout
        assert "A /tmp/made" in shown and "/etc" not in shown
    finally:
        container.remove(force=True)


def test_diff_keeps_etc_when_the_container_changed_it(engine: Engine, busybox: str) -> None:
    client = engine.client()
    container = client.containers.run(busybox, ["sh", "-c", "echo x > /etc/made"], detach=True)
    try:
        container.wait(timeout=30)
        changes = {change["Path"]: change["Kind"] for change in container.diff()}
        assert changes.get("/etc/made") == 1 and "/etc" in changes
        assert not set(changes) & {"/etc/hosts", "/etc/hostname", "/etc/resolv.conf"}
    finally:
        container.remove(force=True)


# -- volumes ------------------------------------------------------------------------
def test_unnamed_volume_create_is_anonymous_and_prune_takes_it(engine: Engine) -> None:
    client = engine.client()
    labels = {"suite": "api-details-prune"}
    anonymous = client.volumes.create(labels=labels)
    named = client.volumes.create("api-details-named", labels=labels)
    try:
        assert "com.docker.volume.anonymous" in anonymous.attrs["Labels"]
        assert "com.docker.volume.anonymous" not in named.attrs["Labels"]
        report = client.volumes.prune(filters={"label": "suite=api-details-prune"})
        assert report["VolumesDeleted"] == [anonymous.name]
        assert client.volumes.prune(filters={"label": "suite=api-details-prune"})["VolumesDeleted"] == []
        # the docker CLI (API 1.44) likewise keeps the named one without --all ...
        engine.docker("volume", "prune", "-f", "--filter", "label=suite=api-details-prune")
        assert client.volumes.get("api-details-named").name == "api-details-named"
        # ... and an old client (API < 1.42) gets the old rule: every unused volume
        old = engine.client().__class__(base_url=f"unix://{engine.socket}", version="1.41")
        assert old.volumes.prune(filters={"label": "suite=api-details-prune"})["VolumesDeleted"] == [named.name]
    finally:
        for name in (anonymous.name, "api-details-named"):
            engine.docker("volume", "rm", "-f", name, check=False)


def test_docker_cli_volume_create_then_prune(engine: Engine) -> None:
    name = engine.docker("volume", "create", "--label", "suite=api-details-cli").stdout.strip()
    try:
        pruned = engine.docker("volume", "prune", "-f", "--filter", "label=suite=api-details-cli").stdout
        assert name in pruned
    finally:
        engine.docker("volume", "rm", "-f", name, check=False)


def test_mounts_of_type_volume_are_shown_in_inspect(engine: Engine, busybox: str) -> None:
    import docker

    client = engine.client()
    container = client.containers.create(
        busybox, ["true"], mounts=[docker.types.Mount("/data", "api-details-mounted", type="volume"),
                                   docker.types.Mount("/anon", None, type="volume")])
    try:
        mounts = {m["Destination"]: m for m in container.attrs["Mounts"]}
        assert mounts["/data"]["Type"] == "volume" and mounts["/data"]["Name"] == "api-details-mounted"
        assert mounts["/anon"]["Type"] == "volume" and len(mounts["/anon"]["Name"]) == 64
    finally:
        container.remove(force=True, v=True)
        engine.docker("volume", "rm", "-f", "api-details-mounted", check=False)


# -- kill ---------------------------------------------------------------------------
def test_kill_returns_once_the_container_has_stopped(engine: Engine, busybox: str) -> None:
    client = engine.client()
    for _ in range(3):  # the race: inspect right after kill used to see "running"
        container = client.containers.run(busybox, ["sleep", "300"], detach=True)
        container.kill()
        container.reload()
        assert container.status == "exited"
        assert container.attrs["State"]["ExitCode"] == 137
        container.remove()  # no force: it is stopped
    name = "api-details-kill-cli"
    engine.docker("run", "-d", "--name", name, busybox, "sleep", "300")
    engine.docker("kill", name)
    engine.docker("rm", name)


# -- exec ---------------------------------------------------------------------------
def test_exec_output_is_framed_by_the_start_requests_tty(engine: Engine, busybox: str) -> None:
    client = engine.client()
    container = client.containers.run(busybox, ["sleep", "300"], detach=True)
    try:
        api = client.api
        tty_exec = api.exec_create(container.id, ["echo", "hi"], tty=True)
        # docker-py reads stdcopy frames when the start says tty=False: dockerd framed them
        assert api.exec_start(tty_exec["Id"], tty=False, demux=True) == (b"hi\r\n", None)
        plain_exec = api.exec_create(container.id, ["echo", "raw"])
        assert api.exec_start(plain_exec["Id"], tty=True) == b"raw\n"
    finally:
        container.remove(force=True)


def test_exec_detach_keys_end_the_attach_not_the_process(engine: Engine, busybox: str) -> None:
    import docker

    client = engine.client()
    container = client.containers.run(busybox, ["sleep", "300"], detach=True)
    try:
        api = client.api
        exec_id = api.exec_create(container.id, ["sh", "-c", "read line; echo got $line"], stdin=True, tty=True,
                                  detach_keys="ctrl-x")["Id"]
        sock = api.exec_start(exec_id, tty=True, socket=True)._sock
        sock.settimeout(10)
        sock.sendall(b"\x18")
        while sock.recv(4096):  # the engine ends the attach: EOF, not a timeout
            pass
        sock.close()
        time.sleep(1)  # past the engine's hang-up watch, which must not take a detached exec's process
        assert api.exec_inspect(exec_id)["Running"] is True  # the process runs on
        with pytest.raises(docker.errors.APIError) as refused:
            api.exec_create(container.id, ["true"], detach_keys="ctrl-1")
        assert refused.value.status_code == 400 and "invalid detach keys" in str(refused.value)
    finally:
        container.remove(force=True)

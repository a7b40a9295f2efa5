"""Healthchecks: docker's state machine (engine/health_config.py) and the probing of
containers (engine/health.py) over the fake runtime, through the real exec service."""
from __future__ import annotations

import threading
import time
from typing import Any, Dict, List, Optional, Tuple

import pytest

from rootless.engine import health_config, lifecycle
from rootless.engine.container_model import Container
from rootless.engine.execs import ExecService
from rootless.engine.health import HealthChecks
from rootless.engine.health_config import Probe
from rootless.api import types
from rootless.api.decode import decode_body
from rootless.engine.image_platform import check_platform
from rootless.errors import InvalidArgument, NotFound

from tests.unit.engine.test_containers import World, eventually

SECOND = 1_000_000_000
CHECK = {"Test": ["CMD-SHELL", "test -f /tmp/ok"], "Interval": 3600 * SECOND, "Retries": 2}


class Runner:
    """ProbeRunner answering from a script: (code, output), or None for a probe that timed out."""

    def __init__(self, *results: Optional[Tuple[int, bytes]]) -> None:
        self.results = list(results)
        self.calls: List[List[str]] = []
        self.lock = threading.Lock()

    def run_probe(self, container: Container, argv: List[str], timeout: float) -> Optional[Tuple[int, bytes]]:
        with self.lock:
            self.calls.append(argv)
            return self.results.pop(0) if len(self.results) > 1 else self.results[0]


@pytest.fixture
def world(tmp_path: Any) -> World:
    return World(str(tmp_path))


def on_disk(world: World, container: Container) -> Dict[str, Any]:
    record = Container.load(world.paths, container.id)
    return record.state.get("Health") or {} if record is not None else {}


def probe(**fields: Any) -> Probe:
    values: Dict[str, Any] = dict(argv=("true",), interval=30.0, timeout=30.0, start_period=0.0,
                                  start_interval=5.0, retries=3)
    values.update(fields)
    return Probe(**values)


def result(code: int) -> Dict[str, Any]:
    return {"Start": "s", "End": "e", "ExitCode": code, "Output": ""}


# -- the rules ------------------------------------------------------------------------
def test_failures_count_up_to_retries_then_unhealthy_and_a_success_resets() -> None:
    health = health_config.starting(None)
    rules = probe(retries=2)
    health = health_config.apply_result(health, result(1), rules, 10.0)
    assert (health["Status"], health["FailingStreak"]) == ("starting", 1)
    health = health_config.apply_result(health, result(1), rules, 11.0)
    assert (health["Status"], health["FailingStreak"]) == ("unhealthy", 2)
    health = health_config.apply_result(health, result(0), rules, 12.0)
    assert (health["Status"], health["FailingStreak"]) == ("healthy", 0)


def test_failures_within_the_start_period_do_not_count_while_starting() -> None:
    rules = probe(retries=1, start_period=60.0)
    health = health_config.apply_result(health_config.starting(None), result(1), rules, 5.0)
    assert (health["Status"], health["FailingStreak"]) == ("starting", 0)
    assert health_config.next_interval(health, rules, 5.0) == 5.0  # the start interval
    health = health_config.apply_result(health, result(1), rules, 61.0)
    assert health["Status"] == "unhealthy"
    assert health_config.next_interval(health, rules, 61.0) == 30.0


def test_the_log_keeps_the_last_five_probes() -> None:
    health = health_config.starting(None)
    for code in range(7):
        health = health_config.apply_result(health, result(code), probe(), 100.0)
    assert [r["ExitCode"] for r in health["Log"]] == [2, 3, 4, 5, 6]


def test_a_request_check_takes_the_image_fields_it_leaves_zero() -> None:
    image = {"Test": ["CMD", "check"], "Interval": 5 * SECOND, "Retries": 7}
    assert health_config.merge(image, None) == image
    assert health_config.merge(image, {"Test": [], "Interval": 2 * SECOND}) == \
        {"Test": ["CMD", "check"], "Interval": 2 * SECOND, "Retries": 7}
    assert health_config.merge(image, {"Test": ["NONE"]})["Test"] == ["NONE"]  # type: ignore[index]
    assert health_config.merge(None, None) is None


def test_the_probe_of_a_config() -> None:
    assert health_config.probe_of({"Healthcheck": {"Test": ["NONE"]}}) is None
    assert health_config.probe_of({}) is None
    shell = health_config.probe_of({"Healthcheck": {"Test": ["CMD-SHELL", "a b"], "Timeout": SECOND // 2}})
    assert shell is not None and shell.argv == ("/bin/sh", "-c", "a b") and shell.timeout == 0.5
    assert shell.interval == 30.0 and shell.retries == 3 and shell.start_interval == 5.0
    custom = health_config.probe_of({"Shell": ["/bin/bash", "-ec"], "Healthcheck": {"Test": ["CMD-SHELL", "x"]}})
    assert custom is not None and custom.argv == ("/bin/bash", "-ec", "x")
    assert health_config.timeout_result(shell) == (-1, "Health check exceeded timeout (500ms)")


# -- containers -----------------------------------------------------------------------
def health_world(world: World, runner: Any) -> HealthChecks:
    checks = HealthChecks(world.containers, runner)
    world.containers.health = checks
    return checks


def test_probes_drive_state_health_events_ps_status_and_the_health_filter(world: World) -> None:
    runner = Runner((1, b"no"), (1, b"no"), (0, b"x" * 5000))
    checks = health_world(world, runner)
    container = world.run("web", Healthcheck=CHECK)
    assert container.state["Health"] == {"Status": "starting", "FailingStreak": 0, "Log": []}
    assert container.status_text().endswith("(health: starting)")
    rules = health_config.probe_of(container.config)
    assert rules is not None and runner.calls == []  # the first probe waits an interval, as docker's
    checks.probe_once(container, rules)
    checks.probe_once(container, rules)
    assert container.state["Health"]["Status"] == "unhealthy" and container.status_text().endswith("(unhealthy)")
    assert world.containers.list(False, {"health": ["unhealthy"]}) == [container]
    assert world.containers.list(False, {"health": ["healthy"]}) == []
    checks.probe_once(container, rules)
    health = container.state["Health"]
    assert health["Status"] == "healthy" and len(health["Log"][-1]["Output"]) == 4096
    assert runner.calls[0] == ["/bin/sh", "-c", "test -f /tmp/ok"]
    assert [a for a in world.actions() if a.startswith("health")] == \
        ["health_status: unhealthy", "health_status: healthy"]
    assert Container.load(world.paths, container.id).state["Health"]["Status"] == "healthy"  # type: ignore[union-attr]
    with pytest.raises(InvalidArgument, match="Unrecognised filter value for health: sick"):
        world.containers.list(False, {"health": ["sick"]})


def test_no_check_is_health_none_and_the_image_check_applies_unless_turned_off(world: World) -> None:
    health_world(world, Runner((0, b"")))
    plain = world.run("plain")
    assert "Health" not in plain.state and world.containers.list(False, {"health": ["none"]}) == [plain]
    world.images.config["Healthcheck"] = {"Test": ["CMD", "check"]}
    inherited = world.run("inherited")
    assert inherited.state["Health"]["Status"] == "starting"
    off = world.run("off", Healthcheck={"Test": ["NONE"]})
    assert "Health" not in off.state and off.status_text().startswith("Up")


def test_probes_run_on_their_interval_and_stop_with_the_container(world: World) -> None:
    runner = Runner((0, b"ok"))
    health_world(world, runner)
    container = world.run(Healthcheck={"Test": ["CMD", "true"], "Interval": SECOND // 100})
    eventually(lambda: container.state["Health"]["Status"] == "healthy")
    world.containers.stop(container, 1, None)
    assert container.state["Health"]["Status"] == "unhealthy"  # moby's, once its monitor stops
    calls = len(runner.calls)
    time.sleep(0.1)
    assert len(runner.calls) <= calls + 1  # at most the probe that was under way


def test_a_probe_past_its_timeout_fails_with_docker_words(world: World) -> None:
    checks = health_world(world, Runner(None))
    container = world.run(Healthcheck={**CHECK, "Timeout": SECOND})
    rules = health_config.probe_of(container.config)
    assert rules is not None
    checks.probe_once(container, rules)
    last = container.state["Health"]["Log"][-1]
    assert (last["ExitCode"], last["Output"]) == (-1, "Health check exceeded timeout (1s)")


def test_a_restarted_daemon_resumes_probing_what_still_runs(world: World) -> None:
    first = Runner((1, b""))
    health_world(world, first)
    container = world.run(Healthcheck={"Test": ["CMD", "true"], "Interval": SECOND // 50, "Retries": 1})
    eventually(lambda: on_disk(world, container)["Status"] == "unhealthy")
    world.containers.close()  # the daemon stops; its probes with it
    probed = len(first.calls)
    world.daemon_start()
    runner = Runner((0, b""))
    health_world(world, runner)
    world.containers.adopt()
    adopted = world.containers.get(container.id)
    assert adopted.state["Health"]["Status"] == "unhealthy"  # adopted as it was, not reset to starting
    eventually(lambda: adopted.state["Health"]["Status"] == "healthy")
    assert len(first.calls) <= probed + 1


def test_probes_go_through_exec_with_its_events(world: World) -> None:
    checks = health_world(world, None)
    execs = ExecService(world.runtime, world.containers, 40)
    checks.runner = execs
    container = world.run(Healthcheck=CHECK)
    rules = health_config.probe_of(container.config)
    assert rules is not None
    checks.probe_once(container, rules)  # the fake exec says "out"/"err" and exits 3
    last = container.state["Health"]["Log"][-1]
    assert last["ExitCode"] == 3 and sorted(last["Output"]) == sorted("outerr")
    assert any(a.startswith("exec_create: /bin/sh -c test -f /tmp/ok") for a in world.actions())
    assert "exec_die" in world.actions() and not container.data.get("ExecIDs")  # forgotten, as moby's


# -- restarting -----------------------------------------------------------------------
def test_a_container_waiting_for_its_restart_is_restarting_and_stop_cancels(world: World,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lifecycle, "restart_delay", lambda count: 0.3)
    container = world.run(HostConfig={"RestartPolicy": {"Name": "always"}})
    world.runtime.exit(container.id, 1)
    eventually(lambda: container.status == "restarting")
    assert container.state["Restarting"] and container.state["Running"] and container.state["Pid"] == 0
    assert container.status_text().startswith("Restarting (1) ")
    assert world.containers.list(False, {}) == [container]  # docker ps lists it without -a
    world.containers.stop(container, 1, None)
    assert container.status == "exited" and not container.state["Restarting"]
    time.sleep(0.5)
    assert container.status == "exited" and container.restart_count == 0


def test_a_restarting_container_starts_again(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lifecycle, "restart_delay", lambda count: 0.1)
    container = world.run(HostConfig={"RestartPolicy": {"Name": "always"}})
    world.runtime.exit(container.id, 1)
    eventually(lambda: container.status == "restarting")
    eventually(lambda: container.status == "running" and container.restart_count == 1)


def test_force_remove_of_a_restarting_container(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lifecycle, "restart_delay", lambda count: 0.3)
    container = world.run(HostConfig={"RestartPolicy": {"Name": "always"}})
    world.runtime.exit(container.id, 1)
    eventually(lambda: container.status == "restarting")
    world.containers.remove(container, True, False)
    assert not world.containers.exists(container.id)


# -- run --platform -------------------------------------------------------------------
def test_another_platform_than_the_image_is_docker_not_found() -> None:
    amd64 = {"os": "linux", "architecture": "amd64"}
    check_platform("img", amd64, None)
    check_platform("img", amd64, "linux/amd64")
    check_platform("img", {"os": "linux", "architecture": "arm64", "variant": "v8"}, "linux/arm64")
    with pytest.raises(NotFound, match="^image with reference img was found but does not match the specified "
                                       "platform: wanted linux/arm64, actual: linux/amd64$"):
        check_platform("img", amd64, "linux/arm64")
    with pytest.raises(InvalidArgument, match="invalid platform"):
        check_platform("img", amd64, "arm64")


def test_create_with_another_platform_is_refused_before_anything_is_made(world: World) -> None:
    request = decode_body(types.ContainerCreate, {"Image": "busybox", "HostConfig": {"NetworkMode": "none"}})
    with pytest.raises(NotFound, match="does not match the specified platform: wanted linux/s390x"):
        world.containers.create(request, None, "linux/s390x")
    assert world.containers.all() == []


def test_a_container_that_exited_while_no_daemon_watched_reads_unhealthy(world: World) -> None:
    health_world(world, Runner((0, b"")))
    container = world.run(Healthcheck=CHECK)
    world.containers.save_health(container, {"Status": "healthy", "FailingStreak": 0, "Log": []})
    world.containers.close()
    world.runtime.exit(container.id, 0)
    world.daemon_start()
    health_world(world, Runner((0, b"")))
    world.containers.adopt()
    assert world.containers.get(container.id).state["Health"]["Status"] == "unhealthy"

"""Healthchecks as docker runs them (the docker CLI, docker-py, docker-compose), the Restarting
state between policy restarts, and run --platform against what the store holds."""
from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import time
from typing import Any, Dict, Iterator, List

import pytest

from tests.integration.conftest import Engine
from tests.integration.containers.waiting import until

FAST = ["--health-interval", "1s", "--health-retries", "2", "--health-timeout", "5s"]


@pytest.fixture
def context() -> Iterator[str]:
    path = tempfile.mkdtemp(prefix="rootless-health-", dir="/tmp")
    os.chmod(path, 0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def write(root: str, name: str, text: str) -> None:
    path = os.path.join(root, name)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o644)


def health(engine: Engine, name: str) -> Dict[str, Any]:
    text = engine.docker("inspect", "-f", "{{json .State.Health}}", name).stdout.strip()
    return json.loads(text) or {}


def status(engine: Engine, name: str) -> str:
    return str(health(engine, name).get("Status"))


def ps_status(engine: Engine, name: str) -> str:
    return engine.docker("ps", "-a", "--filter", f"name=^{name}$", "--format", "{{.Status}}").stdout.strip()


def test_health_cmd_starting_unhealthy_healthy_in_inspect_ps_filters_and_events(engine: Engine,
                                                                               busybox: str) -> None:
    since = str(int(time.time()) - 1)
    engine.docker("run", "-d", "--name", "hc", "--health-cmd", "test -f /tmp/ok", *FAST, busybox, "sleep", "300")
    try:
        first = health(engine, "hc")
        assert first["Status"] in ("starting", "unhealthy") and first["FailingStreak"] <= 2
        until(lambda: status(engine, "hc") == "unhealthy", 30)
        assert ps_status(engine, "hc").endswith("(unhealthy)")
        log = health(engine, "hc")["Log"]
        assert log and log[-1]["ExitCode"] == 1 and log[-1]["Start"] and log[-1]["End"]
        engine.docker("exec", "hc", "touch", "/tmp/ok")
        until(lambda: status(engine, "hc") == "healthy", 30)
        assert health(engine, "hc")["FailingStreak"] == 0
        assert ps_status(engine, "hc").endswith("(healthy)")
        assert engine.docker("ps", "--filter", "health=healthy", "--format", "{{.Names}}").stdout.split() == ["hc"]
        assert "hc" not in engine.docker("ps", "--filter", "health=unhealthy", "--format", "{{.Names}}").stdout
        bad = engine.docker("ps", "--filter", "health=sick", check=False)
        assert bad.returncode != 0 and "Unrecognised filter value for health: sick" in bad.stderr
        events = engine.client().events(since=int(since), until=int(time.time()) + 1, decode=True,
                                         filters={"container": "hc"})
        actions = [e["Action"] for e in events]
        assert "health_status: unhealthy" in actions and "health_status: healthy" in actions
        assert actions.index("health_status: unhealthy") < actions.index("health_status: healthy")
        engine.docker("stop", "-t", "1", "hc")
        stopped = health(engine, "hc")
        assert stopped["Status"] == "unhealthy"  # moby's, once its monitor stops
        time.sleep(2.5)
        assert len(health(engine, "hc")["Log"]) == len(stopped["Log"])  # no probes on a stopped container
    finally:
        engine.docker("rm", "-f", "hc", check=False)


def test_a_probe_past_its_timeout_is_killed_and_fails(engine: Engine, busybox: str) -> None:
    engine.docker("run", "-d", "--name", "hc-slow", "--health-cmd", "sleep 30", "--health-timeout", "1s",
                  "--health-interval", "1s", "--health-retries", "1", busybox, "sleep", "300")
    try:
        until(lambda: status(engine, "hc-slow") == "unhealthy", 30)
        last = health(engine, "hc-slow")["Log"][-1]
        assert last["ExitCode"] == -1 and last["Output"] == "Health check exceeded timeout (1s)"
        time.sleep(4)  # killed probes do not pile up: one runs at a time, at most
        assert engine.docker("top", "hc-slow").stdout.count("sleep 30") <= 1
    finally:
        engine.docker("rm", "-f", "hc-slow", check=False)


def test_the_image_healthcheck_applies_and_no_healthcheck_turns_it_off(engine: Engine, busybox: str,
                                                                      context: str) -> None:
    write(context, "Dockerfile", f"FROM {busybox}\n"
          "HEALTHCHECK --interval=1s --timeout=5s --retries=1 CMD test -f /tmp/ok || exit 1\n")
    engine.docker("build", "-q", "-t", "with-health:1", context, env={"DOCKER_BUILDKIT": "0"}, timeout=300)
    engine.docker("run", "-d", "--name", "hc-image", "with-health:1", "sleep", "300")
    engine.docker("run", "-d", "--name", "hc-off", "--no-healthcheck", "with-health:1", "sleep", "300")
    try:
        until(lambda: status(engine, "hc-image") == "unhealthy", 30)
        engine.docker("exec", "hc-image", "touch", "/tmp/ok")
        until(lambda: status(engine, "hc-image") == "healthy", 30)
        assert health(engine, "hc-off") == {}
        assert "(" not in ps_status(engine, "hc-off")
        none = engine.docker("ps", "--filter", "health=none", "--format", "{{.Names}}").stdout.split()
        assert "hc-off" in none and "hc-image" not in none
    finally:
        engine.docker("rm", "-f", "hc-image", "hc-off", check=False)


def test_a_restarted_daemon_resumes_the_probes(fresh_engine: Engine, images) -> None:  # type: ignore[no-untyped-def]
    eng = fresh_engine
    eng.cli("info")  # the docker CLI does not start the daemon; ours does
    eng.docker("pull", "-q", images.busybox, timeout=300)
    eng.docker("run", "-d", "--name", "hc-adopt", "--health-cmd", "test -f /tmp/ok", *FAST, images.busybox,
               "sleep", "300")
    until(lambda: status(eng, "hc-adopt") == "unhealthy", 30)
    with open(os.path.join(eng.run_dir, "rootlessd.pid")) as f:
        text = f.read().strip()
    os.kill(int(json.loads(text)["pid"]) if text.startswith("{") else int(text.split()[0]), signal.SIGKILL)
    time.sleep(0.5)
    eng.cli("info")  # a new daemon adopts the running container
    eng.docker("exec", "hc-adopt", "touch", "/tmp/ok")
    until(lambda: status(eng, "hc-adopt") == "healthy", 30)
    eng.docker("rm", "-f", "hc-adopt")


def test_compose_depends_on_service_healthy(engine: Engine, busybox: str, context: str) -> None:
    compose = shutil.which("docker-compose") or "/usr/bin/docker-compose"
    if not os.path.exists(compose):
        pytest.skip("docker-compose is not installed (setup-host.sh --tests installs it)")
    write(context, "docker-compose.yml", f"""version: '2.1'
services:
  db:
    image: {busybox}
    command: sh -c "sleep 2; touch /tmp/ready; sleep 300"
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 1s
      retries: 30
  app:
    image: {busybox}
    command: sleep 300
    depends_on:
      db:
        condition: service_healthy
""")
    args = [compose, "-p", "hcproj", "-f", os.path.join(context, "docker-compose.yml")]
    try:
        engine.user.run([*args, "up", "-d"], env=engine.env, timeout=120)
        assert status(engine, "hcproj_db_1") == "healthy"
        assert engine.docker("inspect", "-f", "{{.State.Status}}", "hcproj_app_1").stdout.strip() == "running"
    finally:
        engine.user.run([*args, "down", "-t", "1"], env=engine.env, timeout=120, check=False)


def test_always_shows_restarting_between_restarts(engine: Engine, busybox: str) -> None:
    engine.docker("run", "-d", "--name", "bounce", "--restart", "always", busybox, "sh", "-c", "exit 1")
    seen: List[str] = []
    try:
        def restarting() -> bool:
            state = json.loads(engine.docker("inspect", "-f", "{{json .State}}", "bounce").stdout)
            if state["Restarting"]:
                seen.append(ps_status(engine, "bounce"))
                return state["Running"] and state["Status"] == "restarting" and state["ExitCode"] == 1
            return False
        until(restarting, 30, interval=0.05)
        assert seen[-1].startswith("Restarting (1) ") and seen[-1].endswith(" ago")
        assert "bounce" in engine.docker("ps", "--format", "{{.Names}}").stdout.split()  # listed without -a
        engine.docker("stop", "-t", "1", "bounce")
        assert engine.docker("inspect", "-f", "{{.State.Status}}", "bounce").stdout.strip() == "exited"
    finally:
        engine.docker("rm", "-f", "bounce", check=False)


def test_run_platform_refuses_an_image_of_another_platform(engine: Engine, images) -> None:  # type: ignore[no-untyped-def]
    only_amd64 = images.multiarch.rsplit(":", 1)[0] + ":only-amd64"
    engine.docker("pull", "-q", only_amd64, timeout=300)
    assert engine.docker("run", "--rm", "--platform", "linux/amd64", only_amd64).stdout == "amd64\n"
    wanted = (f"image with reference {only_amd64} was found but does not match the specified platform: "
              "wanted linux/arm64, actual: linux/amd64")
    for run in (engine.docker, engine.cli):
        refused = run("run", "--rm", "--platform", "linux/arm64", only_amd64, check=False)
        assert refused.returncode != 0 and wanted in refused.stderr, refused.stderr
    assert engine.docker("ps", "-a", "-q", "--filter", f"ancestor={only_amd64}").stdout == ""
    lacking = engine.docker("pull", "--platform", "linux/s390x", images.multiarch, check=False)
    assert lacking.returncode != 0 and "no matching manifest for linux/s390x" in lacking.stderr


def test_our_cli_health_flags_and_ps_status(engine: Engine, busybox: str) -> None:
    engine.cli("run", "-d", "--name", "hc-ours", "--health-cmd", "true", "--health-interval", "1s", busybox,
               "sleep", "300")
    try:
        until(lambda: status(engine, "hc-ours") == "healthy", 30)
        assert "(healthy)" in engine.cli("ps", "--filter", "health=healthy").stdout
        off = engine.cli("run", "--rm", "--no-healthcheck", "--health-cmd", "true", busybox, "true", check=False)
        assert off.returncode != 0 and "--no-healthcheck conflicts with --health-* options" in off.stderr
    finally:
        engine.cli("rm", "-f", "hc-ours", check=False)

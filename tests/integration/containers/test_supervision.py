"""Supervision across a graceful daemon stop, every storage driver end to end, state records."""
from __future__ import annotations

import os
import time

import pytest

from tests.integration.conftest import Engine


def _write_config(engine: Engine, text: str) -> None:
    directory = os.path.join(engine.config_home, "rootless")
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "config.toml"), "w") as f:
        f.write(text)
    for path in (directory, os.path.join(directory, "config.toml")):
        os.chown(path, engine.user.uid, engine.user.gid)


@pytest.mark.parametrize("driver", ["fuse-overlayfs", "vfs"])
def test_driver_chosen_in_config_runs_containers(fresh_engine: Engine, images, driver: str) -> None:  # type: ignore[no-untyped-def]
    eng = fresh_engine
    _write_config(eng, f'storage_driver = "{driver}"\n')
    assert eng.docker("info", "--format", "{{.Driver}}", check=False).stdout.strip() in ("", driver)
    eng.cli("info")
    assert eng.docker("info", "--format", "{{.Driver}}").stdout.strip() == driver
    eng.cli("pull", "-q", images.layered, timeout=300)
    out = eng.cli("run", "--name", "drv", images.layered, "sh", "-c",
                  "ls /data /opq | tr '\\n' ' '; echo changed > /data/b; cat /data/b").stdout
    assert out.split() == ["/data:", "a-link", "b", "/opq:", "z", "changed"]  # whiteout, opaque dir
    assert eng.cli("inspect", "-f", "{{.Driver}}", "drv").stdout.strip() == driver
    assert eng.cli("start", "-a", "drv").stdout.split()[-1] == "changed"  # the upper layer kept the write
    eng.cli("rm", "drv")


def test_graceful_daemon_stop_leaves_containers_running(fresh_engine: Engine, images) -> None:  # type: ignore[no-untyped-def]
    eng = fresh_engine
    eng.cli("info")
    eng.cli("pull", "-q", images.busybox, timeout=300)
    eng.cli("run", "-d", "--name", "outlives", images.busybox, "sh", "-c",
            "echo one; until [ -f /tmp/go ]; do sleep 0.1; done; echo two; exit 5")
    eng.cli("system", "stop")
    time.sleep(0.3)
    eng.cli("info")
    assert eng.cli("inspect", "-f", "{{.State.Status}}", "outlives").stdout.strip() == "running"
    eng.cli("exec", "outlives", "touch", "/tmp/go")
    assert eng.cli("wait", "outlives", timeout=60).stdout == "5\n"
    assert eng.cli("logs", "outlives").stdout == "one\ntwo\n"
    eng.cli("rm", "outlives")


def test_exit_code_and_times_are_recorded(engine: Engine, busybox: str) -> None:
    engine.cli("run", "--name", "timed", busybox, "sh", "-c", "sleep 0.5; exit 9", check=False)
    try:
        state = engine.cli("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}} {{.State.StartedAt}} "
                                             "{{.State.FinishedAt}} {{.State.Pid}}", "timed").stdout.split()
        status, code, started, finished, pid = state
        assert (status, code, pid) == ("exited", "9", "0")
        assert started.startswith("20") and finished.startswith("20") and finished > started
        listed = engine.cli("ps", "-a", "--filter", "name=timed", "--format", "{{.Status}}").stdout
        assert listed.startswith("Exited (9) ")
    finally:
        engine.cli("rm", "-f", "timed", check=False)


def test_docker_cli_auto_pulls_a_missing_image(fresh_engine: Engine, images) -> None:  # type: ignore[no-untyped-def]
    eng = fresh_engine
    eng.cli("info")
    result = eng.docker("run", "--rm", images.multiarch, timeout=300)
    assert result.stdout == "amd64\n"
    assert f"Unable to find image '{images.multiarch}' locally" in result.stderr
    created = eng.docker("create", "--name", "autopulled", images.layered, timeout=300)
    assert "Unable to find image" in created.stderr
    eng.docker("rm", "autopulled")

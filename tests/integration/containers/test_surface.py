"""Issue 11's missing surface, through the docker CLI, docker-py and ours: log drivers,
system prune, ps -s, --format on info/version/events, and the offline pull's one line."""
from __future__ import annotations

import glob
import gzip
import os
import socket

import pytest

from tests.integration.conftest import Engine

JOURNAL = "/run/systemd/journal/socket"


# -- log drivers ----------------------------------------------------------------------
def test_log_driver_none_keeps_nothing_and_logs_says_so(engine: Engine, busybox: str) -> None:
    engine.docker("run", "--name", "lognone", "--log-driver", "none", busybox, "echo", "hidden")
    try:
        container_id = engine.cli("inspect", "-f", "{{.Id}}", "lognone").stdout.strip()
        assert engine.cli("inspect", "-f", "{{.HostConfig.LogConfig.Type}}", "lognone").stdout.strip() == "none"
        assert glob.glob(os.path.join(engine.root, "containers", container_id, "*-json.log*")) == []
        for run in (engine.docker, engine.cli):
            refused = run("logs", "lognone", check=False)
            assert refused.returncode == 1
            assert "configured logging driver does not support reading" in refused.stderr
        # the live stream of an attached run still flows
        assert engine.docker("run", "--rm", "--log-driver", "none", busybox, "echo", "live").stdout == "live\n"
    finally:
        engine.cli("rm", "-f", "lognone", check=False)


@pytest.mark.parametrize("driver", ["local", "json-file"])
def test_local_and_json_file_rotate_and_compress(engine: Engine, busybox: str, driver: str) -> None:
    name = f"log{driver}"
    script = "i=0; while [ $i -lt 300 ]; do echo line-$i-padding-padding; i=$((i+1)); done"
    engine.docker("run", "--name", name, "--log-driver", driver, "--log-opt", "max-size=2k",
                  "--log-opt", "max-file=3", "--log-opt", "compress=true", busybox, "sh", "-c", script)
    try:
        container_id = engine.cli("inspect", "-f", "{{.Id}}", name).stdout.strip()
        files = sorted(os.path.basename(f).split("-json.log")[1]
                       for f in glob.glob(os.path.join(engine.root, "containers", container_id, "*-json.log*")))
        assert files == ["", ".1.gz", ".2.gz"]
        with gzip.open(glob.glob(os.path.join(engine.root, "containers", container_id, "*.1.gz"))[0]) as rotated:
            assert b'"stream":"stdout"' in rotated.read()
        lines = engine.docker("logs", name).stdout.splitlines()
        numbers = [int(line.split("-")[1]) for line in lines]
        assert lines[-1] == "line-299-padding-padding" and numbers == list(range(numbers[0], 300))
        assert engine.docker("logs", "--tail", "2", name).stdout.splitlines() == lines[-2:]
    finally:
        engine.cli("rm", "-f", name, check=False)


def test_local_driver_through_docker_py(engine: Engine, busybox: str) -> None:
    from docker.types import LogConfig

    client = engine.client()
    container = client.containers.run(busybox, ["echo", "from-local"], detach=True,
                                      log_config=LogConfig(type="local", config={"max-size": "1m"}))
    try:
        container.wait(timeout=60)
        assert container.logs() == b"from-local\n"
        container.reload()
        assert container.attrs["HostConfig"]["LogConfig"] == {"Type": "local", "Config": {"max-size": "1m"}}
    finally:
        container.remove(force=True)


@pytest.mark.skipif(os.path.exists(JOURNAL), reason="this host has a systemd journal")
def test_journald_is_refused_naming_the_missing_socket(engine: Engine, busybox: str) -> None:
    for run in (engine.docker, engine.cli):
        refused = run("run", "--rm", "--log-driver", "journald", busybox, "true", check=False)
        assert refused.returncode == 125
        assert f"journald log driver: {JOURNAL}: no such socket" in refused.stderr


# -- ps -s --------------------------------------------------------------------------
def test_ps_size_shows_the_virtual_size(engine: Engine, busybox: str) -> None:
    engine.docker("run", "--name", "sized", busybox, "sh", "-c", "head -c 3000 /dev/zero > /big")
    try:
        docker_row = engine.docker("ps", "-a", "-s", "--filter", "name=sized", "--format", "{{.Size}}").stdout
        ours = engine.cli("ps", "-a", "-s", "--filter", "name=sized", "--format", "{{.Size}}").stdout
        assert docker_row == ours and docker_row.startswith("3kB (virtual ") and "virtual 0B" not in docker_row
        summary = engine.client().api.containers(all=True, size=True, filters={"name": "sized"})[0]
        assert summary["SizeRw"] == 3000 or summary["SizeRw"] >= 3000
        assert summary["SizeRootFs"] > summary["SizeRw"]
    finally:
        engine.cli("rm", "-f", "sized", check=False)


# -- --format ---------------------------------------------------------------------------
def test_info_version_format_and_a_bad_template(engine: Engine) -> None:
    version = engine.cli("version", "--format", "{{.Server.ApiVersion}}").stdout.strip()
    assert version == engine.docker("version", "--format", "{{.Server.APIVersion}}").stdout.strip()
    assert engine.cli("info", "--format", "{{.Socket}}").stdout.strip() == engine.socket
    bad = engine.cli("info", "--format", "{{.ServerVersion", check=False)
    assert bad.returncode != 0 and "template parsing error" in bad.stderr and "{{.ServerVersion" not in bad.stdout


# -- prune --------------------------------------------------------------------------------
def test_docker_system_prune_all_volumes(fresh_engine: Engine, images) -> None:  # type: ignore[no-untyped-def]
    eng = fresh_engine
    eng.cli("info")
    eng.docker("pull", "-q", images.busybox)
    eng.docker("run", "--name", "stopped", "-v", "/anon", images.busybox, "true")
    eng.docker("volume", "create", "named")
    eng.docker("network", "create", "unused")
    out = eng.docker("system", "prune", "-a", "--volumes", "-f").stdout
    assert "Deleted Containers:" in out and "Deleted Networks:\nunused" in out and "Deleted Volumes:" in out
    assert "Deleted Images:" in out and out.rstrip().splitlines()[-1].startswith("Total reclaimed space:")
    assert eng.docker("ps", "-aq").stdout == "" and eng.docker("images", "-q").stdout == ""
    assert eng.docker("volume", "ls", "-q").stdout.split() == ["named"]  # only anonymous ones, as docker
    assert eng.docker("builder", "prune", "-f", "--filter", "until=1h").returncode == 0


def test_our_system_prune_prompts_and_filters(fresh_engine: Engine, images) -> None:  # type: ignore[no-untyped-def]
    eng = fresh_engine
    eng.cli("info")
    eng.cli("pull", "-q", images.busybox)
    eng.cli("run", "--name", "keep", "--label", "keep=1", images.busybox, "true")
    eng.cli("run", "--name", "drop", images.busybox, "true")
    declined = eng.cli("system", "prune", "--filter", "label!=keep=1", input="n\n")
    assert "WARNING! This will remove:" in declined.stdout and "  - label!=keep=1" in declined.stdout
    assert sorted(eng.cli("ps", "-a", "--format", "{{.Names}}").stdout.split()) == ["drop", "keep"]
    done = eng.cli("system", "prune", "--filter", "label!=keep=1", input="y\n").stdout
    assert "Deleted Containers:" in done and "Total reclaimed space:" in done
    assert eng.cli("ps", "-a", "--format", "{{.Names}}").stdout.split() == ["keep"]
    assert images.busybox.split("/")[-1].split(":")[0] in eng.cli("images").stdout  # in use: kept


# -- offline pull -------------------------------------------------------------------------
def _docker_hub_resolves() -> bool:
    try:
        socket.getaddrinfo("registry-1.docker.io", 443)
    except OSError:
        return False
    return True


@pytest.mark.skipif(_docker_hub_resolves(), reason="this host can resolve Docker Hub")
def test_offline_short_name_pull_is_one_line(engine: Engine) -> None:
    for run in (engine.cli, engine.docker):
        failed = run("pull", "busybox:offline-test", check=False, timeout=180)
        assert failed.returncode == 1
        assert "can't reach registry-1.docker.io (name resolution failed): is the machine offline? " \
               "use a full reference to a reachable registry" in failed.stderr
        assert "HTTPSConnectionPool" not in failed.stderr and "NameResolutionError" not in failed.stderr

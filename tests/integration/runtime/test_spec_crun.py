"""config.json from runtime/spec.py runs under real crun in the engine's namespace.

spec_crun_script.py builds a busybox rootfs and runs each scenario with
`crun run` through `rootless unshare`; the assertions read what the
container printed about itself.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import Any, Dict, Iterator

import pytest

from rootless.runtime.spec import DEFAULT_CAPABILITIES, ALL_CAPABILITIES
from tests.integration.conftest import VENV_PYTHON, Engine

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "spec_crun_script.py")
HOOK = os.path.join(HERE, "..", "..", "..", "hooks", "record-state")

SELF = ("id; hostname; grep -E '^(Cap|Seccomp:)' /proc/self/status; echo pid=$$; "
        "cat /proc/1/cmdline | tr '\\0' ' ' 2>/dev/null || cat /proc/1/cmdline; echo; "
        "readlink /proc/self/ns/net; grep -E ' / | /sys | /tmp | /data ' /proc/self/mountinfo; "
        "cat /data/hello; echo tmp > /tmp/f && cat /tmp/f; touch /rootfs-write 2>&1; ls /dev")


def scenarios(scratch: str) -> Dict[str, Dict[str, Any]]:
    common = {"args": ["sh", "-c", SELF], "read_only": True, "tmpfs": {"/tmp": "size=1m"},
              "mounts": [["/data", "@SCRATCH@/data", "bind", ["ro"]]]}
    return {
        "private": {**common, "hostname": "ctr-private"},
        "host": {**common, "hostname": "ctr-host", "network": "host"},
        "init": {**common, "hostname": "ctr-init", "init": True},
        "app": {**common, "user": "app", "hostname": "ctr-app"},
        "privileged": {**common, "privileged": True, "hostname": "ctr-priv"},
        "hooked": {"args": ["true"], "annotations": {"io.rootless.hooks.record-state": "true"},
                   "hooks_dirs": [os.path.join(scratch, "hooks.d")]},
    }


@pytest.fixture(scope="module")
def scratch() -> Iterator[str]:
    """Script, scenarios and hook readable by the test user."""
    directory = tempfile.mkdtemp(prefix="rootless-spec-")
    os.chmod(directory, 0o755)
    shutil.copy(SCRIPT, os.path.join(directory, "script.py"))
    shutil.copy(HOOK, os.path.join(directory, "record-state"))
    os.chmod(os.path.join(directory, "record-state"), 0o755)
    os.makedirs(os.path.join(directory, "hooks.d"))
    log = os.path.join(directory, "hook-states.log")
    with open(os.path.join(directory, "hooks.d", "50-record-state.json"), "w") as f:
        json.dump({"version": "1.0.0",
                   "hook": {"path": os.path.join(directory, "record-state"), "args": ["record-state", log]},
                   "when": {"annotations": {"^io\\.rootless\\.hooks\\.record-state$": "^true$"}},
                   "stages": ["prestart", "poststop"]}, f)
    with open(os.path.join(directory, "scenarios.json"), "w") as f:
        json.dump(scenarios(directory), f)
    os.chmod(os.path.join(directory, "hooks.d"), 0o777)
    with open(log, "w"):
        pass
    os.chmod(log, 0o666)
    for name in ("script.py", "scenarios.json", "hooks.d/50-record-state.json"):
        os.chmod(os.path.join(directory, name), 0o644)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def results(engine: Engine, scratch: str) -> Dict[str, Any]:
    work = os.path.join(engine.root, "spec-crun")
    done = engine.unshare(VENV_PYTHON, os.path.join(scratch, "script.py"), work,
                          os.path.join(scratch, "scenarios.json"), timeout=300)
    found: Dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def cap_mask(caps: Any) -> str:
    return format(sum(1 << ALL_CAPABILITIES.index(c) for c in caps), "016x")


def mount_line(out: str, point: str) -> str:
    """The /proc/self/mountinfo line of a mount point (field 5)."""
    lines = [line for line in out.splitlines() if " - " in line and line.split()[4:5] == [point]]
    assert lines, point
    return lines[-1]


def ran(results: Dict[str, Any], name: str) -> str:
    result = results[name]
    assert result["rc"] == 0, result["stderr"]
    out: str = result["stdout"]
    return out


def test_identity_and_hostname(results: Dict[str, Any]) -> None:
    out = ran(results, "private")
    assert out.startswith("uid=0(root) gid=0(root)\n")
    assert "ctr-private\n" in out


def test_capabilities_are_dockers_default_set(results: Dict[str, Any]) -> None:
    out = ran(results, "private")
    mask = cap_mask(DEFAULT_CAPABILITIES)
    for field in ("CapEff", "CapPrm", "CapBnd"):
        assert f"{field}:\t{mask}" in out
    assert "CapAmb:\t0000000000000000" in out


def test_seccomp_filter_is_on(results: Dict[str, Any]) -> None:
    assert "Seccomp:\t2" in ran(results, "private")
    assert "Seccomp:\t0" in ran(results, "privileged")


def test_pid_namespace_makes_the_command_pid_1(results: Dict[str, Any]) -> None:
    out = ran(results, "private")
    assert "pid=1\n" in out
    assert "sh -c id; hostname;" in out


def test_init_is_pid_1_and_runs_the_command(results: Dict[str, Any]) -> None:
    out = ran(results, "init")
    assert "/dev/init -- sh -c id;" in out
    assert "pid=1\n" not in out


def test_read_only_rootfs_bind_and_tmpfs(results: Dict[str, Any]) -> None:
    out = ran(results, "private")
    assert "touch: /rootfs-write: Read-only file system" in out
    assert "from the host\n" in out
    assert "\ntmp\n" in out
    tmp_line = mount_line(out, "/tmp")
    assert " - tmpfs tmpfs " in tmp_line and "size=1024k" in tmp_line
    assert mount_line(out, "/data").split()[5].startswith("ro,")


def test_default_devices_are_bound(results: Dict[str, Any]) -> None:
    out = ran(results, "private")
    for name in ("null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "mqueue"):
        assert f"\n{name}\n" in out


def test_private_network_gets_fresh_sysfs(results: Dict[str, Any]) -> None:
    out = ran(results, "private")
    assert results["outside"]["netns"] not in out
    sys_line = mount_line(out, "/sys")
    assert " - sysfs sysfs " in sys_line and sys_line.split()[5].startswith("ro,")
    assert sys_line.split()[2] != results["outside"]["sys_dev"]  # a new sysfs instance


def test_host_network_shares_netns_and_binds_sys(results: Dict[str, Any]) -> None:
    out = ran(results, "host")
    assert results["outside"]["netns"] in out
    sys_line = mount_line(out, "/sys")
    # A bind of the host's sysfs (fresh sysfs needs a netns of our own), read-only.
    assert " - sysfs sysfs " in sys_line and sys_line.split()[5].startswith("ro,")
    assert sys_line.split()[2] == results["outside"]["sys_dev"]
    assert results["host"]["config"]["mounts"][5]["type"] == "bind"


def test_non_root_user_has_no_effective_capabilities(results: Dict[str, Any]) -> None:
    out = ran(results, "app")
    assert "uid=1000(app) gid=1000(app) groups=2000(extra)\n" in out
    assert "CapEff:\t0000000000000000" in out
    assert "HOME=/home/app" in results["app"]["config"]["process"]["env"]


def test_privileged_gets_all_capabilities(results: Dict[str, Any]) -> None:
    out = ran(results, "privileged")
    last = [line for line in out.splitlines() if line.startswith("CapBnd:")][0].split("\t")[1]
    assert int(last, 16) & int(cap_mask(DEFAULT_CAPABILITIES), 16) == int(cap_mask(DEFAULT_CAPABILITIES), 16)
    assert int(last, 16) & (1 << ALL_CAPABILITIES.index("CAP_SYS_ADMIN"))


def test_hook_runs_at_prestart_and_poststop(results: Dict[str, Any], scratch: str) -> None:
    ran(results, "hooked")
    assert results["hooked"]["config"]["hooks"]["prestart"][0]["args"][0] == "record-state"
    with open(os.path.join(scratch, "hook-states.log")) as f:
        lines = [line.split() for line in f.read().splitlines()]
    assert [line[:2] for line in lines] == [["hooked", "created"], ["hooked", "stopped"]]

"""The laptop host (issue 12): cgroup v2, systemd, controllers delegated to user@UID.service.

Runs INSIDE the Debian 12 VM of ../shared/vm as user `dev` over ssh (a logind
session), never on the development host: `tests/vm/run.sh` builds and boots the
VM, installs the checkout there and runs this file. On any other host it skips.

Everything goes through what a user types: our CLI, the docker CLI (pushed
into the VM next to this file) and docker-py against the daemon's socket.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from typing import Any, Dict, Iterator, List

import pytest

if os.environ.get("ROOTLESS_VM_SUITE") != "1":
    pytest.skip("runs inside the laptop VM: tests/vm/run.sh", allow_module_level=True)

UID = os.getuid()
USER_SERVICE = f"/user.slice/user-{UID}.slice/user@{UID}.service"
RUN = os.path.join(os.environ.get("XDG_RUNTIME_DIR", f"/run/user/{UID}"), "rootless")
SOCKET = os.path.join(RUN, "rootless.sock")
IMAGE = "vmtest/busybox:1"
APPLETS = ["sh", "cat", "echo", "true", "sleep", "head", "tr", "seq", "ls"]
ALLOC_200M = 'a=$(head -c 200000000 /dev/zero | tr "\\0" x); echo ${#a}'


def sh(argv: List[str], timeout: float = 240, check: bool = False) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{argv}: rc={result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


def rootless(*args: str, timeout: float = 240, check: bool = False) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    return sh(["rootless", *args], timeout, check)


def docker(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    return sh([os.environ.get("DOCKER", "docker"), "-H", f"unix://{SOCKET}", *args], timeout)


def inspect(name: str) -> Dict[str, Any]:
    return json.loads(rootless("inspect", name, check=True).stdout)[0]  # type: ignore[no-any-return]


def cgroup_of(pid: int) -> str:
    with open(f"/proc/{pid}/cgroup") as f:
        return f.read().strip().partition("::")[2]


@pytest.fixture(scope="module", autouse=True)
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A busybox image from the guest's static busybox, imported (no registry needed)."""
    root = tmp_path_factory.mktemp("rootfs")
    os.makedirs(root / "bin")
    shutil.copy("/bin/busybox", root / "bin" / "busybox")
    for applet in APPLETS:
        os.symlink("busybox", root / "bin" / applet)
    tar = str(root) + ".tar"
    with tarfile.open(tar, "w") as t:
        t.add(str(root), arcname=".")
    rootless("import", tar, IMAGE, check=True)
    yield IMAGE
    rootless("rm", "-f", "oom", "bomb", "paused", "limits", "dpy-oom", "fs-oom", "fs-paused")


def test_daemon_moved_into_a_delegated_scope_under_user_service() -> None:
    rootless("info", check=True)
    with open(os.path.join(RUN, "rootlessd.pid")) as f:
        daemon = int(json.load(f)["pid"])
    with open(os.path.join(RUN, "pause.pid")) as f:
        pause = int(json.load(f)["pid"])
    for pid in (daemon, pause):
        cgroup = cgroup_of(pid)
        assert cgroup.startswith(USER_SERVICE + "/"), cgroup
        assert "/rootlessd-" in cgroup and cgroup.endswith(".scope"), cgroup
    scope = os.path.basename(cgroup_of(daemon))
    shown = sh(["systemctl", "--user", "show", scope, "-p", "Delegate", "-p", "ActiveState"], check=True).stdout
    assert "Delegate=yes" in shown and "ActiveState=active" in shown


def test_info_says_systemd_manager_and_delegated_controllers() -> None:
    out = rootless("info", check=True).stdout
    assert "v2 (manager: systemd)" in out
    assert "limits enforced with delegated controllers: cpuset cpu io memory pids" in out
    info = json.loads(docker("info", "--format", "{{json .}}").stdout)
    assert info["CgroupVersion"] == "2" and info["CgroupDriver"] == "systemd"
    assert info["MemoryLimit"] and info["SwapLimit"] and info["CpuCfsQuota"] and info["PidsLimit"] and info["CPUSet"]


def test_doctor_passes_on_the_laptop_host() -> None:
    result = rootless("doctor")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[ok  ] cgroups: v2 with systemd (manager: systemd)" in result.stdout
    assert f"[ok  ] linger: {os.environ.get('USER', 'dev')} lingers" in result.stdout
    assert "[ok  ] user namespaces: unprivileged user namespaces work" in result.stdout  # the probe mounts in it


def test_doctor_tells_a_shell_without_a_login_session_to_log_in() -> None:
    """`sudo -u dev`: no XDG_RUNTIME_DIR, no D-Bus, the laptop's most common wrong turn."""
    name = os.environ.get("USER", "dev")
    result = sh(["sudo", "-u", name, "env", "-i", f"HOME={os.path.expanduser('~')}", "PATH=" + os.environ["PATH"],
                 shutil.which("rootless") or "rootless", "doctor"])
    assert "[WARN] cgroups: v2 with systemd, but this shell has no login session (su or sudo -u?)" in result.stdout
    assert f"fix: log in as {name} (ssh, a desktop, or: sudo machinectl shell {name}@)" in result.stdout


def test_limits_land_in_the_containers_own_scope(image: str) -> None:
    # the docker CLI (our own CLI's flags: test_our_cli_sets_every_limit_and_the_kernel_enforces_the_cpuset)
    result = docker("run", "--name", "limits", "--memory", "64m", "--memory-swap", "96m", "--memory-reservation", "32m",
                    "--cpus", "0.5", "--cpu-shares", "512", "--cpuset-cpus", "0", "--pids-limit", "50",
                    "--blkio-weight", "300", image, "sh", "-c",
                    "cd /sys/fs/cgroup; cat memory.max memory.swap.max memory.low cpu.max cpuset.cpus pids.max io.weight")
    assert result.returncode == 0, result.stderr
    # --blkio-weight 300 is io.weight 1 + (300 - 10) * 9999 / 990 = 2930, runc's and crun's conversion
    assert result.stdout.split() == ["67108864", "33554432", "33554432", "50000", "100000", "0", "50",
                                     "default", "2930"]
    host_config = inspect("limits")["HostConfig"]
    assert (host_config["Memory"], host_config["MemorySwap"], host_config["NanoCpus"], host_config["PidsLimit"],
            host_config["BlkioWeight"], host_config["CpusetCpus"]) == (64 << 20, 96 << 20, 500000000, 50, 300, "0")
    rootless("rm", "limits", check=True)


CGROUP_FILES = "memory.max memory.swap.max memory.low cpu.weight cpuset.cpus.effective io.weight"


def test_our_cli_sets_every_limit_and_the_kernel_enforces_the_cpuset(image: str) -> None:
    """rootless run's --memory-swap, --memory-reservation, --cpu-shares, --cpuset-cpus, --blkio-weight."""
    result = rootless("run", "--name", "limits", "--memory", "64m", "--memory-swap", "96m", "--memory-reservation",
                      "32m", "--cpu-shares", "512", "--cpuset-cpus", "1", "--blkio-weight", "300", image, "sh", "-c",
                      f"cd /sys/fs/cgroup; cat {CGROUP_FILES}; grep Cpus_allowed_list /proc/self/status")
    assert result.returncode == 0, result.stderr
    # cpu.weight: crun's 1 + (512 - 2) * 9999 / 262142 = 20; io.weight: 1 + (300 - 10) * 9999 / 990 = 2930
    assert result.stdout.split() == ["67108864", "33554432", "33554432", "20", "1", "default", "2930",
                                     "Cpus_allowed_list:", "1"]  # the shell itself may run on cpu 1 only
    host_config = inspect("limits")["HostConfig"]
    assert (host_config["MemorySwap"], host_config["MemoryReservation"], host_config["CpuShares"],
            host_config["CpusetCpus"], host_config["BlkioWeight"]) == (96 << 20, 32 << 20, 512, "1", 300)
    rootless("rm", "limits", check=True)


def test_our_cli_updates_cpu_shares_cpuset_and_blkio_weight_of_a_running_container(image: str) -> None:
    rootless("run", "-d", "--name", "limits", "--cpuset-cpus", "1", image, "sleep", "600", check=True)
    result = rootless("update", "--cpu-shares", "256", "--cpuset-cpus", "0", "--blkio-weight", "500", "limits")
    assert result.returncode == 0, result.stderr
    container = inspect("limits")
    directory = "/sys/fs/cgroup" + cgroup_of(container["State"]["Pid"])
    found = [open(os.path.join(directory, name)).read().split()[-1] for name in
             ("cpu.weight", "cpuset.cpus.effective", "io.weight")]
    assert found == ["10", "0", "4950"], found  # 1 + 254 * 9999 / 262142; 1 + 490 * 9999 / 990
    with open(f"/proc/{container['State']['Pid']}/status") as f:
        assert "Cpus_allowed_list:\t0\n" in f.read()
    assert (container["HostConfig"]["CpuShares"], container["HostConfig"]["BlkioWeight"]) == (256, 500)
    rootless("rm", "-f", "limits", check=True)


def test_memory_limit_oom_kills_a_200m_allocation(image: str) -> None:
    result = rootless("run", "--name", "oom", "--memory", "64m", image, "sh", "-c", ALLOC_200M)
    assert result.returncode == 137, result.stdout + result.stderr
    state = inspect("oom")["State"]
    assert state["ExitCode"] == 137
    assert inspect("oom")["HostConfig"]["Memory"] == 64 << 20


def test_oom_killed_is_reported_in_state(image: str) -> None:
    assert inspect("oom")["State"]["OOMKilled"] is True


def test_fork_bomb_stops_at_the_pids_limit(image: str) -> None:
    rootless("run", "-d", "--name", "bomb", "--pids-limit", "20", image,
             "sh", "-c", "f() { f | f & }; f; sleep 600", check=True)
    time.sleep(5)
    pid = inspect("bomb")["State"]["Pid"]
    directory = "/sys/fs/cgroup" + cgroup_of(pid)
    with open(os.path.join(directory, "pids.max")) as f:
        assert f.read().strip() == "20"
    with open(os.path.join(directory, "pids.current")) as f:
        assert int(f.read()) <= 20
    with open(os.path.join(directory, "pids.events")) as f:
        assert int(f.read().split()[1]) > 0  # "max N": forks were refused at the limit
    rootless("rm", "-f", "bomb", check=True)


def test_pause_and_unpause_freeze_the_cgroup(image: str) -> None:
    rootless("run", "-d", "--name", "paused", image, "sleep", "600", check=True)
    pid = inspect("paused")["State"]["Pid"]
    events = "/sys/fs/cgroup" + cgroup_of(pid) + "/cgroup.events"
    docker("pause", "paused")
    assert inspect("paused")["State"]["Paused"] is True
    with open(events) as f:
        assert "frozen 1" in f.read()
    docker("unpause", "paused")
    with open(events) as f:
        assert "frozen 0" in f.read()
    rootless("rm", "-f", "paused", check=True)


def test_docker_cli_and_docker_py_get_the_limits(image: str) -> None:
    result = docker("run", "--rm", "--memory", "64m", "--pids-limit", "30", image,
                    "sh", "-c", "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max")
    assert result.stdout.split() == ["67108864", "30"], result.stderr
    import docker as dockerpy  # the guest venv has it (run.sh installs it)
    client = dockerpy.DockerClient(base_url=f"unix://{SOCKET}")
    container = client.containers.run(image, ["sh", "-c", ALLOC_200M], name="dpy-oom", mem_limit="64m", detach=True)
    assert container.wait(timeout=240)["StatusCode"] == 137
    container.remove()


UPDATE_SCRIPT = """
import sys
from rootless.config import Paths
from rootless.host.cgroups import CgroupInfo
from rootless.runtime import spec
from rootless.runtime.crun import Crun
info = CgroupInfo(mode="v2", controllers=["cpu", "memory", "pids"], writable=True, cgroup_manager="systemd")
resources = spec.update_resources(info, memory=32 << 20, pids_limit=5)
Crun("crun", Paths.from_env().crun_state, "systemd").update(sys.argv[1], resources, "/tmp")
"""


def test_crun_update_changes_a_running_containers_limits(image: str) -> None:
    """What `docker update` will call once the engine has the route: crun update in the namespace."""
    rootless("run", "-d", "--name", "limits", "--memory", "64m", "--pids-limit", "10", image, "sleep", "600",
             check=True)
    container = inspect("limits")
    rootless("unshare", sys.executable, "-c", UPDATE_SCRIPT, container["Id"], check=True)
    directory = "/sys/fs/cgroup" + cgroup_of(container["State"]["Pid"])
    with open(os.path.join(directory, "memory.max")) as f:
        assert f.read().strip() == str(32 << 20)
    with open(os.path.join(directory, "pids.max")) as f:
        assert f.read().strip() == "5"
    rootless("rm", "-f", "limits", check=True)


def test_stats_no_stream(image: str) -> None:
    rootless("run", "-d", "--name", "limits", "--memory", "64m", "--pids-limit", "10", image, "sleep", "600",
             check=True)
    out = docker("stats", "--no-stream", "--format", "{{json .}}", "limits")
    assert out.returncode == 0, out.stderr
    row = json.loads(out.stdout)
    assert "64MiB" in row["MemUsage"] and row["PIDs"] == "1" and row["CPUPerc"].endswith("%")
    import docker as dockerpy
    client = dockerpy.DockerClient(base_url=f"unix://{SOCKET}")
    sample = client.containers.get("limits").stats(stream=False)
    assert sample["memory_stats"]["limit"] == 64 << 20 and sample["pids_stats"] == {"current": 1, "limit": 10}
    assert sample["precpu_stats"]["system_cpu_usage"] < sample["cpu_stats"]["system_cpu_usage"]  # two samples
    stream = client.api.stats("limits", decode=True, stream=True)
    first, second = next(stream), next(stream)
    assert second["precpu_stats"] == first["cpu_stats"] and second["name"] == "/limits"


def test_docker_update_changes_a_running_containers_limits_and_restart_policy(image: str) -> None:
    result = docker("update", "--memory", "32m", "--pids-limit", "5", "--restart", "always", "limits")
    assert result.returncode == 0, result.stderr
    container = inspect("limits")
    directory = "/sys/fs/cgroup" + cgroup_of(container["State"]["Pid"])
    with open(os.path.join(directory, "memory.max")) as f:
        assert f.read().strip() == str(32 << 20)
    with open(os.path.join(directory, "pids.max")) as f:
        assert f.read().strip() == "5"
    host_config = container["HostConfig"]
    assert (host_config["Memory"], host_config["PidsLimit"]) == (32 << 20, 5)
    assert host_config["RestartPolicy"]["Name"] == "always"
    rootless("rm", "-f", "limits", check=True)


def test_cgroupfs_manager_in_the_daemons_own_delegated_scope(image: str) -> None:
    """Without the systemd manager (ROOTLESS_CGROUP_MANAGER=cgroupfs, as on a v2 host whose user has no
    systemd): the daemon splits its Delegate=yes scope into rootlessd/ and containers/."""
    rootless("system", "stop", "--all")
    os.environ["ROOTLESS_CGROUP_MANAGER"] = "cgroupfs"
    try:
        assert "v2 (manager: cgroupfs)" in rootless("info", check=True).stdout
        with open(os.path.join(RUN, "rootlessd.pid")) as f:
            daemon_cgroup = cgroup_of(int(json.load(f)["pid"]))
        assert daemon_cgroup.startswith(USER_SERVICE + "/") and daemon_cgroup.endswith(".scope/rootlessd")
        scope = os.path.dirname(daemon_cgroup)
        result = rootless("run", "--name", "fs-oom", "--memory", "64m", image, "sh", "-c", ALLOC_200M)
        assert result.returncode == 137
        rootless("rm", "fs-oom", check=True)
        rootless("run", "-d", "--name", "fs-paused", "--pids-limit", "7", image, "sleep", "600", check=True)
        container = inspect("fs-paused")
        assert cgroup_of(container["State"]["Pid"]) == f"{scope}/containers/{container['Id']}"
        with open(f"/sys/fs/cgroup{scope}/containers/{container['Id']}/pids.max") as f:
            assert f.read().strip() == "7"
        rootless("pause", "fs-paused", check=True)
        with open(f"/sys/fs/cgroup{scope}/containers/{container['Id']}/cgroup.events") as f:
            assert "frozen 1" in f.read()
        rootless("rm", "-f", "fs-paused", check=True)
    finally:
        del os.environ["ROOTLESS_CGROUP_MANAGER"]
        rootless("system", "stop", "--all")


UNIT_DIR = os.path.expanduser("~/.config/systemd/user")
UNITS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "systemd")  # contrib/systemd, pushed by run.sh


def systemctl(*args: str, check: bool = True) -> str:
    return sh(["systemctl", "--user", *args], check=check).stdout


def install_units() -> None:
    """As the unit's header says: the service with the real binary's path, the socket as it is."""
    os.makedirs(UNIT_DIR, exist_ok=True)
    with open(os.path.join(UNITS, "rootless.service")) as f:
        text = f.read().replace("/usr/local/bin/rootless", shutil.which("rootless") or "rootless")
    with open(os.path.join(UNIT_DIR, "rootless.service"), "w") as f:
        f.write(text)
    shutil.copy(os.path.join(UNITS, "rootless.socket"), UNIT_DIR)
    systemctl("daemon-reload")
    systemctl("reset-failed", "rootless.service", "rootless.socket", check=False)  # an earlier run's state


def service_state() -> Dict[str, str]:
    shown = systemctl("show", "rootless.service", "-p", "ActiveState", "-p", "MainPID")
    return dict(line.split("=", 1) for line in shown.split())


def test_socket_activation_under_the_users_systemd(image: str) -> None:
    """contrib/systemd: `systemctl --user enable --now rootless.socket`; a docker call starts the daemon,
    which logs to the journal and gives containers their limits from inside rootless.service.

    A daemon the CLI started before is running when the socket is enabled, as it will be for a user
    who installs the units later: systemd binds the path anew, and that daemon must step aside."""
    rootless("info", check=True)
    with open(os.path.join(RUN, "rootlessd.pid")) as f:
        started_by_cli = int(json.load(f)["pid"])
    install_units()
    try:
        systemctl("enable", "--now", "rootless.socket")
        assert service_state()["ActiveState"] == "inactive"
        deadline = time.monotonic() + 60
        while os.path.exists(f"/proc/{started_by_cli}"):
            assert time.monotonic() < deadline, "the daemon that lost its socket still runs"
            time.sleep(0.5)
        assert os.stat(SOCKET).st_mode & 0o777 == 0o600
        for _ in range(2):  # the first start, then again after `rootless system stop` ended the service
            version = docker("version", "--format", "{{.Server.APIVersion}}")
            assert version.returncode == 0 and version.stdout.strip(), version.stderr
            state = service_state()
            assert state["ActiveState"] == "active"
            with open(os.path.join(RUN, "rootlessd.pid")) as f:
                assert json.load(f)["pid"] == int(state["MainPID"])
            assert cgroup_of(int(state["MainPID"])) == f"{USER_SERVICE}/app.slice/rootless.service"
            rootless("system", "stop", check=True)
            deadline = time.monotonic() + 60
            while service_state()["ActiveState"] != "inactive":
                assert time.monotonic() < deadline, service_state()
                time.sleep(0.5)
        assert "v2 (manager: systemd)" in rootless("info", check=True).stdout  # ours starts it the same way
        result = docker("run", "--rm", "--memory", "64m", "--cpuset-cpus", "0", image, "cat",
                        "/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/cpuset.cpus.effective")
        assert result.stdout.split() == ["67108864", "0"], result.stderr
        journal = sh(["journalctl", "--user", "-u", "rootless", "--no-pager", "-o", "cat"], check=True).stdout
        listening = [line for line in journal.splitlines() if "rootlessd listening on " + SOCKET in line]
        # no time stamp of ours (the journal has one) and the "<6>" prefix taken as the priority
        assert listening and all(line.startswith("rootless.daemon.main: ") for line in listening), journal[-2000:]
    finally:
        systemctl("disable", "--now", "rootless.socket", check=False)
        systemctl("stop", "rootless.service", check=False)
        for name in ("rootless.service", "rootless.socket"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(UNIT_DIR, name))
        systemctl("daemon-reload", check=False)
        rootless("system", "stop", "--all")


STOCK_DROP_IN = "/etc/systemd/system/user@.service.d/zz-vmtest-stock.conf"


def restart_user_manager(drop_in_text: str) -> None:
    """As root (dev has sudo): set user@.service's Delegate= and restart the user's systemd.

    The session scope (this ssh login) is outside user@UID.service and survives.
    """
    write = f"printf '{drop_in_text}' > {STOCK_DROP_IN}" if drop_in_text else f"rm -f {STOCK_DROP_IN}"
    sh(["sudo", "sh", "-c", f"{write} && systemctl daemon-reload && systemctl restart user@{UID}.service"],
       check=True)
    deadline = time.monotonic() + 120
    while sh(["systemctl", "--user", "is-system-running"]).stdout.strip() not in ("running", "degraded"):
        assert time.monotonic() < deadline, "the user's systemd did not come back"
        time.sleep(1)


def test_stock_debian_delegation_refuses_cpuset_and_io_with_the_fix(image: str) -> None:
    """Debian's own user@.service delegates only cpu memory pids (systemd 252's default)."""
    rootless("system", "stop", "--all")
    restart_user_manager("[Service]\\nDelegate=\\nDelegate=cpu memory pids\\n")
    try:
        assert "delegated controllers: cpu memory pids" in rootless("info", check=True).stdout
        refused = docker("run", "--rm", "--cpuset-cpus", "0", image, "true")
        assert refused.returncode != 0
        assert "cpuset: the cpuset controller is not delegated to this user" in refused.stderr
        ours = rootless("run", "--rm", "--cpus", "0.5", "--memory", "64m", image, "true")
        assert ours.returncode == 0, ours.stderr  # what is delegated still works
        blkio = docker("run", "--rm", "--blkio-weight", "300", image, "true")
        assert "blkio weight: the io controller is not delegated to this user" in blkio.stderr
        assert "hint: delegated: cpu memory pids; fix: sudo mkdir -p /etc/systemd/system/user@.service.d" in blkio.stderr
        doctor = rootless("doctor").stdout
        assert "[WARN] cgroups: v2 with systemd: user@1000.service delegates cpu memory pids" in doctor
        assert "Delegate=cpu cpuset io memory pids" in doctor
    finally:
        rootless("system", "stop", "--all")
        restart_user_manager("")


def test_journald_log_driver_writes_the_users_journal(image: str) -> None:
    """--log-driver journald (issue 11) where the journal is reachable: entries carry docker's
    fields, and `logs` still reads the container's output (dockerd's dual logging)."""
    marker = f"journald-probe-{time.time_ns()}"
    rootless("rm", "-f", "jd")
    try:
        rootless("run", "--name", "jd", "--log-driver", "journald", "--log-opt", "tag=probe",
                 image, "echo", marker, check=True)
        deadline = time.monotonic() + 60
        while True:  # journald indexes entries asynchronously
            found = sh(["journalctl", "--no-pager", "-o", "json", "CONTAINER_NAME=jd"])
            entries = [json.loads(line) for line in found.stdout.splitlines() if marker in line]
            if entries or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert entries, found.stdout + found.stderr
        entry = entries[0]
        assert entry["MESSAGE"] == marker and entry["CONTAINER_TAG"] == "probe"
        assert entry["CONTAINER_ID_FULL"] == inspect("jd")["Id"]
        assert rootless("logs", "jd", check=True).stdout == marker + "\n"
    finally:
        rootless("rm", "-f", "jd")

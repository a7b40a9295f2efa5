"""Issue 15: a single-host Slurm lab. Jobs run rootless containers and leave nothing of the user behind.

Debian's slurmctld, slurmd and munge on localhost, configured here and started
as root (slurm.conf: NodeName=localhost, proctrack/linuxproc and task/none, so
no cgroup plugin is needed on a hybrid host), stopped at the end. As the test
user: `srun rootless run --rm ...` whose daemon exits by itself (idle_timeout),
and an `sbatch` job that pulls from the local registry, runs, writes into the
user's directory, and whose daemon and pause process the site epilog ends
(`rootless system stop --all`, contrib/slurm/epilog.sh). The check is the user
namespace of the job's engine: no process is left in it.

Opt-in where Slurm is not installed: apt-get install slurmctld slurmd slurm-client munge
(contrib/setup-host.sh --tests installs them).
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from typing import Dict, Iterator, List

import pytest

from tests.integration.conftest import REPO, VENV_PYTHON, TestUser, _free_port

pytestmark = pytest.mark.timeout(300)
SLURM_TOOLS = ("slurmctld", "slurmd", "srun", "sbatch", "sinfo", "munged", "munge", "unmunge")
MUNGE_SOCKET_DIR = "/run/munge"

SLURM_CONF = """\
ClusterName=rootlesslab
SlurmctldHost=localhost
AuthType=auth/munge
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
SlurmUser=root
SlurmdUser=root
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
StateSaveLocation={lab}/state
SlurmdSpoolDir={spool}
SlurmctldPidFile={lab}/slurmctld.pid
SlurmdPidFile={lab}/slurmd.pid
SlurmctldLogFile={lab}/slurmctld.log
SlurmdLogFile={lab}/slurmd.log
Epilog={lab}/epilog.sh
NodeName=localhost CPUs={cpus} State=UNKNOWN
PartitionName=lab Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""


@dataclass
class SlurmLab:
    lab: str
    conf: str
    user: TestUser
    epilog_run: str  # the runtime dir the lab's epilog stops (ROOTLESS_RUNTIME_DIR of the sbatch job)

    def env(self, extra: Dict[str, str]) -> Dict[str, str]:
        return {"SLURM_CONF": self.conf, **extra}

    def run(self, argv: List[str], env: Dict[str, str], timeout: float = 180) -> "subprocess.CompletedProcess[str]":
        return self.user.run(argv, env=self.env(env), timeout=timeout)

    def logs(self) -> str:
        out = []
        for name in ("slurmctld.log", "slurmd.log", "epilog.log"):
            with contextlib.suppress(OSError):
                with open(os.path.join(self.lab, name)) as f:
                    out.append(f"--- {name}\n{f.read()[-3000:]}")
        return "\n".join(out)


def _munge_works() -> bool:
    encoded = subprocess.run(["munge", "-n"], capture_output=True, timeout=10)
    if encoded.returncode != 0:
        return False
    return subprocess.run(["unmunge"], input=encoded.stdout, capture_output=True, timeout=10).returncode == 0


def _start_munge() -> bool:
    """munged as the munge user, unless one answers already; True when we started it."""
    if _munge_works():
        return False
    os.makedirs(MUNGE_SOCKET_DIR, exist_ok=True)
    shutil.chown(MUNGE_SOCKET_DIR, "munge", "munge")
    os.chmod(MUNGE_SOCKET_DIR, 0o755)
    subprocess.run(["runuser", "-u", "munge", "--", "munged"], check=True, timeout=30)
    deadline = time.monotonic() + 10
    while not _munge_works():
        if time.monotonic() > deadline:
            pytest.fail("munged did not start")
        time.sleep(0.1)
    return True


def _stop_munge() -> None:
    with contextlib.suppress(OSError, ValueError):
        with open(os.path.join(MUNGE_SOCKET_DIR, "munged.pid")) as f:
            os.kill(int(f.read().strip()), signal.SIGTERM)


def _spool(lab: str) -> str:
    return os.path.join("/var/spool", os.path.basename(lab))


def _write_lab(user: TestUser, lab: str) -> str:
    os.makedirs(os.path.join(lab, "state"), mode=0o700)
    # Outside /tmp and 0755, as slurmd's /var/spool/slurmd: its mpi/pmix plugin puts the PMIx
    # server's directory (PMIX_SERVER_TMPDIR) in it, which a rank's container must bind by name.
    os.makedirs(_spool(lab), mode=0o755)
    conf = os.path.join(lab, "slurm.conf")
    with open(conf, "w") as f:
        f.write(SLURM_CONF.format(lab=lab, spool=_spool(lab), ctld_port=_free_port(), slurmd_port=_free_port(), cpus=os.cpu_count() or 1))
    os.chmod(conf, 0o644)
    # The mpi/pmix plugin's per-step client dir (spmix_appdir_UID_JOB.STEP, /tmp by default) in
    # the lab: job ids start at 1 in every lab, and one left by a killed step fails the next lab's.
    os.makedirs(os.path.join(lab, "pmix-cli"), mode=0o755)
    with open(os.path.join(lab, "mpi.conf"), "w") as f:
        f.write(f"PMIxCliTmpDirBase={lab}/pmix-cli\n")
    epilog_run = os.path.join(lab, "epilog-run")
    # The site epilog of contrib/slurm, told where this lab's job keeps its runtime dir and code.
    with open(os.path.join(REPO, "contrib", "slurm", "epilog.sh")) as f:
        site_epilog = f.read()
    with open(os.path.join(lab, "epilog.sh"), "w") as f:
        f.write(site_epilog.replace(
            "#LAB-SETTINGS#",
            f"export ROOTLESS_RUNTIME_DIR={epilog_run} PYTHONPATH={user.base_env.get('PYTHONPATH', '')}\n"
            f"ROOTLESS=\"{VENV_PYTHON} -m rootless.cli\"\nexec >>{lab}/epilog.log 2>&1"))
    os.chmod(os.path.join(lab, "epilog.sh"), 0o755)
    return conf


def _wait_ready(conf: str, lab: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = subprocess.run(["sinfo", "-h", "-N", "-o", "%t"], capture_output=True, text=True,
                               env={**os.environ, "SLURM_CONF": conf}, timeout=10)
        if state.stdout.strip() == "idle":
            return
        time.sleep(0.3)
    pytest.fail(f"the Slurm lab did not come up: {state.stdout} {state.stderr}")


@pytest.fixture(scope="module")
def slurm_lab(user: TestUser) -> Iterator[SlurmLab]:
    missing = [tool for tool in SLURM_TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"the Slurm lab needs {', '.join(missing)}: apt-get install slurmctld slurmd slurm-client munge")
    started_munge = _start_munge()
    lab = tempfile.mkdtemp(prefix="rootless-slurm-", dir="/tmp")
    os.chmod(lab, 0o755)
    conf = _write_lab(user, lab)
    env = {**os.environ, "SLURM_CONF": conf}
    daemons = [subprocess.Popen([tool, "-D", *extra, "-f", conf], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
               for tool, extra in (("slurmctld", ["-i"]), ("slurmd", ["-N", "localhost"]))]
    try:
        _wait_ready(conf, lab)
        yield SlurmLab(lab, conf, user, os.path.join(lab, "epilog-run"))
    finally:
        for daemon in daemons:
            daemon.terminate()
        for daemon in daemons:
            with contextlib.suppress(subprocess.TimeoutExpired):
                daemon.wait(15)
            if daemon.poll() is None:
                daemon.kill()
        if started_munge:
            _stop_munge()
        shutil.rmtree(lab, ignore_errors=True)
        shutil.rmtree(_spool(lab), ignore_errors=True)


def _user_dir(lab: SlurmLab, name: str) -> str:
    path = os.path.join(lab.lab, name)
    os.makedirs(path, mode=0o700, exist_ok=True)
    os.chown(path, lab.user.uid, lab.user.gid)
    return path


def _namespace_members(user_ns: str) -> List[int]:
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{entry}/ns/user") == user_ns:
                    members.append(int(entry))
    return members


def _wait_namespace_empty(user_ns: str, seconds: float) -> List[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        left = _namespace_members(user_ns)
        if not left:
            return []
        time.sleep(0.2)
    return _namespace_members(user_ns)


def _engine_env(lab: SlurmLab, run_dir: str, root: str, **extra: str) -> Dict[str, str]:
    return {"ROOTLESS_RUNTIME_DIR": run_dir, "ROOTLESS_ROOT": root, "ROOTLESS_CONFIG": os.path.join(root, "none.toml"),
            **extra}


def test_srun_rootless_run_leaves_no_process_behind(slurm_lab: SlurmLab, images: object) -> None:
    run_dir, root = _user_dir(slurm_lab, "idle-run"), _user_dir(slurm_lab, "idle-root")
    busybox = images.busybox  # type: ignore[attr-defined]
    env = _engine_env(slurm_lab, run_dir, root, ROOTLESS_IDLE_TIMEOUT="8")
    out = slurm_lab.run(["srun", "-t", "5", VENV_PYTHON, "-m", "rootless.cli", "run", "--rm", busybox,
                         "sh", "-c", "echo hello-from-srun; id -u"], env)
    # In a job keep-id is the default: the container's process is the user, not container root.
    assert out.stdout.split() == ["hello-from-srun", str(slurm_lab.user.uid)], out.stderr
    with open(os.path.join(run_dir, "pause.pid")) as f:
        pause = int(json.load(f)["pid"])
    user_ns = os.readlink(f"/proc/{pause}/ns/user")
    assert len(_namespace_members(user_ns)) >= 2  # the daemon and the pause process, still there
    left = _wait_namespace_empty(user_ns, 40)
    assert not left, f"left on the node: {left}\n{slurm_lab.logs()}"


JOB = """\
#!/bin/sh
#SBATCH --job-name=rootless-lab
#SBATCH --time=5
set -e
rootless() {{ {python} -m rootless.cli "$@"; }}
rootless pull -q {image}
rootless run --rm -v {out}:/out {image} sh -c 'echo "result from $(hostname)" > /out/result.txt'
cat "$ROOTLESS_RUNTIME_DIR/pause.pid" > {out}/pause.json
"""


def test_sbatch_job_pulls_runs_writes_and_the_epilog_cleans_up(slurm_lab: SlurmLab, images: object) -> None:
    out, root = _user_dir(slurm_lab, "job-out"), _user_dir(slurm_lab, "job-root")
    run_dir = _user_dir(slurm_lab, "epilog-run")
    script = os.path.join(out, "job.sh")
    with open(script, "w") as f:
        f.write(JOB.format(python=VENV_PYTHON, image=images.busybox, out=out))  # type: ignore[attr-defined]
    os.chown(script, slurm_lab.user.uid, slurm_lab.user.gid)
    env = _engine_env(slurm_lab, run_dir, root)  # idle exit off: the epilog must end it
    result = slurm_lab.run(["sbatch", "--wait", f"--output={out}/slurm-%j.out", script], env)
    job_log = "".join(open(os.path.join(out, n)).read() for n in os.listdir(out) if n.startswith("slurm-"))
    assert "Submitted batch job" in result.stdout, job_log
    with open(os.path.join(out, "result.txt")) as f:
        assert f.read().startswith("result from "), job_log
    assert os.stat(os.path.join(out, "result.txt")).st_uid == slurm_lab.user.uid  # the user's file
    with open(os.path.join(out, "pause.json")) as f:
        pause = int(json.load(f)["pid"])
    with contextlib.suppress(OSError):
        user_ns = os.readlink(f"/proc/{pause}/ns/user")
        left = _wait_namespace_empty(user_ns, 40)
        assert not left, f"left on the node: {left}\n{slurm_lab.logs()}"
    assert not os.path.exists(os.path.join(run_dir, "rootlessd.pid")), slurm_lab.logs()
    deadline = time.monotonic() + 20
    while "namespaces released" not in slurm_lab.logs() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "namespaces released" in slurm_lab.logs()

"""Issue 15: MPI in containers, the hybrid model. Two ranks in two containers exchange a message.

The host's `mpirun` (Debian's Open MPI 4.1, PMIx 4) starts one container per rank through
contrib/slurm/mpi-rank.sh, the wrapper the README's recipe uses (test_slurm_mpi.py runs it under
`srun --mpi=pmix`); the image (Debian's openmpi-bin + python3-mpi4py, imported, then `rootless
build`) runs mpi4py. The wrapper's flags are what the ranks need: --network host (PMIx's TCP
rendezvous on loopback, the TCP transport), --ipc host and --pid host (the shared-memory
transport), -v /tmp:/tmp (the session directory), the launcher's PMIX_*/OMPI_* variables by name,
and --userns keep-id: with the default mapping the rank is uid 0 inside and MPI_Init fails with
"OPAL ERROR: Unreachable in file ext3x_client.c at line 112" (PMIx's handshake carries the
client's uid, and the server expects the user's).

Opt-in where Open MPI or debootstrap is missing (contrib/setup-host.sh --tests installs them).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time

import pytest

from tests import debian_image
from tests.integration.conftest import REPO, VENV_PYTHON, Engine

PACKAGES = ["openmpi-bin", "python3-mpi4py"]
RING = """from mpi4py import MPI

comm = MPI.COMM_WORLD
if comm.Get_rank() == 0:
    comm.send("token-from-rank-0", dest=1, tag=7)
else:
    print(f"rank {comm.Get_rank()} of {comm.Get_size()} got {comm.recv(source=0, tag=7)}", flush=True)
"""
RANK_WRAPPER = os.path.join(REPO, "contrib", "slurm", "mpi-rank.sh")
# how mpi-rank.sh (and contrib/slurm/mpi.sh) call rootless here: the test user's copy of the package
ROOTLESS = f"{VENV_PYTHON} -m rootless.cli"


def build_ring_image(engine: Engine, work: str, tag: str) -> None:
    """`tag`: bookworm + Open MPI + mpi4py + /opt/ring.py; `work` (0755) gets ring.py and mpi-rank.sh."""
    engine.cli("import", debian_image.rootfs_tar(PACKAGES), f"{tag}-base", timeout=600)
    with open(os.path.join(work, "ring.py"), "w") as f:
        f.write(RING)
    with open(os.path.join(work, "Dockerfile"), "w") as f:
        f.write(f"FROM {tag}-base\nCOPY ring.py /opt/ring.py\n")
    shutil.copy(RANK_WRAPPER, os.path.join(work, "mpi-rank.sh"))
    for name in os.listdir(work):
        os.chmod(os.path.join(work, name), 0o755)
    engine.cli("build", "-q", "-t", tag, work, timeout=300)


def wait_ranks_gone(engine: Engine, tag: str) -> str:
    """The ids of `tag`'s containers still there after a moment ('' when --rm removed them all).

    Only this test's containers (the shared engine may hold others'); --rm removal follows the
    exit by a moment when the launcher ends the ranks' clients."""
    def left() -> str:
        return engine.docker("ps", "-aq", "--filter", f"ancestor={tag}").stdout.strip()
    deadline = time.monotonic() + 30
    while left() and time.monotonic() < deadline:
        time.sleep(0.5)
    return left()


def remove_ring_image(engine: Engine, tag: str) -> None:
    engine.cli("rmi", "-f", tag, f"{tag}-base", check=False)


def test_two_ranks_in_two_containers_exchange_a_message(engine: Engine) -> None:
    if not (shutil.which("mpirun") and shutil.which("debootstrap")):
        pytest.skip("needs openmpi-bin and debootstrap on the host (contrib/setup-host.sh --tests)")
    work = tempfile.mkdtemp(prefix="rootless-mpi-")
    os.chmod(work, 0o755)
    try:
        build_ring_image(engine, work, "mpi-ring")
        # only the shared-memory transport (vader), across the two containers: what --ipc host
        # and --pid host are for
        result = engine.user.run(
            ["timeout", "120", "mpirun", "-np", "2", "--oversubscribe", "--mca", "btl", "self,vader",
             os.path.join(work, "mpi-rank.sh"), "mpi-ring", "python3", "/opt/ring.py"],
            env={**engine.env, "ROOTLESS": ROOTLESS}, timeout=180)
        assert "rank 1 of 2 got token-from-rank-0" in result.stdout, result.stdout + result.stderr
        assert wait_ranks_gone(engine, "mpi-ring") == "", "a rank's container outlived the job"
    finally:
        shutil.rmtree(work, ignore_errors=True)
        remove_ring_image(engine, "mpi-ring")

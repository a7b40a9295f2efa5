"""Issue 15: MPI in containers, the hybrid model. Two ranks in two containers exchange a message.

The host's `mpirun` (Debian's Open MPI 4.1, PMIx 4) starts one `rootless run` per rank; the
image (Debian's openmpi-bin + python3-mpi4py, imported, then `rootless build`) runs mpi4py.
What the ranks need from the container: --network host (PMIx's TCP rendezvous on loopback and
the TCP transport), --ipc host (/dev/shm), -v /tmp:/tmp (the session directory), the launcher's
PMIX_*/OMPI_* variables by name, and --userns keep-id: with the default mapping the rank is uid
0 inside and MPI_Init fails with "OPAL ERROR: Unreachable in file ext3x_client.c at line 112"
(PMIx's handshake carries the client's uid, and the server expects the user's).

Opt-in where Open MPI or debootstrap is missing (contrib/setup-host.sh --tests installs them).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time

import pytest

from tests import debian_image
from tests.integration.conftest import VENV_PYTHON, Engine

PACKAGES = ["openmpi-bin", "python3-mpi4py"]
RING = """from mpi4py import MPI

comm = MPI.COMM_WORLD
if comm.Get_rank() == 0:
    comm.send("token-from-rank-0", dest=1, tag=7)
else:
    print(f"rank {comm.Get_rank()} of {comm.Get_size()} got {comm.recv(source=0, tag=7)}", flush=True)
"""
# One rank = one container; the same flags as README "HPC" and contrib/slurm/mpi.sh.
RANK = """#!/bin/bash
args=()
for name in $(env | sed -n 's/^\\(PMIX_[A-Za-z0-9_]*\\|OMPI_[A-Za-z0-9_]*\\)=.*/\\1/p'); do args+=(-e "$name"); done
exec %s -m rootless.cli run --rm --userns keep-id --network host --ipc host -v /tmp:/tmp "${args[@]}" "$@"
"""


def test_two_ranks_in_two_containers_exchange_a_message(engine: Engine) -> None:
    if not (shutil.which("mpirun") and shutil.which("debootstrap")):
        pytest.skip("needs openmpi-bin and debootstrap on the host (contrib/setup-host.sh --tests)")
    engine.cli("import", debian_image.rootfs_tar(PACKAGES), "mpi-base", timeout=600)
    work = tempfile.mkdtemp(prefix="rootless-mpi-")
    try:
        with open(os.path.join(work, "ring.py"), "w") as f:
            f.write(RING)
        with open(os.path.join(work, "Dockerfile"), "w") as f:
            f.write("FROM mpi-base\nCOPY ring.py /opt/ring.py\n")
        with open(os.path.join(work, "rank.sh"), "w") as f:
            f.write(RANK % VENV_PYTHON)
        os.chmod(work, 0o755)
        for name in os.listdir(work):
            os.chmod(os.path.join(work, name), 0o755)
        engine.cli("build", "-q", "-t", "mpi-ring", work, timeout=300)
        result = engine.user.run(
            ["timeout", "120", "mpirun", "-np", "2", "--oversubscribe", "--mca", "btl", "self,tcp",
             os.path.join(work, "rank.sh"), "mpi-ring", "python3", "/opt/ring.py"],
            env=engine.env, timeout=180)
        assert "rank 1 of 2 got token-from-rank-0" in result.stdout, result.stdout + result.stderr
        # only this test's containers (the shared engine may hold others'); --rm removal follows
        # the exit by a moment when mpirun ends the ranks' clients
        def ranks_left() -> str:
            return engine.docker("ps", "-aq", "--filter", "ancestor=mpi-ring").stdout.strip()
        deadline = time.monotonic() + 30
        while ranks_left() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert ranks_left() == "", "a rank's container outlived the job"
    finally:
        shutil.rmtree(work, ignore_errors=True)
        engine.cli("rmi", "-f", "mpi-ring", "mpi-base", check=False)

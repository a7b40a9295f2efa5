"""Issue 15: MPI inside the Slurm lab, the hybrid model with Slurm's own PMIx server.

`srun --mpi=pmix -n 2 mpi-rank.sh IMAGE python3 /opt/ring.py`: slurmstepd's mpi/pmix plugin
(Debian 12's slurm-wlm 22.05, PMIx 4.2) serves two ranks, each in a container of its own
(contrib/slurm/mpi-rank.sh: `rootless run --rm --userns keep-id --network host --ipc host
--pid host -v /tmp:/tmp`, the PMIx server's directory bound, PMIX_*/OMPI_*/SLURM_* passed by
name), and Open MPI 4.1 in the image (test_mpi.py's, built with `rootless build`) sends rank 0's
token to rank 1 over the shared-memory transport only (OMPI_MCA_btl=self,vader, itself passed
through). The same through `sbatch contrib/slurm/mpi.sh`, the job script a user copies.

The lab is test_slurm_lab.py's fixture (started again for this module, ~5 s), whose spool dir
is outside /tmp as /var/spool/slurmd is, so the rank's bind of the PMIx server's directory is
what puts it in the container (each rank checks). The ranks use the session's engine, started
outside the job; the image is built once for both tests (~5 s with debootstrap's tar cached).
Opt-in where debootstrap or libpmix-dev is missing: Debian 12's mpi/pmix plugin dlopens
<libdir>/pmix2/lib/libpmix.so, which only libpmix-dev ships; without it `srun --mpi=pmix`
fails with "mpi/pmix_v4: init: ... pmi/pmix: can not load PMIx library"
(contrib/setup-host.sh --tests installs both).
"""
from __future__ import annotations

import glob
import os
import shutil
from typing import Dict, Iterator

import pytest

from tests.integration.conftest import REPO, Engine
from tests.integration.test_mpi import ROOTLESS, build_ring_image, remove_ring_image, wait_ranks_gone
from tests.integration.test_slurm_lab import SlurmLab, _user_dir, slurm_lab  # noqa: F401 (a fixture)

pytestmark = pytest.mark.timeout(300)
IMAGE = "slurm-mpi-ring"
TOKEN = "rank 1 of 2 got token-from-rank-0"


@pytest.fixture(scope="module")
def ring(slurm_lab: SlurmLab, engine: Engine) -> Iterator[str]:  # noqa: F811
    """The ranks' work dir (mpi-rank.sh, ring.py), with IMAGE built in the session's engine."""
    if not shutil.which("debootstrap"):
        pytest.skip("needs debootstrap on the host for the MPI image (contrib/setup-host.sh --tests)")
    if not glob.glob("/usr/lib/*/pmix2/lib/libpmix.so"):
        pytest.skip("Slurm's mpi/pmix plugin can't load libpmix.so: apt-get install libpmix-dev")
    work = _user_dir(slurm_lab, "mpi")
    try:
        build_ring_image(engine, work, IMAGE)
        yield work
    finally:
        remove_ring_image(engine, IMAGE)


def _job_env(engine: Engine, **extra: str) -> Dict[str, str]:
    # OMPI_MCA_btl reaches the ranks only through mpi-rank.sh's OMPI_* passthrough
    return {**engine.env, "ROOTLESS": ROOTLESS, "OMPI_MCA_btl": "self,vader", **extra}


# Each rank first shows that the PMIx server's directory (outside /tmp in the lab, as
# /var/spool/slurmd is) is in its container: without it PMIx falls back, silently, to asking the
# server over its socket for what the key-value store there (gds ds21) holds.
RANK_CMD = ["sh", "-c", 'ls -d "$PMIX_SERVER_TMPDIR"/pmix_dstor_ds21_* >/dev/null && exec python3 /opt/ring.py']


def test_srun_mpi_pmix_two_ranks_in_two_containers(slurm_lab: SlurmLab, engine: Engine,  # noqa: F811
                                                   ring: str) -> None:
    result = slurm_lab.user.run(
        ["srun", "--mpi=pmix", "-n", "2", "-t", "1", os.path.join(ring, "mpi-rank.sh"), IMAGE, *RANK_CMD],
        env=slurm_lab.env(_job_env(engine)), timeout=150, check=False)
    assert TOKEN in result.stdout, f"{result.stdout}\n{result.stderr}\n{slurm_lab.logs()}"
    assert result.returncode == 0, result.stderr
    assert wait_ranks_gone(engine, IMAGE) == "", "a rank's container outlived the step"


def test_sbatch_mpi_job_script(slurm_lab: SlurmLab, engine: Engine, ring: str) -> None:  # noqa: F811
    script = os.path.join(ring, "mpi.sh")
    shutil.copy(os.path.join(REPO, "contrib", "slurm", "mpi.sh"), script)
    os.chmod(script, 0o755)
    env = _job_env(engine, IMAGE=IMAGE, MPI_RANK=os.path.join(ring, "mpi-rank.sh"))
    result = slurm_lab.user.run(
        ["sbatch", "--wait", "--ntasks=2", "--time=1", f"--chdir={ring}", f"--output={ring}/job-%j.out",
         script, *RANK_CMD], env=slurm_lab.env(env), timeout=150, check=False)
    job_log = "".join(open(os.path.join(ring, n)).read() for n in os.listdir(ring) if n.startswith("job-"))
    assert TOKEN in job_log, f"{result.stdout}{result.stderr}\n{job_log}\n{slurm_lab.logs()}"
    assert result.returncode == 0, job_log
    assert wait_ranks_gone(engine, IMAGE) == "", "a rank's container outlived the job"

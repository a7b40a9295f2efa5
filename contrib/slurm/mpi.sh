#!/bin/bash
# An MPI job in containers, the hybrid model (as Apptainer documents it): Slurm starts one
# container per rank, and the Open MPI inside the image reaches Slurm's PMIx server.
#   sbatch contrib/slurm/mpi.sh
# The image needs an MPI compatible with the host's launcher: Debian's openmpi-bin with
# Debian's slurm-wlm (PMIx 5). For example (`rootless build -t mpi-hello .`):
#   FROM debian:bookworm
#   RUN apt-get update && apt-get install -y --no-install-recommends openmpi-bin libopenmpi-dev gcc libc6-dev
#   COPY hello_mpi.c /src/
#   RUN mpicc -o /usr/local/bin/hello_mpi /src/hello_mpi.c
# Build it once on the login node and put it in the site store (README "HPC") or pull it per job.
#SBATCH --job-name=rootless-mpi
#SBATCH --nodes=1
#SBATCH --ntasks=2
#SBATCH --time=00:10:00
#SBATCH --output=%x-%j.out
set -euo pipefail

export ROOTLESS_IDLE_TIMEOUT=${ROOTLESS_IDLE_TIMEOUT:-30}
if [ -n "${XDG_RUNTIME_DIR:-}" ] && [ ! -w "$XDG_RUNTIME_DIR" ]; then unset XDG_RUNTIME_DIR; fi
IMAGE=${IMAGE:-mpi-hello}

# One engine per node serves every rank on it: start it (and pull) once before the step,
# so the ranks don't race to start it.
srun --ntasks-per-node=1 rootless pull -q "$IMAGE" || true

# The launcher's variables (PMIx rendezvous, Open MPI's, Slurm's), by name: `-e NAME` takes
# the value from the rank's own environment.
pass_env() { env | sed -n 's/^\(PMIX_[A-Z0-9_]*\|OMPI_[A-Z0-9_]*\|SLURM_[A-Z0-9_]*\)=.*/-e \1/p'; }
export -f pass_env

# --network host: the node's interfaces (TCP and the fabric) for MPI's transports;
# --ipc host: one /dev/shm for the shared-memory transport between ranks on a node;
# -v /tmp:/tmp: where the PMIx server puts its rendezvous sockets;
# --userns keep-id (also rootless's default in a job, said here for mpirun outside one): each rank
# runs as you; as uid 0 MPI_Init fails ("OPAL ERROR: Unreachable in file ext3x_client.c"), the
# PMIx server expects the user's uid in the handshake. The same flags work under the host's
# `mpirun -np 2 rank.sh IMAGE CMD` (tests/integration/test_mpi.py).
srun --mpi=pmix bash -c "exec rootless run --rm --userns keep-id --network host --ipc host \
    -v /tmp:/tmp -v '$PWD':/work -w /work \$(pass_env) '$IMAGE' hello_mpi" \
    || { echo "mpi: the step failed; is Slurm's PMIx plugin installed (srun --mpi=list)?" >&2; exit 1; }

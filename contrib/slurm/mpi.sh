#!/bin/bash
# An MPI job in containers, the hybrid model (as Apptainer documents it): Slurm starts one
# container per rank, and the Open MPI inside the image reaches slurmstepd's PMIx server.
#   sbatch contrib/slurm/mpi.sh [CMD ARGS...]          (default CMD: hello_mpi)
#   IMAGE=my-image sbatch --ntasks=8 contrib/slurm/mpi.sh ./solver input.dat
# Needs: Slurm's mpi/pmix plugin (`srun --mpi=list` shows pmix; on Debian 12 it also needs
# the libpmix-dev package, see README "HPC"), and contrib/slurm/mpi-rank.sh installed as
# `rootless-mpi-rank` (or MPI_RANK=/path/to/mpi-rank.sh).
# The image needs an MPI that speaks the host's PMIx: Debian 12's openmpi-bin with Debian 12's
# slurm-wlm (PMIx 4). For example (`rootless build -t mpi-hello .`):
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
MPI_RANK=${MPI_RANK:-rootless-mpi-rank}
export ROOTLESS=${ROOTLESS:-rootless}  # the command mpi-rank.sh runs
[ $# -gt 0 ] || set -- hello_mpi

# One engine per node serves every rank on it: start it, and pull the image where the node
# lacks it, once per node before the MPI step, so the ranks don't race to do both.
# shellcheck disable=SC2016  # $ROOTLESS and $1 expand in the step's shell
srun --ntasks="$SLURM_JOB_NUM_NODES" --ntasks-per-node=1 \
    bash -c '$ROOTLESS image inspect "$1" >/dev/null 2>&1 || $ROOTLESS pull -q "$1"' pull "$IMAGE"

# One rank per task, each in its own container: mpi-rank.sh adds --userns keep-id --network host
# --ipc host --pid host -v /tmp:/tmp, binds the PMIx server's directory and passes the PMIX_*,
# OMPI_* and SLURM_* variables through (its header says why each is needed).
srun --mpi=pmix "$MPI_RANK" -v "$PWD":/work -w /work "$IMAGE" "$@" \
    || { echo "mpi: the step failed; does \`srun --mpi=list\` show pmix?" >&2; exit 1; }

#!/bin/bash
# One MPI rank in one container, the hybrid model: the host's launcher starts this once per rank.
#   srun --mpi=pmix -n 4 mpi-rank.sh [more `rootless run` flags] IMAGE CMD...
#   mpirun -np 4 mpi-rank.sh [more `rootless run` flags] IMAGE CMD...
# A site installs it as a command: install -m 755 contrib/slurm/mpi-rank.sh /usr/local/bin/rootless-mpi-rank
#
# It is `rootless run` plus what the MPI library in the image needs from the launcher:
#   --userns keep-id   the rank runs as you: PMIx's handshake carries the client's uid, and as
#                      uid 0 MPI_Init fails ("OPAL ERROR: Unreachable in file ext3x_client.c");
#   --network host     the node's interfaces: the PMIx server's TCP address on loopback
#                      (PMIX_SERVER_URI*), MPI's TCP transport and the fabric;
#   --ipc host         one /dev/shm, where Open MPI's shared-memory transport (vader) puts the
#                      segments ranks on a node map from each other;
#   --pid host         real pids: in a pid namespace of its own every rank is pid 1, and vader,
#                      which tells its own segment from a peer's by the creator's pid, takes the
#                      peer's for its own and segfaults in mca_btl_vader_sendi (its CMA
#                      single-copy path needs the peer's real pid too);
#   -v /tmp:/tmp       Open MPI's session directory and PMIX_SYSTEM_TMPDIR;
#   -v $PMIX_SERVER_TMPDIR  the PMIx server's directory (under slurmd's spool dir, e.g.
#                      /var/spool/slurmd/pmix.JOB.STEP/, or mpirun's session dir): the
#                      shared-memory key-value store (PMIX_DSTORE_*_BASE_PATH) the client maps;
#   -e NAME            each PMIX_*, OMPI_* and SLURM_* variable: the server's address, the
#                      namespace and rank, the job's geometry. `rootless run`, as `docker run`,
#                      passes none of the caller's environment by itself.
# ROOTLESS names the rootless command (default `rootless`).
set -euo pipefail

args=(--rm --userns keep-id --network host --ipc host --pid host -v /tmp:/tmp)
for name in $(compgen -e); do
    case "$name" in
        PMIX_*|OMPI_*|SLURM_*) args+=(-e "$name") ;;
    esac
done
tmpdir=${PMIX_SERVER_TMPDIR:-}
tmpdir=${tmpdir%/}
[ -z "$tmpdir" ] || args+=(-v "$tmpdir:$tmpdir")
# shellcheck disable=SC2086  # ROOTLESS may be a command with arguments (python3 -m rootless.cli)
exec ${ROOTLESS:-rootless} run "${args[@]}" "$@"

#!/bin/bash
# An sbatch job that pulls an image, runs a container and keeps its output in your directory.
#   sbatch contrib/slurm/job.sh
#SBATCH --job-name=rootless-example
#SBATCH --time=00:10:00
#SBATCH --ntasks=1
#SBATCH --output=%x-%j.out
set -euo pipefail

# Leave nothing behind on the compute node: the daemon exits 30 s after the last
# container and client, taking its pause process with it (the site epilog,
# contrib/slurm/epilog.sh, does the same at the job's end in any case).
export ROOTLESS_IDLE_TIMEOUT=${ROOTLESS_IDLE_TIMEOUT:-30}
# On the login node /run/user/$UID exists; on a compute node it may not: let rootless pick.
if [ -n "${XDG_RUNTIME_DIR:-}" ] && [ ! -w "$XDG_RUNTIME_DIR" ]; then unset XDG_RUNTIME_DIR; fi

IMAGE=${IMAGE:-docker.io/library/busybox:latest}
OUT=${OUT:-$SLURM_SUBMIT_DIR/results/$SLURM_JOB_ID}
mkdir -p "$OUT"

# The store goes to node-local storage by itself when $HOME is on NFS/Lustre/GPFS
# ("rootless info" says where and why). `run` pulls on any node that lacks the image.
rootless pull -q "$IMAGE"
srun rootless run --rm -v "$OUT":/out "$IMAGE" \
    sh -c 'echo "task $SLURM_PROCID on $(hostname): $(date -u +%FT%TZ)" > /out/task-$SLURM_PROCID.txt'

ls -l "$OUT"

#!/bin/sh
# Slurm epilog: end the job user's rootless engine on this node (issue 15).
#
# slurm.conf:  Epilog=/etc/slurm/epilog.d/rootless.sh   (runs as root after every job)
#
# Why: rootless starts a per-user daemon (rootlessd) and a pause process that
# holds the user namespace. With proctrack/cgroup slurmd kills them with the
# job step (they live in its cgroup); with proctrack/linuxproc or pgid they
# escape the job, since the daemon detaches. Two things then end them:
#   - idle_timeout (config.toml, or ROOTLESS_IDLE_TIMEOUT in the job): the
#     daemon exits after that many seconds with no container and no client,
#     and takes the pause process with it;
#   - this epilog: `rootless system stop --all` as the job's user, which stops
#     the daemon, every container and the pause process.
# A user with another job still running on this node keeps the engine.
set -u
PATH=/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin; export PATH  # slurmd's epilog env is bare
[ -n "${SLURM_JOB_USER:-}" ] || exit 0
ROOTLESS=rootless
# site settings (the test lab inserts its own here)
#LAB-SETTINGS#

if command -v squeue >/dev/null 2>&1 && [ -n "${SLURMD_NODENAME:-}" ]; then
    others=$(squeue -h -t running -u "$SLURM_JOB_USER" -w "$SLURMD_NODENAME" -o %i 2>/dev/null |
             grep -vx "${SLURM_JOB_ID:-none}")
    [ -z "$others" ] || exit 0
fi

home=$(getent passwd "$SLURM_JOB_USER" | cut -d: -f6)
uid=$(id -u "$SLURM_JOB_USER")
stop() {
    runuser -u "$SLURM_JOB_USER" -- env HOME="$home" USER="$SLURM_JOB_USER" "$@" \
        $ROOTLESS system stop --all --timeout 20 || true
}
if [ -n "${ROOTLESS_RUNTIME_DIR:-}" ]; then
    stop ROOTLESS_RUNTIME_DIR="$ROOTLESS_RUNTIME_DIR" ${PYTHONPATH:+PYTHONPATH="$PYTHONPATH"}
    exit 0
fi
# The runtime dirs rootless uses when nothing is set (config/paths.py), first the login session's.
for dir in "/run/user/$uid/rootless" "$home/.local/share/rootless/run" "/tmp/rootless-$uid"; do
    [ -d "$dir" ] && stop ROOTLESS_RUNTIME_DIR="$dir"
done
exit 0

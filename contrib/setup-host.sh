#!/usr/bin/env bash
# Prepare a Debian/Ubuntu host for rootless, as root. Idempotent.
#   contrib/setup-host.sh [--user NAME] [--tests]
# Installs the tools the engine drives, makes /dev/net/tun and /dev/fuse usable
# by users, gives NAME (created if missing) a subuid/subgid range, and installs
# rootless into /opt/rootless/venv (outside any home dir, so every user can run it).
set -euo pipefail

USER_NAME=""
WITH_TESTS=0
while [ $# -gt 0 ]; do
    case "$1" in
        --user) USER_NAME="$2"; shift 2 ;;
        --tests) WITH_TESTS=1; shift ;;
        *) echo "setup-host: unknown argument: $1" >&2; exit 2 ;;
    esac
done

if [ "$(id -u)" -ne 0 ]; then
    echo "setup-host: must run as root (it installs packages and edits /etc/subuid)" >&2
    exit 1
fi

SRC="$(cd "$(dirname "$0")/.." && pwd)"
VENV=/opt/rootless/venv
PKGS="crun conmon uidmap slirp4netns passt fuse-overlayfs catatonit python3 python3-venv tar iproute2 nftables util-linux squashfs-tools squashfuse"
if [ "$WITH_TESTS" = 1 ]; then
    PKGS="$PKGS busybox-static docker-registry apache2-utils openssh-server openssh-client openssl docker-compose podman"
    # The HPC tests (issue 15): a single-host Slurm lab (~20 s) and a FUSE mount that refuses chown.
    PKGS="$PKGS slurmctld slurmd slurm-client munge bindfs"
    # The MPI test: the host's mpirun, and debootstrap for its image (openmpi-bin + mpi4py, ~45 s once).
    PKGS="$PKGS openmpi-bin debootstrap"
    # `srun --mpi=pmix`: Debian 12's mpi/pmix plugin dlopens pmix2/lib/libpmix.so, which only the -dev package ships.
    PKGS="$PKGS libpmix-dev"
fi

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "setup-host: installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq $missing >/dev/null
fi

# Distros ship these 0666; some images make them 0600, which breaks
# slirp4netns and fuse-overlayfs inside a user namespace.
for dev in /dev/net/tun /dev/fuse; do
    [ -e "$dev" ] && chmod 0666 "$dev"
done
# Debian < 11 and some kernels gate unprivileged user namespaces.
if [ -f /proc/sys/kernel/unprivileged_userns_clone ]; then
    echo 1 > /proc/sys/kernel/unprivileged_userns_clone || true
fi

if [ -n "$USER_NAME" ]; then
    id "$USER_NAME" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$USER_NAME"
    for f in /etc/subuid /etc/subgid; do
        touch "$f"
        if ! grep -q "^$USER_NAME:" "$f"; then
            start=$(awk -F: 'BEGIN{m=100000} {e=$2+$3; if (e>m) m=e} END{print m}' "$f")
            echo "$USER_NAME:$start:65536" >> "$f"
        fi
    done
fi

# The venv uses the system Python so that unprivileged users can execute it.
if [ ! -x "$VENV/bin/python" ]; then
    mkdir -p "$(dirname "$VENV")"
    /usr/bin/python3 -m venv "$VENV"
fi
extras=""
[ "$WITH_TESTS" = 1 ] && extras="[test]"
"$VENV/bin/pip" install -q --disable-pip-version-check "$SRC$extras"
# Compiled modules for every user: they can't write __pycache__ under /opt, so a missing
# .pyc is compiled again at every start (25-60 ms of each `rootless` command, bench/README.md).
# pip compiles at install unless told not to (PIP_NO_COMPILE, pip.conf); this makes sure, for
# rootless and the packages it imports at run time (up-to-date files are skipped).
site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
for pkg in rootless click dnslib requests urllib3 idna charset_normalizer certifi tomli isal; do
    if [ -d "$site/$pkg" ]; then "$VENV/bin/python" -m compileall -q -j 0 "$site/$pkg" >/dev/null; fi
done
# What the systemd units' Documentation= points at (contrib/systemd).
install -m 0644 "$SRC/README.md" /opt/rootless/README.md
ln -sf "$VENV/bin/rootless" /usr/local/bin/rootless
ln -sf "$VENV/bin/rootlessd" /usr/local/bin/rootlessd
chmod -R a+rX /opt/rootless
echo "setup-host: ready (rootless installed in $VENV)"

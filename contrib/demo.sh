#!/usr/bin/env bash
# The demo, offline: set the host up (as root), then, as the unprivileged user
# rootless-demo, show the engine's set-up, check the host, build a small image
# from the static busybox and run it.
set -euo pipefail
cd "$(dirname "$0")/.."
DEMO_USER=rootless-demo
bash contrib/setup-host.sh --user "$DEMO_USER"
DEMO_HOME="$(getent passwd "$DEMO_USER" | cut -d: -f6)"
as_user() {
    (cd "$DEMO_HOME" && runuser -u "$DEMO_USER" -- env -i HOME="$DEMO_HOME" USER="$DEMO_USER" \
        PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 "$@")
}
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
# A daemon left from an earlier run would still run the code installed then.
as_user rootless system stop >/dev/null 2>&1 || true
step rootless info;   as_user rootless info
step rootless doctor; as_user rootless doctor || true
as_user sh -s < contrib/demo-containers.sh

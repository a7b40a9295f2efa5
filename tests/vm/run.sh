#!/usr/bin/env bash
# The laptop-host suite (issue 12) in one command, as root on the development host:
#
#   tests/vm/run.sh [pytest args...]      e.g. tests/vm/run.sh -k oom
#
# Builds the Debian 12 VM if needed (../shared/vm, ~2 min once), boots it if it is not
# running (30-80 s under TCG), installs this checkout into a venv there as a user would
# (a wheelhouse built here: the guest has no route to PyPI), pushes the docker CLI, runs
# tests/vm/test_laptop.py as `dev` over ssh (a real logind session with the user's
# systemd and D-Bus) and stops the VM again if it booted it (KEEP_VM=1 leaves it up).
# About 5 minutes from a built image on 2 quiet cores (9.5 with 7 other jobs); too slow for CI (see README).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
KIT=${VM_KIT:-$(cd "$ROOT/../shared/vm" 2>/dev/null && pwd || echo /work/shared/vm)}
WHEELS=${VM_WHEELS:-/var/tmp/rootless-vm-wheels}
PY=${HOST_PYTHON:-/usr/bin/python3}  # the guest's Python is 3.11: the wheelhouse must match
log() { printf '[vm-suite %s] %s\n' "$(date +%T)" "$*" >&2; }

[[ $(id -u) == 0 ]] || { echo "run as root (the VM kit needs it)" >&2; exit 2; }
[[ -x $KIT/start.sh ]] || { echo "no VM kit at $KIT (set VM_KIT)" >&2; exit 2; }
. "$KIT/vm.env"

if [[ ! -s $VM_IMAGE ]]; then
  log "building the VM ($KIT/build.sh)"
  "$KIT/build.sh"
fi
started=0
if ! vm_running; then
  log "booting the VM"
  "$KIT/start.sh" >/dev/null
  started=1
fi
stop_vm() { if [[ $started == 1 && ${KEEP_VM:-0} != 1 ]]; then log "stopping the VM"; "$KIT/stop.sh" >/dev/null || true; fi; }
trap stop_vm EXIT

log "wheelhouse $WHEELS"
mkdir -p "$WHEELS"
rm -f "$WHEELS"/rootless-*.whl
"$PY" -m pip wheel -q --no-deps -w "$WHEELS" "$ROOT" 2>&1 | grep -v '^WARNING' || true
# every run: a dependency added since the wheelhouse was made (PyYAML, dnslib…) must be in it;
# wheels already there are reused (--find-links), so only new ones are fetched
"$PY" -m pip wheel -q --find-links "$WHEELS" -w "$WHEELS" "$ROOT" pytest docker 2>&1 | grep -v '^WARNING' || true

stage=$(mktemp -d)
cp "$HERE/test_laptop.py" "$stage/"
cp -r "$ROOT/contrib/systemd" "$stage/systemd"  # the units the socket-activation test installs
cp "$(command -v docker)" "$stage/docker"
"$KIT/push.sh" --delete "$WHEELS" wheels >/dev/null
"$KIT/push.sh" --delete "$stage" vmtests >/dev/null
rm -rf "$stage"

log "installing into ~dev/v and running the suite in the guest"
args=$(printf ' %q' "$@")  # the guest's shell word-splits the line again: -k "a or b" must stay one word
set +e
"$KIT/ssh.sh" dev "set -e
  [ -x ~/v/bin/python ] || python3 -m venv ~/v
  ~/v/bin/pip install -q --no-index --find-links ~/wheels rootless pytest docker
  ~/v/bin/pip install -q --no-index --find-links ~/wheels --force-reinstall --no-deps rootless
  ~/v/bin/rootless system stop --all >/dev/null 2>&1 || true
  cd ~/vmtests && PATH=~/v/bin:\$PATH DOCKER=~/vmtests/docker ROOTLESS_VM_SUITE=1 \
    ~/v/bin/python -m pytest -p no:cacheprovider -v -rxXs test_laptop.py$args" 2>&1
rc=$?
set -e
log "suite exit code $rc"
exit $rc

#!/usr/bin/env bash
# Set up this host (as root) and run the whole test suite: unit tests, then
# integration tests that drive the engine as the unprivileged user rootless-test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash contrib/setup-host.sh --user rootless-test --tests
exec /opt/rootless/venv/bin/python -m pytest -q -p no:cacheprovider tests "$@"

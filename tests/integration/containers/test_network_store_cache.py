"""The daemon serves network records from a cache checked against each file's stat
(networks/store.py, _cached_record): a record someone else changes on disk (an edit in
place that keeps inode, size and mtime, an atomic replace, a removal) is seen at once."""
from __future__ import annotations

import json
import os
import time

from rootless.networks.store import RACY_NS
from tests.integration.conftest import VENV_PYTHON, Engine

NAME = "cache-net"
# Run as the engine's user: the bytes old -> new in place, then the mtime put back.
EDIT_IN_PLACE = r"""
import os, sys
path, old, new = sys.argv[1:]
info = os.stat(path)
with open(path, "r+b") as f:
    text = f.read()
    assert old.encode() in text and len(old) == len(new)
    f.seek(0)
    f.write(text.replace(old.encode(), new.encode()))
os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
"""
# Another writer's atomic replace: the label team set to new.
REPLACE = r"""
import json, os, sys
path, new = sys.argv[1:]
with open(path) as f:
    record = json.load(f)
record["Labels"]["team"] = new
with open(path + ".tmp", "w") as f:
    json.dump(record, f)
os.replace(path + ".tmp", path)
"""


def label(engine: Engine) -> str:
    return engine.docker("network", "inspect", "-f", "{{index .Labels \"team\"}}", NAME).stdout.strip()


def settle_and_cache(engine: Engine) -> str:
    """Past the racy margin, so the daemon's next read of the record is cached; its label."""
    time.sleep(RACY_NS / 1e9 + 0.5)
    label(engine)
    return label(engine)


def test_records_changed_on_disk_by_someone_else_are_seen_at_once(engine: Engine, busybox: str) -> None:
    network_id = engine.docker("network", "create", "--label", "team=aaaa", NAME).stdout.strip()
    path = os.path.join(engine.root, "networks", f"{network_id}.json")
    try:
        assert settle_and_cache(engine) == "aaaa"
        engine.user.run([VENV_PYTHON, "-c", EDIT_IN_PLACE, path, '"aaaa"', '"bbbb"'])
        assert label(engine) == "bbbb"
        assert settle_and_cache(engine) == "bbbb"
        engine.user.run([VENV_PYTHON, "-c", REPLACE, path, "cccc"])
        assert label(engine) == "cccc"
        assert settle_and_cache(engine) == "cccc"
        engine.docker("run", "--rm", "--network", NAME, busybox, "true")  # its side file comes and goes
        with open(path) as f:
            assert json.load(f)["Containers"] == {}
    finally:
        engine.docker("network", "rm", NAME, check=False)


def test_a_record_removed_on_disk_by_someone_else_is_gone_at_once(engine: Engine) -> None:
    # A network no container used: a hand-removed record of one that had a bridge would
    # leave that bridge, with its subnet, in the shared namespace for the session's engine.
    network_id = engine.docker("network", "create", "--label", "team=aaaa", NAME).stdout.strip()
    path = os.path.join(engine.root, "networks", f"{network_id}.json")
    try:
        assert settle_and_cache(engine) == "aaaa"
        engine.user.run([VENV_PYTHON, "-c", "import os, sys; os.unlink(sys.argv[1])", path])
        names = engine.docker("network", "ls", "--format", "{{.Name}}").stdout.split()
        assert NAME not in names and "bridge" in names
        assert engine.docker("network", "inspect", NAME, check=False).returncode != 0
    finally:
        engine.docker("network", "rm", NAME, check=False)

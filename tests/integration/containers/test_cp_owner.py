"""docker cp into a container: who owns what it writes (dockerd's tarCopyOptions).

The tar a client sends carries the client's own ids, which mean nothing in the
container. Without -a every entry belongs to the container's root; with -a
(copyUIDGID) to the container's configured user.
"""
from __future__ import annotations

import os
import tempfile

from tests.integration.conftest import Engine


def _host_file(engine: Engine) -> str:
    directory = tempfile.mkdtemp(prefix="cpown-", dir="/tmp")
    path = os.path.join(directory, "f.txt")
    with open(path, "w") as f:
        f.write("x\n")
    for entry in (directory, path):
        os.chown(entry, engine.user.uid, engine.user.gid)
    return path


def test_cp_in_gives_files_to_the_containers_root_or_with_a_to_its_user(engine: Engine, busybox: str) -> None:
    source = _host_file(engine)
    engine.docker("run", "-d", "--name", "cpown", "-u", "1000:1000", busybox, "sleep", "300")
    try:
        engine.docker("cp", source, "cpown:/tmp/plain.txt")
        engine.docker("cp", "-a", source, "cpown:/tmp/archive.txt")
        engine.cli("cp", source, "cpown:/tmp/ours.txt")
        owners = engine.docker("exec", "cpown", "stat", "-c", "%n %u:%g",
                               "/tmp/plain.txt", "/tmp/archive.txt", "/tmp/ours.txt").stdout.split("\n")
        assert owners[:3] == ["/tmp/plain.txt 0:0", "/tmp/archive.txt 1000:1000", "/tmp/ours.txt 0:0"]
    finally:
        engine.docker("rm", "-f", "cpown", check=False)

"""A container's hostname, hosts and resolv.conf are written in the runtime dir
(<run>/etc/<id>, Paths.etc_dir), not in its container dir in the storage root: what the
container, a sidecar (--network container:X), inspect and docker cp see, across a daemon
SIGKILL, a stop, a start after a reboot emptied the runtime dir, and the removal."""
from __future__ import annotations

import os
import pathlib
import shutil
import signal
import tempfile
import time

from tests.integration.conftest import Engine

NAMES = ("hostname", "hosts", "resolv.conf")


def _cp_out(eng: Engine, source: str) -> str:
    out = pathlib.Path(tempfile.mkdtemp(prefix="etcrun-", dir="/tmp"))
    try:
        os.chown(out, eng.user.uid, eng.user.gid)
        eng.docker("cp", source, str(out / "f"))
        return (out / "f").read_text()
    finally:
        shutil.rmtree(out, ignore_errors=True)


def test_etc_files_live_in_the_runtime_dir_through_a_containers_life(fresh_engine: Engine, images) -> None:  # type: ignore[no-untyped-def]
    eng = fresh_engine
    eng.cli("info")
    eng.docker("pull", "-q", images.busybox, timeout=300)
    cid = eng.docker("run", "-d", "--name", "web", "--hostname", "etchost", "--add-host", "db:10.9.8.7",
                     "--dns", "10.1.1.1", "--dns-search", "example.test", images.busybox, "sleep", "300").stdout.strip()
    etc_dir = os.path.join(eng.run_dir, "etc", cid)
    shown = eng.docker("inspect", "-f", "{{.HostnamePath}} {{.HostsPath}} {{.ResolvConfPath}}", "web").stdout.split()
    assert shown == [os.path.join(etc_dir, name) for name in NAMES]
    assert not set(NAMES) & set(os.listdir(os.path.join(eng.root, "containers", cid)))
    assert eng.docker("exec", "web", "cat", "/etc/hostname").stdout == "etchost\n"
    assert "10.9.8.7\tdb" in eng.docker("exec", "web", "cat", "/etc/hosts").stdout
    resolv = eng.docker("exec", "web", "cat", "/etc/resolv.conf").stdout
    assert "nameserver 10.1.1.1" in resolv and "search example.test" in resolv
    side = eng.docker("run", "--rm", "--network", "container:web", images.busybox, "cat", "/etc/hostname").stdout
    assert side == "etchost\n"  # the namespace owner's files

    os.kill(eng.daemon_pid(), signal.SIGKILL)  # the runtime dir outlives the daemon: the files are still bound
    time.sleep(0.5)
    eng.cli("info")
    assert "10.9.8.7\tdb" in eng.docker("exec", "web", "cat", "/etc/hosts").stdout

    eng.docker("stop", "-t", "0", "web")
    assert _cp_out(eng, "web:/etc/hostname") == "etchost\n"  # a stopped one's cp reads them, as dockerd's
    assert "/etc/hosts" not in eng.docker("diff", "web").stdout

    shutil.rmtree(etc_dir)  # a reboot empties the runtime dir: the next start writes all three again
    eng.docker("start", "web")
    assert eng.docker("exec", "web", "cat", "/etc/hostname").stdout == "etchost\n"
    assert "10.9.8.7\tdb" in eng.docker("exec", "web", "cat", "/etc/hosts").stdout
    assert "nameserver 10.1.1.1" in eng.docker("exec", "web", "cat", "/etc/resolv.conf").stdout

    eng.docker("rm", "-f", "web")
    deadline = time.monotonic() + 10
    while os.path.exists(etc_dir):  # it goes after the answer
        assert time.monotonic() < deadline, os.listdir(etc_dir)
        time.sleep(0.1)

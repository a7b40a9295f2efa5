"""A conmon container's start: the engine runs `crun start` (conmon only creates), which leaves
crun's state "running" and runs the spec's poststart hooks."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import Dict, Iterator

import pytest

from tests.integration.conftest import Engine, TestUser, kill_engine_processes, make_engine

pytestmark = pytest.mark.skipif(not os.path.exists("/usr/bin/conmon"), reason="conmon is not installed")


class ConmonEngine(Engine):
    @property
    def env(self) -> Dict[str, str]:
        return {**super().env, "ROOTLESS_MONITOR": "conmon"}


@pytest.fixture()
def hooked_engine(user: TestUser, busybox: str) -> Iterator[Engine]:
    """A conmon engine with a poststart hook in its hooks.d (read at the daemon's start)."""
    base = tempfile.mkdtemp(prefix="rootless-conmon-start-", dir="/tmp")
    plain = make_engine(user, base)
    eng = ConmonEngine(plain.user, plain.root, plain.run_dir, plain.config_home)
    hooks = os.path.join(eng.config_home, "rootless", "hooks.d")
    marker = os.path.join(eng.run_dir, "poststart-ran")
    # the hook reads the state crun writes to its stdin: crun dies of SIGPIPE otherwise (a hook gone first)
    definition = {"version": "1.0.0", "hook": {"path": "/bin/sh", "args": ["sh", "-c", f"cat > /dev/null; echo ran >> {marker}"]},
                  "when": {"always": True}, "stages": ["poststart"]}
    eng.cli("unshare", "sh", "-c", f"mkdir -p {hooks} && cat > {hooks}/post.json",
            input=json.dumps(definition))
    eng.cli("system", "stop", check=False)  # the daemon `unshare` started read hooks.d before the file
    eng.cli("info")
    eng.docker("pull", "-q", busybox, timeout=300)
    yield eng
    eng.stop()
    kill_engine_processes(eng.run_dir)
    shutil.rmtree(base, ignore_errors=True)


def _crun_status(engine: Engine, cid: str) -> str:
    out = engine.cli("unshare", "crun", "--root", os.path.join(engine.run_dir, "crun"), "state", cid).stdout
    return str(json.loads(out)["status"])


def test_started_by_the_engine_is_running_for_crun(engine: Engine, busybox: str) -> None:
    # the session's engine: conmon ("auto" picks it)
    cid = engine.docker("run", "-d", busybox, "sh", "-c", "echo started; sleep 60").stdout.strip()
    try:
        kind = os.path.join(engine.run_dir, "monitors", cid, "monitor.kind")
        if not os.path.exists(kind):
            pytest.skip("the session's engine does not run conmon")
        assert _crun_status(engine, cid) == "running"
        assert not os.path.exists(os.path.join(engine.run_dir, "crun", cid, "exec.fifo"))
        assert engine.docker("exec", cid, "echo", "hi").stdout == "hi\n"
        assert "started" in engine.docker("logs", cid).stdout
    finally:
        engine.docker("rm", "-f", cid, check=False)


def test_a_poststart_hook_keeps_crun_start(hooked_engine: Engine, busybox: str) -> None:
    cid = hooked_engine.docker("run", "-d", busybox, "sleep", "60").stdout.strip()
    try:
        assert _crun_status(hooked_engine, cid) == "running"
        with open(os.path.join(hooked_engine.run_dir, "poststart-ran")) as f:
            assert f.read() == "ran\n"  # crun start ran the hook
        assert hooked_engine.docker("run", "--rm", busybox, "echo", "ok").stdout == "ok\n"
    finally:
        hooked_engine.docker("rm", "-f", cid, check=False)

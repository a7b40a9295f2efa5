"""in_netns (runtime/network/rootless_netns.py): tools and sockets in a network namespace
from a thread of their own, instead of an nsenter(1) exec per tool (issue 13, the run path).

Runs in the test engine's user+mount namespace (`rootless unshare`), where the
daemon runs it, with a namespace made by unshare(1) as the target.
"""
from __future__ import annotations

import json
import os
import tempfile

from tests.integration.conftest import VENV_PYTHON, Engine

SCRIPT = r'''
import json, os, subprocess, sys, threading
from rootless.errors import ToolError
from rootless.runtime.network import rootless_netns

target = sys.argv[1]
open(target, "a").close()
subprocess.run(["unshare", f"--net={target}", "true"], check=True)
own = os.readlink("/proc/thread-self/ns/net")

def inside():
    subprocess.run(["ip", "addr", "add", "10.1.2.3/20", "dev", "lo"], check=True)
    child = subprocess.run(["readlink", "/proc/self/ns/net"], capture_output=True, text=True).stdout.strip()
    return {"thread": os.readlink("/proc/thread-self/ns/net"), "child": child,
            "lo": rootless_netns._link_exists("lo"), "nolink": rootless_netns._link_exists("nope0"),
            "prefix": rootless_netns._ipv4_prefixlen("lo"), "none": rootless_netns._ipv4_prefixlen("nope0")}

result = rootless_netns.in_netns(target, inside)
result["own"] = own
result["after"] = os.readlink("/proc/thread-self/ns/net")
result["target"] = os.readlink(target) if os.path.islink(target) else str(os.stat(target).st_ino)
try:
    rootless_netns.in_netns(target + ".missing", lambda: None)
    result["missing"] = "no error"
except ToolError as exc:
    result["missing"] = str(exc)
try:
    rootless_netns.in_netns(target, lambda: 1 / 0)
except ZeroDivisionError:
    result["raised"] = True
print(json.dumps(result))
'''


def test_in_netns_moves_only_its_own_thread_and_what_it_starts(engine: Engine) -> None:
    work = tempfile.mkdtemp(prefix="rootless-netns-thread-", dir=engine.user.home)
    os.chown(work, engine.user.uid, engine.user.gid)
    script = os.path.join(work, "script.py")
    with open(script, "w") as f:
        f.write(SCRIPT)
    os.chmod(script, 0o644)
    out = engine.unshare(VENV_PYTHON, script, os.path.join(work, "netns")).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["thread"] != result["own"]  # the thread joined the target namespace
    assert result["child"] == result["thread"]  # and so did the tool it started (no nsenter)
    assert result["thread"] == f"net:[{result['target']}]"
    assert result["after"] == result["own"]  # the calling thread never moved
    assert result["lo"] is True and result["nolink"] is False
    assert result["prefix"] == 20 and result["none"] is None  # from the ioctl, not `ip -j addr`
    assert "netns.missing" in result["missing"]
    assert result["raised"] is True

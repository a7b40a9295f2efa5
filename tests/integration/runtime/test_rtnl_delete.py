"""rtnl.delete_link: `ip link del` by netlink, and no failure for a link already gone.

A stopped container's veth is deleted this way (rootless_netns.RootlessNetns.
_delete_link): the kernel may have deleted the pair with the container's
namespace first, which must not count as an error. Runs in the test engine's
user+mount namespace (`rootless unshare`) with a namespace made by unshare(1).
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile

from tests.integration.conftest import VENV_PYTHON, Engine

SCRIPT = r'''
import json, subprocess, sys
from rootless.errors import ToolError
from rootless.runtime.network import rootless_netns, rtnl

target = sys.argv[1]
open(target, "a").close()
subprocess.run(["unshare", f"--net={target}", "true"], check=True)

def inside():
    subprocess.run(["ip", "link", "add", "vtest0", "type", "veth", "peer", "name", "vtest1"], check=True)
    first = rtnl.delete_link("vtest0")
    result = {"first": first, "again": rtnl.delete_link("vtest0"),
              "pair_gone": not rootless_netns._link_exists("vtest0") and not rootless_netns._link_exists("vtest1")}
    try:
        rtnl.delete_link("lo")  # the kernel refuses to delete loopback
        result["lo"] = "deleted"
    except ToolError as exc:
        result["lo"] = str(exc)
    return result

print(json.dumps(rootless_netns.in_netns(target, inside)))
'''


def test_delete_link_deletes_the_pair_and_a_missing_link_is_no_error(engine: Engine) -> None:
    work = tempfile.mkdtemp(prefix="rootless-rtnl-delete-", dir=engine.user.home)
    os.chown(work, engine.user.uid, engine.user.gid)
    script = os.path.join(work, "script.py")
    with open(script, "w") as f:
        f.write(SCRIPT)
    os.chmod(script, 0o644)
    try:
        out = engine.unshare(VENV_PYTHON, script, os.path.join(work, "netns")).stdout
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = json.loads(out.strip().splitlines()[-1])
    assert result["first"] is True
    assert result["again"] is False  # gone already: no error
    assert result["pair_gone"] is True
    assert result["lo"].startswith("netlink: delete link lo:")  # other refusals still fail

from __future__ import annotations

import os

from rootless.host import cgroups

HYBRID_MOUNTINFO = """\
25 30 0:23 / /sys rw,nosuid - sysfs sysfs rw
31 25 0:27 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755
32 31 0:28 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
33 31 0:29 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
34 31 0:30 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu
"""
V2_MOUNTINFO = "31 25 0:27 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n"
V1_MOUNTINFO = HYBRID_MOUNTINFO.replace("cgroup2 cgroup2", "cgroup2 cgroup2")


def make_host(tmp_path, mountinfo: str, files: dict) -> tuple:
    proc = tmp_path / "proc"
    (proc / "self").mkdir(parents=True)
    (proc / "self" / "mountinfo").write_text(mountinfo)
    sysfs = tmp_path / "cgroup"
    for rel, content in files.items():
        path = sysfs / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return str(proc), str(sysfs)


def test_hybrid_with_a_controller_in_unified_needs_the_mask(tmp_path):
    proc, sysfs = make_host(tmp_path, HYBRID_MOUNTINFO, {"unified/cgroup.controllers": "hugetlb\n"})
    info = cgroups.detect(proc, sysfs)
    assert info.mode == cgroups.HYBRID
    assert info.needs_mask and info.manager == "disabled" and not info.limits_supported
    assert "hybrid" in info.describe()


def test_hybrid_with_an_empty_unified_is_plain_v1(tmp_path):
    proc, sysfs = make_host(tmp_path, HYBRID_MOUNTINFO, {"unified/cgroup.controllers": ""})
    info = cgroups.detect(proc, sysfs)
    assert info.mode == cgroups.V1 and not info.needs_mask


def test_v2_with_a_delegated_writable_cgroup_supports_limits(tmp_path):
    own = "user.slice/user-1000.slice/user@1000.service/app.slice"
    proc, sysfs = make_host(tmp_path, V2_MOUNTINFO, {f"{own}/cgroup.controllers": "cpu memory pids\n"})
    (tmp_path / "proc" / "self" / "cgroup").write_text(f"0::/{own}\n")
    info = cgroups.detect(proc, sysfs, uid=os.getuid())
    assert info.mode == cgroups.V2
    assert info.controllers == ["cpu", "memory", "pids"]
    assert info.limits_supported and info.manager == "cgroupfs"


def test_v2_without_delegation_refuses_limits(tmp_path):
    proc, sysfs = make_host(tmp_path, V2_MOUNTINFO, {"user.slice/cgroup.controllers": ""})
    (tmp_path / "proc" / "self" / "cgroup").write_text("0::/user.slice\n")
    info = cgroups.detect(proc, sysfs, uid=os.getuid())
    assert info.mode == cgroups.V2 and not info.limits_supported
    assert "no controllers delegated" in info.describe()

from __future__ import annotations

import os

import pytest

from rootless.errors import FailedPrecondition
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


# -- v2 with systemd (the laptop host) -------------------------------------------------

def test_user_bus_from_dbus_address_or_runtime_dir() -> None:
    env = {"DBUS_SESSION_BUS_ADDRESS": "unix:path=/run/user/1000/bus,guid=abc", "XDG_RUNTIME_DIR": "/x"}
    assert cgroups.user_bus_path(env) == "/run/user/1000/bus"
    assert cgroups.user_bus_path({"DBUS_SESSION_BUS_ADDRESS": "tcp:host=h;unix:path=/b"}) == "/b"
    assert cgroups.user_bus_path({"XDG_RUNTIME_DIR": "/run/user/7"}) == "/run/user/7/bus"
    assert cgroups.user_bus_path({}) == ""


def test_session_scope_is_outside_the_user_manager_and_a_scope_under_it_is_inside() -> None:
    assert not cgroups.in_user_manager("/user.slice/user-1000.slice/session-3.scope", 1000)
    assert cgroups.in_user_manager("/user.slice/user-1000.slice/user@1000.service/app.slice/rootlessd-9.scope", 1000)
    assert not cgroups.in_user_manager("/user.slice/user-1000.slice/user@10000.service/app.slice", 1000)


def test_the_scope_request_is_a_delegated_transient_scope_with_our_pids() -> None:
    argv = cgroups.scope_argv("rootlessd-5.scope", [5, 77])
    assert argv[:4] == ["busctl", "--user", "--quiet", "call"]
    assert argv[argv.index("StartTransientUnit") + 1:argv.index("StartTransientUnit") + 4] == [
        "ssa(sv)a(sa(sv))", "rootlessd-5.scope", "fail"]
    assert argv[argv.index("PIDs"):argv.index("PIDs") + 5] == ["PIDs", "au", "2", "5", "77"]
    assert argv[argv.index("Delegate"):argv.index("Delegate") + 3] == ["Delegate", "b", "true"]


def test_delegated_controllers_are_read_from_user_at_uid_service(tmp_path) -> None:
    service = tmp_path / "user.slice/user-1000.slice/user@1000.service"
    service.mkdir(parents=True)
    (service / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    assert cgroups.delegated_to_user(1000, str(tmp_path)) == ["cpuset", "cpu", "io", "memory", "pids"]
    assert cgroups.delegated_to_user(1001, str(tmp_path)) == []


def test_systemd_manager_is_reported_only_when_limits_work() -> None:
    info = cgroups.CgroupInfo(mode="v2", controllers=["memory"], writable=True, cgroup_manager="systemd")
    assert info.manager == "systemd" and "manager: systemd" in info.describe()
    unusable = cgroups.CgroupInfo(mode="v2", controllers=[], writable=True, cgroup_manager="systemd")
    assert unusable.manager == "disabled"
    assert "Delegate=cpu cpuset io memory pids" in unusable.fix


def test_hybrid_refusal_is_unchanged() -> None:
    info = cgroups.CgroupInfo(mode="hybrid")
    assert info.manager == "disabled" and "unified_cgroup_hierarchy" in info.fix


def test_require_controller_names_what_is_delegated_and_the_fix() -> None:
    info = cgroups.CgroupInfo(mode="v2", controllers=["cpu", "memory", "pids"], writable=True)
    cgroups.require_controller(info, "memory limit", "memory")
    with pytest.raises(FailedPrecondition) as caught:
        cgroups.require_controller(info, "cpuset", "cpuset")
    assert caught.value.message == "cpuset: the cpuset controller is not delegated to this user"
    assert "delegated: cpu memory pids" in (caught.value.hint or "")


def test_cgroupfs_split_moves_processes_to_a_leaf_and_enables_controllers(tmp_path) -> None:
    own = tmp_path / "scope"
    (own / "containers").mkdir(parents=True)
    (own / "cgroup.procs").write_text("4242\n")
    (own / "cgroup.controllers").write_text("memory pids\n")
    (own / "containers" / "cgroup.controllers").write_text("memory pids\n")
    assert cgroups.split_for_containers(str(own)) == ["memory", "pids"]
    assert (own / "rootlessd" / "cgroup.procs").read_text() == "4242"
    assert (own / "cgroup.subtree_control").read_text() == "+pids"  # each controller written in turn

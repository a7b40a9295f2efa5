"""GET /info's cgroup flags follow what this user's cgroup really enforces."""
from __future__ import annotations

from rootless.engine.engine import cgroup_features
from rootless.host.cgroups import CgroupInfo


def test_limit_flags_are_true_only_for_delegated_controllers() -> None:
    laptop = cgroup_features(CgroupInfo("v2", ["cpu", "memory", "pids"], "/u", True, cgroup_manager="systemd"))
    assert laptop["CgroupDriver"] == "systemd"
    assert laptop["MemoryLimit"] and laptop["SwapLimit"] and laptop["CpuCfsQuota"] and laptop["PidsLimit"]
    assert laptop["CPUSet"] is False  # cpuset was not delegated
    plain = cgroup_features(CgroupInfo("v2", ["cpuset"], "/u", True))
    assert plain["CgroupDriver"] == "cgroupfs" and plain["CPUSet"] and not plain["MemoryLimit"]


def test_a_host_without_delegation_says_none_and_no_limits() -> None:
    for info in (CgroupInfo("hybrid"), CgroupInfo("v1"), CgroupInfo("v2", ["memory"], "/u", False)):
        features = cgroup_features(info)
        assert features["CgroupDriver"] == "none"
        assert not any(v for k, v in features.items() if k != "CgroupDriver")

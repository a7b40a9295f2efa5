"""The laptop-host checks of `rootless doctor`, on their inputs (no host state)."""
from __future__ import annotations

from rootless.host import doctor


def test_all_controllers_delegated_passes() -> None:
    check = doctor.systemd_cgroup_check(1000, ["cpuset", "cpu", "io", "memory", "pids"])
    assert check.status == "ok" and "user@1000.service delegates" in check.detail


def test_stock_systemd_delegation_warns_with_the_drop_in_fix() -> None:
    check = doctor.systemd_cgroup_check(1000, ["cpu", "memory", "pids"])  # systemd 252's default set
    assert check.status == "warn"
    assert "limits needing cpuset io are refused" in check.detail
    assert check.fix is not None and "user@.service.d/delegate.conf" in check.fix
    assert "Delegate=cpu cpuset io memory pids" in check.fix


def test_nothing_delegated_warns() -> None:
    check = doctor.systemd_cgroup_check(1000, [])
    assert check.status == "warn" and "no controllers delegated to user@1000.service" in check.detail


def test_linger() -> None:
    assert doctor.linger_check("dev", True).status == "ok"
    missing = doctor.linger_check("dev", False)
    assert missing.status == "warn" and missing.fix == "sudo loginctl enable-linger dev"


def test_apparmor_userns_restriction_fails_with_the_sysctl_fix() -> None:
    check = doctor.apparmor_userns_check("1")
    assert check is not None and check.status == "fail"
    assert check.fix is not None and "kernel.apparmor_restrict_unprivileged_userns=0" in check.fix
    assert doctor.apparmor_userns_check("0") is None
    assert doctor.apparmor_userns_check(None) is None  # no such sysctl: not Ubuntu's AppArmor

"""The laptop-host checks of `rootless doctor`, on their inputs and on fake /proc, /sys and /run trees."""
from __future__ import annotations

import os
from typing import Dict, Optional

from rootless.host import doctor
from rootless.host.doctor import PROBE_CAPS, PROBE_OK, PROBE_UNSHARE, HostRoots

PYTHON = "/usr/bin/python3.12"
USER_SERVICE = "user.slice/user-1000.slice/user@1000.service"
V2_MOUNTINFO = "31 25 0:27 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n"


def fake_host(tmp_path, files: Dict[str, str], systemd: bool = True, lingering: Optional[str] = None) -> HostRoots:
    """A host as the checks see it: files under proc/, cgroup/ and run/ of tmp_path."""
    roots = HostRoots(proc=str(tmp_path / "proc"), cgroup=str(tmp_path / "cgroup"), run=str(tmp_path / "run"),
                      linger=str(tmp_path / "linger"))
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (tmp_path / "linger").mkdir(parents=True)
    if systemd:
        (tmp_path / "run" / "systemd" / "system").mkdir(parents=True)
    if lingering:
        (tmp_path / "linger" / lingering).write_text("")
    return roots


def laptop(tmp_path, delegated: str = "cpuset cpu io memory pids", **kwargs) -> HostRoots:
    """Pure v2, systemd, the shell in session-2.scope, user@1000.service with `delegated`."""
    return fake_host(tmp_path, {
        "proc/self/mountinfo": V2_MOUNTINFO,
        "proc/self/cgroup": "0::/user.slice/user-1000.slice/session-2.scope\n",
        "cgroup/user.slice/user-1000.slice/session-2.scope/cgroup.controllers": "",
        f"cgroup/{USER_SERVICE}/cgroup.controllers": delegated + "\n",
        "run/user/1000/bus": "",
    }, **kwargs)


def session_env(tmp_path) -> Dict[str, str]:
    return {"XDG_RUNTIME_DIR": str(tmp_path / "run" / "user" / "1000"),
            "DBUS_SESSION_BUS_ADDRESS": f"unix:path={tmp_path}/run/user/1000/bus"}


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


def test_doctor_on_a_laptop_reads_user_service_delegation(tmp_path) -> None:
    check = doctor.check_cgroups(laptop(tmp_path), session_env(tmp_path), uid=1000)
    assert check.status == "ok"
    assert check.detail == "v2 with systemd (manager: systemd): user@1000.service delegates cpuset cpu io memory pids"


def test_doctor_on_stock_debian_delegation_gives_the_drop_in(tmp_path) -> None:
    check = doctor.check_cgroups(laptop(tmp_path, "cpu memory pids"), session_env(tmp_path), uid=1000)
    assert check.status == "warn" and "limits needing cpuset io are refused" in check.detail
    assert check.fix is not None and "Delegate=cpu cpuset io memory pids" in check.fix


def test_a_shell_without_a_login_session_is_told_to_log_in(tmp_path) -> None:
    """`su dev` / `sudo -u dev`: no XDG_RUNTIME_DIR, so no way to the user's systemd."""
    check = doctor.check_cgroups(laptop(tmp_path), {}, uid=1000)
    assert check.status == "warn" and "no login session (su or sudo -u?)" in check.detail
    assert check.fix is not None and "machinectl shell" in check.fix


def test_a_session_without_the_users_dbus_gets_dbus_user_session(tmp_path) -> None:
    roots = laptop(tmp_path)
    os.unlink(tmp_path / "run" / "user" / "1000" / "bus")
    check = doctor.check_cgroups(roots, session_env(tmp_path), uid=1000)
    assert check.status == "warn" and "D-Bus" in check.detail and "is missing" in check.detail
    assert check.fix == "sudo apt-get install dbus-user-session  (then log out and in again)"


def test_hybrid_host_without_systemd_keeps_todays_answer(tmp_path) -> None:
    roots = fake_host(tmp_path, {
        "proc/self/mountinfo": ("31 25 0:27 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n"
                                "32 31 0:28 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
                                "33 31 0:29 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"),
        "cgroup/unified/cgroup.controllers": "hugetlb\n"}, systemd=False)
    check = doctor.check_cgroups(roots, {}, uid=1000)
    assert check.status == "warn" and check.detail.startswith("hybrid: ")
    assert doctor.check_linger(roots, "dev") is None  # no systemd, no logind: nothing to linger


def test_linger_from_loginds_record(tmp_path) -> None:
    assert doctor.check_linger(laptop(tmp_path / "a", lingering="dev"), "dev") == doctor.linger_check("dev", True)
    missing = doctor.check_linger(laptop(tmp_path / "b"), "dev")
    assert missing is not None and missing.status == "warn" and missing.fix == "sudo loginctl enable-linger dev"


def apparmor_host(tmp_path, restrict: str) -> HostRoots:
    return fake_host(tmp_path, {"proc/sys/kernel/apparmor_restrict_unprivileged_userns": restrict + "\n",
                                "proc/sys/user/max_user_namespaces": "63000\n"})


def test_ubuntu_24_04_apparmor_restriction_fails_with_a_profile_for_our_interpreter(tmp_path) -> None:
    check = doctor.check_userns(apparmor_host(tmp_path, "1"), lambda: PROBE_CAPS, PYTHON)
    assert check.status == "fail" and "kernel.apparmor_restrict_unprivileged_userns=1" in check.detail
    assert check.fix is not None
    assert f"profile rootless {PYTHON} flags=(unconfined)" in check.fix and "userns," in check.fix
    assert "sudo tee /etc/apparmor.d/rootless && sudo apparmor_parser -r /etc/apparmor.d/rootless" in check.fix
    assert "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0" in check.fix


def test_the_restriction_with_our_profile_loaded_passes(tmp_path) -> None:
    check = doctor.check_userns(apparmor_host(tmp_path, "1"), lambda: PROBE_OK, PYTHON)
    assert check.status == "ok" and f"a profile allows {PYTHON}" in check.detail


def test_userns_without_apparmor(tmp_path) -> None:
    assert doctor.check_userns(apparmor_host(tmp_path / "a", "0"), lambda: PROBE_OK, PYTHON).status == "ok"
    no_caps = doctor.check_userns(apparmor_host(tmp_path / "b", "0"), lambda: PROBE_CAPS, PYTHON)
    assert no_caps.status == "fail" and "no capabilities" in no_caps.detail
    refused = doctor.check_userns(fake_host(tmp_path / "c", {}), lambda: PROBE_UNSHARE, PYTHON)
    assert refused.status == "fail" and refused.detail == "unshare(CLONE_NEWUSER) was refused"


def test_userns_sysctls_off(tmp_path) -> None:
    def never() -> str:
        raise AssertionError("no probe when a sysctl already says no")

    off = fake_host(tmp_path / "a", {"proc/sys/kernel/unprivileged_userns_clone": "0\n"})
    assert doctor.check_userns(off, never, PYTHON).fix == "sudo sysctl -w kernel.unprivileged_userns_clone=1"
    zero = fake_host(tmp_path / "b", {"proc/sys/user/max_user_namespaces": "0\n"})
    assert doctor.check_userns(zero, never, PYTHON).fix == "sudo sysctl -w user.max_user_namespaces=28633"



def test_a_missing_nft_fails_with_the_apt_fix(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from rootless.host import doctor
    from rootless.util import proc

    monkeypatch.setattr(proc, "which", lambda tool: None)
    check = doctor.check_tool("nft", "nftables", True, "the default bridge and user networks")
    assert (check.status, check.fix) == ("fail", "sudo apt-get install nftables")
    assert "the default bridge" in check.detail

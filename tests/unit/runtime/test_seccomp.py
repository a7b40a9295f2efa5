"""Docker's default seccomp profile resolved per container (runtime/seccomp.py)."""
from __future__ import annotations

from typing import Any, Dict, List

import pytest

from rootless.errors import InvalidArgument
from rootless.runtime import seccomp
from rootless.runtime.spec import DEFAULT_CAPABILITIES


def rules_for(name: str, resolved: Dict[str, Any]) -> List[Dict[str, Any]]:
    return [r for r in resolved["syscalls"] if name in r["names"]]


def resolve(caps: Any = DEFAULT_CAPABILITIES, machine: str = "x86_64") -> Dict[str, Any]:
    return seccomp.resolve_profile(seccomp.default_profile(), caps, machine=machine, kernel=(6, 1))


def test_default_profile_shape() -> None:
    resolved = resolve()
    assert resolved["defaultAction"] == "SCMP_ACT_ERRNO"
    assert resolved["defaultErrnoRet"] == 1
    assert resolved["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    assert all(set(r) <= {"names", "action", "errnoRet", "args"} for r in resolved["syscalls"])
    assert rules_for("read", resolved) == [rules_for("read", resolved)[0]]
    assert rules_for("arch_prctl", resolved)  # amd64 only
    assert not rules_for("s390_runtime_instr", resolved)


def test_without_sys_admin_clone_is_masked_and_clone3_gets_enosys() -> None:
    resolved = resolve()
    assert rules_for("clone", resolved) == [{"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                                             "args": [{"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ"}]}]
    assert rules_for("clone3", resolved) == [{"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]
    assert not rules_for("mount", resolved)
    assert not rules_for("ptrace", resolved)[0].get("args")  # minKernel 4.8 rule kept


def test_sys_admin_allows_mount_and_plain_clone() -> None:
    resolved = resolve(list(DEFAULT_CAPABILITIES) + ["CAP_SYS_ADMIN"])
    assert rules_for("mount", resolved)
    assert all("args" not in r for r in rules_for("clone", resolved))
    assert all(r["action"] == "SCMP_ACT_ALLOW" for r in rules_for("clone3", resolved))


def test_socket_and_personality_conditions() -> None:
    resolved = resolve()
    socket_ops = sorted((r["args"][0]["op"], r["args"][0]["value"]) for r in rules_for("socket", resolved))
    assert socket_ops == [("SCMP_CMP_EQ", 39), ("SCMP_CMP_GT", 40), ("SCMP_CMP_LT", 38)]
    personalities = sorted(r["args"][0]["value"] for r in rules_for("personality", resolved))
    assert personalities == [0, 8, 131072, 131080, 4294967295]


def test_old_kernel_drops_min_kernel_rules() -> None:
    resolved = seccomp.resolve_profile(seccomp.default_profile(), DEFAULT_CAPABILITIES, "x86_64", (4, 4))
    assert not rules_for("ptrace", resolved)


def test_other_arch() -> None:
    resolved = resolve(machine="aarch64")
    assert resolved["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    assert rules_for("set_tls", resolved) and not rules_for("arch_prctl", resolved)


def test_kernel_version() -> None:
    assert seccomp.kernel_version("6.18.0-1-amd64") == (6, 18)
    assert seccomp.kernel_version("weird") == (0, 0)


def test_parse_profile_errors() -> None:
    with pytest.raises(InvalidArgument, match="invalid seccomp profile"):
        seccomp.parse_profile("{")
    with pytest.raises(InvalidArgument, match="missing defaultAction"):
        seccomp.parse_profile("{}")


def test_oci_format_profile_keeps_its_architectures() -> None:
    profile = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"], "flags": ["x"]}
    assert seccomp.resolve_profile(profile, [], "x86_64", (6, 1)) == {
        "defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"], "flags": ["x"], "syscalls": []}

"""Docker's default seccomp profile, fitted to one container.

The profile data lives in seccomp.json in docker's own format (an allow-list
with an ERRNO default, an arch map and rules guarded by `includes`/`excludes`
on capabilities, architectures and kernel versions). Like moby's
profiles/seccomp/seccomp_linux.go, we resolve those guards per container and
hand crun a plain OCI `linux.seccomp` object:
https://github.com/opencontainers/runtime-spec/blob/v1.0.2/config-linux.md#seccomp
"""
from __future__ import annotations

import functools
import json
import logging
import os
import platform
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

from rootless.errors import InvalidArgument

logger = logging.getLogger(__name__)

PROFILE_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seccomp.json")

# uname -m -> (Go arch name used by the profile's `arches` guards, libseccomp arch)
ARCHES: Dict[str, Tuple[str, str]] = {
    "x86_64": ("amd64", "SCMP_ARCH_X86_64"),
    "aarch64": ("arm64", "SCMP_ARCH_AARCH64"),
    "armv7l": ("arm", "SCMP_ARCH_ARM"),
    "i686": ("386", "SCMP_ARCH_X86"),
    "ppc64le": ("ppc64le", "SCMP_ARCH_PPC64LE"),
    "s390x": ("s390x", "SCMP_ARCH_S390X"),
    "riscv64": ("riscv64", "SCMP_ARCH_RISCV64"),
    "loongarch64": ("loong64", "SCMP_ARCH_LOONGARCH64"),
    "mips64": ("mips64", "SCMP_ARCH_MIPS64"),
}

# Keys of a docker-format rule that are not part of the OCI syscall object.
_PROFILE_ONLY_KEYS = ("includes", "excludes", "comment")


@functools.lru_cache(maxsize=1)
def _default_text() -> str:
    with open(PROFILE_FILE, encoding="utf-8") as f:
        return f.read()


def default_profile() -> Dict[str, Any]:
    """A fresh copy of docker's default profile, in docker's format."""
    profile: Dict[str, Any] = json.loads(_default_text())
    return profile


def parse_profile(text: str) -> Dict[str, Any]:
    """A custom profile given with --security-opt seccomp=<json>."""
    try:
        profile = json.loads(text)
    except ValueError as exc:
        raise InvalidArgument(f"invalid seccomp profile: {exc}") from None
    if not isinstance(profile, dict) or "defaultAction" not in profile:
        raise InvalidArgument("invalid seccomp profile: missing defaultAction")
    return profile


def kernel_version(release: Optional[str] = None) -> Tuple[int, ...]:
    """(major, minor) of a kernel release string such as "6.18.0-1-amd64"."""
    release = platform.release() if release is None else release
    match = re.match(r"(\d+)\.(\d+)", release)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def _version_tuple(text: str) -> Tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:2] if part.isdigit())


def _guard_holds(guard: Dict[str, Any], caps: Sequence[str], arch: str, kernel: Tuple[int, ...]) -> bool:
    """True when every condition of an `includes` guard is met."""
    if guard.get("caps") and not all(c in caps for c in guard["caps"]):
        return False
    if guard.get("arches") and arch not in guard["arches"]:
        return False
    min_kernel = guard.get("minKernel")
    return not (min_kernel and kernel < _version_tuple(min_kernel))


def _excluded(guard: Dict[str, Any], caps: Sequence[str], arch: str) -> bool:
    """True when any condition of an `excludes` guard is met (moby's semantics)."""
    if any(c in caps for c in guard.get("caps") or ()):
        return True
    return arch in (guard.get("arches") or ())


def _architectures(profile: Dict[str, Any], scmp_arch: str) -> List[str]:
    if "architectures" in profile:
        return list(profile["architectures"] or [])
    sub = profile.get("archMap", {}).get(scmp_arch)
    return [] if sub is None else [scmp_arch] + list(sub)


def resolve_profile(
    profile: Dict[str, Any],
    capabilities: Sequence[str],
    machine: Optional[str] = None,
    kernel: Optional[Tuple[int, ...]] = None,
) -> Dict[str, Any]:
    """The OCI linux.seccomp object for a container with these capabilities."""
    machine = machine or platform.machine()
    arch, scmp_arch = ARCHES.get(machine, (machine, ""))
    kernel = kernel_version() if kernel is None else kernel
    syscalls = []
    for rule in profile.get("syscalls") or []:
        if not _guard_holds(rule.get("includes") or {}, capabilities, arch, kernel):
            continue
        if _excluded(rule.get("excludes") or {}, capabilities, arch):
            continue
        syscalls.append({k: v for k, v in rule.items() if k not in _PROFILE_ONLY_KEYS})
    resolved: Dict[str, Any] = {"defaultAction": profile["defaultAction"]}
    if "defaultErrnoRet" in profile:
        resolved["defaultErrnoRet"] = profile["defaultErrnoRet"]
    resolved["architectures"] = _architectures(profile, scmp_arch)
    if profile.get("flags"):
        resolved["flags"] = list(profile["flags"])
    resolved["syscalls"] = syscalls
    return resolved

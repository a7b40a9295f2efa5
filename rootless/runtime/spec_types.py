"""The parts of an OCI runtime config.json we write, typed with the spec's own field names.

runtime-spec v1.0.2: https://github.com/opencontainers/runtime-spec/blob/v1.0.2/config.md
and config-linux.md. Only the fields rootless sets are declared.
"""
from __future__ import annotations

from typing import Any, Dict, List, TypedDict


class SpecUser(TypedDict, total=False):
    uid: int
    gid: int
    additionalGids: List[int]


class Capabilities(TypedDict):
    bounding: List[str]
    effective: List[str]
    permitted: List[str]


class Rlimit(TypedDict):
    type: str
    hard: int
    soft: int


class Process(TypedDict, total=False):
    terminal: bool
    user: SpecUser
    args: List[str]
    env: List[str]
    cwd: str
    capabilities: Capabilities
    rlimits: List[Rlimit]
    noNewPrivileges: bool
    oomScoreAdj: int


class Root(TypedDict):
    path: str
    readonly: bool


class MountJSON(TypedDict, total=False):
    destination: str
    type: str
    source: str
    options: List[str]


class Namespace(TypedDict, total=False):
    type: str
    path: str


class LinuxResources(TypedDict, total=False):
    memory: Dict[str, int]
    cpu: Dict[str, Any]  # shares/quota/period are integers, cpus/mems are cpuset strings ("0-3")
    pids: Dict[str, int]
    blockIO: Dict[str, int]


class Linux(TypedDict, total=False):
    namespaces: List[Namespace]
    maskedPaths: List[str]
    readonlyPaths: List[str]
    seccomp: Dict[str, Any]
    sysctl: Dict[str, str]
    resources: LinuxResources
    cgroupsPath: str
    uidMappings: List[Dict[str, int]]
    gidMappings: List[Dict[str, int]]
    rootfsPropagation: str


Hooks = Dict[str, List[Dict[str, Any]]]


class Spec(TypedDict, total=False):
    ociVersion: str
    process: Process
    root: Root
    hostname: str
    domainname: str
    mounts: List[MountJSON]
    linux: Linux
    annotations: Dict[str, str]
    hooks: Hooks

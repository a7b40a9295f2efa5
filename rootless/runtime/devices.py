"""Host devices for `--device PATH[:CPATH][:PERMISSIONS]`, as podman does it rootless.

An unprivileged user can't mknod, and crun in our user namespace can't
either, so a device is a bind mount of the host's node (podman
pkg/specgen/generate/config_linux.go, the rootless branch of addDevice).
Whoever opens it in the container is checked by the kernel against the
node's real owner and mode, so only a device the user can open is useful:
one the user can't is refused at create instead of failing inside.

The devices cgroup (the `r`/`w`/`m` access rules) is not available to an
unprivileged user, and a read-only bind does not stop writes to a device node
(the kernel checks read-only mounts for files, not devices), so podman's
"read-only unless w" would be a promise not kept. Here the permissions are
what the kernel enforces anyway: each of `r` and `w` asked must be the user's
on the node, and one left out is refused unless the user lacks it too (then it
is enforced: `--device /dev/kmsg:r` where the user can only read it). `m`
(mknod) can't be granted in a user namespace and is accepted as docker's
default ("rwm") means it. `--device-cgroup-rule` is refused (api/support.py).
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from typing import List, Sequence

from rootless.errors import InvalidArgument, PermissionDenied

PERMISSION_LETTERS = "rwm"


@dataclass(frozen=True)
class Device:
    """One HostConfig.Devices entry (docker's DeviceMapping) in runtime terms."""

    path_on_host: str
    path_in_container: str = ""  # "": the same path as on the host
    permissions: str = "rwm"  # docker's cgroup permissions; here only "w" matters: see the module doc


@dataclass(frozen=True)
class DeviceBind:
    """A host device node, resolved, as the spec binds it."""

    source: str
    destination: str


def check_permissions(permissions: str) -> None:
    """docker's validDeviceMode: letters of "rwm", each at most once ("" means rwm)."""
    if len(set(permissions)) != len(permissions) or any(c not in PERMISSION_LETTERS for c in permissions):
        raise InvalidArgument(f"invalid device mode: {permissions}: expected letters of rwm, each once")


def _gathering_error(path: str, reason: str) -> str:
    return f'error gathering device information while adding custom device "{path}": {reason}'  # moby's words


def _node(path: str) -> os.stat_result:
    try:
        info = os.stat(path)  # symlinks followed, as moby's EvalSymlinks (/dev/disk/by-id/...)
    except OSError as exc:
        raise InvalidArgument(_gathering_error(path, (exc.strerror or "").lower())) from None
    return info


def _is_node(mode: int) -> bool:
    return stat.S_ISCHR(mode) or stat.S_ISBLK(mode)


def _nodes_under(directory: str) -> List[str]:
    """Device nodes below a directory (docker's --device /dev/snd adds them all), sorted."""
    found = []
    for parent, _, files in os.walk(directory):
        for name in files:
            path = os.path.join(parent, name)
            try:
                if _is_node(os.stat(path).st_mode):
                    found.append(path)
            except OSError:
                continue
    return sorted(found)


def _check_access(path: str, permissions: str) -> None:
    """The user's own access, as asked (the daemon is root only of its user namespace: a host node's
    owner is unmapped there, so access() checks the mode bits and groups as the kernel will)."""
    for letter, flag, verb in (("r", os.R_OK, "read"), ("w", os.W_OK, "write")):
        allowed = os.access(path, flag)
        if letter in permissions and not allowed:
            raise PermissionDenied(_gathering_error(path, "permission denied") + f": you can't {verb} it",
                                   hint="ask an admin to give your user access to the device (its group or "
                                        "mode), or leave out what you can't do (:r for read only)")
        if letter not in permissions and allowed:
            raise InvalidArgument(
                f"invalid device permissions: {path}: {permissions}: can't take {verb} access away rootless: "
                "there is no devices cgroup, and a read-only bind does not stop writes to a device node",
                hint="ask for rw (or rwm), or restrict the node itself (its mode or group) on the host")


def resolve(device: Device) -> List[DeviceBind]:
    """The binds one --device makes; refused when a node is missing, not a device or not the user's to open."""
    check_permissions(device.permissions)
    host = device.path_on_host
    if not os.path.isabs(host):
        raise InvalidArgument(f"invalid device: {host}: the host path must be absolute")
    inside = device.path_in_container or host
    if not os.path.isabs(inside):
        raise InvalidArgument(f"invalid device: {inside}: the container path must be absolute")
    info = _node(host)
    if stat.S_ISDIR(info.st_mode):
        nodes = _nodes_under(host)
        pairs = [(os.path.realpath(node), os.path.join(inside, os.path.relpath(node, host))) for node in nodes]
    elif _is_node(info.st_mode):
        pairs = [(os.path.realpath(host), inside)]
    else:
        raise InvalidArgument(_gathering_error(host, "not a device node"))
    permissions = device.permissions or PERMISSION_LETTERS
    binds = []
    for source, destination in pairs:
        _check_access(source, permissions)
        binds.append(DeviceBind(source, os.path.normpath(destination)))
    return binds


def resolve_all(devices: Sequence[Device]) -> List[DeviceBind]:
    return [bind for device in devices for bind in resolve(device)]

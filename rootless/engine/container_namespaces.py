"""Namespaces a container shares: `--network/--pid/--ipc container:X`, `host`, and docker's IPC modes.

Create checks the modes as dockerd does (runconfig validateNetContainerMode:
"conflicting options: ..."), resolves X to its id (inspect shows
`container:<id>`, and renaming X can't break the link) and records docker's
defaults (IpcMode "private", the host's hostname with `--network host`).
Start joins X's namespaces by the /proc/<pid>/ns/<kind> of X's init, so X must
run then (dockerd's errors otherwise); crun setns()s them, which works because
every container of the engine lives in the engine's one user namespace.

`--ipc shareable` gets a tmpfs the engine mounts in its own mount namespace
(<container dir>/shm, made fresh at each start, as dockerd's ShmPath) and binds
as /dev/shm; `--ipc container:X` binds the same one, so SysV IPC (X's
namespace) and POSIX shm (X's /dev/shm) are both shared.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
from typing import Any, Callable, Dict, Optional, TypeVar

from rootless.api import types
from rootless.engine.container_model import Container, etc_files
from rootless.errors import Conflict, FailedPrecondition, InvalidArgument
from rootless.runtime import devices as runtime_devices
from rootless.runtime import spec as runtime_spec
from rootless.util import fs, linux

PREFIX = "container:"
IPC_MODES = ("", "private", "shareable", "none", "host")
PID_MODES = ("", "host")
SHM_DIR = "shm"
MAX_CHAIN = 16  # container:X where X joins another: ids are resolved at create, so no cycle, but bounded
Lookup = Callable[[str], Container]  # Containers.get: NotFound "No such container: x"
W = TypeVar("W", bound=types.WireStruct)


def other(mode: str) -> Optional[str]:
    """X of "container:X", else None."""
    return mode[len(PREFIX):] if mode.startswith(PREFIX) else None


def _conflicts(config: types.ContainerConfig, host: types.HostConfig) -> Optional[str]:
    """dockerd's refusals for a container that joins another's (or the host's) network (runconfig/errors.go)."""
    network = host.NetworkMode or ""
    joins = network.startswith(PREFIX)
    if (joins or network == "host") and config.MacAddress:
        return "conflicting options: mac-address and the network mode"
    if not joins:
        return None
    if config.Hostname:
        return "conflicting options: hostname and the network mode"
    if host.Links:
        return ("conflicting options: container type network can't be used with links. "
                "This would result in undefined behavior")
    if host.Dns or host.DnsSearch or host.DnsOptions:  # X's resolv.conf is used as it is
        return "conflicting options: dns and the network mode"
    if host.ExtraHosts:
        return "conflicting options: custom host-to-IP mapping and the network mode"
    if host.PortBindings or host.PublishAllPorts:
        return "conflicting options: port publishing and the container type network mode"
    if config.ExposedPorts:
        return "conflicting options: port exposing and the container type network mode"
    return None


def _check_syntax(host: types.HostConfig) -> None:
    """moby's Valid() of each mode; "container:" needs a name."""
    if other(host.NetworkMode or "") == "":
        raise InvalidArgument("Invalid network mode: invalid container format container:<name|id>")
    pid, ipc = host.PidMode or "", host.IpcMode or ""
    if pid not in PID_MODES and not other(pid):
        raise InvalidArgument(f"invalid PID mode: {pid}")
    if ipc not in IPC_MODES and not other(ipc):
        raise InvalidArgument(f"invalid IPC mode: {ipc}")


def resolve_request(request: types.ContainerCreate, lookup: Lookup) -> types.ContainerCreate:
    """The create request with each container:X naming X's id, docker's IpcMode default and
    --network host's hostname; refused as dockerd refuses (400) or NotFound for a missing X."""
    host = request.HostConfig or types.HostConfig()
    _check_syntax(host)
    conflict = _conflicts(request, host)
    if conflict:
        raise InvalidArgument(conflict)
    modes: Dict[str, Any] = {"IpcMode": host.IpcMode or "private"}  # dockerd's default-ipc-mode
    for field in ("NetworkMode", "PidMode", "IpcMode"):
        name = other(getattr(host, field) or "")
        if name:
            modes[field] = PREFIX + lookup(name).id
    changed = _with(request, HostConfig=_with(host, **modes))
    if host.NetworkMode == "host" and not request.Hostname:
        # dockerd: a container on the host's network has the host's name (its UTS namespace stays its own)
        changed = _with(changed, Hostname=socket.gethostname())
    return changed


def _with(struct: W, **fields: Any) -> W:
    """A request struct with fields changed, recorded as sent (wire_json keeps only fields_set)."""
    return dataclasses.replace(struct, fields_set=struct.fields_set | set(fields), **fields)


def check_connectable(container: Container) -> None:
    """docker network connect of a container without a network of its own (runconfig ErrConflictSharedNetwork)."""
    if other(container.network_mode) is not None or container.network_mode == "host":
        raise Conflict("container sharing network namespace with another container or host cannot be "
                       "connected to any other network")


def _running(lookup: Lookup, container: Container, reference: str, what: str) -> Container:
    """X, which must run: dockerd's getNetworkedContainer / getPIDContainer / getIPCContainer (409)."""
    x = lookup(reference)
    if x.id == container.id:
        raise InvalidArgument(f"cannot join own {what} namespace")
    if not x.running or not x.pid or x.status == "restarting":
        state = "is restarting, wait until the container is running" if x.status == "restarting" \
            else "is not running"
        message = (f"cannot join network of a non running container: {x.name}" if what == "network"
                   else f"failed to join {what} namespace: container {x.name} {state}")
        raise Conflict(message, hint=f"start {x.name} first: its {what} namespace lives as long as its process")
    return x


def shm_dir(container: Container) -> str:
    return os.path.join(container.dir, SHM_DIR)


def _mount_shm(container: Container) -> str:
    """A fresh tmpfs for a shareable container's /dev/shm, in the engine's mount namespace."""
    path = shm_dir(container)
    release(container)
    fs.ensure_dir(path)
    size = container.shm_size or runtime_spec.DEFAULT_SHM_SIZE
    linux.mount("shm", path, "tmpfs", linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC,
                f"mode=1777,size={size}")
    return path


def release(container: Container) -> None:
    """Unmount a shareable container's /dev/shm tmpfs (at exit and rm; a joined container keeps its bind)."""
    path = shm_dir(container)
    while os.path.ismount(path):
        with contextlib.suppress(OSError):
            linux.umount(path, linux.MNT_DETACH)
            continue
        break


def _ipc_fields(container: Container, lookup: Lookup) -> Dict[str, Any]:
    mode = container.ipc_mode
    if mode == "shareable":
        return {"shm_source": _mount_shm(container)}
    name = other(mode)
    if name is None:
        return {}
    x = _running(lookup, container, name, "IPC")
    if x.ipc_mode != "shareable" or not os.path.ismount(shm_dir(x)):
        raise InvalidArgument(f"failed to join IPC namespace: container {name}: non-shareable IPC "
                              "(hint: use IpcMode:shareable for the donor container)")  # moby's words
    return {"ipc_ns_path": f"/proc/{x.pid}/ns/ipc", "shm_source": shm_dir(x)}


def _network_fields(container: Container, lookup: Lookup) -> Dict[str, Any]:
    """X's network namespace, and its hostname, /etc/hosts and resolv.conf, as dockerd's initializeNetworking."""
    name = other(container.network_mode)
    if name is None or container.network_disabled:
        return {}
    x = _running(lookup, container, name, "network")
    owner = x
    for _ in range(MAX_CHAIN):  # X may itself use Z's network: Z's name and files are the ones in use
        further = other(owner.network_mode)
        if further is None:
            break
        owner = lookup(further)
    return {"netns_path": f"/proc/{x.pid}/ns/net", "hostname": owner.hostname, "domainname": owner.domainname,
            "etc_files": etc_files(owner.etc_dir)}


def at_start(container: Container, lookup: Lookup) -> Dict[str, Any]:
    """The SpecOptions fields only start knows: the namespaces to join (X running now), shared /dev/shm."""
    fields = _network_fields(container, lookup)
    name = other(container.pid_mode)
    if name is not None:
        x = _running(lookup, container, name, "PID")
        fields["pid_ns_path"] = f"/proc/{x.pid}/ns/pid"
    try:
        fields.update(_ipc_fields(container, lookup))
    except OSError as exc:
        raise FailedPrecondition(f"can't mount the shareable /dev/shm of {container.name}: {exc.strerror}") from None
    return fields


def plan_fields(container: Container) -> Dict[str, Any]:
    """The SpecOptions pid and ipc modes and the devices, as the plan records them (the network's
    mode is container_spec.network_setup's)."""
    return {
        "pid": "container" if other(container.pid_mode) is not None else (container.pid_mode or "private"),
        "ipc": "container" if other(container.ipc_mode) is not None else (container.ipc_mode or "private"),
        # a CDI name (vendor.com/class=name) goes to cdi_devices (container_spec.cdi_device_names)
        "devices": [runtime_devices.Device(host, inside, permissions)
                    for host, inside, permissions in container.host_devices if host.startswith("/")],
    }

"""A container's plan: what start executes, decided once, at create.

Create resolves the request against the image and this host and records the
result: the volumes (Mounts) and network attachments (NetworkSettings.Networks)
in the record itself, and the runtime options here: argv, env, user (resolved
at start against the rootfs: it names files in it), capabilities, seccomp and
the other security options, tmpfs, ulimits, limits, the network set-up and
published ports. Everything the runtime would refuse is refused at create,
with docker's 400, not at some later start; start only adds what exists once
the container runs (the mounted rootfs, the /etc files, the volume paths).

Plug-in point for what comes next: build's RUN containers, user networks,
cgroup limits and `docker update` change the record (HostConfig, attachments)
and then store `make_plan` again (`Containers.replan`); start never rewrites it.

The plan is a cache of the record, never the truth: a record without one
(written before plans existed) or with one for other SpecOptions fields (an
upgrade added some) gets a fresh plan from its HostConfig at its next start,
stored once.
"""
from __future__ import annotations

import dataclasses
import hashlib
from typing import Any, Dict, List, Optional

from rootless.engine import container_namespaces, container_spec
from rootless.engine.container_model import PLAN_KEY, Container
from rootless.host.cgroups import CgroupInfo
from rootless.runtime import cdi, devices
from rootless.runtime import spec as runtime_spec

# Filled in at start, not planned: they exist once the container runs, or belong to the host.
AT_START = ("rootfs", "etc_files", "mounts", "cgroup", "hooks_dirs")


def _fields_version() -> str:
    """Changes whenever SpecOptions' fields change, so an older plan is made again."""
    names = ",".join(sorted(f.name for f in dataclasses.fields(runtime_spec.SpecOptions)))
    return hashlib.sha256(names.encode()).hexdigest()[:16]


PLAN_VERSION = _fields_version()


def make_plan(container: Container, network_backend: str, cgroup: CgroupInfo,
              host: runtime_spec.HostFacts) -> Dict[str, Any]:
    """The plan of a container from its record; checked as the runtime would check it.

    Raises:
        InvalidArgument / FailedPrecondition: what start would refuse (unknown
            capability, bad seccomp profile or security option, ulimits, sysctls...).
    """
    network = container_spec.network_setup(container, network_backend)
    options = container_spec.build_spec_options(container, "", network, {}, [], cgroup, [])
    options = dataclasses.replace(options, **container_namespaces.plan_fields(container))
    check_options(options, host)
    spec = {f.name: plain(getattr(options, f.name)) for f in dataclasses.fields(options) if f.name not in AT_START}
    return {"Version": PLAN_VERSION, "Network": plain(network), "Spec": spec}


_ATOMS = (str, int, float, bool, type(None))


@dataclasses.dataclass
class _Box:
    value: Any


def plain(value: Any) -> Any:
    """What dataclasses.asdict makes of a value, without its copy.deepcopy of each string and
    number (they are immutable) and without converting the AT_START fields only to drop them:
    ~4x faster on a SpecOptions. Types other than these exact ones go through asdict itself."""
    kind = type(value)
    if kind in _ATOMS:
        return value
    if kind is list:
        return [plain(item) for item in value]
    if kind is dict:
        return {plain(key): plain(item) for key, item in value.items()}
    if kind is tuple:
        return tuple(plain(item) for item in value)
    if dataclasses.is_dataclass(kind):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return dataclasses.asdict(_Box(value))["value"]  # subclasses of list/dict/tuple, namedtuples, the rest


def check_options(options: runtime_spec.SpecOptions, host: runtime_spec.HostFacts) -> None:
    """What build_spec would refuse without a rootfs: security options, capabilities, linux settings."""
    security = runtime_spec.parse_security_options(options.security_opt)
    caps = runtime_spec.resolve_capabilities(options.cap_add, options.cap_drop, options.privileged, host.last_cap)
    runtime_spec.build_rlimits(options.ulimits, host)
    runtime_spec.build_linux(_joined_at_start(options), security, caps, host)
    devices.resolve_all(options.devices)  # missing, not a device, or not the user's to open: refused now
    if options.cdi_devices:  # an unknown device or a bad spec is refused at create, not at start
        cdi_dirs = cdi.SPEC_DIRS if options.cdi_spec_dirs is None else tuple(options.cdi_spec_dirs)
        cdi.resolve(options.cdi_devices, cdi.load_devices(cdi_dirs))


def _joined_at_start(options: runtime_spec.SpecOptions) -> runtime_spec.SpecOptions:
    """Another container's namespaces are found when it runs, at start: stand-ins for the check."""
    stand_in: Dict[str, Any] = {f"{kind}_path": f"/proc/self/ns/{ns}" for kind, ns, mode in (
        ("netns", "net", options.network), ("pid_ns", "pid", options.pid), ("ipc_ns", "ipc", options.ipc))
        if mode == "container"}
    return dataclasses.replace(options, **stand_in)


def stored_plan(container: Container) -> Optional[Dict[str, Any]]:
    """The container's plan if it was made for these SpecOptions, else None (make it again)."""
    plan = container.data.get(PLAN_KEY)
    if isinstance(plan, dict) and plan.get("Version") == PLAN_VERSION:
        return plan
    return None


def network_of(plan: Dict[str, Any]) -> container_spec.NetworkSetup:
    network = plan["Network"]
    known = {f.name for f in dataclasses.fields(container_spec.NetworkSetup)}
    extra = {key: value for key, value in network.items() if key in known and key not in ("mode", "monitor_mode", "ports")}
    return container_spec.NetworkSetup(str(network["mode"]), str(network["monitor_mode"]),
                                       [dict(port) for port in network.get("ports") or []], **extra)


def spec_options(plan: Dict[str, Any], rootfs: str, etc_files: Dict[str, str],
                 mounts: List[runtime_spec.Mount], cgroup: CgroupInfo,
                 hooks_dirs: List[str]) -> runtime_spec.SpecOptions:
    """The plan's SpecOptions with what only start knows."""
    fields = dict(plan["Spec"])
    fields["ulimits"] = [runtime_spec.Ulimit(**u) for u in fields.get("ulimits") or []]
    fields["devices"] = [devices.Device(**d) for d in fields.get("devices") or []]
    return runtime_spec.SpecOptions(rootfs=rootfs, etc_files=etc_files, mounts=mounts, cgroup=cgroup,
                                    hooks_dirs=hooks_dirs, **fields)

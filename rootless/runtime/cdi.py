"""CDI: `--device vendor.com/class=name` resolved from Container Device Interface specs (issue 15).

The Container Device Interface (https://github.com/cncf-tags/container-device-interface,
SPEC.md, versions 0.3.0-0.8.0) is how podman, docker >= 25 and GPU sites name
devices. A spec file in /etc/cdi or /var/run/cdi (JSON or YAML) has a `kind`
("nvidia.com/gpu"), `devices` each with a `name` and `containerEdits`, and
spec-wide `containerEdits` applied with any of its devices. /var/run/cdi
(generated at boot) wins over /etc/cdi for the same device, as in the
reference implementation; the same device twice in one directory is refused.

This module is pure: spec files in, edits to an OCI spec dict out. Rootless
differences, the same as podman's rootless mode: a device node is *bound*
from the host (mknod is not allowed in a user namespace), so the node's
major/minor are the host's; `permissions` is a device-cgroup rule, which a
rootless container never has, so the host node's mode decides access. Edits
that can't be honoured (intelRdt, netDevices, a node's uid/gid/fileMode) are
refused, never dropped.
"""
from __future__ import annotations

import importlib
import json
import os
import re
import stat
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Sequence, Tuple

from rootless.errors import FailedPrecondition, InvalidArgument, NotFound

SPEC_DIRS = ("/etc/cdi", "/var/run/cdi")  # lowest priority first
HOOK_NAMES = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")
GPU_KIND = "nvidia.com/gpu"
_VENDOR = r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?"
_CLASS = r"[A-Za-z0-9](?:[A-Za-z0-9_-]*[A-Za-z0-9])?"
_KIND_RE = re.compile(rf"^{_VENDOR}/{_CLASS}$")
_NAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_.:-]*[A-Za-z0-9])?$")
_UNSUPPORTED_EDITS = ("intelRdt", "netDevices")
_UNSUPPORTED_NODE_FIELDS = ("uid", "gid", "fileMode")
HINT = "see the CDI spec format: https://github.com/cncf-tags/container-device-interface/blob/main/SPEC.md"


@dataclass(frozen=True)
class Device:
    """One CDI device: its fully qualified name, its edits and its spec's, and the file it came from."""

    qualified: str
    edits: Mapping[str, Any]
    spec_edits: Mapping[str, Any]
    source: str


def is_qualified_name(text: str) -> bool:
    """vendor.com/class=name: a CDI device rather than a host path (`--device /dev/x`)."""
    kind, sep, name = text.partition("=")
    return bool(sep) and bool(_KIND_RE.match(kind)) and bool(_NAME_RE.match(name))


def _load_yaml(path: str, raw: bytes) -> Any:
    try:
        yaml = importlib.import_module("yaml")
    except ImportError:
        raise FailedPrecondition(f"can't read CDI spec: {path}: YAML needs PyYAML, which is not installed",
                                 hint="pip install PyYAML, or convert the spec to JSON (a .json file)") from None
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise InvalidArgument(f"can't read CDI spec: {path}: {exc}", hint=HINT) from None


def read_spec(path: str) -> Dict[str, Any]:
    """One spec file, parsed and checked enough to trust its kind and device names."""
    with open(path, "rb") as f:
        raw = f.read()
    if path.endswith(".json"):
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise InvalidArgument(f"can't read CDI spec: {path}: {exc}", hint=HINT) from None
    else:
        data = _load_yaml(path, raw)
    if not isinstance(data, dict):
        raise InvalidArgument(f"invalid CDI spec: {path}: not a mapping", hint=HINT)
    kind = data.get("kind")
    if not isinstance(kind, str) or not _KIND_RE.match(kind):
        raise InvalidArgument(f"invalid CDI spec: {path}: kind {kind!r} is not vendor.com/class", hint=HINT)
    devices = data.get("devices")
    if not isinstance(devices, list) or not devices:
        raise InvalidArgument(f"invalid CDI spec: {path}: no devices", hint=HINT)
    for device in devices:
        name = device.get("name") if isinstance(device, dict) else None
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise InvalidArgument(f"invalid CDI spec: {path}: device name {name!r} is invalid", hint=HINT)
    return data


def _spec_files(directory: str) -> List[str]:
    try:
        names = sorted(os.listdir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [os.path.join(directory, n) for n in names if n.endswith((".json", ".yaml", ".yml"))]


def load_devices(dirs: Sequence[str] = SPEC_DIRS) -> Dict[str, Device]:
    """Every device of every spec, by qualified name; a later dir overrides an earlier one."""
    devices: Dict[str, Device] = {}
    for directory in dirs:
        in_dir: Dict[str, Device] = {}
        for path in _spec_files(directory):
            spec = read_spec(path)
            for entry in spec["devices"]:
                qualified = f"{spec['kind']}={entry['name']}"
                if qualified in in_dir:
                    raise InvalidArgument(f"conflicting CDI device {qualified}: defined in {in_dir[qualified].source} "
                                          f"and {path}", hint="remove one of the two definitions")
                in_dir[qualified] = Device(qualified, entry.get("containerEdits") or {},
                                           spec.get("containerEdits") or {}, path)
        devices.update(in_dir)
    return devices


def resolve(requests: Sequence[str], devices: Mapping[str, Device]) -> List[Device]:
    """The devices named by `--device vendor.com/class=name` requests, each once, in order.

    Raises:
        NotFound: a request names no device of the specs found.
    """
    chosen: List[Device] = []
    for request in requests:
        if not is_qualified_name(request):
            raise InvalidArgument(f"invalid CDI device name: {request!r}", hint="use vendor.com/class=name")
        if request not in devices:
            known = ", ".join(sorted(devices)) or "none"
            raise NotFound(f"CDI device {request}: not found in {' or '.join(SPEC_DIRS)} (known: {known})",
                           hint="an admin generates the spec, e.g. nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml")
        if devices[request] not in chosen:
            chosen.append(devices[request])
    return chosen


def gpu_requests(gpus: str, devices: Mapping[str, Device]) -> List[str]:
    """`--gpus all` (or N, or device=0,1) as CDI names of nvidia.com/gpu, when such a spec exists."""
    if not any(name.startswith(GPU_KIND + "=") for name in devices):
        raise FailedPrecondition(f"--gpus {gpus}: no CDI spec of kind {GPU_KIND} in {' or '.join(SPEC_DIRS)}",
                                 hint="an admin generates one: nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml")
    value = gpus.strip().strip('"')
    if value == "all":
        return [f"{GPU_KIND}=all"]
    if value.startswith("device="):
        return [f"{GPU_KIND}={d.strip()}" for d in value[len("device="):].split(",") if d.strip()]
    raise InvalidArgument(f"--gpus {gpus}: only 'all' and 'device=ID[,ID]' are supported with CDI",
                          hint="use --gpus all or --device nvidia.com/gpu=0")


NodeCheck = Callable[[str], os.stat_result]


def apply(spec: Dict[str, Any], chosen: Sequence[Device], node_stat: NodeCheck = os.stat) -> None:
    """Apply the devices' edits, and once each the edits of their spec files, to an OCI spec dict."""
    applied_specs: List[str] = []
    for device in chosen:
        if device.source not in applied_specs:
            _apply_edits(spec, device.spec_edits, device.source, node_stat)
            applied_specs.append(device.source)
        _apply_edits(spec, device.edits, f"{device.source}: {device.qualified}", node_stat)


def _apply_edits(spec: Dict[str, Any], edits: Mapping[str, Any], where: str, node_stat: NodeCheck) -> None:
    if not isinstance(edits, Mapping):
        raise InvalidArgument(f"invalid CDI spec: {where}: containerEdits is not a mapping", hint=HINT)
    for key in _UNSUPPORTED_EDITS:
        if edits.get(key):
            raise FailedPrecondition(f"CDI device {where}: {key} edits are not supported by rootless",
                                     hint="ask the admin for a spec without them")
    process = spec.setdefault("process", {})
    process["env"] = _merge_env(process.get("env") or [], _strings(edits.get("env"), "env", where))
    for node in _entries(edits.get("deviceNodes"), "deviceNodes", where):
        _replace_mount(spec, _device_mount(node, where, node_stat))
    for mount in _entries(edits.get("mounts"), "mounts", where):
        _replace_mount(spec, _bind_mount(mount, where))
    for hook in _entries(edits.get("hooks"), "hooks", where):
        name, entry = _hook(hook, where)
        spec.setdefault("hooks", {}).setdefault(name, []).append(entry)
    gids = edits.get("additionalGids") or []
    if gids:
        if not isinstance(gids, list) or not all(isinstance(g, int) and g >= 0 for g in gids):
            raise InvalidArgument(f"invalid CDI spec: {where}: additionalGids must be ids", hint=HINT)
        user = process.setdefault("user", {"uid": 0, "gid": 0})
        user["additionalGids"] = list(dict.fromkeys([*user.get("additionalGids", []), *gids]))


def _strings(value: Any, field: str, where: str) -> List[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidArgument(f"invalid CDI spec: {where}: {field} must be a list of strings", hint=HINT)
    return list(value)


def _entries(value: Any, field: str, where: str) -> List[Mapping[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise InvalidArgument(f"invalid CDI spec: {where}: {field} must be a list of mappings", hint=HINT)
    return list(value)


def _merge_env(base: Sequence[str], overrides: Sequence[str]) -> List[str]:
    for entry in overrides:
        if "=" not in entry or entry.startswith("="):
            raise InvalidArgument(f"invalid CDI env entry {entry!r}: expected KEY=VALUE", hint=HINT)
    keys = {entry.split("=", 1)[0] for entry in overrides}
    return [e for e in base if e.split("=", 1)[0] not in keys] + list(overrides)


def _absolute(value: Any, field: str, where: str) -> str:
    if not isinstance(value, str) or not os.path.isabs(value):
        raise InvalidArgument(f"invalid CDI spec: {where}: {field} must be an absolute path, not {value!r}",
                              hint=HINT)
    return os.path.normpath(value)


def _device_mount(node: Mapping[str, Any], where: str, node_stat: NodeCheck) -> Dict[str, Any]:
    """A device node, bound from the host: a user namespace can't mknod."""
    path = _absolute(node.get("path"), "deviceNodes.path", where)
    host = _absolute(node.get("hostPath") or path, "deviceNodes.hostPath", where)
    for key in _UNSUPPORTED_NODE_FIELDS:
        if node.get(key) is not None:
            raise FailedPrecondition(f"CDI device {where}: {path}: {key} can't be applied to a bound host node",
                                     hint=f"remove {key} from the spec; the host node's owner and mode apply")
    try:
        info = node_stat(host)
    except OSError as exc:
        raise FailedPrecondition(f"CDI device {where}: host node {host}: {exc.strerror}",
                                 hint="is the driver loaded on this node?") from None
    if not (stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode)):
        raise InvalidArgument(f"CDI device {where}: {host} is not a device node", hint=HINT)
    return {"destination": path, "type": "bind", "source": host, "options": ["bind", "nosuid", "noexec"]}


def _bind_mount(mount: Mapping[str, Any], where: str) -> Dict[str, Any]:
    destination = _absolute(mount.get("containerPath"), "mounts.containerPath", where)
    source = _absolute(mount.get("hostPath"), "mounts.hostPath", where)
    kind = mount.get("type") or "bind"
    options = _strings(mount.get("options"), "mounts.options", where)
    if kind == "bind" and not {"bind", "rbind"} & set(options):
        options = ["bind", *options]
    return {"destination": destination, "type": kind, "source": source, "options": options}


def _replace_mount(spec: Dict[str, Any], mount: Dict[str, Any]) -> None:
    """The CDI mount replaces a default one at the same place (e.g. a /dev node bound already)."""
    mounts = [m for m in spec.get("mounts") or [] if m.get("destination") != mount["destination"]]
    spec["mounts"] = [*mounts, mount]


def _hook(hook: Mapping[str, Any], where: str) -> Tuple[str, Dict[str, Any]]:
    name = hook.get("hookName")
    if name not in HOOK_NAMES:
        raise InvalidArgument(f"invalid CDI spec: {where}: hookName {name!r} is not one of {', '.join(HOOK_NAMES)}",
                              hint=HINT)
    entry: Dict[str, Any] = {"path": _absolute(hook.get("path"), "hooks.path", where)}
    for key in ("args", "env"):
        if hook.get(key):
            entry[key] = _strings(hook.get(key), f"hooks.{key}", where)
    timeout = hook.get("timeout")
    if timeout is not None:
        if not isinstance(timeout, int) or isinstance(timeout, bool) or timeout <= 0:
            raise InvalidArgument(f"invalid CDI spec: {where}: hooks.timeout must be a positive integer", hint=HINT)
        entry["timeout"] = timeout
    return str(name), entry

"""Pure parsers for docker's container flags: ports, volumes, mounts, env files, units.

Each follows the docker CLI's own parser (docker/cli `opts/` and
`cli/command/container/opts.go`; go-connections `nat.ParsePortSpec`;
go-units `RAMInBytes`) and raises InvalidArgument with docker's wording.
"""
from __future__ import annotations

import os

TYPE_CHECKING = False  # True for mypy; importing typing costs ~3 ms (cli/fast_run.py)
if TYPE_CHECKING:
    from typing import Any, Dict, List, Mapping, Optional, Tuple

from rootless.errors import InvalidArgument

PROTOCOLS = ("tcp", "udp", "sctp")
VOLUME_MODES = {"ro", "rw", "z", "Z", "nocopy", "shared", "slave", "private", "rshared", "rslave",
                "rprivate", "consistent", "cached", "delegated"}
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def _port_range(text: str, spec: str) -> Tuple[int, int]:
    low, _, high = text.partition("-")
    try:
        start, end = int(low), int(high or low)
    except ValueError:
        raise InvalidArgument(f"invalid port: {spec!r}: {text!r} is not a port or range") from None
    if not (0 < start <= end <= 65535):
        raise InvalidArgument(f"invalid port: {spec!r}: range {text} out of 1-65535")
    return start, end


def _split_host_ip(spec: str) -> Tuple[str, str, str]:
    """(host ip, host port, container port[/proto]); an IPv6 host ip is in brackets."""
    rest = spec
    host_ip = ""
    if rest.startswith("["):
        close = rest.find("]:")
        if close < 0:
            raise InvalidArgument(f"invalid port: {spec!r}: unclosed IPv6 address")
        host_ip, rest = rest[1:close], rest[close + 2:]
        host_port, _, container = rest.rpartition(":")
        return host_ip, host_port, container
    parts = rest.split(":")
    if len(parts) == 1:
        return "", "", parts[0]
    if len(parts) == 2:
        return "", parts[0], parts[1]
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    raise InvalidArgument(f"invalid port: {spec!r}: too many colons")


def parse_port_spec(spec: str) -> List[Tuple[str, Dict[str, str]]]:
    """`-p` value -> [("80/tcp", {"HostIp": .., "HostPort": ..}), ...] (host port "" = any)."""
    host_ip, host_port, container = _split_host_ip(spec)
    port_text, _, proto = container.partition("/")
    proto = proto.lower() or "tcp"
    if proto not in PROTOCOLS:
        raise InvalidArgument(f"invalid port: {spec!r}: unknown protocol {proto!r}")
    start, end = _port_range(port_text, spec)
    count = end - start + 1
    hosts: List[str] = [host_port] * count
    if host_port:
        host_start, host_end = _port_range(host_port, spec)
        if host_end - host_start + 1 == count:
            hosts = [str(host_start + i) for i in range(count)]
        elif count != 1:
            raise InvalidArgument(f"invalid port: {spec!r}: host and container port ranges differ in size")
    return [(f"{start + i}/{proto}", {"HostIp": host_ip, "HostPort": hosts[i]}) for i in range(count)]


def parse_expose(spec: str) -> List[str]:
    """`--expose 80-81/udp` -> ["80/udp", "81/udp"]."""
    port_text, _, proto = spec.partition("/")
    start, end = _port_range(port_text, spec)
    return [f"{p}/{proto or 'tcp'}" for p in range(start, end + 1)]


def parse_volume_spec(spec: str, cwd: str = "") -> Tuple[Optional[str], Optional[str]]:
    """`-v` value -> (bind for HostConfig.Binds, anonymous volume path for Config.Volumes)."""
    parts = spec.split(":")
    if len(parts) == 1:
        if not spec.startswith("/"):
            raise InvalidArgument(f"invalid volume specification: {spec!r}: the path must be absolute")
        return None, spec
    if len(parts) > 3 or not parts[0] or not parts[1]:
        raise InvalidArgument(f"invalid volume specification: {spec!r}")
    source, target = parts[0], parts[1]
    if not target.startswith("/"):
        raise InvalidArgument(f"invalid volume specification: {spec!r}: destination must be an absolute path")
    if len(parts) == 3:
        bad = [m for m in parts[2].split(",") if m not in VOLUME_MODES]
        if bad:
            raise InvalidArgument(f"invalid volume specification: {spec!r}: invalid mode {bad[0]!r}")
    if source.startswith("."):  # docker 23+ resolves ./dir against the working directory
        parts[0] = os.path.normpath(os.path.join(cwd or os.getcwd(), source))
    return ":".join(parts), None


def _is_true_word(value: str, spec: str) -> bool:
    if value.lower() in ("", "1", "true"):
        return True
    if value.lower() in ("0", "false"):
        return False
    raise InvalidArgument(f"invalid mount: {spec!r}: {value!r} is not a boolean")


def _mount_field(mount: Dict[str, Any], key: str, value: str, spec: str) -> None:
    if key in ("source", "src"):
        mount["Source"] = value
    elif key in ("target", "destination", "dst"):
        mount["Target"] = value
    elif key in ("readonly", "ro"):
        mount["ReadOnly"] = _is_true_word(value, spec)
    elif key == "bind-propagation":
        mount.setdefault("BindOptions", {})["Propagation"] = value
    elif key == "volume-nocopy":
        mount.setdefault("VolumeOptions", {})["NoCopy"] = _is_true_word(value, spec)
    elif key == "volume-opt":
        opt_key, _, opt_value = value.partition("=")
        mount.setdefault("VolumeOptions", {}).setdefault("DriverConfig", {"Name": "local", "Options": {}})
        mount["VolumeOptions"]["DriverConfig"]["Options"][opt_key] = opt_value
    elif key == "tmpfs-size":
        mount.setdefault("TmpfsOptions", {})["SizeBytes"] = parse_bytes(value)
    elif key == "tmpfs-mode":
        mount.setdefault("TmpfsOptions", {})["Mode"] = int(value, 8)
    elif key not in ("type", "consistency"):
        raise InvalidArgument(f"invalid mount: {spec!r}: unknown field {key!r}")


def parse_mount_spec(spec: str) -> Dict[str, Any]:
    """`--mount type=bind,source=/a,target=/b,readonly` -> a HostConfig.Mounts entry."""
    fields = [f.partition("=") for f in spec.split(",") if f]
    mount: Dict[str, Any] = {"Type": "volume"}
    for key, _, value in fields:
        if key == "type":
            if value not in ("bind", "volume", "tmpfs"):
                raise InvalidArgument(f"invalid mount: {spec!r}: unsupported type {value!r}")
            mount["Type"] = value
    for key, _, value in fields:
        _mount_field(mount, key.strip().lower(), value, spec)
    if "Target" not in mount:
        raise InvalidArgument(f"invalid mount: {spec!r}: target is required")
    if mount["Type"] == "bind" and not mount.get("Source"):
        raise InvalidArgument(f"invalid mount: {spec!r}: source is required for a bind mount")
    return mount


def parse_volumes_from(spec: str) -> str:
    """`--volumes-from NAME[:ro|rw]`, checked as the docker CLI does before sending it as is."""
    name, _, mode = spec.partition(":")
    if not name or any(m not in ("ro", "rw", "z", "Z") for m in mode.split(",") if mode):
        raise InvalidArgument(f"invalid volumes-from: {spec!r}: expected CONTAINER[:ro|rw]")
    return spec


def parse_userns(spec: str) -> str:
    """`--userns` (podman's keep-id[:uid=U,gid=G]; "" the default mapping), sent as HostConfig.UsernsMode."""
    if spec in ("", "keep-id") or spec.startswith("keep-id:"):
        return spec
    if spec == "host":
        return spec  # the daemon refuses it with its reason
    raise InvalidArgument(f"invalid userns: {spec!r}: expected keep-id[:uid=UID,gid=GID]")


def parse_tmpfs(spec: str) -> Tuple[str, str]:
    """`--tmpfs /run:rw,size=64m` -> ("/run", "rw,size=64m")."""
    path, _, options = spec.partition(":")
    if not path.startswith("/"):
        raise InvalidArgument(f"invalid tmpfs: {spec!r}: the path must be absolute")
    return path, options


def parse_bytes(text: str) -> int:
    """'512m', '1.5g', '100' -> bytes (binary units, like docker's RAMInBytes)."""
    import re  # here: `re` costs ~4.5 ms of a `rootless run` that sets no size (cli/fast_run.py)

    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgtpb]?)b?\s*", text.lower())
    if not match:
        raise InvalidArgument(f"invalid size: {text!r}", hint="use a number with an optional b, k, m or g suffix")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def parse_memory_swap(text: str) -> int:
    """`--memory-swap`: a size, or -1 for unlimited swap (docker's MemSwapBytes)."""
    return -1 if text.strip() == "-1" else parse_bytes(text)


def _env_line(line: str, environ: Mapping[str, str], where: str) -> Optional[str]:
    """KEY=VALUE as written; a bare KEY takes its value from our environment, if set."""
    name, has_value, _ = line.partition("=")
    if not name:
        raise InvalidArgument(f"invalid environment variable: {where}: {line!r} has no name")
    if has_value:
        return line
    import re  # here, as in parse_bytes

    if re.search(r"\s", name):
        raise InvalidArgument(f"invalid environment variable: {where}: variable {name!r} contains whitespaces")
    return f"{name}={environ[name]}" if name in environ else None


def parse_env_file(text: str, environ: Mapping[str, str], where: str = "env file") -> List[str]:
    """Docker's --env-file: one KEY=VALUE a line, '#' comments, no quote processing."""
    env: List[str] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.lstrip()
        if number == 1:
            line = line.lstrip("\ufeff")
        if not line or line.startswith("#"):
            continue
        entry = _env_line(line, environ, f"{where} line {number}")
        if entry is not None:
            env.append(entry)
    return env


def parse_env(values: List[str], environ: Mapping[str, str]) -> List[str]:
    """`-e` values; a bare name passes our value through (dropped when unset)."""
    return [e for e in (_env_line(v, environ, "-e") for v in values) if e is not None]


def parse_log_opts(driver: str, values: List[str]) -> Dict[str, str]:
    """`--log-opt max-size=10m` -> {"max-size": "10m"} (docker's parseLoggingOpts)."""
    options: Dict[str, str] = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key:
            raise InvalidArgument(f"invalid key-value log-opt: {value}", hint="use --log-opt KEY=VALUE")
        options[key] = text
    if driver == "none" and options:
        raise InvalidArgument(f"invalid logging opts for driver {driver}")
    return options


# The names docker's parser knows (go-units ulimit.go ulimitNameMapping).
ULIMIT_TYPES = ("core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc",
                "rss", "rtprio", "rttime", "sigpending", "stack")


def parse_ulimit(spec: str) -> Dict[str, Any]:
    """`nofile=1024:2048` -> {"Name": "nofile", "Soft": 1024, "Hard": 2048}."""
    name, _, limits = spec.partition("=")
    if name and name not in ULIMIT_TYPES:
        raise InvalidArgument(f"invalid ulimit type: {name}", hint="names: " + ", ".join(ULIMIT_TYPES))
    soft, _, hard = limits.partition(":")
    try:
        soft_value = int(soft)
        hard_value = int(hard) if hard else soft_value
    except ValueError:
        raise InvalidArgument(f"invalid ulimit: {spec!r}", hint="use name=soft[:hard], e.g. nofile=1024:2048") from None
    if not name or soft_value > hard_value:
        raise InvalidArgument(f"invalid ulimit: {spec!r}: soft limit above hard limit" if name
                              else f"invalid ulimit: {spec!r}")
    return {"Name": name, "Soft": soft_value, "Hard": hard_value}


def parse_restart(spec: str) -> Dict[str, Any]:
    """`on-failure:3` -> {"Name": "on-failure", "MaximumRetryCount": 3}."""
    name, _, count = spec.partition(":")
    if name not in ("no", "always", "unless-stopped", "on-failure"):
        raise InvalidArgument(f"invalid restart policy: {spec!r}",
                              hint="use no, always, unless-stopped or on-failure[:max-retries]")
    if count and name != "on-failure":
        raise InvalidArgument(f"invalid restart policy: {spec!r}: maximum retry count only works with on-failure")
    try:
        return {"Name": name, "MaximumRetryCount": int(count or 0)}
    except ValueError:
        raise InvalidArgument(f"invalid restart policy: {spec!r}: {count!r} is not a number") from None


def parse_add_host(spec: str) -> str:
    """`name:ip` or `name=ip` -> "name:ip" (docker 28 accepts both)."""
    for separator in ("=", ":"):
        name, found, address = spec.partition(separator)
        if found and name and address:
            return f"{name}:{address}"
    raise InvalidArgument(f"invalid argument {spec!r} for --add-host", hint="use host:ip")


def parse_cpus(text: str) -> int:
    """`--cpus 1.5` -> NanoCpus."""
    try:
        value = float(text)
    except ValueError:
        raise InvalidArgument(f"invalid cpus: {text!r}: not a number") from None
    if value < 0:
        raise InvalidArgument(f"invalid cpus: {text!r}: must be positive")
    return int(round(value * 1e9))


def _is_device_mode(text: str) -> bool:
    """docker's validDeviceMode: letters of rwm, each at most once, at least one."""
    return bool(text) and len(set(text)) == len(text) and all(c in "rwm" for c in text)


def parse_device(spec: str) -> Dict[str, str]:
    """--device PATH[:CPATH][:MODE] as docker's parseLinuxDevice, or a CDI name (vendor.com/class=name)."""
    if not spec.startswith("/") and "=" in spec and ":" not in spec:
        return {"PathOnHost": spec, "PathInContainer": "", "CgroupPermissions": ""}  # a CDI device
    parts = spec.split(":")
    if len(parts) > 3 or not parts[0]:
        raise InvalidArgument(f"invalid device specification: {spec}")
    source, destination, permissions = parts[0], "", "rwm"
    if len(parts) == 3:
        destination, permissions = parts[1], parts[2]
    elif len(parts) == 2 and _is_device_mode(parts[1]):
        permissions = parts[1]
    elif len(parts) == 2:
        destination = parts[1]
    if not _is_device_mode(permissions):
        raise InvalidArgument(f"invalid device mode: {permissions}")
    for path in (source, destination or source):
        if not path.startswith("/"):
            raise InvalidArgument(f"invalid device path: {path}: must be absolute")
    return {"PathOnHost": source, "PathInContainer": destination or source, "CgroupPermissions": permissions}

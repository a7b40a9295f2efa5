"""User settings: ~/.config/rootless/config.toml, overridden by ROOTLESS_* variables."""
from __future__ import annotations

import importlib
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple

from rootless.config.paths import config_file, tls_dir
from rootless.errors import InvalidArgument


def _toml_module() -> Any:
    """tomllib (or tomli before 3.11), imported only when a config file exists: the CLI's hot path."""
    return importlib.import_module("tomllib" if sys.version_info >= (3, 11) else "tomli")

STORAGE_DRIVERS = ("auto", "overlay", "fuse-overlayfs", "vfs")
IMAGE_FORMATS = ("dirs", "squashfs")  # image_format: unpacked layer dirs, or one squashfs file per image
NETWORK_BACKENDS = ("auto", "slirp4netns", "pasta", "none")
# The per-container monitor (runtime/supervisor.py): auto is conmon where installed, else ours (python).
MONITORS = ("auto", "conmon", "python")
LOG_LEVELS = ("debug", "info", "warning", "error")
_SIZE_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)$", re.IGNORECASE)
_PERCENT_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*%$")


@dataclass(frozen=True)
class StorageReserve:
    """Free space a layer unpack must leave on the store's filesystem: the smaller of both bounds."""

    percent: Optional[float] = None  # of the filesystem's size
    limit: Optional[int] = None  # bytes

    def bytes_for(self, fs_size: int) -> int:
        bounds = [int(fs_size * self.percent / 100)] if self.percent is not None else []
        bounds += [self.limit] if self.limit is not None else []
        return min(bounds) if bounds else 0


# "auto": 5% of the filesystem, at most 1 GiB (a 20 GB disk keeps 1 GB, a 64 MB tmpfs 3.2 MB).
AUTO_RESERVE = StorageReserve(percent=5.0, limit=1 << 30)


def parse_reserve(text: str) -> StorageReserve:
    """"auto", a percentage ("5%") or a size ("1GiB", "500M", "0"; k/M/G/T are powers of 1024)."""
    value = text.strip()
    if value.lower() == "auto":
        return AUTO_RESERVE
    percent = _PERCENT_RE.match(value)
    if percent and float(percent.group(1)) < 100:
        return StorageReserve(percent=float(percent.group(1)))
    size = _SIZE_RE.match(value)
    if size and not percent:
        factor = 1024 ** ("kmgt".find(size.group(2).lower()) + 1) if size.group(2) else 1
        return StorageReserve(limit=int(float(size.group(1)) * factor))
    raise InvalidArgument(f"config: storage_reserve: invalid value {text!r}",
                          hint='use "auto", a percentage like "5%" or a size like "1GiB" or "0"')


@dataclass(frozen=True)
class Settings:
    """Everything a user can configure; defaults suit a laptop."""

    storage_root: Optional[str] = None
    runtime: str = "crun"
    storage_driver: str = "auto"
    # How the user's own images are kept (issue 15): "dirs" (unpacked layer dirs, the default) or
    # "squashfs" (one squashfs file per image, images/squash_store.py; README "HPC").
    image_format: str = "dirs"
    network_backend: str = "auto"
    monitor: str = "auto"
    log_level: str = "info"
    default_registry: str = "docker.io"
    insecure_registries: List[str] = field(default_factory=list)
    registry_mirrors: Dict[str, List[str]] = field(default_factory=dict)
    idle_timeout: float = 0.0
    # [api]: docker-sized limits of the HTTP server (issue 7): a JSON body of at most
    # 64 MiB (archives and image loads are streamed, not limited), at most this many
    # connections at once (each holds a thread and an fd), and this long to send a
    # request's line and headers (or to sit idle between keep-alive requests).
    api_max_json_body: int = 64 * 1024 * 1024
    api_max_connections: int = 1024
    api_header_timeout: float = 60.0
    # A pull gives up on a registry that sends (almost) nothing for this long (registry/stall.py).
    pull_stall_timeout: float = 60.0
    storage_reserve: str = "auto"  # parse_reserve(); checked when loaded
    # Set by the daemon, never read from a file: why the store is not where it was asked to be
    # (a shared filesystem, issue 15; host/placement.py). `info` and the log show it.
    storage_note: str = ""
    # Shared read-only image caches (issue 15; podman's additional_image_stores): site dirs of
    # squashfs images (images/site_store.py). The daemon approves their files outside its
    # namespace at start and sets site_images ([path, dev, ino, ctime_ns, size] each) and
    # site_store_warnings (refused dirs or files) -- never read from a file.
    additional_image_stores: List[str] = field(default_factory=list)
    site_images: List[List[Any]] = field(default_factory=list)
    site_store_warnings: List[str] = field(default_factory=list)
    # The user namespace of a container created without --userns: "" (container root is the
    # user) or "keep-id"; unset, it is keep-id inside a Slurm job (SLURM_JOB_ID), so files a job
    # writes belong to the user (README "HPC").
    userns: str = ""
    # Remote access (issue 14): listeners beside the UNIX socket, docker's daemon flags.
    # Empty TLS paths mean the files `rootless tls generate` writes (paths.tls_dir).
    hosts: List[str] = field(default_factory=list)
    tls_verify: bool = False
    tls_cacert: str = ""
    tls_cert: str = ""
    tls_key: str = ""
    insecure_tcp: bool = False
    source: str = ""
    # sha256 of the file as loaded: `info` compares it with the file now (issue 11).
    source_digest: str = ""
    # Unknown keys, each with the nearest valid one: warned about, never a stop (issue 11).
    warnings: Tuple[str, ...] = ()

    def tls_files(self, env: Optional[Mapping[str, str]] = None) -> "tuple[str, str, str]":
        """(CA, certificate, key) for the daemon's TLS listeners, defaults filled in."""
        base = tls_dir(env)
        return (self.tls_cacert or os.path.join(base, "ca.pem"),
                self.tls_cert or os.path.join(base, "server-cert.pem"),
                self.tls_key or os.path.join(base, "server-key.pem"))


_ENV_KEYS = {
    "ROOTLESS_ROOT": "storage_root",
    "ROOTLESS_OCI_RUNTIME": "runtime",
    "ROOTLESS_STORAGE_DRIVER": "storage_driver",
    "ROOTLESS_IMAGE_FORMAT": "image_format",
    "ROOTLESS_NETWORK_BACKEND": "network_backend",
    "ROOTLESS_MONITOR": "monitor",
    "ROOTLESS_LOG_LEVEL": "log_level",
    "ROOTLESS_DEFAULT_REGISTRY": "default_registry",
    "ROOTLESS_IDLE_TIMEOUT": "idle_timeout",
    "ROOTLESS_PULL_STALL_TIMEOUT": "pull_stall_timeout",
    "ROOTLESS_STORAGE_RESERVE": "storage_reserve",
    "ROOTLESS_USERNS": "userns",
}
_FLOAT_KEYS = ("idle_timeout", "pull_stall_timeout")


_TOP_KEYS = ("storage_root", "runtime", "storage_driver", "image_format", "network_backend", "monitor", "log_level",
             "storage_reserve", "idle_timeout", "pull_stall_timeout", "hosts", "insecure_tcp", "tls", "api",
             "registries")
_REGISTRY_KEYS = ("default", "insecure", "mirrors")


def nearest(key: str, valid: Iterable[str]) -> str:
    """' (did you mean `x`?)' for the closest valid key, or '' when none is close."""
    import difflib

    close = difflib.get_close_matches(key, list(valid), n=1, cutoff=0.6)
    return f" (did you mean `{close[0]}`?)" if close else ""


def unknown_keys(data: Mapping[str, Any]) -> Tuple[str, ...]:
    """Keys config.toml may not have, as warnings naming the nearest valid key.

    Warned about rather than refused, as podman does for containers.conf: a file
    written for a newer version must not stop an older one from starting.
    """
    found = [f"config: unknown key {key!r}{nearest(key, _TOP_KEYS)}" for key in data if key not in _TOP_KEYS]
    registries = data.get("registries")
    if isinstance(registries, dict):
        found += [f"config: [registries]: unknown key {key!r}{nearest(key, _REGISTRY_KEYS)}"
                  for key in registries if key not in _REGISTRY_KEYS]
    return tuple(found)


def _from_toml(data: Mapping[str, Any]) -> Dict[str, Any]:
    values: Dict[str, Any] = {}
    for key in ("storage_root", "runtime", "storage_driver", "network_backend", "log_level", "storage_reserve",
                "image_format", "monitor"):
        if key in data:
            values[key] = str(data[key])
    if "idle_timeout" in data:
        values["idle_timeout"] = float(data["idle_timeout"])
    values.update(_api_from_toml(data.get("api", {})))
    if "pull_stall_timeout" in data:
        values["pull_stall_timeout"] = _seconds("pull_stall_timeout", data["pull_stall_timeout"])
    values.update(_remote_from_toml(data))
    values.update(_hpc_from_toml(data))
    registries = data.get("registries", {})
    if not isinstance(registries, dict):
        raise InvalidArgument("config: [registries] must be a table")
    if "default" in registries:
        values["default_registry"] = str(registries["default"])
    if "insecure" in registries:
        values["insecure_registries"] = [str(r) for r in registries["insecure"]]
    if "mirrors" in registries:
        values["registry_mirrors"] = {
            str(k): [str(m) for m in v] for k, v in dict(registries["mirrors"]).items()
        }
    return values


_USERNS_RE = re.compile(r"^(default|keep-id(:[a-z0-9=,]*)?)$")


def _hpc_from_toml(data: Mapping[str, Any]) -> Dict[str, Any]:
    """additional_image_stores = ["/site/images"] (absolute dirs) and userns = "keep-id" | "default"."""
    values: Dict[str, Any] = {}
    if "additional_image_stores" in data:
        stores = data["additional_image_stores"]
        if not isinstance(stores, list) or not all(isinstance(s, str) and os.path.isabs(s) for s in stores):
            raise InvalidArgument("config: additional_image_stores: must be a list of absolute paths",
                                  hint='additional_image_stores = ["/site/images"]')
        values["additional_image_stores"] = [os.path.normpath(s) for s in stores]
    if "userns" in data:
        values["userns"] = str(data["userns"])
    return values


def resolve_userns(configured: Optional[str], env: Mapping[str, str]) -> str:
    """The UsernsMode for containers created without one: keep-id in a Slurm job unless configured."""
    value = configured if configured is not None else ("keep-id" if env.get("SLURM_JOB_ID") else "default")
    if not _USERNS_RE.match(value):
        raise InvalidArgument(f"config: userns: invalid value {value!r}",
                              hint='use "keep-id", "keep-id:uid=U,gid=G" or "default"')
    return "" if value == "default" else value


_TLS_KEYS = ("verify", "cacert", "cert", "key")


def _remote_from_toml(data: Mapping[str, Any]) -> Dict[str, Any]:
    """hosts = [...], insecure_tcp = bool and the [tls] table; wrong types refused by name."""
    values: Dict[str, Any] = {}
    if "hosts" in data:
        hosts = data["hosts"]
        if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
            raise InvalidArgument("config: hosts: must be a list of strings", hint='hosts = ["tcp://127.0.0.1:2376"]')
        values["hosts"] = list(hosts)
    if "insecure_tcp" in data:
        values["insecure_tcp"] = _boolean("insecure_tcp", data["insecure_tcp"])
    table = data.get("tls", {})
    if not isinstance(table, dict):
        raise InvalidArgument("config: [tls] must be a table")
    for key, value in table.items():
        if key not in _TLS_KEYS:
            raise InvalidArgument(f"config: [tls]: unknown key {key!r}{nearest(key, _TLS_KEYS)}",
                                  hint=f"use one of: {', '.join(_TLS_KEYS)}")
        if key == "verify":
            values["tls_verify"] = _boolean("[tls] verify", value)
        elif not isinstance(value, str) or not value:
            raise InvalidArgument(f"config: [tls] {key}: must be a file path")
        else:
            values[f"tls_{key}"] = os.path.expanduser(value)
    return values


def _boolean(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidArgument(f"config: {name}: invalid value {value!r}", hint="use true or false")
    return value


_API_KEYS: Dict[str, Callable[[Any], float]] = {"max_json_body": int, "max_connections": int,
                                               "header_timeout": float}


def _api_from_toml(table: Any) -> Dict[str, Any]:
    if not isinstance(table, dict):
        raise InvalidArgument("config: [api] must be a table")
    for key in table:
        if key not in _API_KEYS:
            raise InvalidArgument(f"config: [api]: unknown key {key!r}{nearest(key, _API_KEYS)}",
                                  hint=f"use one of: {', '.join(_API_KEYS)}")
    return {f"api_{key}": _api_number(f"[api] {key}", key, value) for key, value in table.items()}


def _api_from_env(env: Mapping[str, str]) -> Dict[str, Any]:
    """ROOTLESS_API_MAX_JSON_BODY, ROOTLESS_API_MAX_CONNECTIONS, ROOTLESS_API_HEADER_TIMEOUT."""
    values: Dict[str, Any] = {}
    for key in _API_KEYS:
        name = f"ROOTLESS_API_{key.upper()}"
        if env.get(name):
            values[f"api_{key}"] = _api_number(name, key, env[name])
    return values


def _api_number(name: str, key: str, value: Any) -> float:
    """A positive number; counts stay ints."""
    try:
        bad_type = isinstance(value, bool) or (isinstance(value, float) and _API_KEYS[key] is int)
        number = None if bad_type else _API_KEYS[key](value)
    except (TypeError, ValueError):
        number = None
    if number is None or not 0 < number < float("inf"):  # NaN fails both comparisons
        raise InvalidArgument(f"config: {name}: invalid value {value!r}", hint="use a positive number")
    return number


def _seconds(name: str, value: Any) -> float:
    """A duration in seconds; a bad one is refused by name, never a traceback."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise InvalidArgument(f"config: {name}: invalid value {value!r}", hint="give a number of seconds") from None
    if name == "pull_stall_timeout" and not 0 < seconds < float("inf"):
        raise InvalidArgument(f"config: {name}: invalid value {value!r}", hint="give a positive number of seconds")
    return seconds


def _validate(settings: Settings) -> Settings:
    checks = (
        ("storage_driver", settings.storage_driver, STORAGE_DRIVERS),
        ("image_format", settings.image_format, IMAGE_FORMATS),
        ("network_backend", settings.network_backend, NETWORK_BACKENDS),
        ("monitor", settings.monitor, MONITORS),
        ("log_level", settings.log_level, LOG_LEVELS),
    )
    for name, value, allowed in checks:
        if value not in allowed:
            raise InvalidArgument(
                f"config: {name}: invalid value {value!r}",
                hint=f"use one of: {', '.join(allowed)}",
            )
    parse_reserve(settings.storage_reserve)
    return settings


def file_digest(raw: bytes) -> str:
    import hashlib

    return hashlib.sha256(raw).hexdigest()


def _from_file(path: str, raw: bytes) -> Dict[str, Any]:
    toml = _toml_module()
    try:
        data = toml.loads(raw.decode("utf-8"))
    except (toml.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"config: {path}: {exc}",
                              hint="fix the file, or move it away to use the defaults") from exc
    try:
        values = _from_toml(data)
    except InvalidArgument as exc:  # name the file: the message alone does not say which
        raise InvalidArgument(f"{exc.message} (in {path})", hint=exc.hint) from exc
    return {**values, "source": path, "source_digest": file_digest(raw), "warnings": unknown_keys(data)}


def load_settings(environ: Optional[Mapping[str, str]] = None) -> Settings:
    """Read the TOML file (if any), then apply environment overrides."""
    env = os.environ if environ is None else environ
    path = config_file(env)
    values: Dict[str, Any] = {}
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raw = None
    if raw is not None:
        values = _from_file(path, raw)
    for env_key, attr in _ENV_KEYS.items():
        if env.get(env_key):
            values[attr] = _seconds(attr, env[env_key]) if attr in _FLOAT_KEYS else env[env_key]
    values.update(_api_from_env(env))
    values["userns"] = resolve_userns(values.get("userns"), env)
    stores = env.get("ROOTLESS_ADDITIONAL_IMAGE_STORES")
    if stores:  # ':'-separated, like PATH
        values.update(_hpc_from_toml({"additional_image_stores": [s for s in stores.split(":") if s]}))
    insecure = env.get("ROOTLESS_INSECURE_REGISTRIES")
    if insecure:
        values["insecure_registries"] = [r for r in insecure.split(",") if r]
    return _validate(Settings(**values))

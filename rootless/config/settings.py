"""User settings: ~/.config/rootless/config.toml, overridden by ROOTLESS_* variables."""
from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional

from rootless.config.paths import config_file
from rootless.errors import InvalidArgument


def _toml_module() -> Any:
    """tomllib (or tomli before 3.11), imported only when a config file exists: the CLI's hot path."""
    return importlib.import_module("tomllib" if sys.version_info >= (3, 11) else "tomli")

STORAGE_DRIVERS = ("auto", "overlay", "fuse-overlayfs", "vfs")
NETWORK_BACKENDS = ("auto", "slirp4netns", "pasta", "none")
LOG_LEVELS = ("debug", "info", "warning", "error")


@dataclass(frozen=True)
class Settings:
    """Everything a user can configure; defaults suit a laptop."""

    storage_root: Optional[str] = None
    runtime: str = "crun"
    storage_driver: str = "auto"
    network_backend: str = "auto"
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
    source: str = ""


_ENV_KEYS = {
    "ROOTLESS_ROOT": "storage_root",
    "ROOTLESS_OCI_RUNTIME": "runtime",
    "ROOTLESS_STORAGE_DRIVER": "storage_driver",
    "ROOTLESS_NETWORK_BACKEND": "network_backend",
    "ROOTLESS_LOG_LEVEL": "log_level",
    "ROOTLESS_DEFAULT_REGISTRY": "default_registry",
    "ROOTLESS_IDLE_TIMEOUT": "idle_timeout",
}


def _from_toml(data: Mapping[str, Any]) -> Dict[str, Any]:
    values: Dict[str, Any] = {}
    for key in ("storage_root", "runtime", "storage_driver", "network_backend", "log_level"):
        if key in data:
            values[key] = str(data[key])
    if "idle_timeout" in data:
        values["idle_timeout"] = float(data["idle_timeout"])
    values.update(_api_from_toml(data.get("api", {})))
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


_API_KEYS: Dict[str, Callable[[Any], float]] = {"max_json_body": int, "max_connections": int,
                                               "header_timeout": float}


def _api_from_toml(table: Any) -> Dict[str, Any]:
    if not isinstance(table, dict):
        raise InvalidArgument("config: [api] must be a table")
    for key in table:
        if key not in _API_KEYS:
            raise InvalidArgument(f"config: [api]: unknown key {key!r}", hint=f"use one of: {', '.join(_API_KEYS)}")
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
    if number is None or number <= 0:
        raise InvalidArgument(f"config: {name}: invalid value {value!r}", hint="use a positive number")
    return number


def _validate(settings: Settings) -> Settings:
    checks = (
        ("storage_driver", settings.storage_driver, STORAGE_DRIVERS),
        ("network_backend", settings.network_backend, NETWORK_BACKENDS),
        ("log_level", settings.log_level, LOG_LEVELS),
    )
    for name, value, allowed in checks:
        if value not in allowed:
            raise InvalidArgument(
                f"config: {name}: invalid value {value!r}",
                hint=f"use one of: {', '.join(allowed)}",
            )
    return settings


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
        toml = _toml_module()
        try:
            values = _from_toml(toml.loads(raw.decode("utf-8")))
        except (toml.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise InvalidArgument(f"config: {path}: {exc}") from exc
        values["source"] = path
    for env_key, attr in _ENV_KEYS.items():
        if env.get(env_key):
            values[attr] = float(env[env_key]) if attr == "idle_timeout" else env[env_key]
    values.update(_api_from_env(env))
    insecure = env.get("ROOTLESS_INSECURE_REGISTRIES")
    if insecure:
        values["insecure_registries"] = [r for r in insecure.split(",") if r]
    return _validate(Settings(**values))

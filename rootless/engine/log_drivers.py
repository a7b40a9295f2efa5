"""HostConfig.LogConfig -> how the monitor keeps a container's output (runtime/logs.py LogSettings).

Drivers served (issue 11): json-file; local (the same file with docker's local defaults:
20m, 5 files, compressed); none (nothing kept, `logs` refuses in moby's words); journald
where the user's journal socket is there (each line sent with docker's CONTAINER_* fields,
plus dockerd's dual-logging file so `logs` still reads). Options are the ones
api/types.LogConfig lets through; their values are checked here.
"""
from __future__ import annotations

import os
import re
import stat
from typing import Any, Dict, List, Optional, Type

from rootless.errors import FailedPrecondition, InvalidArgument, RootlessError
from rootless.runtime.logs import JOURNAL_SOCKET, LogSettings

LOG_DRIVERS = ("json-file", "local", "journald", "none")
LOG_OPTIONS = {
    "json-file": ("max-size", "max-file", "compress", "mode"),
    "local": ("max-size", "max-file", "compress", "mode"),
    "journald": ("tag", "cache-disabled", "cache-max-size", "cache-max-file", "cache-compress", "mode"),
    "none": ("mode",),
}
# (max-size, max-file, compress) when not given: json-file's, local's (daemon/logger/local)
# and dual logging's cache (daemon/logger/loggerutils/cache).
_DEFAULTS = {"json-file": ("-1", "1", "false"), "local": ("20m", "5", "true"), "journald": ("20m", "1", "true")}
_SIZE_UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
_TAG_FIELDS = ("ID", "FullID", "Name", "ImageName", "ImageID", "ImageFullID", "DaemonName")
NOT_READABLE = "configured logging driver does not support reading"  # moby's ErrReadLogsNotSupported


def log_max_size(config: Dict[str, str], default: str = "-1", key: str = "max-size") -> int:
    """max-size in bytes (docker's units k, m, g); -1 for no rotation."""
    raw = str(config.get(key, default)).strip()
    try:
        if raw and raw[-1].lower() in _SIZE_UNITS:
            return int(float(raw[:-1]) * _SIZE_UNITS[raw[-1].lower()])
        return int(raw)
    except ValueError:
        raise InvalidArgument(f"invalid log option: {key}={raw}: not a size",
                              hint="use a number with an optional unit: 10k, 20m, 1g") from None


def log_max_files(config: Dict[str, str], default: str = "1", key: str = "max-file") -> int:
    raw = str(config.get(key, default))
    if not raw.isdigit() or int(raw) < 1:
        raise InvalidArgument(f"invalid log option: {key}={raw}: must be a number >= 1")
    return int(raw)


def _flag(config: Dict[str, str], key: str, default: str) -> bool:
    raw = str(config.get(key, default)).lower()
    if raw not in ("true", "false", "1", "0"):
        raise InvalidArgument(f"invalid log option: {key}={raw}: must be true or false")
    return raw in ("true", "1")


def checked_log_config(log_config: Dict[str, Any]) -> Dict[str, Any]:
    """HostConfig.LogConfig as recorded: the driver (json-file by default) and its checked options."""
    driver = log_config.get("Type") or "json-file"
    if driver not in LOG_DRIVERS:
        raise InvalidArgument(f"can't create container: log driver {driver}: not supported",
                              hint="rootless writes json-file, local, journald or none")
    options = {str(k): str(v) for k, v in (log_config.get("Config") or {}).items()}
    for key in options:
        if key not in LOG_OPTIONS[driver]:
            raise InvalidArgument(f"unknown log opt '{key}' for {driver} log driver")
    settings_of(driver, options, {})  # every value parses
    if driver == "journald":
        require_journal(JOURNAL_SOCKET, InvalidArgument)
    return {"Type": driver, "Config": options}


def settings_of(driver: str, options: Dict[str, str], identity: Dict[str, str],
                journal_socket: str = JOURNAL_SOCKET) -> LogSettings:
    """LogSettings for a recorded driver and options; identity names the container for journald."""
    if driver == "none":
        return LogSettings(driver="none", keep_file=False)
    size, files, compress = _DEFAULTS.get(driver, _DEFAULTS["json-file"])
    prefix = "cache-" if driver == "journald" else ""
    settings = LogSettings(driver=driver, max_size=log_max_size(options, size, prefix + "max-size"),
                           max_files=log_max_files(options, files, prefix + "max-file"),
                           compress=_flag(options, prefix + "compress", compress))
    if driver != "journald":
        return settings
    fields = journal_fields(options.get("tag", "{{.ID}}"), identity)
    return LogSettings(driver="journald", max_size=settings.max_size, max_files=settings.max_files,
                       compress=settings.compress, keep_file=not _flag(options, "cache-disabled", "false"),
                       journal_socket=journal_socket, journal_fields=fields)


def journal_fields(tag: str, identity: Dict[str, str]) -> Dict[str, str]:
    """docker's journald fields (daemon/logger/journald): who wrote the line, under which tag."""
    values = {"ID": identity.get("id", "")[:12], "FullID": identity.get("id", ""),
              "Name": identity.get("name", ""), "ImageName": identity.get("image", ""),
              "ImageID": identity.get("image_id", "").replace("sha256:", "")[:12],
              "ImageFullID": identity.get("image_id", ""), "DaemonName": "docker"}

    def field(match: "re.Match[str]") -> str:
        return values[match.group(1)]
    expanded = re.sub(r"\{\{\s*\.(" + "|".join(_TAG_FIELDS) + r")\s*\}\}", field, tag)
    if "{{" in expanded:
        raise InvalidArgument(f"invalid log option: tag={tag}: rootless expands only "
                              + ", ".join("{{." + name + "}}" for name in _TAG_FIELDS))
    return {"CONTAINER_ID": values["ID"], "CONTAINER_ID_FULL": values["FullID"], "CONTAINER_NAME": values["Name"],
            "CONTAINER_TAG": expanded, "SYSLOG_IDENTIFIER": expanded, "IMAGE_NAME": values["ImageName"]}


def require_journal(path: str, kind: Type[RootlessError] = FailedPrecondition) -> None:
    """The journal's socket must be there: without it nothing would reach the journal."""
    try:
        is_socket = stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        is_socket = False
    if not is_socket:
        raise kind(f"logger: journald log driver: {path}: no such socket: this user's systemd journal "
                   "is not reachable (no systemd-journald here)",
                   hint="use --log-driver json-file or local, and `rootless logs`")


def available(journal_socket: str = JOURNAL_SOCKET) -> List[str]:
    """The drivers `info` lists (Plugins.Log): journald only where its socket is."""
    try:
        require_journal(journal_socket)
    except FailedPrecondition:
        return ["json-file", "local", "none"]
    return ["journald", "json-file", "local", "none"]


def readable(driver: str, options: Dict[str, str]) -> Optional[str]:
    """None when `logs` can read this container's output, else moby's refusal."""
    if driver == "none" or (driver == "journald" and _flag(options, "cache-disabled", "false")):
        return NOT_READABLE
    return None

"""A container's persistent record and the Docker API shapes built from it."""
from __future__ import annotations

import copy
import datetime
import os
import shlex
import time
from typing import Any, Dict, List, Optional

from rootless.config import Paths
from rootless.errors import InvalidArgument
from rootless.runtime.logs import parse_rfc3339_ns
from rootless.util import fs
from rootless.util.units import human_duration

ZERO_TIME = "0001-01-01T00:00:00Z"
RECORD_FILE = "container.json"
STATUSES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"


def parse_rfc3339(text: str) -> float:
    """Seconds since the epoch; docker's zero time ("0001-...") and "" are 0."""
    if not text or text.startswith("0001-"):
        return 0.0
    return parse_rfc3339_ns(text) / 1e9


def merge_env(image_env: List[str], request_env: List[str]) -> List[str]:
    """Image Env overlaid by the request's, key by key, order kept."""
    merged: Dict[str, str] = {}
    for item in list(image_env or []) + list(request_env or []):
        key = item.split("=", 1)[0]
        merged[key] = item
    return list(merged.values())


def working_dir_error(workdir: str) -> str:
    """docker's words (daemon/container.go verifyContainerSettings) for a relative working directory."""
    return f"the working directory '{workdir}' is invalid, it needs to be an absolute path"


def merge_config(image_config: Dict[str, Any], request: Dict[str, Any], container_id: str) -> Dict[str, Any]:
    """Docker's rules for Config: request wins; Cmd from the image only when the
    request sets neither Cmd nor Entrypoint."""
    image = image_config or {}
    config = copy.deepcopy(request)
    entrypoint = request.get("Entrypoint")
    cmd = request.get("Cmd")
    if isinstance(entrypoint, str):
        entrypoint = [entrypoint]
    if isinstance(cmd, str):
        cmd = ["/bin/sh", "-c", cmd]
    if entrypoint is None:
        entrypoint = image.get("Entrypoint")
        if not cmd:
            cmd = image.get("Cmd")
    elif entrypoint == [""] or entrypoint == []:
        entrypoint = None
    config["Entrypoint"] = entrypoint or None
    config["Cmd"] = cmd or None
    config["Env"] = merge_env(image.get("Env") or [], request.get("Env") or [])
    config["WorkingDir"] = request.get("WorkingDir") or image.get("WorkingDir") or ""
    if config["WorkingDir"] and not str(config["WorkingDir"]).startswith("/"):
        raise InvalidArgument(working_dir_error(str(config["WorkingDir"])))  # before anything touches disk
    config["User"] = request.get("User") or image.get("User") or ""
    config["Labels"] = {**(image.get("Labels") or {}), **(request.get("Labels") or {})}
    config["ExposedPorts"] = {**(image.get("ExposedPorts") or {}), **(request.get("ExposedPorts") or {})}
    config["Volumes"] = {**(image.get("Volumes") or {}), **(request.get("Volumes") or {})} or None
    config["StopSignal"] = request.get("StopSignal") or image.get("StopSignal") or ""
    config["Hostname"] = request.get("Hostname") or container_id[:12]
    config.setdefault("Domainname", "")
    for key in ("AttachStdin", "AttachStdout", "AttachStderr", "Tty", "OpenStdin", "StdinOnce"):
        config[key] = bool(config.get(key, False))
    if image.get("Healthcheck") and "Healthcheck" not in config:
        config["Healthcheck"] = image["Healthcheck"]
    return config


def command_argv(config: Dict[str, Any]) -> List[str]:
    return list(config.get("Entrypoint") or []) + list(config.get("Cmd") or [])


class Container:
    """The persistent record of one container (container.json)."""

    def __init__(self, paths: Paths, data: Dict[str, Any]) -> None:
        self.paths = paths
        self.data = data

    # -- identity ---------------------------------------------------------
    @property
    def id(self) -> str:
        return str(self.data["Id"])

    @property
    def name(self) -> str:
        return str(self.data["Name"]).lstrip("/")

    @property
    def dir(self) -> str:
        return self.paths.container_dir(self.id)

    @property
    def config(self) -> Dict[str, Any]:
        return self.data["Config"]  # type: ignore[no-any-return]

    @property
    def host_config(self) -> Dict[str, Any]:
        return self.data["HostConfig"]  # type: ignore[no-any-return]

    @property
    def state(self) -> Dict[str, Any]:
        return self.data["State"]  # type: ignore[no-any-return]

    @property
    def status(self) -> str:
        return str(self.state["Status"])

    @property
    def running(self) -> bool:
        return self.status in ("running", "paused", "restarting")

    @property
    def tty(self) -> bool:
        return bool(self.config.get("Tty"))

    @property
    def log_path(self) -> str:
        return os.path.join(self.dir, f"{self.id}-json.log")

    # -- persistence --------------------------------------------------------
    def save(self) -> None:
        fs.atomic_write_json(os.path.join(self.dir, RECORD_FILE), self.data, 0o600)

    @classmethod
    def load(cls, paths: Paths, container_id: str) -> Optional["Container"]:
        data = fs.read_json(os.path.join(paths.container_dir(container_id), RECORD_FILE))
        return cls(paths, data) if data else None

    def set_state(self, status: str, **fields: Any) -> None:
        self.state.update(fields)
        self.state["Status"] = status
        self.state["Running"] = status in ("running", "paused", "restarting")
        self.state["Paused"] = status == "paused"
        self.state["Restarting"] = status == "restarting"
        self.state["Dead"] = status == "dead"
        if status not in ("running", "paused"):
            self.state["Pid"] = 0

    # -- API shapes ---------------------------------------------------------
    def status_text(self) -> str:
        """Docker's human Status column: "Up 3 seconds", "Exited (3) 2 seconds ago"."""
        st = self.state
        if st["Status"] == "running":
            return f"Up {human_duration(time.time() - parse_rfc3339(st['StartedAt']))}"
        if st["Status"] == "paused":
            return f"Up {human_duration(time.time() - parse_rfc3339(st['StartedAt']))} (Paused)"
        if st["Status"] == "restarting":
            return f"Restarting ({st['ExitCode']}) {human_duration(time.time() - parse_rfc3339(st['FinishedAt']))} ago"
        if st["Status"] == "exited":
            ago = human_duration(time.time() - parse_rfc3339(st["FinishedAt"]))
            return f"Exited ({st['ExitCode']}) {ago} ago"
        if st["Status"] == "removing":
            return "Removal In Progress"
        if st["Status"] == "dead":
            return "Dead"
        return "Created"

    def command_text(self) -> str:
        argv = command_argv(self.config)
        return " ".join(shlex.quote(a) if (" " in a or not a) else a for a in argv)

    def inspect(self, ports: Dict[str, Any], networks: Dict[str, Any]) -> Dict[str, Any]:
        data = copy.deepcopy(self.data)
        data["Name"] = "/" + self.name
        data["NetworkSettings"] = {
            "Bridge": "", "SandboxID": "", "SandboxKey": "", "HairpinMode": False,
            "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
            "Ports": ports if self.running else {},
            "SecondaryIPAddresses": None, "SecondaryIPv6Addresses": None,
            "EndpointID": "", "Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
            "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "", "MacAddress": "",
            "Networks": networks,
        }
        for key in ("Gateway", "IPAddress", "IPPrefixLen", "MacAddress"):
            first = next(iter(networks.values()), None)
            if first and self.running:
                data["NetworkSettings"][key] = first.get(key, data["NetworkSettings"][key])
        data.pop("Internal", None)
        return data

    def summary(self, ports: List[Dict[str, Any]], networks: Dict[str, Any]) -> Dict[str, Any]:
        return {
            "Id": self.id, "Names": ["/" + self.name], "Image": self.config.get("Image", ""),
            "ImageID": self.data.get("Image", ""), "Command": self.command_text(),
            "Created": int(parse_rfc3339(self.data["Created"])), "Ports": ports,
            "Labels": self.config.get("Labels") or {}, "State": self.status, "Status": self.status_text(),
            "HostConfig": {"NetworkMode": self.host_config.get("NetworkMode", "bridge")},
            "NetworkSettings": {"Networks": networks}, "Mounts": self.data.get("Mounts", []),
        }


LOG_DRIVERS = ("", "json-file")
LOG_OPTIONS = ("max-size", "max-file", "compress", "labels", "labels-regex", "env", "env-regex", "tag")
_SIZE_UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def log_max_size(config: Dict[str, str]) -> int:
    """max-size in bytes (docker's units k, m, g); -1 for no rotation."""
    raw = str(config.get("max-size", "-1")).strip()
    try:
        if raw and raw[-1].lower() in _SIZE_UNITS:
            return int(float(raw[:-1]) * _SIZE_UNITS[raw[-1].lower()])
        return int(raw)
    except ValueError:
        raise InvalidArgument(f"invalid log option: max-size={raw}: not a size",
                              hint="use a number with an optional unit: 10k, 20m, 1g") from None


def log_max_files(config: Dict[str, str]) -> int:
    raw = str(config.get("max-file", "1"))
    if not raw.isdigit() or int(raw) < 1:
        raise InvalidArgument(f"invalid log option: max-file={raw}: must be a number >= 1")
    return int(raw)


def checked_log_config(log_config: Dict[str, Any]) -> Dict[str, Any]:
    """HostConfig.LogConfig as recorded: json-file with checked options (docker's json-file driver)."""
    driver = log_config.get("Type") or ""
    if driver not in LOG_DRIVERS:
        raise InvalidArgument(f"can't create container: log driver {driver}: not supported",
                              hint="rootless writes json-file logs; drop --log-driver")
    options = {str(k): str(v) for k, v in (log_config.get("Config") or {}).items()}
    for key in options:
        if key not in LOG_OPTIONS:
            raise InvalidArgument(f"unknown log opt '{key}' for json-file log driver")
    log_max_size(options)
    log_max_files(options)
    return {"Type": "json-file", "Config": options}


def new_record(container_id: str, name: str, image_ref: str, image_id: str, config: Dict[str, Any],
               host_config: Dict[str, Any], networking: Dict[str, Any], driver: str, paths: Paths) -> Dict[str, Any]:
    argv = command_argv(config)
    directory = paths.container_dir(container_id)
    host_config = dict(host_config)
    host_config.setdefault("NetworkMode", "bridge")
    if host_config.get("NetworkMode") in ("", "default"):
        host_config["NetworkMode"] = "bridge"
    host_config.setdefault("RestartPolicy", {"Name": "no", "MaximumRetryCount": 0})
    if not (host_config.get("RestartPolicy") or {}).get("Name"):
        host_config["RestartPolicy"] = {"Name": "no", "MaximumRetryCount": 0}
    host_config["LogConfig"] = checked_log_config(host_config.get("LogConfig") or {})
    config = dict(config)
    config["Image"] = image_ref
    return {
        "Id": container_id, "Created": now_rfc3339(), "Path": argv[0] if argv else "",
        "Args": argv[1:], "Name": "/" + name, "Image": image_id, "RestartCount": 0,
        "Driver": driver, "Platform": "linux", "MountLabel": "", "ProcessLabel": "", "AppArmorProfile": "",
        "State": {"Status": "created", "Running": False, "Paused": False, "Restarting": False,
                  "OOMKilled": False, "Dead": False, "Pid": 0, "ExitCode": 0, "Error": "",
                  "StartedAt": ZERO_TIME, "FinishedAt": ZERO_TIME},
        "ResolvConfPath": os.path.join(directory, "resolv.conf"),
        "HostnamePath": os.path.join(directory, "hostname"),
        "HostsPath": os.path.join(directory, "hosts"),
        "LogPath": os.path.join(directory, f"{container_id}-json.log"),
        "ExecIDs": None, "HostConfig": host_config, "Config": config,
        "NetworkingConfig": networking or {}, "Mounts": [],
        "GraphDriver": {"Name": driver, "Data": {"UpperDir": os.path.join(directory, "rootfs", "upper"),
                                                  "MergedDir": os.path.join(directory, "rootfs", "merged")}},
        "SizeRw": None, "SizeRootFs": None,
    }

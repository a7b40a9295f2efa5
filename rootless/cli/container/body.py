"""The body of POST /containers/create, built from docker's run/create flags.

Field names and defaults follow what docker CLI 28 sends (DOCKER-API.md
section 6; docker/cli `cli/command/container/opts.go` parse()).
"""
from __future__ import annotations

TYPE_CHECKING = False  # True for mypy; importing typing costs ~3 ms (cli/fast.py)
if TYPE_CHECKING:
    from typing import Any, Callable, ClassVar, Dict, List, Mapping, Optional, Sequence, Tuple

from rootless.cli.common.labels import parse_labels
from rootless.cli.container import parse
from rootless.errors import InvalidArgument


class CreateOptions:
    """The run/create flags as click parsed them (names = click destinations).

    A plain class, not a dataclass: `import dataclasses` costs ~8 ms (inspect, ast...), and
    `run`'s fast path (cli/fast_run.py) builds one. Fields are the annotations below, their
    defaults the class attributes (all immutable); set ones are instance attributes.
    """

    _fields: ClassVar[Tuple[str, ...]]

    detach: bool = False
    interactive: bool = False
    tty: bool = False
    rm: bool = False
    name: Optional[str] = None
    env: Sequence[str] = ()
    env_file: Sequence[str] = ()
    workdir: Optional[str] = None
    user: Optional[str] = None
    entrypoint: Optional[str] = None
    hostname: Optional[str] = None
    label: Sequence[str] = ()
    restart: Optional[str] = None
    publish: Sequence[str] = ()
    publish_all: bool = False
    expose: Sequence[str] = ()
    volume: Sequence[str] = ()
    mount: Sequence[str] = ()
    tmpfs: Sequence[str] = ()
    volumes_from: Sequence[str] = ()
    userns: Optional[str] = None
    network: Optional[str] = None
    network_alias: Sequence[str] = ()
    pid: Optional[str] = None
    ipc: Optional[str] = None
    device: Sequence[str] = ()
    device_cgroup_rule: Sequence[str] = ()
    read_only: bool = False
    cap_add: Sequence[str] = ()
    cap_drop: Sequence[str] = ()
    privileged: bool = False
    init: bool = False
    ulimit: Sequence[str] = ()
    security_opt: Sequence[str] = ()
    memory: Optional[str] = None
    cpus: Optional[str] = None
    pids_limit: Optional[int] = None
    memory_swap: Optional[str] = None
    memory_reservation: Optional[str] = None
    cpu_shares: Optional[int] = None
    cpu_period: Optional[int] = None
    cpu_quota: Optional[int] = None
    cpuset_cpus: Optional[str] = None
    cpuset_mems: Optional[str] = None
    blkio_weight: Optional[int] = None
    shm_size: Optional[str] = None
    add_host: Sequence[str] = ()
    dns: Sequence[str] = ()
    log_driver: Optional[str] = None
    log_opt: Sequence[str] = ()
    stop_signal: Optional[str] = None
    stop_timeout: Optional[int] = None
    console_size: Optional[Tuple[int, int]] = None
    health_cmd: Optional[str] = None
    health_interval: Optional[str] = None
    health_timeout: Optional[str] = None
    health_retries: Optional[int] = None
    health_start_period: Optional[str] = None
    health_start_interval: Optional[str] = None
    no_healthcheck: bool = False

    def __init__(self, **values: Any) -> None:
        unknown = sorted(set(values) - set(self._fields))
        if unknown:  # as a dataclass's __init__ would
            raise TypeError(f"CreateOptions.__init__() got an unexpected keyword argument {unknown[0]!r}")
        self.__dict__.update(values)

    def __eq__(self, other: object) -> bool:
        return other.__class__ is self.__class__ and all(getattr(self, n) == getattr(other, n) for n in self._fields)

    def __repr__(self) -> str:
        return "CreateOptions(" + ", ".join(f"{n}={getattr(self, n)!r}" for n in self._fields) + ")"

    @classmethod
    def from_kwargs(cls, kwargs: Mapping[str, Any]) -> "CreateOptions":
        """Keep the keys that are create flags; the verb's own flags stay behind."""
        return cls(**{k: v for k, v in kwargs.items() if k in cls._fields})


CreateOptions._fields = tuple(name for name in CreateOptions.__annotations__ if not name.startswith("_"))


def _ports(opts: CreateOptions) -> Tuple[Dict[str, Any], Dict[str, List[Dict[str, str]]]]:
    exposed: Dict[str, Any] = {}
    bindings: Dict[str, List[Dict[str, str]]] = {}
    for spec in opts.publish:
        for port, binding in parse.parse_port_spec(spec):
            exposed[port] = {}
            bindings.setdefault(port, []).append(binding)
    for spec in opts.expose:
        for port in parse.parse_expose(spec):
            exposed[port] = {}
    return exposed, bindings


def _volumes(opts: CreateOptions, cwd: str) -> Tuple[Dict[str, Any], List[str]]:
    anonymous: Dict[str, Any] = {}
    binds: List[str] = []
    for spec in opts.volume:
        bind, path = parse.parse_volume_spec(spec, cwd)
        if bind:
            binds.append(bind)
        if path:
            anonymous[path] = {}
    return anonymous, binds


def _env(opts: CreateOptions, environ: Mapping[str, str], read_file: Callable[[str], str]) -> List[str]:
    env: List[str] = []
    for path in opts.env_file:
        env += parse.parse_env_file(read_file(path), environ, path)
    return env + parse.parse_env(list(opts.env), environ)


def _entrypoint(opts: CreateOptions) -> Optional[List[str]]:
    # `--entrypoint ""` resets the image's entrypoint; docker sends [""] for it.
    if opts.entrypoint is None:
        return None
    return [opts.entrypoint]


def _security_opts(opts: CreateOptions, read_file: Callable[[str], str]) -> Optional[List[str]]:
    # Docker's CLI reads a seccomp profile file itself and sends its JSON (opts.go parseSecurityOpts).
    result = []
    for spec in opts.security_opt:
        key, sep, value = spec.partition("=" if "=" in spec else ":")
        if key == "seccomp" and value and value != "unconfined":
            spec = f"seccomp={read_file(value)}"
        result.append(spec)
    return result or None


def build_config(opts: CreateOptions, image: str, command: Sequence[str], environ: Mapping[str, str],
                 read_file: Callable[[str], str], cwd: str = "") -> Dict[str, Any]:
    """The container Config part of the create body."""
    exposed, _ = _ports(opts)
    anonymous, _ = _volumes(opts, cwd)
    attached = not opts.detach
    config: Dict[str, Any] = {
        "Hostname": opts.hostname or "", "Domainname": "", "User": opts.user or "",
        "AttachStdin": attached and opts.interactive, "AttachStdout": attached, "AttachStderr": attached,
        "ExposedPorts": exposed, "Tty": opts.tty, "OpenStdin": opts.interactive,
        "StdinOnce": attached and opts.interactive, "Env": _env(opts, environ, read_file),
        "Cmd": list(command) or None, "Image": image, "Volumes": anonymous,
        "WorkingDir": opts.workdir or "", "Entrypoint": _entrypoint(opts), "OnBuild": None,
        "Labels": parse_labels(list(opts.label)),
    }
    if opts.stop_signal:
        config["StopSignal"] = opts.stop_signal
    if opts.stop_timeout is not None:
        config["StopTimeout"] = opts.stop_timeout
    healthcheck = _healthcheck(opts)
    if healthcheck is not None:
        config["Healthcheck"] = healthcheck
    return config


_HEALTH_DURATIONS = (("Interval", "health_interval"), ("Timeout", "health_timeout"),
                     ("StartPeriod", "health_start_period"), ("StartInterval", "health_start_interval"))


def _duration_ns(text: str) -> Optional[int]:
    """wire/times.py's parse_duration_ns, imported only for a --health-* duration: the module loads
    datetime and calendar (~2 ms of a `rootless run`, cli/fast_run.py)."""
    from rootless.wire.times import parse_duration_ns

    return parse_duration_ns(text)


def _healthcheck(opts: CreateOptions) -> Optional[Dict[str, Any]]:
    """Config.Healthcheck as the docker CLI builds it (opts.go): CMD-SHELL, durations in ns."""
    durations = {key: getattr(opts, name) for key, name in _HEALTH_DURATIONS}
    have = bool(opts.health_cmd) or opts.health_retries is not None or any(v is not None for v in durations.values())
    if opts.no_healthcheck:
        if have:
            raise InvalidArgument("--no-healthcheck conflicts with --health-* options")
        return {"Test": ["NONE"]}
    if not have:
        return None
    check: Dict[str, Any] = {"Test": ["CMD-SHELL", opts.health_cmd] if opts.health_cmd else None}
    for key, name in _HEALTH_DURATIONS:
        flag = "--" + name.replace("_", "-")
        text = durations[key]
        value = 0 if text is None else _duration_ns(text)
        if value is None:
            raise InvalidArgument(f'invalid argument "{text}" for "{flag}" flag: time: invalid duration "{text}"')
        if value < 0:
            raise InvalidArgument(f"{flag} cannot be negative")
        check[key] = value
    if (opts.health_retries or 0) < 0:
        raise InvalidArgument("--health-retries cannot be negative")
    check["Retries"] = opts.health_retries or 0
    return check


def _resources(opts: CreateOptions) -> Dict[str, Any]:
    resources: Dict[str, Any] = {}
    if opts.memory:
        resources["Memory"] = parse.parse_bytes(opts.memory)
    if opts.cpus:
        resources["NanoCpus"] = parse.parse_cpus(opts.cpus)
    if opts.pids_limit is not None:
        resources["PidsLimit"] = opts.pids_limit
    resources.update(_cgroup_limits(opts))
    if opts.shm_size:
        resources["ShmSize"] = parse.parse_bytes(opts.shm_size)
    if opts.ulimit:
        resources["Ulimits"] = [parse.parse_ulimit(u) for u in opts.ulimit]
    return resources


def _cgroup_limits(opts: CreateOptions) -> Dict[str, Any]:
    """--memory-swap, --memory-reservation, --cpu-*, --cpuset-*, --blkio-weight: only those given
    (docker's opts.go parse() sends them under the same HostConfig names)."""
    limits: Dict[str, Any] = {
        "MemorySwap": parse.parse_memory_swap(opts.memory_swap) if opts.memory_swap else None,
        "MemoryReservation": parse.parse_bytes(opts.memory_reservation) if opts.memory_reservation else None,
        "CpuShares": opts.cpu_shares, "CpuPeriod": opts.cpu_period, "CpuQuota": opts.cpu_quota,
        "CpusetCpus": opts.cpuset_cpus or None, "CpusetMems": opts.cpuset_mems or None,
        "BlkioWeight": opts.blkio_weight,
    }
    return {key: value for key, value in limits.items() if value is not None}


def _log_config(opts: CreateOptions) -> Dict[str, Any]:
    driver = opts.log_driver or ""
    return {"Type": driver, "Config": parse.parse_log_opts(driver, list(opts.log_opt))}


def build_host_config(opts: CreateOptions, read_file: Callable[[str], str], cwd: str = "") -> Dict[str, Any]:
    """The HostConfig part of the create body."""
    _, bindings = _ports(opts)
    _, binds = _volumes(opts, cwd)
    host: Dict[str, Any] = {
        "Binds": binds or None, "NetworkMode": opts.network or "default", "PortBindings": bindings,
        "RestartPolicy": parse.parse_restart(opts.restart) if opts.restart else {"Name": "no", "MaximumRetryCount": 0},
        "AutoRemove": opts.rm, "LogConfig": _log_config(opts),
        "Mounts": [parse.parse_mount_spec(m) for m in opts.mount] or None,
        "PublishAllPorts": opts.publish_all, "Privileged": opts.privileged, "ReadonlyRootfs": opts.read_only,
        "CapAdd": list(opts.cap_add) or None, "CapDrop": list(opts.cap_drop) or None,
        "Dns": list(opts.dns), "ExtraHosts": [parse.parse_add_host(h) for h in opts.add_host] or None,
        "SecurityOpt": _security_opts(opts, read_file),
        "Tmpfs": dict(parse.parse_tmpfs(t) for t in opts.tmpfs) or None,
    }
    host.update(_volumes_from_and_userns(opts))
    if opts.init:
        host["Init"] = True
    host.update(_namespaces_and_devices(opts))
    if opts.tty and opts.console_size:
        host["ConsoleSize"] = list(opts.console_size)
    host.update(_resources(opts))
    return host


def _namespaces_and_devices(opts: CreateOptions) -> Dict[str, Any]:
    """--pid, --ipc, --device and --device-cgroup-rule as the docker CLI sends them."""
    return {"PidMode": opts.pid or "", "IpcMode": opts.ipc or "",
            "Devices": [parse.parse_device(d) for d in opts.device],
            "DeviceCgroupRules": list(opts.device_cgroup_rule) or None}


def _volumes_from_and_userns(opts: CreateOptions) -> Dict[str, Any]:
    """--volumes-from and --userns, only when given (the docker CLI's defaults stay as they were)."""
    host: Dict[str, Any] = {}
    if opts.volumes_from:
        host["VolumesFrom"] = [parse.parse_volumes_from(v) for v in opts.volumes_from]
    if opts.userns:
        host["UsernsMode"] = parse.parse_userns(opts.userns)
    return host


def build_networking_config(opts: CreateOptions) -> Dict[str, Any]:
    """NetworkingConfig: the endpoint (with --network-alias) on a named network."""
    network = opts.network
    if not network or network == "default" or network.startswith("container:"):
        if opts.network_alias:
            raise InvalidArgument("network-scoped aliases are only supported for user-defined networks")
        return {"EndpointsConfig": {}}
    return {"EndpointsConfig": {network: {"Aliases": list(opts.network_alias) or None}}}


def build_create_body(opts: CreateOptions, image: str, command: Sequence[str], environ: Mapping[str, str],
                      read_file: Callable[[str], str], cwd: str = "") -> Dict[str, Any]:
    """The whole POST /containers/create body: Config + HostConfig + NetworkingConfig."""
    if opts.rm and opts.restart and opts.restart != "no":
        raise InvalidArgument("conflicting options: cannot specify both --restart and --rm")
    body = build_config(opts, image, command, environ, read_file, cwd)
    body["HostConfig"] = build_host_config(opts, read_file, cwd)
    body["NetworkingConfig"] = build_networking_config(opts)
    return body

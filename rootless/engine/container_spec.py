"""Docker's Config + HostConfig turned into runtime terms: spec options, mounts,
network set-up, and the /etc files every container gets."""
from __future__ import annotations

import dataclasses
import os
import posixpath
import socket
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from rootless.engine.container_model import Container, working_dir_error
from rootless.errors import FailedPrecondition, InvalidArgument
from rootless.host.cgroups import FIELD_CONTROLLERS, CgroupInfo, require_controller
from rootless.runtime import cdi, cgroup_manager  # cgroupv2 branch: cgroupsPath per container
from rootless.runtime.network import slirp
from rootless.runtime.spec import HostFacts, Mount, SpecOptions, Ulimit, build_rlimits
from rootless.util import confined, fs
from rootless.wire.command import command_line

LIMIT_FIELDS = {"Memory": "memory limit", "MemorySwap": "memory+swap limit", "NanoCpus": "cpu limit",
                "CpuQuota": "cpu quota", "CpuPeriod": "cpu period", "CpuShares": "cpu shares",
                "PidsLimit": "pids limit", "CpusetCpus": "cpuset", "CpusetMems": "cpuset mems",
                "BlkioWeight": "blkio weight", "MemoryReservation": "memory reservation"}


def check_limits(host_config: Dict[str, Any], cgroup: CgroupInfo) -> None:
    """Refuse limits this host cannot enforce, instead of silently dropping them."""
    if cgroup.limits_supported:
        for key, what in LIMIT_FIELDS.items():  # cgroupv2 branch: each limit needs its controller delegated
            if host_config.get(key) not in (None, 0, -1, "", "0"):
                require_controller(cgroup, what, FIELD_CONTROLLERS[key])
        return
    for key, what in LIMIT_FIELDS.items():
        value = host_config.get(key)
        if value and value not in (0, -1, "", "0"):
            raise FailedPrecondition(
                f"{what}: cgroups are not delegated to this user on this host ({cgroup.mode}): "
                "limits cannot be enforced",
                hint="run 'rootless doctor' to see what the host needs",
            )


def host_config_ulimits(host_config: Dict[str, Any]) -> List[Ulimit]:
    return [Ulimit(u["Name"], int(u["Soft"]), int(u["Hard"])) for u in host_config.get("Ulimits") or []]


def check_ulimits(host_config: Dict[str, Any], host: HostFacts) -> None:
    """Refuse at create what crun would refuse at start (unknown name, soft > hard, above our own)."""
    build_rlimits(host_config_ulimits(host_config), host)


@dataclass
class NetworkSetup:
    """How the container is networked, as the spec and the monitor need it."""

    mode: str  # spec network mode: private | host | none
    monitor_mode: str  # what the monitor starts: slirp4netns | none; "user": the engine wires user networks
    ports: List[Dict[str, Any]] = field(default_factory=list)
    # user networks only, filled at start from the record (not planned): the container's
    # address on its NetworkMode network and that network's DNS responder (its gateway)
    address: str = ""
    resolver: str = ""


def requested_ports(container: Container) -> List[Dict[str, Any]]:
    """PortBindings (+ PublishAllPorts over ExposedPorts) as the monitor's port list."""
    host_config = container.host_config
    bindings: Dict[str, Any] = dict(host_config.get("PortBindings") or {})
    if host_config.get("PublishAllPorts"):
        for port in (container.config.get("ExposedPorts") or {}):
            bindings.setdefault(port, [{"HostIp": "", "HostPort": ""}])
    ports = []
    for key, entries in sorted(bindings.items()):
        number, _, proto = key.partition("/")
        for entry in entries or [{"HostIp": "", "HostPort": ""}]:
            host_port = str((entry or {}).get("HostPort") or "0")
            ports.append({"proto": proto or "tcp", "container_port": int(number),
                          "host_port": int(host_port.split("-")[0] or 0),
                          "host_ip": (entry or {}).get("HostIp") or ""})
    return ports


def network_setup(container: Container, backend: str) -> NetworkSetup:
    mode = container.host_config.get("NetworkMode") or "bridge"
    if container.config.get("NetworkDisabled"):
        mode = "none"  # dockerd gives such a container no network at all, whatever its mode
    if mode == "host":
        return NetworkSetup("host", "none")
    if mode == "none":
        return NetworkSetup("none", "none")
    if backend not in ("slirp4netns", "auto"):
        raise FailedPrecondition(f"network backend {backend}: not supported for containers yet",
                                 hint="set network_backend = \"slirp4netns\" in config.toml")
    if mode not in ("bridge", "default") and not mode.startswith("container:"):
        # a user network: a veth on its bridge in the shared namespace (engine/container_networks.py)
        return NetworkSetup("private", USER_NETWORK, requested_ports(container))
    return NetworkSetup("private", "slirp4netns", requested_ports(container))


USER_NETWORK = "user"


def user_network_setup(container: Container, network: NetworkSetup) -> NetworkSetup:
    """The set-up of a container on a user network with its address and resolver from the record."""
    if network.monitor_mode != USER_NETWORK:
        return network
    endpoint = container.attachments().get(container.network_mode) or {}
    return dataclasses.replace(network, address=str(endpoint.get("IPAddress") or ""),
                               resolver=str(endpoint.get("Gateway") or ""))


def host_address() -> Optional[str]:
    """The host's primary IPv4 address (the source of its default route), None without one.

    slirp4netns runs with --disable-host-loopback, so its gateway 10.0.2.2
    reaches nothing; like podman, host.containers.internal names this address
    instead. A UDP connect sends no packet.
    """
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1 (RFC 5737)
            address: str = probe.getsockname()[0]
    except OSError:
        return None
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def hosts_lines(container: Container, network: NetworkSetup, hostname: str) -> List[str]:
    """/etc/hosts: localhost, the container's name, the host, and --add-host entries."""
    hosts = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    gateway: Optional[str] = "127.0.0.1"  # host network: the host's loopback is ours
    if network.mode == "private":
        hosts.append(f"{network.address or slirp.GUEST_ADDRESS}\t{hostname}")
        gateway = host_address()
        if gateway:
            hosts.append(f"{gateway}\thost.containers.internal host.docker.internal")
    else:
        hosts.append(f"127.0.1.1\t{hostname}")
    for extra in container.host_config.get("ExtraHosts") or []:
        name, _, address = extra.partition(":")
        if address == "host-gateway":  # docker's special value
            if not gateway:
                raise FailedPrecondition(f"can't add host {name}: host-gateway: this host has no default route")
            address = gateway
        hosts.append(f"{address}\t{name}")
    return hosts


def write_etc_files(container: Container, network: NetworkSetup) -> Dict[str, str]:
    """hostname, hosts and resolv.conf in the container dir; bound over /etc."""
    hostname = container.config.get("Hostname") or container.id[:12]
    hosts = hosts_lines(container, network, hostname)
    resolv = resolv_conf(container.host_config, network)
    files = {"/etc/hostname": ("hostname", hostname + "\n"), "/etc/hosts": ("hosts", "\n".join(hosts) + "\n"),
             "/etc/resolv.conf": ("resolv.conf", resolv)}
    result = {}
    for destination, (name, content) in files.items():
        path = os.path.join(container.dir, name)
        fs.atomic_write(path, content, 0o644)
        result[destination] = path
    return result


def resolv_conf(host_config: Dict[str, Any], network: NetworkSetup) -> str:
    """--dns, --dns-search and --dns-option over slirp4netns's resolver (or the host's file), as dockerd does."""
    dns = host_config.get("Dns") or []
    search, options = host_config.get("DnsSearch") or [], host_config.get("DnsOptions") or []
    if dns:
        lines = [f"nameserver {server}" for server in dns]
    elif network.resolver:
        lines = [f"nameserver {network.resolver}"]
    elif network.mode == "private":
        lines = [f"nameserver {slirp.DNS_SERVER}"]
    else:
        lines = _host_resolv_conf().splitlines()
    # resolv.conf keeps only the last search and options lines: replace the host's, one line each
    if search:
        lines = [line for line in lines if not line.startswith(("search ", "domain "))]
        lines.append("search " + " ".join(search))
    if options:
        lines = [line for line in lines if not line.startswith("options ")]
        lines.append("options " + " ".join(options))
    return "".join(line + "\n" for line in lines)


def _host_resolv_conf() -> str:
    try:
        with open("/etc/resolv.conf") as f:
            return f.read()
    except OSError:
        return ""


MOUNT_MODES = ("ro", "rw", "z", "Z", "consistent", "cached", "delegated", "private", "rprivate",
               "shared", "rshared", "slave", "rslave", "nocopy")


def parse_bind(spec: str) -> Tuple[str, str, List[str]]:
    """"src:dst[:opts]", "dst[:opts]" (an anonymous volume) -> (src, dst, options).

    docker's linux parser (volume/mounts/linux_parser.go ParseMountRaw): one
    field is a destination; two fields are dst:mode when the second is a mode.
    docker-py's containers.run(volumes=["/data"]) sends exactly that.
    """
    parts = spec.split(":")
    if len(parts) == 2 and parts[0].startswith("/") and _is_mode(parts[1]):
        parts = ["", *parts]
    elif len(parts) == 1:
        parts = ["", parts[0]]
    if len(parts) > 3 or not parts[1].startswith("/"):
        raise InvalidArgument(f"invalid volume specification: '{spec}'")
    options = parts[2].split(",") if len(parts) == 3 and parts[2] else []
    return parts[0], parts[1], options


def _is_mode(text: str) -> bool:
    return bool(text) and all(option in MOUNT_MODES for option in text.split(","))


def is_named_volume(source: str) -> bool:
    return bool(source) and not source.startswith("/") and not source.startswith(".")


@dataclass(frozen=True)
class MountRequest:
    """One bind or volume a container asks for (-v, --mount, an image VOLUME)."""

    destination: str
    source: str  # a host path, a volume name, or "" for an anonymous volume
    options: Tuple[str, ...]
    read_only: bool
    labels: Tuple[Tuple[str, str], ...] = ()  # --mount volume-label=: the volume's labels if this creates it

    @property
    def is_volume(self) -> bool:
        return not self.source or is_named_volume(self.source)

    @property
    def is_anonymous(self) -> bool:
        """Made for this container: `rm -v` takes it (moby removeMountPoints: no Spec.Source)."""
        return not self.source


def mount_requests(config: Dict[str, Any], host_config: Dict[str, Any]) -> List[MountRequest]:
    """Binds, then Mounts (tmpfs ones aside), then Config.Volumes not already covered."""
    requests: List[MountRequest] = []
    for bind in host_config.get("Binds") or []:
        source, destination, options = parse_bind(bind)
        read_only = "ro" in options
        requests.append(MountRequest(destination, source, mount_options(read_only, options), read_only))
    for spec in host_config.get("Mounts") or []:
        if spec.get("Type", "volume") != "tmpfs":
            requests.append(api_mount_request(spec))
    destinations = [r.destination for r in requests]
    for destination in destinations:
        if destinations.count(destination) > 1:
            raise InvalidArgument(f"Duplicate mount point: {destination}")  # docker's words
    for destination in (config.get("Volumes") or {}):
        if destination not in destinations:
            requests.append(MountRequest(destination, "", ("rbind", "rw"), False))
    return requests


def api_mount_request(spec: Dict[str, Any]) -> MountRequest:
    """One bind or volume of HostConfig.Mounts (--mount), with its BindOptions / VolumeOptions."""
    read_only = bool(spec.get("ReadOnly"))
    bind_options = spec.get("BindOptions") or {}
    propagation = bind_options.get("Propagation") or ""
    options = mount_options(read_only, [propagation] if propagation else [])
    if bind_options.get("NonRecursive"):
        options = ("bind",) + options[1:]
    labels = (spec.get("VolumeOptions") or {}).get("Labels") or {}
    return MountRequest(spec["Target"], spec.get("Source") or "", options, read_only,
                        tuple(sorted((str(k), str(v)) for k, v in labels.items())))


def tmpfs_mounts(host_config: Dict[str, Any]) -> Dict[str, str]:
    """--tmpfs (destination -> docker's option string) and --mount type=tmpfs with its size, mode and ro."""
    tmpfs = {str(dest): str(opts or "") for dest, opts in (host_config.get("Tmpfs") or {}).items()}
    for spec in host_config.get("Mounts") or []:
        if spec.get("Type") != "tmpfs":
            continue
        if spec["Target"] in tmpfs:
            raise InvalidArgument(f"Duplicate mount point: {spec['Target']}")  # docker's words
        tmpfs_options = spec.get("TmpfsOptions") or {}
        options = ["ro"] if spec.get("ReadOnly") else []
        if tmpfs_options.get("SizeBytes"):
            options.append(f"size={int(tmpfs_options['SizeBytes'])}")
        if tmpfs_options.get("Mode"):
            options.append(f"mode={int(tmpfs_options['Mode']) & 0o7777:o}")
        tmpfs[spec["Target"]] = ",".join(options)
    return tmpfs


def mount_options(read_only: bool, extra: List[str]) -> Tuple[str, ...]:
    options = ["rbind"] + (["ro"] if read_only else ["rw"])
    for opt in extra:
        if opt in ("ro", "rw"):
            options[1] = opt
        elif opt in ("z", "Z", "consistent", "cached", "delegated"):
            continue
        elif opt in ("private", "rprivate"):
            options.append(opt)
        elif opt in ("shared", "rshared", "slave", "rslave"):
            # crun would set it, but the engine's mount namespace is private: nothing would propagate
            raise InvalidArgument(f"invalid mode: {opt}: only private propagation is supported by rootless",
                                  hint="the engine's mount namespace is private, so a bind has no host mounts "
                                       "to share or follow")
        elif opt == "nocopy":
            continue  # rootless never copies image content into a volume
        else:
            raise InvalidArgument(f"invalid mode: {opt}")
    return tuple(options)


def build_spec_options(container: Container, rootfs: str, network: NetworkSetup, etc_files: Dict[str, str],
                       mounts: List[Mount], cgroup: CgroupInfo, hooks_dirs: List[str]) -> SpecOptions:
    config, host_config = container.config, container.host_config
    args = command_line(config.get("Entrypoint"), config.get("Cmd"), None, None)
    tmpfs = tmpfs_mounts(host_config)
    ulimits = host_config_ulimits(host_config)
    return SpecOptions(
        rootfs=rootfs, args=args, env=list(config.get("Env") or []),
        cwd=config.get("WorkingDir") or "/", user=config.get("User") or "",
        group_add=list(host_config.get("GroupAdd") or []), hostname=config.get("Hostname") or container.id[:12],
        tty=bool(config.get("Tty")), open_stdin=bool(config.get("OpenStdin")),
        privileged=bool(host_config.get("Privileged")), cap_add=list(host_config.get("CapAdd") or []),
        cap_drop=list(host_config.get("CapDrop") or []), read_only=bool(host_config.get("ReadonlyRootfs")),
        tmpfs=tmpfs, mounts=mounts, ulimits=ulimits, init=bool(host_config.get("Init")),
        security_opt=list(host_config.get("SecurityOpt") or []),
        shm_size=host_config.get("ShmSize") or None, sysctls=dict(host_config.get("Sysctls") or {}),
        network=network.mode, etc_files=etc_files,
        annotations=spec_annotations(config, host_config), domainname=config.get("Domainname") or "",
        masked_paths=_optional_list(host_config.get("MaskedPaths")),
        readonly_paths=_optional_list(host_config.get("ReadonlyPaths")),
        oom_score_adj=host_config.get("OomScoreAdj") or None, hooks_dirs=hooks_dirs, cgroup=cgroup,
        cgroups_path=cgroup_manager.cgroups_path(cgroup, container.id),  # cgroupv2 branch
        **limit_options(host_config),
    )


def limit_options(host_config: Dict[str, Any]) -> Dict[str, Any]:
    """SpecOptions' limit arguments from HostConfig (at start, and for docker update's crun update)."""
    return dict(
        memory=host_config.get("Memory") or None, memory_swap=host_config.get("MemorySwap") or None,
        cpus=(host_config["NanoCpus"] / 1e9) if host_config.get("NanoCpus") else None,
        pids_limit=host_config.get("PidsLimit") if (host_config.get("PidsLimit") or 0) > 0 else None,
        memory_reservation=host_config.get("MemoryReservation") or None,
        cpu_shares=host_config.get("CpuShares") or None, cpu_quota=host_config.get("CpuQuota") or None,
        cpu_period=host_config.get("CpuPeriod") or None, cpuset_cpus=host_config.get("CpusetCpus") or "",
        cpuset_mems=host_config.get("CpusetMems") or "", blkio_weight=host_config.get("BlkioWeight") or None,
        cdi_devices=cdi_device_names(host_config),
    )


def cdi_device_names(host_config: Dict[str, Any]) -> List[str]:
    """CDI devices by qualified name (issue 15): --device vendor.com/class=name, which docker >= 25
    sends as a DeviceRequest of Driver "cdi" and older clients as a Devices entry, and --gpus,
    named through the nvidia.com/gpu CDI spec (api/support.py accepts nothing else)."""
    names = [str(device.get("PathOnHost")) for device in host_config.get("Devices") or []
             if cdi.is_qualified_name(str(device.get("PathOnHost") or ""))]
    for request in host_config.get("DeviceRequests") or []:
        ids = [str(i) for i in request.get("DeviceIDs") or []]
        if request.get("Driver") == "cdi":
            names += ids
        else:
            count = request.get("Count")
            gpus = f"device={','.join(ids)}" if ids else ("all" if count == -1 else str(count))
            names += cdi.gpu_requests(gpus, cdi.load_devices())
    return names


def spec_annotations(config: Dict[str, Any], host_config: Dict[str, Any]) -> Dict[str, str]:
    """The OCI annotations: the labels (which hooks match on), then --annotation, which wins."""
    labels = {str(k): str(v) for k, v in (config.get("Labels") or {}).items()}
    return {**labels, **{str(k): str(v) for k, v in (host_config.get("Annotations") or {}).items()}}


def _optional_list(value: Any) -> Optional[List[str]]:
    """null keeps the defaults; a list, also an empty one, replaces them (dockerd's MaskedPaths)."""
    return None if value is None else [str(item) for item in value]


def ensure_workdir(rootfs: str, workdir: str) -> None:
    """docker creates a missing working directory; here only inside the rootfs.

    Symlinks on the way are followed inside the rootfs (util/confined.py), as
    moby's securejoin does, so an image's WorkingDir can't make us mkdir on the host.
    """
    if not workdir or workdir == "/":
        return
    if not posixpath.isabs(workdir):  # checked at create; a record from an older version may still have one
        raise InvalidArgument(working_dir_error(workdir))
    try:
        with confined.Root(rootfs) as root:
            os.close(root.makedirs(workdir))
    except OSError as exc:
        raise InvalidArgument(f"can't create working directory {workdir}: {exc.strerror}") from None

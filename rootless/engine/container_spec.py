"""Docker's Config + HostConfig turned into runtime terms: spec options, mounts,
network set-up, and the /etc files every container gets."""
from __future__ import annotations

import dataclasses
import os
import posixpath
import shutil
import socket
from dataclasses import dataclass, field
from typing import Any, Collection, Dict, List, Optional, Tuple

from rootless.engine.container_model import ApiMount, Container, etc_files, working_dir_error
from rootless.errors import FailedPrecondition, InvalidArgument
from rootless.host.cgroups import FIELD_CONTROLLERS, CgroupInfo, require_controller
from rootless.runtime import cdi, cgroup_manager  # cgroupv2 branch: cgroupsPath per container
from rootless.runtime.network import pasta, slirp
from rootless.runtime.spec import HostFacts, Mount, SpecOptions, build_rlimits
from rootless.util import confined, fs
from rootless.wire.command import command_line

LIMIT_FIELDS = {"Memory": "memory limit", "MemorySwap": "memory+swap limit", "NanoCpus": "cpu limit",
                "CpuQuota": "cpu quota", "CpuPeriod": "cpu period", "CpuShares": "cpu shares",
                "PidsLimit": "pids limit", "CpusetCpus": "cpuset", "CpusetMems": "cpuset mems",
                "BlkioWeight": "blkio weight", "MemoryReservation": "memory reservation"}


def check_limits(container: Container, cgroup: CgroupInfo) -> None:
    """Refuse limits this host cannot enforce, instead of silently dropping them."""
    asked = container.limit_values()
    if cgroup.limits_supported:
        for key, what in LIMIT_FIELDS.items():  # cgroupv2 branch: each limit needs its controller delegated
            if asked.get(key) not in (None, 0, -1, "", "0"):
                require_controller(cgroup, what, FIELD_CONTROLLERS[key])
        return
    for key, what in LIMIT_FIELDS.items():
        value = asked.get(key)
        if value and value not in (0, -1, "", "0"):
            raise FailedPrecondition(
                f"{what}: cgroups are not delegated to this user on this host ({cgroup.mode}): "
                "limits cannot be enforced",
                hint="run 'rootless doctor' to see what the host needs",
            )


def check_ulimits(container: Container, host: HostFacts) -> None:
    """Refuse at create what crun would refuse at start (unknown name, soft > hard, above our own)."""
    build_rlimits(container.ulimits, host)


@dataclass
class NetworkSetup:
    """How the container is networked, as the spec and the monitor need it."""

    mode: str  # spec network mode: private | host | none
    # what the monitor starts: slirp4netns | pasta | none; "user": the engine wires the
    # container's networks (the default bridge and user networks) in the shared namespace
    monitor_mode: str
    ports: List[Dict[str, Any]] = field(default_factory=list)
    # shared namespace: filled at start from the record (not planned): the container's
    # address on its NetworkMode network and that network's DNS responder (its gateway).
    # Own uplink: the resolver it answers on.
    address: str = ""
    resolver: str = ""
    host_loopback: bool = False  # own slirp4netns: its gateway reaches the host's loopback
    host_gateway: str = ""  # what --add-host x:host-gateway names ("" = the host's own address)
    pasta_options: List[str] = field(default_factory=list)  # own pasta: --network pasta:OPTS, allow-listed


SLIRP4NETNS, PASTA = "slirp4netns", "pasta"
SLIRP_OPTIONS = ("allow_host_loopback", "port_handler")


def is_own_uplink(mode: str) -> bool:
    """--network slirp4netns[:opts] / pasta[:opts] (podman's): the container's own uplink."""
    return mode.partition(":")[0] in (SLIRP4NETNS, PASTA)


def wants_host_loopback(container: Container) -> bool:
    """--add-host x:host-gateway: the opt-in to reach the host's loopback services."""
    return any(extra.partition(":")[2] == "host-gateway" for extra in container.extra_hosts)


def own_uplink_setup(container: Container, mode: str) -> NetworkSetup:
    """slirp4netns[:allow_host_loopback=true|false,port_handler=slirp4netns] or pasta[:OPTS]
    (pasta.parse_user_options: an allow-list)."""
    kind, _, text = mode.partition(":")
    ports = requested_ports(container)
    if kind == PASTA:
        return NetworkSetup("private", PASTA, ports, resolver=pasta.DNS_FORWARD,
                            pasta_options=pasta.parse_user_options(text))
    options = {}
    for option in filter(None, text.split(",")):
        key, sep, value = option.partition("=")
        if key not in SLIRP_OPTIONS or not sep:
            raise InvalidArgument(f"network mode {mode}: unknown slirp4netns option {option!r}",
                                  hint="rootless supports allow_host_loopback=true|false and port_handler=slirp4netns")
        options[key] = value
    if options.get("port_handler", "slirp4netns") != "slirp4netns":
        raise InvalidArgument(f"network mode {mode}: port_handler {options['port_handler']}: not supported",
                              hint="slirp4netns forwards the ports itself: port_handler=slirp4netns")
    allow = options.get("allow_host_loopback", "false")
    if allow not in ("true", "false"):
        raise InvalidArgument(f"network mode {mode}: allow_host_loopback={allow}: want true or false")
    loopback = allow == "true" or wants_host_loopback(container)
    return NetworkSetup("private", SLIRP4NETNS, ports, resolver=slirp.DNS_SERVER, host_loopback=loopback,
                        host_gateway=slirp.GATEWAY if loopback else "")


def requested_ports(container: Container) -> List[Dict[str, Any]]:
    """PortBindings (+ PublishAllPorts over ExposedPorts) as the monitor's port list."""
    ports = []
    for binding in container.port_bindings():
        number, _, proto = binding.port.partition("/")
        host_port = binding.host_port or "0"
        ports.append({"proto": proto or "tcp", "container_port": int(number),
                      "host_port": int(host_port.split("-")[0] or 0), "host_ip": binding.host_ip})
    return ports


def network_setup(container: Container, backend: str) -> NetworkSetup:
    mode = container.network_mode
    if container.network_disabled:
        mode = "none"  # dockerd gives such a container no network at all, whatever its mode
    if mode == "host":
        return NetworkSetup("host", "none")
    if mode == "none":
        return NetworkSetup("none", "none")
    if mode.startswith("container:"):  # another container's namespace, joined at start (container_namespaces)
        return NetworkSetup("container", "none")
    if is_own_uplink(mode):
        return own_uplink_setup(container, mode)
    if backend not in ("slirp4netns", "pasta", "auto"):
        raise FailedPrecondition(f"network backend {backend}: not supported for containers yet",
                                 hint="install slirp4netns or pasta, or set network_backend in config.toml")
    # the default bridge or a user network: a veth on its bridge in the shared namespace
    # (engine/container_networks.py), whose uplink is the backend (container_networks.shared_uplink)
    return NetworkSetup("private", USER_NETWORK, requested_ports(container))


USER_NETWORK = "user"


def user_network_setup(container: Container, network: NetworkSetup) -> NetworkSetup:
    """The set-up of a container in the shared namespace with its address and resolver from the record.

    A plan made before the default bridge was shared says slirp4netns for a
    bridge container: it is wired in the shared namespace now, like a new one.
    """
    mode = container.network_mode
    if network.monitor_mode == SLIRP4NETNS and mode in ("bridge", "default"):
        network = dataclasses.replace(network, monitor_mode=USER_NETWORK)
    if network.monitor_mode != USER_NETWORK:
        return network
    endpoint = container.endpoints().get("bridge" if mode == "default" else mode)
    if endpoint is None:
        return dataclasses.replace(network, address="", resolver="")
    return dataclasses.replace(network, address=endpoint.ip_address, resolver=endpoint.gateway)


def host_address() -> Optional[str]:
    """The host's primary IPv4 address (the source of its default route), None without one.

    Without the opt-in (--add-host x:host-gateway) no container may reach the
    host's loopback; like podman, host.containers.internal names this address
    instead (the host's services listening on it, not on 127.0.0.1). A UDP
    connect sends no packet.
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
        given = {extra.partition(":")[0] for extra in container.extra_hosts}  # the first line found wins
        automatic = [name for name in ("host.containers.internal", "host.docker.internal") if name not in given]
        if gateway and automatic:
            hosts.append(f"{gateway}\t{' '.join(automatic)}")
        # host-gateway: the address that reaches the host's loopback (the container opted in)
        gateway = network.host_gateway or gateway
    else:
        hosts.append(f"127.0.1.1\t{hostname}")
    for extra in container.extra_hosts:
        name, _, address = extra.partition(":")
        if address == "host-gateway":  # docker's special value
            if not gateway:
                raise FailedPrecondition(f"can't add host {name}: host-gateway: this host has no default route")
            address = gateway
        hosts.append(f"{address}\t{name}")
    return hosts


def write_etc_files(container: Container, network: NetworkSetup) -> Dict[str, str]:
    """hostname, hosts and resolv.conf in the container's etc dir in the runtime dir (a tmpfs as
    a rule; Paths.etc_dir), all three again at every start (a reboot empties it); bound over /etc."""
    hostname = container.hostname
    contents = {"/etc/hostname": hostname + "\n",
                "/etc/hosts": "\n".join(hosts_lines(container, network, hostname)) + "\n",
                "/etc/resolv.conf": resolv_conf(container, network)}
    paths = etc_files(fs.ensure_dir(container.etc_dir))
    for destination, content in contents.items():
        fs.atomic_write(paths[destination], content, 0o644, durable=False)  # written again at every start: no fsync
    return paths


def remove_etc_files(etc_dir: str) -> None:
    """A removed container's /etc files (in the runtime dir, not renamed into the store's trash:
    killed before this, the next start's drop_etc_orphans removes them)."""
    shutil.rmtree(etc_dir, ignore_errors=True)


def drop_etc_orphans(etc_root: str, recorded: Collection[str]) -> List[str]:
    """At start: the etc dirs (Paths.etc_dir) of containers no longer recorded; their ids."""
    try:
        names = sorted(os.listdir(etc_root))
    except FileNotFoundError:
        return []
    dropped = [name for name in names if name not in recorded]
    for name in dropped:
        remove_etc_files(os.path.join(etc_root, name))
    return dropped


def resolv_conf(container: Container, network: NetworkSetup) -> str:
    """--dns, --dns-search and --dns-option over slirp4netns's resolver (or the host's file), as dockerd does."""
    dns, search, options = container.dns
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
    copy: bool = True  # a new volume is first filled from the image's directory; nocopy opts out
    subpath: str = ""  # --mount volume-subpath=: bind this directory of the volume (engine/mount_sources.py)

    @property
    def is_volume(self) -> bool:
        return not self.source or is_named_volume(self.source)

    @property
    def is_anonymous(self) -> bool:
        """Made for this container: `rm -v` takes it (moby removeMountPoints: no Spec.Source)."""
        return not self.source


def mount_requests(container: Container) -> List[MountRequest]:
    """Binds, then Mounts (tmpfs ones aside), then --volumes-from's, then Config.Volumes not covered.

    moby's registerMountPoints: a bind or --mount at the destination of an
    inherited mount wins over it, and an image VOLUME gets an anonymous volume
    only where nothing else is mounted.
    """
    requests: List[MountRequest] = []
    for bind in container.binds:
        source, destination, options = parse_bind(bind)
        read_only = "ro" in options
        requests.append(MountRequest(destination, source, mount_options(read_only, options), read_only,
                                     copy="nocopy" not in options))
    for spec, no_copy in zip(container.api_mounts, container.no_copy_mounts):
        if spec.type != "tmpfs":
            requests.append(dataclasses.replace(api_mount_request(spec), copy=not no_copy))
    destinations = [r.destination for r in requests]
    for destination in destinations:
        if destinations.count(destination) > 1:
            raise InvalidArgument(f"Duplicate mount point: {destination}")  # docker's words
    for request in inherited_requests(container):
        if request.destination not in destinations:
            requests.append(request)
            destinations.append(request.destination)
    for destination in container.image_volumes:
        if destination not in destinations:
            requests.append(MountRequest(destination, "", ("rbind", "rw"), False))
    return requests


VOLUMES_FROM_KEY = "VolumesFrom"  # the record's Internal: --volumes-from resolved once, at create


def inherited_requests(container: Container) -> List[MountRequest]:
    """The mounts --volumes-from gave the container at create (engine/container_volumes.py)."""
    requests = []
    for entry in container.internal(VOLUMES_FROM_KEY) or []:
        read_only = bool(entry["ReadOnly"])
        requests.append(MountRequest(str(entry["Destination"]), str(entry["Source"]),
                                     mount_options(read_only, []), read_only))
    return requests


def api_mount_request(spec: ApiMount) -> MountRequest:
    """One bind or volume of HostConfig.Mounts (--mount), with its BindOptions / VolumeOptions."""
    options = mount_options(spec.read_only, [spec.propagation] if spec.propagation else [])
    if spec.non_recursive:
        options = ("bind",) + options[1:]
    return MountRequest(spec.target, spec.source, options, spec.read_only, spec.volume_labels,
                        subpath=spec.subpath)


def tmpfs_mounts(container: Container) -> Dict[str, str]:
    """--tmpfs (destination -> docker's option string) and --mount type=tmpfs with its size, mode and ro."""
    tmpfs = container.tmpfs
    for spec in container.api_mounts:
        if spec.type != "tmpfs":
            continue
        if spec.target in tmpfs:
            raise InvalidArgument(f"Duplicate mount point: {spec.target}")  # docker's words
        options = ["ro"] if spec.read_only else []
        if spec.tmpfs_size:
            options.append(f"size={spec.tmpfs_size}")
        if spec.tmpfs_mode:
            options.append(f"mode={spec.tmpfs_mode & 0o7777:o}")
        tmpfs[spec.target] = ",".join(options)
    return tmpfs


def mount_options(read_only: bool, extra: List[str]) -> Tuple[str, ...]:
    options = ["rbind"] + (["ro"] if read_only else ["rw"])
    for opt in extra:
        if opt in ("ro", "rw"):
            options[1] = opt
        elif opt in ("z", "Z", "consistent", "cached", "delegated"):
            continue
        elif opt in ("private", "rprivate", "shared", "rshared", "slave", "rslave"):
            # shared and slave ask the source's mount to be one too: checked at start, as moby
            # does (engine/mount_sources.py check_propagation), then crun sets it on the bind
            options.append(opt)
        elif opt == "nocopy":
            continue  # MountRequest.copy carries it
        else:
            raise InvalidArgument(f"invalid mode: {opt}")
    return tuple(options)


def build_spec_options(container: Container, rootfs: str, network: NetworkSetup, etc_files: Dict[str, str],
                       mounts: List[Mount], cgroup: CgroupInfo, hooks_dirs: List[str]) -> SpecOptions:
    entrypoint, cmd = container.argv
    process, limits = container.process_options, container.resources
    return SpecOptions(
        rootfs=rootfs, args=command_line(entrypoint, cmd, None, None), env=container.env,
        cwd=container.working_dir or "/", user=container.user, group_add=process.group_add,
        hostname=container.hostname, tty=container.tty, open_stdin=container.open_stdin,
        privileged=process.privileged, cap_add=process.cap_add, cap_drop=process.cap_drop,
        read_only=process.read_only, tmpfs=tmpfs_mounts(container), mounts=mounts, ulimits=container.ulimits,
        init=process.init, security_opt=process.security_opt, shm_size=process.shm_size, sysctls=process.sysctls,
        network=network.mode, etc_files=etc_files, annotations=spec_annotations(container),
        domainname=container.domainname, masked_paths=process.masked_paths,
        readonly_paths=process.readonly_paths, oom_score_adj=process.oom_score_adj, hooks_dirs=hooks_dirs,
        cgroup=cgroup, cgroups_path=cgroup_manager.cgroups_path(cgroup, container.id),  # cgroupv2 branch
        memory=limits.memory, memory_swap=limits.memory_swap,
        cpus=(limits.nano_cpus / 1e9) if limits.nano_cpus else None, pids_limit=limits.pids_limit,
        memory_reservation=limits.memory_reservation, cpu_shares=limits.cpu_shares, cpu_quota=limits.cpu_quota,
        cpu_period=limits.cpu_period, cpuset_cpus=limits.cpuset_cpus, cpuset_mems=limits.cpuset_mems,
        blkio_weight=limits.blkio_weight, cdi_devices=cdi_device_names(container),
    )


def cdi_device_names(container: Container) -> List[str]:
    """CDI devices by qualified name (issue 15): --device vendor.com/class=name, which docker >= 25
    sends as a DeviceRequest of Driver "cdi" and older clients as a Devices entry, and --gpus,
    named through the nvidia.com/gpu CDI spec (api/support.py accepts nothing else)."""
    names = [path for path in container.device_paths if cdi.is_qualified_name(path)]
    for request in container.device_requests:
        ids = list(request.device_ids)
        if request.driver == "cdi":
            names += ids
        else:
            count = request.count
            gpus = f"device={','.join(ids)}" if ids else ("all" if count == -1 else str(count))
            names += cdi.gpu_requests(gpus, cdi.load_devices())
    return names


def spec_annotations(container: Container) -> Dict[str, str]:
    """The OCI annotations: the labels (which hooks match on), then --annotation, which wins."""
    return {**container.labels, **container.annotations}


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



def limit_options(container: Container) -> Dict[str, Any]:
    """SpecOptions' limit arguments from the container's recorded limits (docker update's crun update)."""
    limits = container.resources
    return dict(memory=limits.memory, memory_swap=limits.memory_swap,
                cpus=(limits.nano_cpus / 1e9) if limits.nano_cpus else None, pids_limit=limits.pids_limit,
                memory_reservation=limits.memory_reservation, cpu_shares=limits.cpu_shares,
                cpu_quota=limits.cpu_quota, cpu_period=limits.cpu_period, cpuset_cpus=limits.cpuset_cpus,
                cpuset_mems=limits.cpuset_mems, blkio_weight=limits.blkio_weight)

"""Read-side container operations: API shapes, logs, attach, files, processes."""
from __future__ import annotations

import os
from typing import Any, Callable, Dict, Iterator, List, Optional, Protocol, Tuple

from rootless.engine import container_fs, container_top, endpoints
from rootless.engine.container_io import log_chunks
from rootless.engine.container_model import Container, etc_files
from rootless.engine.container_runtime import ContainerHost, ContainerRuntime
from rootless.errors import Conflict, NotFound
from rootless.images.store import ImageRecord
from rootless.runtime import users
from rootless.runtime.network import slirp
from rootless.util.fs import dir_size


class ImageSizes(Protocol):
    """What SizeRootFs needs from the images (engine/images.py ImageService)."""

    def get(self, name: str) -> ImageRecord:
        """The image by id; NotFound when it is gone."""

    def image_size(self, record: ImageRecord) -> int:
        """Its unpacked size, as `docker images` shows it."""


class ContainerReads:
    """Mixed into Containers: everything that looks at a container without changing its state."""

    runtime: ContainerRuntime
    host: ContainerHost
    images: ImageSizes
    all: Callable[[], List[Container]]  # Containers.all

    def summary(self, container: Container, size: bool = False) -> Dict[str, Any]:
        _, ports = _ports_view(container)
        body = container.summary(ports if container.running else [], _networks_view(container))
        if size:
            body.update(self.sizes(container))
        return body

    def inspect(self, container: Container, size: bool = False) -> Dict[str, Any]:
        ports, _ = _ports_view(container)
        body = container.inspect(ports, _networks_view(container), self.host.runtime_name)
        if size:
            body.update(self.sizes(container))
        return body

    def sizes(self, container: Container) -> Dict[str, int]:
        """docker's SizeRw (the container's own changes) and SizeRootFs (those plus its image's
        files, the "virtual" size of `ps -s`)."""
        changed = dir_size(self.runtime.upper_dir(container.id))
        try:
            base = self.images.image_size(self.images.get(container.image_id))
        except NotFound:
            base = 0  # its image was removed with --force: only its own files remain
        return {"SizeRw": changed, "SizeRootFs": changed + base}

    def logs(self, container: Container, **options: Any) -> Iterator[bytes]:
        return log_chunks(container, lambda: container.running, **options)

    def top(self, container: Container, ps_args: str) -> Dict[str, Any]:
        if not container.running:
            raise Conflict(f"container {container.id} is not running")
        others = [c.pid for c in self.all() if c.running and c.id != container.id]
        return container_top.top(container.pid, container_top.processes_in(container.pid, others), ps_args)

    def _rootfs(self, container: Container) -> str:
        return self.runtime.mount(container.id)

    def _view(self, container: Container) -> container_fs.View:
        """The container's files with its mounts (issue 11): its live view while it runs."""
        rootfs = self._rootfs(container)
        pid = container.pid if container.running else 0
        if pid > 0:
            live = f"/proc/{pid}/root"
            try:
                os.close(os.open(live, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC))
                return container_fs.View(live, live=True)
            except OSError:
                pass  # it just exited: its rootfs and recorded mounts are what a stopped one shows
        return container_fs.View(rootfs, container_fs.mount_table(container.mount_points(),
                                                                  etc_files(container.etc_dir)))

    def export(self, container: Container) -> Iterator[bytes]:
        # docker export is the rootfs alone: "does not export the contents of volumes"
        return container_fs.tar_stream(container_fs.View(self._rootfs(container)), "/", "")

    def archive_stat(self, container: Container, path: str) -> Dict[str, Any]:
        return container_fs.path_stat(self._view(container), path, container.name)

    def archive_get(self, container: Container, path: str) -> Tuple[Dict[str, Any], Iterator[bytes]]:
        view = self._view(container)
        stat = container_fs.path_stat(view, path, container.name)
        return stat, container_fs.tar_stream(view, path, container_fs.archive_name(path))

    def archive_put(self, container: Container, path: str, body: Any,
                    no_overwrite_dir_non_dir: bool = False, copy_uid_gid: bool = False) -> None:
        """Extract a tar into the container; entries belong to its root, or with
        copy_uid_gid (docker cp -a) to its configured user, as dockerd's tarCopyOptions."""
        view = self._view(container)
        owner = (0, 0)
        if copy_uid_gid and container.user:
            user = users.resolve_user(self._rootfs(container), container.user)
            owner = (user.uid, user.gid)
        container_fs.extract_into(view, path, body, no_overwrite_dir_non_dir, owner)

    def changes(self, container: Container) -> List[Dict[str, Any]]:
        return hide_engine_mountpoints(self.runtime.changes(container.id))



# The files the engine binds over /etc (container_spec.write_etc_files). crun creates
# their mountpoints in the upper dir when the image lacks them; dockerd keeps them in
# its init layer, so docker diff never lists them, nor /etc for their sake.
ENGINE_ETC_TARGETS = frozenset({"/etc/hosts", "/etc/hostname", "/etc/resolv.conf"})


def hide_engine_mountpoints(changes: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """docker diff's view: without the engine's /etc bind targets, nor /etc if only they changed it."""
    kept = [change for change in changes if change["Path"] not in ENGINE_ETC_TARGETS]
    if len(kept) == len(changes):
        return changes
    if any(change["Path"].startswith("/etc/") for change in kept):
        return kept
    return [change for change in kept if change["Path"] != "/etc"]


def _ports_view(container: Container) -> Tuple[Dict[str, Any], List[Dict[str, Any]]]:
    """NetworkSettings.Ports (inspect) and Ports (list) from the monitor's port report."""
    published = container.internal("ports") or []
    by_key: Dict[str, Any] = {port: None for port in container.exposed_ports}
    summary = []
    for port in published:
        key = f"{port['container_port']}/{port['proto']}"
        host_ip = port.get("host_ip") or "0.0.0.0"
        by_key.setdefault(key, None)
        by_key[key] = (by_key[key] or []) + [{"HostIp": host_ip, "HostPort": str(port["host_port"])}]
        summary.append({"IP": host_ip, "PrivatePort": port["container_port"], "PublicPort": port["host_port"],
                        "Type": port["proto"]})
    return by_key, summary


def _networks_view(container: Container) -> Dict[str, Any]:
    """NetworkSettings.Networks from the recorded attachments; addresses while it runs."""
    running = container.running
    view = {}
    for name, recorded in container.endpoints().items():
        if name in ("host", "none"):
            view[name] = _endpoint(name, "", "", 0)
        elif name == "slirp4netns" or (name == "bridge" and not recorded.ip_address and running):
            # its own slirp4netns (a bridge container started before the bridge was shared, too)
            view[name] = _endpoint(name, slirp.GATEWAY if running else "", slirp.GUEST_ADDRESS if running else "",
                                   24 if running else 0, [container.name, container.id[:12]])
        else:
            view[name] = endpoints.view_of(recorded, running,
                                           [container.name, container.id[:12], *(recorded.aliases or [])])
    return view


def _endpoint(name: str, gateway: str, address: str, prefix: int, dns_names: Optional[List[str]] = None
              ) -> Dict[str, Any]:
    return {"IPAMConfig": None, "Links": None, "Aliases": None, "MacAddress": "", "DriverOpts": None,
            "NetworkID": name, "EndpointID": "", "Gateway": gateway, "IPAddress": address,
            "IPPrefixLen": prefix, "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
            "DNSNames": dns_names}



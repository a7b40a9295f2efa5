"""Read-side container operations: API shapes, logs, attach, files, processes."""
from __future__ import annotations

from typing import Any, Dict, Iterator, List, Optional, Tuple

from rootless.engine import container_fs
from rootless.engine.container_io import AttachSession, log_chunks
from rootless.engine.container_model import Container
from rootless.errors import Conflict
from rootless.runtime import users
from rootless.runtime.network import slirp
from rootless.runtime.storage.changes import list_changes
from rootless.runtime.storage.driver import RootfsLayout, read_lowers
from rootless.util.fs import dir_size  # also imported from here by engine/lifecycle.py


class ContainerReads:
    """Mixed into Lifecycle: everything that looks at a container without changing its state."""

    driver: Any
    engine: Any

    def summary(self, container: Container, size: bool = False) -> Dict[str, Any]:
        _, ports = _ports_view(container)
        body = container.summary(ports if container.running else [], _networks_view(container))
        if size:
            body["SizeRw"] = dir_size(self.driver.upper_dir(container.id))
        return body

    def inspect(self, container: Container, size: bool = False) -> Dict[str, Any]:
        ports, _ = _ports_view(container)
        body = container.inspect(ports, _networks_view(container))
        host_config = body.get("HostConfig")
        if isinstance(host_config, dict) and not host_config.get("Runtime"):
            # dockerd always names the runtime (a key of /info's Runtimes); ours is the one in use.
            host_config["Runtime"] = self.engine.settings.runtime
        if size:
            body["SizeRw"] = dir_size(self.driver.upper_dir(container.id))
        return body

    def logs(self, container: Container, **options: Any) -> Iterator[bytes]:
        return log_chunks(container, lambda: container.running, **options)

    def attach_session(self, container: Container, *, stdin: bool, stdout: bool, stderr: bool,
                       logs: bool, stream: bool, detach_keys: Optional[str]) -> Any:
        session = AttachSession(self, container, stdin=stdin, stdout=stdout, stderr=stderr, logs=logs,
                                detach_keys=detach_keys, stream=stream)
        session.register()
        return session

    def top(self, container: Container, ps_args: str) -> Dict[str, Any]:
        if not container.running:
            raise Conflict(f"container {container.id} is not running")
        return container_fs.top_rows(container_fs.processes_in(int(container.state["Pid"])))

    def _rootfs(self, container: Container) -> str:
        rootfs: str = self.driver.mount(container.id)
        return rootfs

    def export(self, container: Container) -> Iterator[bytes]:
        rootfs = self._rootfs(container)
        return container_fs.tar_stream(rootfs, "/", "")

    def archive_stat(self, container: Container, path: str) -> Dict[str, Any]:
        return container_fs.path_stat(self._rootfs(container), path, container.name)

    def archive_get(self, container: Container, path: str) -> Tuple[Dict[str, Any], Iterator[bytes]]:
        rootfs = self._rootfs(container)
        stat = container_fs.path_stat(rootfs, path, container.name)
        return stat, container_fs.tar_stream(rootfs, path, container_fs.archive_name(path))

    def archive_put(self, container: Container, path: str, body: Any,
                    no_overwrite_dir_non_dir: bool = False, copy_uid_gid: bool = False) -> None:
        """Extract a tar into the container; entries belong to its root, or with
        copy_uid_gid (docker cp -a) to its configured user, as dockerd's tarCopyOptions."""
        rootfs = self._rootfs(container)
        owner = (0, 0)
        if copy_uid_gid and container.config.get("User"):
            user = users.resolve_user(rootfs, container.config["User"])
            owner = (user.uid, user.gid)
        container_fs.extract_into(rootfs, path, body, no_overwrite_dir_non_dir, owner)

    def changes(self, container: Container) -> List[Dict[str, Any]]:
        layout = RootfsLayout.of(container.paths, container.id)
        return hide_engine_mountpoints(list_changes(self.driver.upper_dir(container.id), read_lowers(layout)))


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
    published = (container.data.get("Internal") or {}).get("ports") or []
    by_key: Dict[str, Any] = {port: None for port in (container.config.get("ExposedPorts") or {})}
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
    mode = container.host_config.get("NetworkMode") or "bridge"
    if mode in ("host", "none"):
        return {mode: _endpoint(mode, "", "", 0)}
    running = container.running
    return {mode: _endpoint(mode, slirp.GATEWAY if running else "", slirp.GUEST_ADDRESS if running else "",
                            24 if running else 0, [container.name, container.id[:12]])}


def _endpoint(name: str, gateway: str, address: str, prefix: int, dns_names: Optional[List[str]] = None
              ) -> Dict[str, Any]:
    return {"IPAMConfig": None, "Links": None, "Aliases": None, "MacAddress": "", "DriverOpts": None,
            "NetworkID": name, "EndpointID": "", "Gateway": gateway, "IPAddress": address,
            "IPPrefixLen": prefix, "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
            "DNSNames": dns_names}



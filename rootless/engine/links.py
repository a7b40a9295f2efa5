"""Legacy container links (--link name:alias), as moby 28 has them.

On the default bridge (moby daemon/daemon_unix.go registerLinks,
container_operations_unix.go setupLinkedContainers and addLegacyLinks): the
link is recorded as "/child:/parent/alias" in HostConfig.Links; at start the
child must run, the parent's /etc/hosts gets "childIP alias hostname [name]"
and its environment <ALIAS>_NAME, <ALIAS>_PORT_*, <ALIAS>_ENV_* (daemon/links
ToEnv). On a user network a link is only a name for the child that the
linking container alone resolves (libnetwork CreateOptionAlias): rootless
writes it into that container's /etc/hosts at start, for a child that is
running on the same network then. `docker rm --link /parent/alias`
(DELETE /containers/{parent}/{alias}?link=1) removes the link from the parent.
"""
from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from rootless.engine.container_model import Container
from rootless.errors import FailedPrecondition, Internal, InvalidArgument, NotFound
from rootless.networks.store import BRIDGE, NetworkStore

HOST_LINKS = ("conflicting options: host type networking can't be used with links. "
              "This would result in undefined behavior")
CONTAINER_LINKS = ("conflicting options: container type network can't be used with links. "
                   "This would result in undefined behavior")


def parse_link(text: str) -> Tuple[str, str]:
    """(child name, alias) of "name", "name:alias" or a recorded "/name:/parent/alias" (moby opts.ParseLink)."""
    if not text:
        raise InvalidArgument("empty string specified for links")
    parts = text.split(":")
    if len(parts) > 2:
        raise InvalidArgument(f"bad format for links: {text}")
    if len(parts) == 1:
        return text.lstrip("/"), text.lstrip("/")
    if parts[0].startswith("/"):
        return parts[0][1:], posixpath.basename(parts[1])
    return parts[0], parts[1]


def _port_key(port: str) -> Tuple[int, str, int]:
    """moby's withTCPPriority: tcp first, then other protocols by name; by number within one."""
    number, _, proto = port.partition("/")
    proto = (proto or "tcp").lower()
    return (0 if proto == "tcp" else 1, proto, int(number.split("-")[0]))


def link_env(link_name: str, child_ip: str, child_env: Sequence[str], exposed: Sequence[str]) -> List[str]:
    """moby daemon/links Link.ToEnv: what the parent's environment gets for one link."""
    alias = posixpath.basename(link_name).upper().replace("-", "_")
    ports = sorted(exposed, key=_port_key)
    env: List[str] = []
    start = end = ""
    for index, port in enumerate(ports):
        number, _, proto = port.partition("/")
        proto = proto or "tcp"
        if index == 0:
            start = end = port
            env.append(f"{alias}_PORT={proto}://{child_ip}:{number}")
        prefix = f"{alias}_PORT_{number}_{proto.upper()}"
        env += [f"{prefix}={proto}://{child_ip}:{number}", f"{prefix}_ADDR={child_ip}",
                f"{prefix}_PORT={number}", f"{prefix}_PROTO={proto}"]
        env += _range_env(alias, child_ip, start, end, port, last=index == len(ports) - 1)
        if _continues(end, port):
            end = port
            if index < len(ports) - 1:
                continue
        start = end = port
    env.append(f"{alias}_NAME={link_name}")
    for item in child_env:
        name, sep, value = item.partition("=")
        if sep and name not in ("HOME", "PATH"):
            env.append(f"{alias}_ENV_{name}={value}")
    return env


def _continues(end: str, port: str) -> bool:
    """port is the next number after end, in the same protocol."""
    end_number, _, end_proto = end.partition("/")
    number, _, proto = port.partition("/")
    return int(number) == int(end_number) + 1 and (proto or "tcp").lower() == (end_proto or "tcp").lower()


def _range_env(alias: str, child_ip: str, start: str, end: str, port: str, last: bool) -> List[str]:
    """The _START/_END variables of a run of consecutive ports, once it ends (at port, or at the last)."""
    if _continues(end, port):
        if not last:
            return []
        end = port
    if end == start:
        return []
    first, _, proto = start.partition("/")
    final = end.partition("/")[0]
    proto = proto or "tcp"
    prefix = f"{alias}_PORT_{first}_{proto.upper()}"
    return [f"{prefix}_START={proto}://{child_ip}:{first}", f"{prefix}_PORT_START={first}",
            f"{prefix}_END={proto}://{child_ip}:{final}", f"{prefix}_PORT_END={final}"]


@dataclass(frozen=True)
class StartLinks:
    """What a start adds for the container's links: /etc/hosts lines and environment."""

    hosts: Tuple[str, ...] = ()
    env: Tuple[str, ...] = ()


class LegacyLinks:
    """Links of containers over the records (lookup) and the network store."""

    def __init__(self, lookup: Callable[[str], Container], store: NetworkStore) -> None:
        self.lookup = lookup
        self.store = store

    def _child(self, name: str) -> Container:
        try:
            return self.lookup(name)
        except NotFound as exc:  # moby: invalid parameter, or clients report a missing image
            raise InvalidArgument(f"could not get container for {name}: {exc.message}") from None

    def check(self, record: Container, endpoint_links: Sequence[str]) -> None:
        """At create: the link syntax, the network modes, and that every child exists."""
        links = [*record.links, *endpoint_links]
        if not links:
            return
        mode = record.network_mode
        if mode == "host":
            raise InvalidArgument(HOST_LINKS)
        if mode.startswith("container:"):
            raise InvalidArgument(CONTAINER_LINKS)
        for text in links:
            child = self._child(parse_link(text)[0])
            if child.network_mode == "host":
                raise InvalidArgument(HOST_LINKS)

    def normalized(self, container: Container) -> Optional[List[str]]:
        """HostConfig.Links as dockerd records them on the default bridge ("/child:/parent/alias");
        None when there is nothing to change (a user network keeps them as given)."""
        if not container.links or container.network_mode not in ("", "bridge", "default"):
            return None
        result = []
        for text in container.links:
            name, alias = parse_link(text)
            result.append(f"/{self._child(name).name}:/{container.name}/{alias}")
        return result

    def at_start(self, container: Container, network_links: Dict[str, List[str]]) -> StartLinks:
        """Hosts lines and environment for the links of container (network name -> endpoint Links)."""
        mode = container.network_mode
        if mode in ("", "bridge", "default"):
            return self._bridge_links(container)
        hosts = []
        for network, links in network_links.items():
            for text in [*links, *(container.links if network == mode else [])]:
                name, alias = parse_link(text)
                hosts += self._alias_line(network, name, alias)
        return StartLinks(tuple(dict.fromkeys(hosts)))

    def _address_on(self, network: str, child: Container) -> str:
        endpoint = self.store.get(network).endpoints.get(child.id)
        return endpoint.ipv4 if endpoint and child.running else ""

    def _alias_line(self, network: str, name: str, alias: str) -> List[str]:
        """A user network's link: the alias in hosts, if the child runs there now."""
        try:
            child = self.lookup(name)
        except NotFound:
            return []  # dockerd's alias would not resolve either
        address = self._address_on(network, child)
        return [f"{address}\t{alias}"] if address else []

    def _bridge_links(self, container: Container) -> StartLinks:
        hosts: List[str] = []
        env: List[str] = []
        for text in container.links:
            name, alias = parse_link(text)
            link_name = f"/{container.name}/{alias}"
            child = self._child(name)
            if not child.running:
                raise Internal(f"Cannot link to a non running container: /{child.name} AS {link_name}")
            address = self._address_on(BRIDGE, child)
            if not address:
                # moby's words: the child runs elsewhere (a user network, --network slirp4netns, host, none)
                raise FailedPrecondition(f"Cannot link to /{child.name}, as it does not belong to the default network",
                                         hint="put both containers on a user network (docker network create)")
            names = " ".join(dict.fromkeys([alias, child.hostname] + ([child.name] if alias != child.name else [])))
            hosts.append(f"{address}\t{names}")
            env += link_env(link_name, address, child.env, child.exposed_ports)
        return StartLinks(tuple(hosts), tuple(env))

    def remove(self, ref: str) -> Tuple[Container, List[str]]:
        """docker rm --link: (the parent, its links without this one); moby daemon/delete.go rmLink."""
        name = ref if ref.startswith("/") else "/" + ref
        parent_name, alias = posixpath.split(name)
        if parent_name == "/":
            self.lookup(ref)  # NotFound first, as dockerd's GetContainer
            raise Internal("Conflict, cannot remove the default link name of the container")
        try:
            parent = self.lookup(parent_name.strip("/"))
        except NotFound:
            raise Internal(f"Cannot get parent {parent_name} for link name {name}") from None
        kept = [text for text in parent.links if parse_link(text)[1] != alias]
        if len(kept) == len(parent.links):
            raise NotFound(f"No such container: {ref}")
        return parent, kept

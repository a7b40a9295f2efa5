"""A NetworkHost (runtime/network/host.py) in memory: what the engine asked of the plumbing."""
from __future__ import annotations

from dataclasses import replace
from typing import Dict, List, Optional, Sequence, Tuple

from rootless.errors import Conflict
from rootless.runtime.network.host import BridgeSpec, EndpointInfo, EndpointSpec, Published
from rootless.runtime.network.slirp import PortMapping


class FakeNetworkHost:
    """Bridges, endpoints (by network and address) and forwards, as RootlessNetns would keep them."""

    def __init__(self) -> None:
        self.uplink = "slirp4netns"
        self.bridges: Dict[str, BridgeSpec] = {}
        self.endpoints: Dict[Tuple[str, str], EndpointSpec] = {}  # (network id, container id) -> spec
        self.forwards: List[Published] = []
        self.next_port = 40000
        self.detached_waiting: List[bool] = []  # the wait= of each detach

    def ensure(self) -> None:
        pass

    def create_bridge(self, spec: BridgeSpec) -> None:
        self.bridges[spec.network_id] = spec

    def remove_bridge(self, network_id: str) -> None:
        self.bridges.pop(network_id, None)

    def attach(self, netns_path: str, endpoint: EndpointSpec) -> EndpointInfo:
        if any(e.ipv4 == endpoint.ipv4 and e.network_id == endpoint.network_id for e in self.endpoints.values()):
            raise Conflict(f"attach: {endpoint.ipv4} is on the bridge already")
        self.endpoints[(endpoint.network_id, endpoint.container_id)] = endpoint
        bridge = self.bridges[endpoint.network_id]
        return EndpointInfo(endpoint.interface, "rlvfake", endpoint.ipv4, 16, bridge.gateway, endpoint.mac)

    def detach(self, netns_path: str, endpoint: EndpointSpec, wait: bool = True) -> None:
        self.detached_waiting.append(wait)
        self.endpoints.pop((endpoint.network_id, endpoint.container_id), None)

    def publish(self, ports: Sequence[PortMapping], container_ip: str) -> List[Published]:
        done = []
        for mapping in ports:
            if not mapping.host_port:
                self.next_port += 1
                mapping = replace(mapping, host_port=self.next_port)
            done.append(Published(mapping, container_ip, len(self.forwards) + 1))
        self.forwards += done
        return done

    def unpublish(self, published: Sequence[Published]) -> None:
        ids = {p.forward_id for p in published}
        self.forwards = [p for p in self.forwards if p.forward_id not in ids]

    def resolver_for(self, network_id: str) -> Optional[str]:
        bridge = self.bridges.get(network_id)
        return bridge.gateway if bridge else None

    def host_loopback_address(self) -> str:
        return "10.0.2.2"

    def destroy(self) -> None:
        self.bridges.clear()

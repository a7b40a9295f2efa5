"""A NetworkHost (runtime/network/host.py) in memory: what the engine asked of the plumbing."""
from __future__ import annotations

import threading
from dataclasses import replace
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from rootless.errors import Conflict
from rootless.runtime.network.host import BridgeSpec, EndpointInfo, EndpointSpec, Published
from rootless.runtime.network.slirp import PortMapping


class FakeNetnsJob:
    """new_netns's job on a thread of its own, without a namespace: bound at once (wire() waits
    for the release event: the caller must not need it before crun create)."""

    def __init__(self, host: "FakeNetworkHost", path: str, wire: Callable[[], None]) -> None:
        self.path = path
        self.host = host
        self.made = threading.Event()
        self.error: Optional[BaseException] = None
        self.thread = threading.Thread(target=self._run, args=(wire,), daemon=True)
        self.thread.start()

    def _run(self, wire: Callable[[], None]) -> None:
        try:
            self.host.log.append(f"bound {self.path}")
            self.made.set()
            self.host.release_wiring.wait(5)
            wire()
            self.host.log.append(f"wired {self.path}")
        except BaseException as exc:
            self.error = exc
        finally:
            self.made.set()

    def bound(self) -> str:
        self.made.wait()
        if self.error is not None and f"bound {self.path}" not in self.host.log:
            raise self.error
        return self.path

    def wait(self) -> None:
        self.thread.join()
        if self.error is not None:
            raise self.error


class FakeNetworkHost:
    """Bridges, endpoints (by network and address) and forwards, as RootlessNetns would keep them."""

    def __init__(self) -> None:
        self.uplink = "slirp4netns"
        self.bridges: Dict[str, BridgeSpec] = {}
        self.endpoints: Dict[Tuple[str, str], EndpointSpec] = {}  # (network id, container id) -> spec
        self.forwards: List[Published] = []
        self.next_port = 40000
        self.detached_waiting: List[bool] = []  # the wait= of each detach
        self.log: List[str] = []  # what new_netns's jobs did, in order (the runtime adds to it in tests)
        self.release_wiring = threading.Event()  # set: a job's wire() runs at once
        self.release_wiring.set()

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

    def new_netns(self, path: str, wire: Callable[[], None]) -> FakeNetnsJob:
        return FakeNetnsJob(self, path, wire)

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

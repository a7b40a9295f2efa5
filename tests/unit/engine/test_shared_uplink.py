"""The shared namespace's uplink follows network_backend (issue 10): pasta only when asked for."""
from __future__ import annotations

import os

from rootless.config.paths import Paths
from rootless.engine.container_networks import ContainerNetworks, shared_uplink
from rootless.networks import NetworkStore
from rootless.runtime.network import rootless_netns
from tests.unit.engine.fake_network import FakeNetworkHost


def test_pasta_only_when_it_is_the_backend() -> None:
    assert shared_uplink("pasta") == "pasta"
    for backend in ("slirp4netns", "none"):
        assert shared_uplink(backend) == "slirp4netns"


def test_the_uplink_reaches_the_namespace_and_info_shows_the_one_running(tmp_path) -> None:
    store = NetworkStore(Paths(root=str(tmp_path / "root"), run=str(tmp_path / "run")), host_routes=lambda: [])
    wiring = ContainerNetworks(store, str(tmp_path / "netns"), uplink="pasta")
    opened = wiring._open_host(str(tmp_path / "netns"))  # not ensured: no process is started
    assert isinstance(opened, rootless_netns.RootlessNetns) and opened.uplink == "pasta"
    fake = FakeNetworkHost()
    adopted = ContainerNetworks(store, os.fspath(tmp_path / "netns"), lambda _: fake, uplink="pasta")
    assert adopted.uplink_in_use() == ""  # not made yet
    adopted.host()
    assert adopted.uplink_in_use() == "slirp4netns"  # what the namespace runs, not what was asked

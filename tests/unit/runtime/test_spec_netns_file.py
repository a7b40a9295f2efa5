"""config.json of a bridge container whose network namespace the engine made before `crun create`
(engine/container_networks.make_netns): crun joins it by its path, and the container still owns it."""
from __future__ import annotations

from tests.unit.runtime.test_spec import make, mount_at, rootfs  # noqa: F401 (fixture)

NETNS_FILE = "/run/user/1000/rootless/netns/containers/" + "c" * 64


def test_the_engines_namespace_is_joined_by_its_file_and_is_the_containers_own(rootfs: str) -> None:
    config = make(rootfs, network="private", netns_path=NETNS_FILE, sysctls={"net.ipv4.ip_forward": "1"})
    network = [ns for ns in config["linux"]["namespaces"] if ns["type"] == "network"]
    assert network == [{"type": "network", "path": NETNS_FILE}]  # crun setns()s it: no namespace of its own
    # made in the engine's user namespace, where crun runs: a fresh sysfs and net.* sysctls are allowed
    assert mount_at(config, "/sys")["type"] == "sysfs"
    assert config["linux"]["sysctl"] == {"net.ipv4.ip_forward": "1"}


def test_without_a_file_crun_makes_the_namespace(rootfs: str) -> None:
    network = [ns for ns in make(rootfs, network="private")["linux"]["namespaces"] if ns["type"] == "network"]
    assert network == [{"type": "network"}]

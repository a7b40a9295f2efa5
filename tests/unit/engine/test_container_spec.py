"""/etc/hosts of a container: the host's address for host.docker.internal and host-gateway."""
from __future__ import annotations

from typing import Any, Dict, Optional

import pytest

from rootless.engine import container_spec
from rootless.engine.container_model import Container, _optional_strings
from rootless.engine.container_spec import NetworkSetup, hosts_lines
from rootless.errors import FailedPrecondition, InvalidArgument


def _record(config: Optional[Dict[str, Any]] = None, host_config: Optional[Dict[str, Any]] = None) -> Container:
    """A record as container.json holds it: the typed reads are all container_spec sees."""
    return Container(None, {"Id": "c" * 64, "Config": config or {}, "HostConfig": host_config or {}})  # type: ignore[arg-type]


def _container(*extra_hosts: str) -> Container:
    return _record({}, {"ExtraHosts": list(extra_hosts)})


def test_private_network_names_the_hosts_address(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(container_spec, "host_address", lambda: "192.168.5.7")
    lines = hosts_lines(_container("db:10.1.2.3", "gw:host-gateway"), NetworkSetup("private", "slirp4netns"), "box")
    assert lines == ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback", "10.0.2.100\tbox",
                     "192.168.5.7\thost.containers.internal host.docker.internal", "10.1.2.3\tdb",
                     "192.168.5.7\tgw"]


def test_without_a_host_address_the_names_are_left_out(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(container_spec, "host_address", lambda: None)
    lines = hosts_lines(_container(), NetworkSetup("private", "slirp4netns"), "box")
    assert not any("host.docker.internal" in line for line in lines)
    with pytest.raises(FailedPrecondition, match="host-gateway"):
        hosts_lines(_container("gw:host-gateway"), NetworkSetup("private", "slirp4netns"), "box")


def test_host_network_gateway_is_loopback() -> None:
    lines = hosts_lines(_container("gw:host-gateway"), NetworkSetup("host", "none"), "box")
    assert lines[-2:] == ["127.0.1.1\tbox", "127.0.0.1\tgw"]



def test_workdir_is_created_inside_the_rootfs_only(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """An image's WorkingDir through a symlink aimed at the host makes a directory inside the rootfs."""
    host = tmp_path / "home" / "victimdir"
    host.mkdir(parents=True)
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    (rootfs / "w").symlink_to(host)
    container_spec.ensure_workdir(str(rootfs), "/w/X/Y")
    container_spec.ensure_workdir(str(rootfs), "/../../home/victimdir/Z")
    assert list(host.iterdir()) == []
    assert (rootfs / str(host).lstrip("/") / "X" / "Y").is_dir()
    assert (rootfs / "home" / "victimdir" / "Z").is_dir()
    with pytest.raises(InvalidArgument, match="it needs to be an absolute path"):
        container_spec.ensure_workdir(str(rootfs), "../../home/victimdir/R")
    assert not (host / "R").exists() and not (tmp_path / "R").exists()


def _resolv(host_config: dict, mode: str = "private") -> str:  # type: ignore[type-arg]
    return container_spec.resolv_conf(_record({}, host_config), NetworkSetup(mode, "none"))


def test_resolv_conf_has_dns_search_and_options_lines() -> None:
    assert _resolv({"DnsOptions": ["ndots:2", "timeout:1"], "DnsSearch": ["a.example", "b.example"]}) == (
        "nameserver 10.0.2.3\nsearch a.example b.example\noptions ndots:2 timeout:1\n")
    assert _resolv({"Dns": ["1.1.1.1"], "DnsOptions": [], "DnsSearch": []}) == "nameserver 1.1.1.1\n"


def test_resolv_conf_options_replace_the_hosts(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(container_spec, "_host_resolv_conf",
                        lambda: "nameserver 9.9.9.9\nsearch host.example\noptions edns0\n")
    assert _resolv({"DnsOptions": ["ndots:3"]}, "host") == (
        "nameserver 9.9.9.9\nsearch host.example\noptions ndots:3\n")


def test_network_disabled_means_no_network() -> None:
    container = _record({"NetworkDisabled": True}, {"NetworkMode": "bridge"})
    assert container_spec.network_setup(container, "slirp4netns").mode == "none"


def test_tmpfs_mounts_take_size_mode_and_read_only() -> None:
    host_config = {"Tmpfs": {"/run": "", "/t1": "size=1m"},
                   "Mounts": [{"Type": "tmpfs", "Target": "/t2", "ReadOnly": True,
                               "TmpfsOptions": {"SizeBytes": 1048576, "Mode": 0o700}},
                              {"Type": "tmpfs", "Target": "/t3"}, {"Type": "volume", "Target": "/v"}]}
    assert container_spec.tmpfs_mounts(_record({}, host_config)) == {
        "/run": "", "/t1": "size=1m", "/t2": "ro,size=1048576,mode=700", "/t3": ""}
    with pytest.raises(InvalidArgument, match="Duplicate mount point: /run"):
        container_spec.tmpfs_mounts(_record({}, {"Tmpfs": {"/run": ""}, "Mounts": [{"Type": "tmpfs", "Target": "/run"}]}))


def test_api_mounts_take_bind_propagation_recursion_and_volume_labels() -> None:
    bind = container_spec.api_mount_request(_record({}, {"Mounts": [
        {"Type": "bind", "Source": "/h", "Target": "/b", "ReadOnly": True,
         "BindOptions": {"Propagation": "rprivate", "NonRecursive": True}}]}).api_mounts[0])
    assert bind.options == ("bind", "ro", "rprivate")
    shared = container_spec.mount_requests(_record({}, {"Binds": ["/h:/c:ro,rshared"]}))[0]
    assert shared.options == ("rbind", "ro", "rshared")  # its source is checked at start (mount_sources.py)
    with pytest.raises(InvalidArgument, match="invalid mode: weird"):
        container_spec.mount_requests(_record({}, {"Binds": ["/h:/c:weird"]}))
    volume = container_spec.api_mount_request(_record({}, {"Mounts": [
        {"Type": "volume", "Source": "v", "Target": "/v",
         "VolumeOptions": {"NoCopy": True, "Labels": {"b": "2", "a": "1"}}}]}).api_mounts[0])
    assert volume.options == ("rbind", "rw") and volume.labels == (("a", "1"), ("b", "2"))


def test_annotations_over_labels_and_masked_paths_override() -> None:
    assert container_spec.spec_annotations(_record({"Labels": {"a": "label", "b": "x"}},
                                                   {"Annotations": {"a": "ann"}})) == {
        "a": "ann", "b": "x"}
    assert _optional_strings(None) is None
    assert _optional_strings([]) == []
    assert _record().process_options.masked_paths is None
    assert _record({}, {"MaskedPaths": []}).process_options.masked_paths == []


def test_cdi_device_names_come_from_device_requests_and_devices() -> None:
    """Issue 15: what build_spec_options hands the runtime as SpecOptions.cdi_devices."""
    host_config = {"Devices": [{"PathOnHost": "a.com/x=1"}, {"PathOnHost": "/dev/null"}],
                   "DeviceRequests": [{"Driver": "cdi", "DeviceIDs": ["vendor.com/test=dev", "b.com/y=2"]}]}
    assert container_spec.cdi_device_names(_record({}, host_config)) == ["a.com/x=1", "vendor.com/test=dev", "b.com/y=2"]
    assert container_spec.cdi_device_names(_record()) == []


def _on_network(mode: str) -> Container:
    record = _record({}, {"NetworkMode": mode})
    record.set_attachment(mode, {"IPAddress": "10.89.3.4", "Gateway": "10.89.3.1"})
    return record


def test_a_user_network_is_wired_by_the_engine_with_its_address_and_dns() -> None:
    """On a user network: no per-container slirp4netns; its own address and the network's DNS."""
    container = _on_network("appnet")
    network = container_spec.network_setup(container, "auto")
    assert (network.mode, network.monitor_mode) == ("private", container_spec.USER_NETWORK)
    network = container_spec.user_network_setup(container, network)
    assert container_spec.resolv_conf(_record(), network) == "nameserver 10.89.3.1\n"
    assert "10.89.3.4\tbox" in hosts_lines(_container(), network, "box")
    assert container_spec.resolv_conf(_record({}, {"Dns": ["9.9.9.9"]}), network) == "nameserver 9.9.9.9\n"  # --dns wins

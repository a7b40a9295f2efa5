"""/etc/hosts of a container: the host's address for host.docker.internal and host-gateway."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from rootless.engine import container_spec
from rootless.engine.container_spec import NetworkSetup, hosts_lines
from rootless.errors import FailedPrecondition, InvalidArgument


def _container(*extra_hosts: str) -> SimpleNamespace:
    return SimpleNamespace(host_config={"ExtraHosts": list(extra_hosts)})


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

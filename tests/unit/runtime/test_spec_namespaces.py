"""config.json for shared namespaces (--pid, --ipc, --network container:/host/none) and --device binds."""
from __future__ import annotations

from typing import Any, Dict

import pytest

from rootless.errors import FailedPrecondition, InvalidArgument
from rootless.runtime.devices import Device
from tests.unit.runtime.test_spec import destinations, make, mount_at, rootfs  # noqa: F401 (fixture)


def namespaces(config: Dict[str, Any]) -> Dict[str, Any]:
    return {ns["type"]: ns.get("path") for ns in config["linux"]["namespaces"]}


def test_pid_host_has_no_pid_namespace_and_binds_the_hosts_proc(rootfs: str) -> None:
    config = make(rootfs, pid="host")
    assert "pid" not in namespaces(config)
    # a fresh procfs needs the pid namespace's owner; the host's is the kernel's user namespace
    assert mount_at(config, "/proc") == {"destination": "/proc", "type": "bind", "source": "/proc",
                                         "options": ["rbind", "nosuid", "noexec", "nodev"]}
    assert mount_at(make(rootfs), "/proc")["type"] == "proc"


def test_another_containers_namespaces_are_joined_by_path(rootfs: str) -> None:
    config = make(rootfs, pid="container", pid_ns_path="/proc/7/ns/pid", ipc="container",
                  ipc_ns_path="/proc/7/ns/ipc", shm_source="/c/shm", network="container", netns_path="/proc/7/ns/net")
    assert namespaces(config) == {"pid": "/proc/7/ns/pid", "ipc": "/proc/7/ns/ipc", "uts": None, "mount": None,
                                  "network": "/proc/7/ns/net"}
    assert mount_at(config, "/proc")["type"] == "proc"  # its pid namespace is the engine's user namespace's
    assert mount_at(config, "/sys")["type"] == "sysfs"
    assert mount_at(config, "/dev/shm") == {"destination": "/dev/shm", "type": "bind", "source": "/c/shm",
                                            "options": ["rbind", "nosuid", "noexec", "nodev"]}
    assert mount_at(config, "/dev/mqueue")["type"] == "mqueue"


@pytest.mark.parametrize("options,message", [
    ({"pid": "container"}, "pid mode container: the engine gave no namespace to join"),
    ({"network": "container"}, "network mode container: the engine gave no namespace to join"),
    ({"ipc": "shareable"}, "ipc mode shareable: the engine made no shared /dev/shm"),
])
def test_a_join_without_what_to_join_is_refused_not_made_private(rootfs: str, options: Dict[str, Any],
                                                                   message: str) -> None:
    with pytest.raises(FailedPrecondition, match=message):
        make(rootfs, **options)


def test_ipc_modes_as_docker_defines_them(rootfs: str) -> None:
    host = make(rootfs, ipc="host")
    assert "ipc" not in namespaces(host)
    assert mount_at(host, "/dev/shm")["source"] == "/dev/shm"
    none = make(rootfs, ipc="none")
    assert "ipc" in namespaces(none) and "/dev/shm" not in destinations(none)
    shareable = make(rootfs, ipc="shareable", shm_source="/c/shm")
    assert namespaces(shareable)["ipc"] is None and mount_at(shareable, "/dev/shm")["source"] == "/c/shm"
    private = make(rootfs, ipc="private")
    assert mount_at(private, "/dev/shm")["type"] == "tmpfs"


@pytest.mark.parametrize("options,message", [
    ({"pid": "weird"}, "invalid PID mode: weird"), ({"ipc": "weird"}, "invalid IPC mode: weird"),
    ({"network": "container", "netns_path": "/proc/7/ns/net", "sysctls": {"net.ipv4.ip_forward": "1"}},
     "the network namespace is another container's"),
    ({"ipc": "host", "sysctls": {"kernel.shmmax": "1"}}, "the IPC namespace is the host's"),
])
def test_what_would_change_another_namespace_is_refused(rootfs: str, options: Dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        make(rootfs, **options)


def test_devices_are_binds_of_the_host_nodes(rootfs: str) -> None:
    config = make(rootfs, devices=[Device("/dev/zero", "/dev/z", "rwm"), Device("/dev/null", "/dev/null", "rw")])
    assert mount_at(config, "/dev/z") == {"destination": "/dev/z", "type": "bind", "source": "/dev/zero",
                                          "options": ["bind", "nosuid", "noexec"]}
    assert mount_at(config, "/dev/null")["source"] == "/dev/null"  # once, though a default device too
    with pytest.raises(InvalidArgument, match="no such file or directory"):
        make(rootfs, devices=[Device("/dev/nope-nope")])

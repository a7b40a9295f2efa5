from __future__ import annotations

import pytest

from rootless.errors import InvalidArgument
from rootless.runtime.network import slirp
from rootless.runtime.network.slirp import Features, PortMapping

HELP_1_2 = """
-c, --configure          bring up the interface
-e, --exit-fd=FD         specify the FD for terminating slirp4netns
-r, --ready-fd=FD        specify the FD to write to when the network is configured
-a, --api-socket=PATH    specify API socket path
--disable-host-loopback  prohibit connecting to 127.0.0.1:* on the host namespace
--enable-sandbox         create a new mount namespace
--enable-seccomp         enable seccomp to limit syscalls (experimental)
"""


def test_parse_features():
    assert slirp.parse_features(HELP_1_2) == Features(True, True, True, True)
    assert slirp.parse_features("-c, --configure") == Features()


def test_argv_with_all_features():
    argv = slirp.slirp_argv(42, "/run/slirp.sock", 5, Features(True, True, True, True))
    assert argv == ["slirp4netns", "--configure", "--mtu=65520", "--disable-host-loopback",
                    "--enable-sandbox", "--enable-seccomp", "--api-socket", "/run/slirp.sock",
                    "--exit-fd=5", "42", "tap0"]


def test_argv_leaves_out_unsupported_and_allows_loopback():
    argv = slirp.slirp_argv(42, "/s", 5, Features(), allow_host_loopback=True)
    assert argv == ["slirp4netns", "--configure", "--mtu=65520", "--exit-fd=5", "42", "tap0"]


def test_detect_features_from_help(fp):
    slirp.detect_features.cache_clear()
    fp.register(["slirp4netns", "--help"], stdout=HELP_1_2)
    assert slirp.detect_features().api_socket
    slirp.detect_features.cache_clear()


def test_features_json_round_trip_ignores_unknown():
    features = Features(sandbox=True, api_socket=True)
    assert Features.from_json({**features.to_json(), "future": True}) == features


def test_hostfwd_request():
    request = slirp.hostfwd_request(PortMapping("tcp", 80, 8080, "127.0.0.1"))
    assert request == {"execute": "add_hostfwd", "arguments": {
        "proto": "tcp", "host_addr": "127.0.0.1", "host_port": 8080, "guest_port": 80}}
    assert slirp.hostfwd_request(PortMapping("udp", 53, 5353))["arguments"]["host_addr"] == "0.0.0.0"
    with pytest.raises(InvalidArgument):
        slirp.hostfwd_request(PortMapping("sctp", 80, 80))


def test_port_mapping_json_round_trip():
    mapping = PortMapping("tcp", 80, 0, "")
    assert PortMapping.from_json(mapping.to_json()) == mapping
    assert PortMapping.from_json({"container_port": 22}) == PortMapping("tcp", 22)


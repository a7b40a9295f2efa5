from __future__ import annotations

import pytest

from rootless.errors import InvalidArgument
from rootless.runtime.network import pasta
from rootless.runtime.network.slirp import PortMapping


def test_port_spec():
    assert pasta.port_spec(PortMapping("tcp", 80, 8080, "127.0.0.1")) == "127.0.0.1/8080:80"
    assert pasta.port_spec(PortMapping("tcp", 80, 8080, "0.0.0.0")) == "8080:80"
    assert pasta.port_spec(PortMapping("udp", 53, 5353)) == "5353:53"


def test_argv_forwards_only_published_ports():
    ports = [PortMapping("tcp", 80, 8080), PortMapping("tcp", 443, 8443, "127.0.0.1"), PortMapping("udp", 53, 5353)]
    argv = pasta.pasta_argv("/proc/self/fd/3", ports, "/m/pasta.pid")
    assert argv == ["pasta", "--config-net", "--quiet", "--runas", "0:0", "--pid", "/m/pasta.pid", "--no-map-gw",
                    "--dns-forward", pasta.DNS_FORWARD, "-T", "none", "-U", "none",
                    "-t", "8080:80,127.0.0.1/8443:443", "-u", "5353:53", "--netns", "/proc/self/fd/3"]


def test_argv_without_ports_forwards_nothing():
    argv = pasta.pasta_argv("/n", [], "/p")
    assert argv[argv.index("-t") + 1] == "none" and argv[argv.index("-u") + 1] == "none"


def test_sctp_is_refused():
    with pytest.raises(InvalidArgument):
        pasta.pasta_argv("/n", [PortMapping("sctp", 9, 9)], "/p")


def test_with_host_ports_keeps_given_ports():
    assert pasta.with_host_ports([PortMapping("tcp", 80, 8080)]) == [PortMapping("tcp", 80, 8080)]

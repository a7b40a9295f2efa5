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


def test_user_options_are_allow_listed_and_split_as_podman_does():
    assert pasta.parse_user_options("") == []
    assert pasta.parse_user_options("-t,8080,--mtu=1400,-4,-a,10.5.0.2,--no-dhcp") == [
        "-t", "8080", "--mtu=1400", "-4", "-a", "10.5.0.2", "--no-dhcp"]
    assert pasta.parse_user_options("-a,--runas") == ["-a", "--runas"]  # a value, as pasta's getopt reads it
    for bad in ("--runas,0:0", "--netns,/proc/1/ns/net", "-P,/tmp/p", "--pcap=/tmp/x", "-l,/tmp/log",
                "--config-net", "-t=80", "-4=1", "sh", "-46", "-t8080", "--dns-forward,1.1.1.1", "--map-gw"):
        with pytest.raises(InvalidArgument, match="is not allowed"):
            pasta.parse_user_options(bad)
    with pytest.raises(InvalidArgument, match="needs a value"):
        pasta.parse_user_options("-4,-t")


def test_user_forwards_replace_our_none_and_join_published_ones():
    argv = pasta.pasta_argv("/n", [PortMapping("udp", 53, 5353)], "/p", options=["-t", "8080", "--udp-ports", "99"])
    assert argv[-2:] == ["--netns", "/n"]
    assert ("-t", "none") not in zip(argv, argv[1:])  # pasta refuses "none" next to specific ports
    assert argv[argv.index("-u") + 1] == "5353:53" and argv[argv.index("-T") + 1] == "none"
    assert argv[argv.index("--netns") - 4:argv.index("--netns")] == ["-t", "8080", "--udp-ports", "99"]
    tcp_ns = pasta.pasta_argv("/n", [], "/p", options=["--tcp-ns=5432"])
    assert "-T" not in tcp_ns and "--tcp-ns=5432" in tcp_ns and tcp_ns[tcp_ns.index("-U") + 1] == "none"

"""Network details of the Engine API as dockerd 28 answers them (issue 16), judged by docker-py
and the docker CLI: IPv6 networks, names with spaces, disconnect of a container not on the
network, unknown networks in NetworkingConfig, endpoint details in inspect, --mac-address."""
from __future__ import annotations

import json
import time
from typing import Iterator, List

import pytest

from tests.integration.conftest import Engine


@pytest.fixture()
def made(engine: Engine) -> Iterator[List[str]]:
    """("container"|"network", name) to remove after the test, containers first."""
    names: List[str] = []
    yield names
    client = engine.client()
    for kind, name in sorted(names, key=lambda item: item[0] != "container"):
        try:
            if kind == "container":
                client.containers.get(name).remove(force=True)
            else:
                client.networks.get(name).remove()
        except Exception:  # noqa: BLE001 - clean-up of what a failed test may not have made
            pass


def _until(check, tries: int = 20) -> bool:  # type: ignore[no-untyped-def]
    for _ in range(tries):
        if check():
            return True
        time.sleep(0.5)
    return False


def test_ipv6_network_addresses_and_traffic(engine: Engine, busybox: str, made: List[str]) -> None:
    import docker

    client = engine.client()
    made += [("network", "v6-net"), ("container", "v6-server"), ("container", "v6-client")]
    engine.docker("network", "create", "--ipv6", "--subnet", "2001:db8:16::/64", "v6-net")
    network = client.networks.get("v6-net")
    assert network.attrs["EnableIPv6"] is True
    configs = network.attrs["IPAM"]["Config"]
    assert {"Subnet": "2001:db8:16::/64", "Gateway": "2001:db8:16::1"} in configs
    assert any(":" not in c["Subnet"] for c in configs)  # and an IPv4 subnet, as dockerd gives one
    server = client.containers.run(busybox, ["sh", "-c", "echo v6-hello | nc -l -p 7000"], detach=True,
                                   name="v6-server", network="v6-net")
    other = client.containers.create(busybox, ["sleep", "300"], name="v6-client")
    network.connect(other, ipv6_address="2001:db8:16::99")
    other.start()
    server.reload()
    other.reload()
    served = server.attrs["NetworkSettings"]["Networks"]["v6-net"]
    assert served["GlobalIPv6Address"] == "2001:db8:16::2" and served["GlobalIPv6PrefixLen"] == 64
    assert served["IPv6Gateway"] == "2001:db8:16::1"
    joined = other.attrs["NetworkSettings"]["Networks"]["v6-net"]
    assert joined["GlobalIPv6Address"] == "2001:db8:16::99"
    assert joined["IPAMConfig"] == {"IPv6Address": "2001:db8:16::99"}
    assert "2001:db8:16::99/64" in other.exec_run(["ip", "-6", "addr", "show"]).output.decode()
    got = b""
    for _ in range(20):  # the server may take a moment to listen
        result = other.exec_run(["nc", "-w", "3", "2001:db8:16::2", "7000"])
        got = result.output
        if b"v6-hello" in got:
            break
        time.sleep(0.5)
    assert b"v6-hello" in got, got
    containers = client.networks.get("v6-net").attrs["Containers"]
    assert containers[other.id]["IPv6Address"] == "2001:db8:16::99/64"
    with pytest.raises(docker.errors.APIError) as taken:
        network.connect(client.containers.create(busybox, ["true"], name="v6-third"), ipv6_address="2001:db8:16::99")
    made.append(("container", "v6-third"))
    assert taken.value.status_code == 409 and "already in use" in str(taken.value)


def test_ipv6_subnet_without_enable_ipv6_is_refused(engine: Engine) -> None:
    refused = engine.docker("network", "create", "--subnet", "2001:db8:17::/64", "v6-off", check=False)
    assert refused.returncode != 0 and "IPv6 is not enabled" in refused.stderr


def test_network_names_with_spaces_and_slashes(engine: Engine, busybox: str, made: List[str]) -> None:
    import docker

    client = engine.client()
    made += [("container", "spaced-c"), ("network", "my spaced net"), ("network", "team/net")]
    spaced = client.networks.create("my spaced net")
    slashed = client.networks.create("team/net")
    assert client.networks.get("my spaced net").id == spaced.id  # GET /networks/my%20spaced%20net
    assert json.loads(engine.docker("network", "inspect", "team/net").stdout)[0]["Id"] == slashed.id
    container = client.containers.create(busybox, ["true"], name="spaced-c", network="my spaced net")
    assert list(client.containers.get("spaced-c").attrs["NetworkSettings"]["Networks"]) == ["my spaced net"]
    container.remove()
    engine.docker("network", "rm", "team/net")
    spaced.remove()
    with pytest.raises(docker.errors.APIError) as blank:
        client.networks.create("   ")
    assert blank.value.status_code == 400 and "invalid name: name is empty" in str(blank.value)


def test_disconnect_of_a_container_not_on_the_network(engine: Engine, busybox: str, made: List[str]) -> None:
    import docker

    client = engine.client()
    made += [("container", "off-net-c"), ("network", "off-net")]
    network = client.networks.create("off-net")
    container = client.containers.create(busybox, ["sleep", "300"], name="off-net-c")
    with pytest.raises(docker.errors.APIError) as stopped:
        network.disconnect(container)
    assert stopped.value.status_code == 500
    assert f"container {container.id} is not connected to the network off-net" in str(stopped.value)
    container.start()
    done = engine.docker("network", "disconnect", "off-net", "off-net-c", check=False)
    assert done.returncode != 0
    assert f"container {container.id} is not connected to network off-net" in done.stderr
    forced = engine.docker("network", "disconnect", "-f", "off-net", "off-net-c", check=False)
    assert forced.returncode != 0 and "endpoint off-net-c not found" in forced.stderr


def test_unknown_network_in_networking_config_is_refused_at_create(engine: Engine, busybox: str,
                                                                 made: List[str]) -> None:
    import docker

    client = engine.client()
    made += [("network", "known-net")]
    client.networks.create("known-net")
    config = client.api.create_networking_config({
        "known-net": client.api.create_endpoint_config(), "no-such-net": client.api.create_endpoint_config()})
    with pytest.raises(docker.errors.NotFound) as refused:
        client.api.create_container(busybox, ["true"], name="unknown-net-c", networking_config=config,
                                    host_config=client.api.create_host_config(network_mode="known-net"))
    assert "network no-such-net not found" in str(refused.value)
    assert not client.containers.list(all=True, filters={"name": "unknown-net-c"})  # nothing stored
    assert client.networks.get("known-net").attrs["Containers"] == {}


def test_endpoint_details_in_container_and_network_inspect(engine: Engine, busybox: str,
                                                           made: List[str]) -> None:
    client = engine.client()
    made += [("container", "details-c"), ("network", "details-net"), ("network", "details-net2")]
    network = client.networks.create("details-net", ipam={"Config": [{"Subnet": "10.77.16.0/24"}]})
    second = client.networks.create("details-net2")
    mac = "02:42:de:ad:be:ef"
    config = client.api.create_networking_config({
        "details-net": client.api.create_endpoint_config(aliases=["db"], ipv4_address="10.77.16.50",
                                                         mac_address=mac, driver_opt={"opt.k": "v"}),
        "details-net2": client.api.create_endpoint_config(aliases=["second"])})
    created = client.api.create_container(busybox, ["sleep", "300"], name="details-c", networking_config=config,
                                          host_config=client.api.create_host_config(network_mode="details-net"))
    container = client.containers.get(created["Id"])
    endpoint = container.attrs["NetworkSettings"]["Networks"]["details-net"]
    assert endpoint["IPAMConfig"] == {"IPv4Address": "10.77.16.50"}
    assert endpoint["Aliases"] == ["db"] and endpoint["DriverOpts"] == {"opt.k": "v"}
    assert endpoint["MacAddress"] == mac and endpoint["NetworkID"] == network.id
    assert sorted(container.attrs["NetworkSettings"]["Networks"]) == ["details-net", "details-net2"]  # API 1.44
    container.start()
    container.reload()
    endpoint = container.attrs["NetworkSettings"]["Networks"]["details-net"]
    assert (endpoint["IPAddress"], endpoint["IPPrefixLen"], endpoint["Gateway"]) == ("10.77.16.50", 24, "10.77.16.1")
    assert endpoint["EndpointID"] and endpoint["Links"] is None
    assert container.exec_run(["cat", "/sys/class/net/eth0/address"]).output.decode().strip() == mac
    listed = client.networks.get("details-net").attrs["Containers"][container.id]
    assert listed["MacAddress"] == mac and listed["IPv4Address"] == "10.77.16.50/24"
    assert listed["EndpointID"] == endpoint["EndpointID"]
    assert second.id == container.attrs["NetworkSettings"]["Networks"]["details-net2"]["NetworkID"]


def test_mac_address_on_the_cli(engine: Engine, busybox: str, made: List[str]) -> None:
    made += [("container", "mac-c"), ("network", "mac-net")]
    engine.docker("network", "create", "mac-net")
    engine.docker("run", "-d", "--name", "mac-c", "--network", "mac-net", "--mac-address", "02:42:ac:16:00:07",
                  busybox, "sleep", "300")
    shown = engine.docker("inspect", "-f", '{{(index .NetworkSettings.Networks "mac-net").MacAddress}}',
                          "mac-c").stdout.strip()
    assert shown == "02:42:ac:16:00:07"
    assert engine.docker("exec", "mac-c", "cat", "/sys/class/net/eth0/address").stdout.strip() == shown
    # the default bridge is a bridge of the shared namespace too (issue 10): the MAC is applied there
    done = engine.docker("run", "--rm", "--mac-address", "02:42:ac:16:00:08", busybox,
                         "cat", "/sys/class/net/eth0/address")
    assert done.stdout.strip() == "02:42:ac:16:00:08"


def test_connect_ip6_and_endpoint_options_on_the_cli(engine: Engine, busybox: str, made: List[str]) -> None:
    made += [("container", "cli6-c"), ("network", "cli6-net")]
    engine.docker("network", "create", "--ipv6", "--subnet", "10.77.18.0/24", "--subnet", "2001:db8:18::/64",
                  "--gateway", "2001:db8:18::fe", "cli6-net")
    gateways = engine.docker("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Gateway}} {{end}}",
                             "cli6-net").stdout.split()
    assert gateways == ["10.77.18.1", "2001:db8:18::fe"]
    engine.docker("create", "--name", "cli6-c", busybox, "sleep", "300")
    engine.docker("network", "connect", "--ip6", "2001:db8:18::77", "--alias", "six", "--driver-opt", "k=v",
                  "cli6-net", "cli6-c")
    engine.docker("start", "cli6-c")
    endpoint = json.loads(engine.docker("inspect", "-f", '{{json (index .NetworkSettings.Networks "cli6-net")}}',
                                        "cli6-c").stdout)
    assert endpoint["GlobalIPv6Address"] == "2001:db8:18::77" and endpoint["IPv6Gateway"] == "2001:db8:18::fe"
    assert endpoint["Aliases"] == ["six"] and endpoint["DriverOpts"] == {"k": "v"}
    assert "2001:db8:18::77/64" in engine.docker("exec", "cli6-c", "ip", "-6", "addr").stdout

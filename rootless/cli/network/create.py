"""`rootless network create NAME`: prints the new network's id."""
from __future__ import annotations

import ipaddress
from typing import Any, Dict, List, Sequence, Tuple

import click

from rootless.cli.app import App
from rootless.cli.common.labels import parse_labels


def _in_subnet(ip_range: str, subnet: str) -> bool:
    """Whether ip_range lies in subnet; anything unparsable is left to the daemon's check."""
    try:
        inner, outer = ipaddress.ip_network(ip_range, strict=False), ipaddress.ip_network(subnet, strict=False)
    except ValueError:
        return True
    return inner.version == outer.version and inner.network_address in outer


def _pair_ranges(configs: List[Dict[str, str]], ip_ranges: Sequence[str]) -> None:
    """Each --ip-range goes with the --subnet that holds it (docker CLI: "no matching subnet for range")."""
    for ip_range in ip_ranges:
        match = next((c for c in configs if "IPRange" not in c and _in_subnet(ip_range, c["Subnet"])), None)
        if match is None:
            raise click.UsageError(f"no matching subnet for range {ip_range}")
        match["IPRange"] = ip_range


def ipam_configs(subnets: Sequence[str], gateways: Sequence[str],
                 ip_ranges: Sequence[str] = ()) -> List[Dict[str, str]]:
    """IPAM.Config as docker's CLI pairs them: each --gateway with the --subnet of its family, in order."""
    if len(gateways) > len(subnets):
        raise click.UsageError("every --gateway needs a --subnet")
    configs = [{"Subnet": subnet} for subnet in subnets]
    _pair_ranges(configs, ip_ranges)
    free = list(configs)
    for gateway in gateways:
        match = next((c for c in free if (":" in c["Subnet"]) == (":" in gateway)), None)
        if match is None:
            raise click.UsageError(f"no matching subnet for gateway {gateway}")
        match["Gateway"] = gateway
        free.remove(match)
    return configs


def network_body(name: str, driver: str, subnets: Sequence[str], gateways: Sequence[str], internal: bool,
                 attachable: bool, ipv6: bool, opts: Tuple[str, ...], labels: Tuple[str, ...],
                 ip_ranges: Sequence[str] = ()) -> Dict[str, Any]:
    """The body of POST /networks/create, as docker's CLI sends it."""
    config = ipam_configs(subnets, gateways, ip_ranges)
    return {"Name": name, "Driver": driver, "Internal": internal, "Attachable": attachable, "EnableIPv6": ipv6,
            "IPAM": {"Driver": "default", "Options": {}, "Config": config},
            "Options": parse_labels(list(opts)), "Labels": parse_labels(list(labels))}


@click.command()
@click.option("-d", "--driver", default="bridge", show_default=True, help="Driver to manage the Network.")
@click.option("--subnet", "subnets", multiple=True,
              help="Subnet in CIDR format that represents a network segment (one IPv4, one IPv6).")
@click.option("--gateway", "gateways", multiple=True, help="IPv4 or IPv6 Gateway for the master subnet.")
@click.option("--ip-range", "ip_ranges", multiple=True,
              help="Allocate container IPs from a sub-range (CIDR inside the IPv4 --subnet).")
@click.option("--internal", is_flag=True, help="Restrict external access to the network.")
@click.option("--attachable", is_flag=True, help="Enable manual container attachment.")
@click.option("--ipv6", is_flag=True, help="Enable IPv6 networking.")
@click.option("-o", "--opt", "opts", multiple=True, help="Set driver specific options.")
@click.option("--label", "labels", multiple=True, help="Set metadata on a network.")
@click.argument("name")
@click.pass_obj
def create(app: App, driver: str, subnets: Tuple[str, ...], gateways: Tuple[str, ...],
           ip_ranges: Tuple[str, ...], internal: bool, attachable: bool, ipv6: bool, opts: Tuple[str, ...],
           labels: Tuple[str, ...], name: str) -> None:
    """Create a network."""
    body = network_body(name, driver, subnets, gateways, internal, attachable, ipv6, opts, labels, ip_ranges)
    answer: Dict[str, Any] = app.client.create_network(body)
    if answer.get("Warning"):
        click.echo(f"WARNING: {answer['Warning']}", err=True)
    click.echo(answer.get("Id", ""))

"""`rootless port`: a container's published ports, from inspect's NetworkSettings.Ports."""
from __future__ import annotations

from typing import Any, Dict, List, Optional

import click

from rootless.cli.app import App
from rootless.errors import NotFound


def port_lines(ports: Dict[str, Any], wanted: Optional[str]) -> List[str]:
    """'8080/tcp -> 127.0.0.1:18080' lines, or just '127.0.0.1:18080' for one asked-for port."""
    if wanted:
        key = wanted if "/" in wanted else f"{wanted}/tcp"
        return [_host(b) for b in ports.get(key) or []]
    lines = []
    for key in sorted(ports, key=lambda k: (int(k.split("/")[0]), k)):
        lines += [f"{key} -> {_host(b)}" for b in ports[key] or []]
    return lines


def _host(binding: Dict[str, str]) -> str:
    ip = binding.get("HostIp") or "0.0.0.0"
    return f"[{ip}]:{binding.get('HostPort')}" if ":" in ip else f"{ip}:{binding.get('HostPort')}"


@click.command()
@click.argument("container")
@click.argument("private_port", required=False)
@click.pass_obj
def port(app: App, container: str, private_port: Optional[str]) -> None:
    """List port mappings or a specific mapping for the container."""
    ports = (app.client.inspect_container(container).get("NetworkSettings") or {}).get("Ports") or {}
    lines = port_lines(ports, private_port)
    if private_port and not lines:
        raise NotFound(f"no public port '{private_port}' published for {container}")
    for line in lines:
        click.echo(line)

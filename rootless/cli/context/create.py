"""`rootless context create NAME --docker host=...,ca=...,cert=...,key=...`."""
from __future__ import annotations

import sys
from typing import Dict, Optional, Tuple

import click

from rootless.config.contexts import ContextStore
from rootless.config.hosts import parse_host
from rootless.errors import InvalidArgument

DOCKER_KEYS = ("host", "ca", "cert", "key", "skip-tls-verify")


def parse_docker_option(text: str) -> Tuple[str, Dict[str, str], bool]:
    """docker's --docker "host=...,ca=...,cert=...,key=...,skip-tls-verify=bool": (host, TLS files, skip)."""
    fields: Dict[str, str] = {}
    for part in filter(None, text.split(",")):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in DOCKER_KEYS:
            raise InvalidArgument(f"--docker: unrecognized config key: {part!r}",
                                  hint=f"use {', '.join(k + '=...' for k in DOCKER_KEYS)}")
        fields[key] = value.strip()
    if not fields.get("host"):
        raise InvalidArgument("--docker: host=... is required", hint='e.g. --docker "host=ssh://user@server"')
    parse_host(fields["host"])  # refuse a bad address now, not at first use
    skip = fields.pop("skip-tls-verify", "false").lower()
    if skip not in ("true", "false", "1", "0"):
        raise InvalidArgument(f"--docker: skip-tls-verify: invalid value {skip!r}", hint="use true or false")
    host = fields.pop("host")
    return host, fields, skip in ("true", "1")


@click.command()
@click.argument("name")
@click.option("--docker", "docker_opt", required=True, help='Endpoint: "host=tcp://...,ca=...,cert=...,key=..."')
@click.option("--description", default="", help="Description of the context.")
def create(name: str, docker_opt: str, description: Optional[str]) -> None:
    """Create a context."""
    host, tls, skip = parse_docker_option(docker_opt)
    ContextStore().create(name, host, description or "", tls, skip)
    click.echo(name)
    sys.stderr.write(f'Successfully created context "{name}"\n')

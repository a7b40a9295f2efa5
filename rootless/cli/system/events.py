"""`rootless events`: the daemon's event stream."""
from __future__ import annotations

import datetime
import time
from typing import Optional, Tuple

import click

from rootless.cli.app import App
from rootless.cli.format import compile_format
from rootless.wire.filters import parse_flags
from rootless.wire.times import api_timestamp


@click.command()
@click.option("--since", help="Show events since this time (unix seconds, RFC 3339 or relative, e.g. 10m).")
@click.option("--until", help="Stop at this time.")
@click.option("--filter", "-f", "filters", multiple=True, help="key=value (type, event, container, image, label).")
@click.option("--format", "fmt", help="Format output using a Go template ({{.Type}} {{.Action}}) or 'json'.")
@click.pass_obj
def events(app: App, since: Optional[str], until: Optional[str], filters: Tuple[str, ...], fmt: Optional[str]) -> None:
    """Stream events from the daemon."""
    template = compile_format(fmt) if fmt else None
    now_ns = time.time_ns()
    for event in app.client.events(since=api_timestamp(since, now_ns) if since else None,
                                   until=api_timestamp(until, now_ns) if until else None,
                                   filters=parse_flags(filters) or None):
        if template is not None:
            click.echo(template.render(event))
            continue
        when = datetime.datetime.fromtimestamp(event["timeNano"] / 1e9).isoformat()
        attrs = ", ".join(f"{k}={v}" for k, v in sorted(event["Actor"]["Attributes"].items()))
        click.echo(f"{when} {event['Type']} {event['Action']} {event['Actor']['ID']} ({attrs})")

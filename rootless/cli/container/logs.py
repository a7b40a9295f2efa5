"""`rootless logs`: a container's output; stdout to stdout and stderr to stderr.

Like docker's CLI it inspects the container first: a TTY container's log is
one raw stream, any other is stdcopy-framed (DOCKER-API.md section 4).
"""
from __future__ import annotations

import sys
import time
from typing import Optional

import click

from rootless.cli.app import App
from rootless.wire.stdcopy import STDERR, Demuxer
from rootless.wire.times import api_timestamp


@click.command()
@click.option("-f", "--follow", is_flag=True, help="Follow log output.")
@click.option("-n", "--tail", default="all", help="Number of lines to show from the end of the logs.")
@click.option("--since", help="Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m).")
@click.option("--until", help="Show logs before a timestamp or relative time.")
@click.option("-t", "--timestamps", is_flag=True, help="Show timestamps.")
@click.option("--details", is_flag=True, help="Show extra details provided to logs.")
@click.argument("container")
@click.pass_obj
def logs(app: App, follow: bool, tail: str, since: Optional[str], until: Optional[str], timestamps: bool,
         details: bool, container: str) -> None:
    """Fetch the logs of a container."""
    tty = bool(app.client.inspect_container(container).get("Config", {}).get("Tty"))
    now_ns = time.time_ns()  # both relative times count back from the same now, as docker's CLI
    response = app.client.logs(container, follow=follow, tail=tail, timestamps=timestamps, details=details,
                               since=api_timestamp(since, now_ns) if since else None,
                               until=api_timestamp(until, now_ns) if until else None)
    out, err = sys.stdout.buffer, sys.stderr.buffer
    demuxer = None if tty else Demuxer()
    try:
        for chunk in response.iter_raw():
            frames = [(1, chunk)] if demuxer is None else demuxer.feed(chunk)
            for stream, payload in frames:
                target = err if stream == STDERR else out
                target.write(payload)
                target.flush()
    finally:
        response.close()

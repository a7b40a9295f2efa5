"""`rootless container ...`: docker's container verbs, each in its own module."""
from __future__ import annotations

import click

from rootless.cli import LazyGroup

CONTAINER_COMMANDS = {
    "run": "container.run:run",
    "create": "container.create:create",
    "start": "container.start:start",
    "stop": "container.stop:stop",
    "restart": "container.restart:restart",
    "kill": "container.kill:kill",
    "rm": "container.rm:rm",
    "ls": "container.ps:ps",
    "ps": "container.ps:ps",
    "list": "container.ps:ps",
    "logs": "container.logs:logs",
    "exec": "container.exec:exec_",
    "attach": "container.attach:attach",
    "inspect": "container.inspect:container_inspect",
    "top": "container.top:top",
    "cp": "container.cp:cp",
    "rename": "container.rename:rename",
    "port": "container.port:port",
    "export": "container.export:export",
    "wait": "container.wait:wait",
    "pause": "container.pause:pause",
    "unpause": "container.pause:unpause",
    "stats": "container.stats:stats",
    "prune": "container.prune:prune",
}


@click.group(cls=LazyGroup, lazy=CONTAINER_COMMANDS)
def container() -> None:
    """Manage containers."""

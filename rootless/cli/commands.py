"""Every command of the CLI as "module:attribute" under rootless.cli, imported only when run.

One table per group; the top level adds docker's short aliases (`rootless ps`
is `rootless container ls`) by naming entries of these tables.
"""
from __future__ import annotations

from typing import Dict, Iterable, Tuple

SYSTEM_COMMANDS: Dict[str, str] = {
    "service": "system.service:service",
    "stop": "system.stop:stop",
    "info": "system.info:info",
    "events": "system.events:events",
    "df": "system.df:df",
    "prune": "system.prune:prune",
    "dial-stdio": "system.dial_stdio:dial_stdio",
}

CONTEXT_COMMANDS: Dict[str, str] = {
    "create": "context.create:create",
    "ls": "context.ls:ls",
    "list": "context.ls:ls",
    "use": "context.use:use",
    "rm": "context.rm:rm",
    "remove": "context.rm:rm",
    "inspect": "context.inspect:inspect",
    "show": "context.show:show",
}

TLS_COMMANDS: Dict[str, str] = {
    "generate": "tls.generate:generate",
}

IMAGE_COMMANDS: Dict[str, str] = {
    "ls": "image.ls:images",
    "list": "image.ls:images",
    "pull": "image.pull:pull",
    "push": "image.push:push",
    "tag": "image.tag:tag",
    "rm": "image.rm:rmi",
    "inspect": "image.inspect:image_inspect",
    "history": "image.history:history",
    "save": "image.save:save",
    "export": "image.export:export_image",
    "load": "image.load:load",
    "convert": "image.convert:convert",
    "import": "image.import_:import_",
    "prune": "image.prune:prune",
    "build": "image.build:build",
}

CONTAINER_COMMANDS: Dict[str, str] = {
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
    "update": "container.update:update",
    "prune": "container.prune:prune",
    "commit": "container.commit:commit",
}

VOLUME_COMMANDS: Dict[str, str] = {
    "create": "volume.create:create",
    "ls": "volume.ls:ls",
    "list": "volume.ls:ls",
    "inspect": "volume.inspect:inspect",
    "rm": "volume.rm:rm",
    "remove": "volume.rm:rm",
    "prune": "volume.prune:prune",
}

NETWORK_COMMANDS: Dict[str, str] = {
    "create": "network.create:create",
    "ls": "network.ls:ls",
    "list": "network.ls:ls",
    "inspect": "network.inspect:inspect",
    "rm": "network.rm:rm",
    "remove": "network.rm:rm",
    "connect": "network.connect:connect",
    "disconnect": "network.disconnect:disconnect",
    "prune": "network.prune:prune",
}


BUILDER_COMMANDS: Dict[str, str] = {
    "prune": "builder.prune:prune",
}


def pick(table: Dict[str, str], names: Iterable[Tuple[str, str]]) -> Dict[str, str]:
    """Top-level aliases: (alias, name in the group's table)."""
    return {alias: table[name] for alias, name in names}


TOP_COMMANDS: Dict[str, str] = {
    "version": "system.version:version",
    "doctor": "system.doctor:doctor",
    "unshare": "system.unshare:unshare",
    "completion": "system.completion:completion",
    "login": "image.login:login",
    "logout": "image.login:logout",
    "inspect": "container.inspect:inspect",  # docker's untyped inspect: containers, then images, ...
    "system": "system:system",
    "image": "image:image",
    "container": "container:container",
    "volume": "volume:volume",
    "network": "network:network",
    "context": "context:context",
    "tls": "tls:tls",
    "builder": "builder:builder",
    **pick(SYSTEM_COMMANDS, [("info", "info"), ("events", "events")]),
    **pick(IMAGE_COMMANDS, [(verb, verb) for verb in ("pull", "push", "tag", "history", "save", "load", "import",
                                                      "build")]
           + [("images", "ls"), ("rmi", "rm")]),
    **pick(CONTAINER_COMMANDS, [(verb, verb) for verb in (
        "run", "create", "start", "stop", "restart", "kill", "rm", "logs", "exec", "attach", "top", "cp",
        "rename", "port", "export", "wait", "pause", "unpause", "stats", "update", "commit")] + [("ps", "ls")]),
}

"""`rootless exec`: run a command in a running container; exit with its status.

docker's sequence (DOCKER-API.md section 10): POST /containers/{id}/exec,
POST /exec/{id}/start (hijacked unless -d), GET /exec/{id}/json for ExitCode.
"""
from __future__ import annotations

import os
from typing import Any, Dict, Optional, Tuple

import click

from rootless.cli.app import App
from rootless.cli.container.creating import read_text
from rootless.cli.container.parse import parse_env, parse_env_file
from rootless.cli.container.streaming import check_tty_input, console_size, stream_session


def exec_body(command: Tuple[str, ...], *, interactive: bool, tty: bool, detach: bool, env: Tuple[str, ...],
              env_text: str, user: Optional[str], workdir: Optional[str], privileged: bool,
              detach_keys: str) -> Dict[str, Any]:
    """The body of POST /containers/{id}/exec, as docker's CLI builds it."""
    body: Dict[str, Any] = {
        "User": user or "", "Privileged": privileged, "Tty": tty, "AttachStdin": interactive and not detach,
        # detach keys are matched here, client-side (stream_session): the engine refuses exec DetachKeys
        "AttachStderr": not detach, "AttachStdout": not detach, "Detach": detach, "DetachKeys": "",
        "Env": parse_env_file(env_text, os.environ) + parse_env(list(env), os.environ),
        "WorkingDir": workdir or "", "Cmd": list(command),
    }
    size = console_size() if tty else None
    if size:
        body["ConsoleSize"] = list(size)
    return body


@click.command(context_settings={"allow_interspersed_args": False})
@click.option("-d", "--detach", is_flag=True, help="Detached mode: run command in the background.")
@click.option("-i", "--interactive", is_flag=True, help="Keep STDIN open even if not attached.")
@click.option("-t", "--tty", is_flag=True, help="Allocate a pseudo-TTY.")
@click.option("-e", "--env", multiple=True, help="Set environment variables.")
@click.option("--env-file", multiple=True, help="Read in a file of environment variables.")
@click.option("-u", "--user", help="Username or UID (format: name|uid[:group|gid]).")
@click.option("-w", "--workdir", help="Working directory inside the container.")
@click.option("--privileged", is_flag=True, help="Give extended privileges to the command.")
@click.option("--detach-keys", default="", help="Key sequence for detaching.")
@click.argument("container")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.pass_obj
def exec_(app: App, detach: bool, interactive: bool, tty: bool, env: Tuple[str, ...], env_file: Tuple[str, ...],
          user: Optional[str], workdir: Optional[str], privileged: bool, detach_keys: str, container: str,
          command: Tuple[str, ...]) -> None:
    """Execute a command in a running container."""
    if not detach:
        check_tty_input(interactive, tty)
    body = exec_body(command, interactive=interactive, tty=tty, detach=detach, env=env,
                     env_text="\n".join(read_text(p) for p in env_file), user=user, workdir=workdir, privileged=privileged,
                     detach_keys=detach_keys)
    client = app.client
    exec_id = client.exec_create(container, body)
    stream = client.exec_start(exec_id, detach=detach, tty=tty, console_size=body.get("ConsoleSize"))
    if stream is None:
        return
    detached = stream_session(stream, tty=tty, interactive=interactive and not detach, sig_proxy=False,
                              detach_keys=detach_keys, kill=None,
                              resize=lambda h, w: client.exec_resize(exec_id, h, w))
    if not detached:
        raise click.exceptions.Exit(int(client.exec_inspect(exec_id).get("ExitCode") or 0))


exec_.name = "exec"

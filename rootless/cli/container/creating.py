"""Create a container the way docker's CLI does: pull on "No such image", then retry.

docker/cli `cli/command/container/create.go` (createContainer, pullImage):
prints "Unable to find image 'X' locally" on stderr, pulls with progress on
stderr, then creates again.
"""
from __future__ import annotations

import os

TYPE_CHECKING = False  # True for mypy; importing typing costs ~3 ms (cli/fast_run.py)
if TYPE_CHECKING:
    from typing import Any, Dict, Optional, Sequence, Tuple

from rootless.cli.app import App
from rootless.cli.container.body import CreateOptions, build_create_body
from rootless.errors import Internal, NotFound, RootlessError

PULL_POLICIES = ("missing", "always", "never")


def echo_error(text: str) -> None:
    """click.echo to stderr (ANSI stripped off a terminal, its encoding rules); click is imported
    only here so that `run`'s fast path (cli/fast_run.py) can import this module without it."""
    import click

    click.echo(text, err=True)


def _drop_tag(repository: str) -> Tuple[str, str]:
    """(name, tag) where a colon after the last slash starts the tag ("" when none)."""
    if ":" in repository.rsplit("/", 1)[-1]:
        name, tag = repository.rsplit(":", 1)
        return name, tag
    return repository, ""


def split_image(image: str) -> Tuple[str, str]:
    """'127.0.0.1:5000/busybox:1' -> (repository, tag); a digest wins over the tag; default latest."""
    repository, _, digest = image.partition("@")
    name, tag = _drop_tag(repository)
    return name, digest or tag or "latest"


def tagged(image: str) -> str:
    """The name docker prints: busybox -> busybox:latest."""
    repository, tag = split_image(image)
    return f"{repository}@{tag}" if tag.startswith("sha256:") else f"{repository}:{tag}"


def _progress_line(message: Dict[str, Any]) -> Optional[str]:
    # Plain (non-TTY) rendering like docker's jsonmessage: per-layer byte counters are skipped.
    if message.get("progressDetail", {}).get("current") is not None:
        return None
    status = message.get("status") or message.get("stream", "").rstrip("\n")
    if not status:
        return None
    return f"{message['id']}: {status}" if message.get("id") else status


def pull_image(app: App, image: str, platform: Optional[str]) -> None:
    """Pull image, writing docker's progress lines to stderr. Raises the in-band error if one comes."""
    repository, tag = split_image(image)
    for message in app.client.pull(repository, tag, platform):
        if message.get("error") or message.get("errorDetail"):
            detail = message.get("errorDetail") or {}
            raise Internal(message.get("error") or detail.get("message", "pull failed"))
        line = _progress_line(message)
        if line:
            echo_error(line)


def _is_missing_image(exc: NotFound) -> bool:
    return "no such image" in exc.message.lower()


def create_container(app: App, opts: CreateOptions, image: str, command: Sequence[str], pull: str,
                     platform: Optional[str]) -> str:
    """The new container's id; pulls per --pull (missing, always, never)."""
    return send_create(app, opts, image, command, pull, platform).container_id()


def send_create(app: App, opts: CreateOptions, image: str, command: Sequence[str], pull: str,
                platform: Optional[str]) -> SentCreate:
    """create_container up to the create request sent (after the pull --pull always asks for):
    the caller may work while the daemon creates, then asks .container_id()."""
    try:
        body = build_create_body(opts, image, command, os.environ, read_text, os.getcwd())
    except RootlessError as exc:
        exc.exit_status = 125  # type: ignore[attr-defined]  # a flag docker's parser refuses: 125 for create too
        raise
    if pull == "always":
        pull_image(app, image, platform)
    return SentCreate(app, body, opts.name, image, pull, platform)


class SentCreate:
    """A create request on its way (send_create)."""

    def __init__(self, app: App, body: Dict[str, Any], name: Optional[str], image: str, pull: str,
                 platform: Optional[str]) -> None:
        self.app, self.body, self.name, self.image, self.pull, self.platform = app, body, name, image, pull, platform
        self.sent = app.client.create_container_send(body, name, platform)

    def container_id(self) -> str:
        """The new container's id once the daemon answers; on "No such image" with --pull missing,
        the pull and a second create."""
        app, image, platform = self.app, self.image, self.platform
        try:
            created = self.sent.json()
        except NotFound as exc:
            if self.pull != "missing" or not _is_missing_image(exc):
                raise
            echo_error(f"Unable to find image '{tagged(image)}' locally")
            pull_image(app, image, platform)
            created = app.client.create_container(self.body, self.name, platform)
        for warning in created.get("Warnings") or []:
            echo_error(f"WARNING: {warning}")
        return str(created["Id"])


def read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as exc:
        raise NotFound(f"open {path}: {exc.strerror.lower() if exc.strerror else exc}") from None

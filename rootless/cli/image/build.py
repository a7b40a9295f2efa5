"""`rootless build`: docker build's flags; the context is sent as a tar, as docker's classic builder.

Like the docker CLI, the client applies .dockerignore (rootless/build/context.py,
imported lazily: a pure module) and adds a Dockerfile from outside the context
(or from stdin) to the tar under a generated name, which it also hides.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import stat
import sys
import tarfile
import tempfile
from typing import IO, Any, Dict, List, Optional, Tuple

import click

from rootless.cli.app import App
from rootless.cli.image.progress import in_band_error
from rootless.errors import InvalidArgument, NotFound

TAR_MAGIC_OFFSET = 257
COMPRESSED = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd")


def _pairs(values: Tuple[str, ...], what: str, from_env: bool) -> Dict[str, Optional[str]]:
    out: Dict[str, Optional[str]] = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not key:
            raise InvalidArgument(f"invalid {what}: {value!r}: expected KEY=VALUE")
        out[key] = val if sep else (os.environ.get(key) if from_env else "")
    return out


SECRETS_DIR = ".rootless-build-secrets"  # read by the daemon (engine/build.py), never seen by COPY


def _secrets(values: Tuple[str, ...]) -> Dict[str, str]:
    """--secret id=ID,src=FILE (also source=, type=file) -> {id: file}."""
    out: Dict[str, str] = {}
    for value in values:
        fields = dict(part.partition("=")[::2] for part in value.split(","))
        secret_id, source = fields.get("id", ""), fields.get("src") or fields.get("source") or ""
        if fields.get("type", "file") != "file" or not secret_id or not source or "/" in secret_id:
            raise InvalidArgument(f"invalid --secret {value!r}: expected id=ID,src=FILE")
        out[secret_id] = source
    return out


def _add_secrets(tar: tarfile.TarFile, secrets_: Dict[str, str]) -> None:
    for secret_id, source in secrets_.items():
        try:
            with open(source, "rb") as f:
                data = f.read()
        except OSError as exc:
            raise NotFound(f"can't read secret {secret_id}: {source}: {(exc.strerror or str(exc)).lower()}") from None
        _add_bytes(tar, f"{SECRETS_DIR}/{secret_id}", data)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    import io
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o644
    tar.addfile(info, io.BytesIO(data))


def _write_context(tar: tarfile.TarFile, root: str, keep: List[str], extra: Optional[Tuple[str, bytes]]) -> None:
    from rootless.build.context import DOCKERIGNORE, DockerIgnore, open_in_context, walk_context
    ignore_path = os.path.join(root, DOCKERIGNORE)
    text = ""
    if os.path.isfile(ignore_path):
        with open(ignore_path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    for entry in walk_context(root, DockerIgnore.from_text(text), keep=keep):
        if extra is not None and entry.path == DOCKERIGNORE:
            continue  # sent below with the generated Dockerfile's name added
        _add_entry(tar, root, entry, open_in_context)
    if extra is not None:
        # docker's CLI hides the generated Dockerfile and .dockerignore from COPY this way
        _add_bytes(tar, DOCKERIGNORE, f"{text}\n{extra[0]}\n{DOCKERIGNORE}\n".encode())
        _add_bytes(tar, extra[0], extra[1])


def _add_entry(tar: tarfile.TarFile, root: str, entry: Any, open_in_context: Any) -> None:
    info = tarfile.TarInfo(entry.path)
    info.mode, info.mtime = entry.stat.st_mode & 0o7777, int(entry.stat.st_mtime)
    if entry.is_dir:
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
    elif entry.link_target is not None:
        info.type, info.linkname = tarfile.SYMTYPE, entry.link_target
        tar.addfile(info)
    elif stat.S_ISREG(entry.stat.st_mode):
        with os.fdopen(open_in_context(root, entry.path), "rb") as data:
            info.size = os.fstat(data.fileno()).st_size
            tar.addfile(info, data)


def _dockerfile(context: str, name: Optional[str]) -> Tuple[str, Optional[Tuple[str, bytes]]]:
    """The dockerfile parameter and, for one outside the context or on stdin, its name and bytes."""
    if not name:
        return "Dockerfile", None
    if name == "-":
        return _generated(sys.stdin.buffer.read())
    path = os.path.abspath(name)
    rel = os.path.relpath(path, os.path.abspath(context))
    if not rel.startswith(".."):
        return rel, None
    try:
        with open(path, "rb") as f:
            return _generated(f.read())
    except OSError as exc:
        raise NotFound(f"can't read the Dockerfile: {name}: {(exc.strerror or str(exc)).lower()}") from None


def _generated(data: bytes) -> Tuple[str, Tuple[str, bytes]]:
    name = ".dockerfile." + secrets.token_hex(10)
    return name, (name, data)


def _context_tar(context: str, dockerfile: Optional[str], spool: IO[bytes], secrets_: Dict[str, str]) -> str:
    """Write the context tar to spool; return the dockerfile parameter."""
    if context == "-":
        if secrets_:
            raise InvalidArgument("--secret: not supported with a context on stdin")
        if dockerfile == "-":
            raise InvalidArgument("invalid argument: can't use stdin for both build context and dockerfile")
        head = sys.stdin.buffer.peek(512)[:512] if hasattr(sys.stdin.buffer, "peek") else b""
        if head.startswith(COMPRESSED) or head[TAR_MAGIC_OFFSET:TAR_MAGIC_OFFSET + 5] == b"ustar":
            for chunk in iter(lambda: sys.stdin.buffer.read(1 << 20), b""):
                spool.write(chunk)
            return dockerfile or "Dockerfile"
        with tarfile.open(fileobj=spool, mode="w") as tar:  # a Dockerfile alone: an empty context
            _add_bytes(tar, "Dockerfile", sys.stdin.buffer.read())
        return "Dockerfile"
    if not os.path.isdir(context):
        raise NotFound(f"unable to prepare context: path {context!r} not found")
    param, extra = _dockerfile(context, dockerfile)
    with tarfile.open(fileobj=spool, mode="w", format=tarfile.PAX_FORMAT) as tar:
        _write_context(tar, context, [param, ".dockerignore"], extra)
        _add_secrets(tar, secrets_)
    return param


@click.command()
@click.option("-t", "--tag", "tags", multiple=True, help="Name and optionally a tag in the 'name:tag' format.")
@click.option("-f", "--file", "dockerfile", help="Name of the Dockerfile (default: PATH/Dockerfile; - for stdin).")
@click.option("--build-arg", "build_args", multiple=True, help="Set build-time variables.")
@click.option("--target", help="Set the target build stage to build.")
@click.option("--no-cache", is_flag=True, help="Do not use cache when building the image.")
@click.option("--pull", is_flag=True, help="Always attempt to pull a newer version of the image.")
@click.option("-q", "--quiet", is_flag=True, help="Suppress the build output and print image ID on success.")
@click.option("--label", "labels", multiple=True, help="Set metadata for an image.")
@click.option("--iidfile", help="Write the image ID to the file.")
@click.option("--network", help="Set the networking mode for the RUN instructions during build.")
@click.option("--platform", help="Set platform if server is multi-platform capable.")
@click.option("--rm/--no-rm", default=True, help="Remove intermediate containers after a successful build.")
@click.option("--force-rm", is_flag=True, help="Always remove intermediate containers.")
@click.option("--secret", "secrets_", multiple=True, help="Secret file to expose to the build (id=ID,src=FILE).")
@click.argument("path")
@click.pass_obj
def build(app: App, tags: Tuple[str, ...], dockerfile: Optional[str], build_args: Tuple[str, ...],
          target: Optional[str], no_cache: bool, pull: bool, quiet: bool, labels: Tuple[str, ...],
          iidfile: Optional[str], network: Optional[str], platform: Optional[str], rm: bool, force_rm: bool,
          secrets_: Tuple[str, ...], path: str) -> None:
    """Build an image from a Dockerfile."""
    secret_files = _secrets(secrets_)
    with contextlib.ExitStack() as stack:
        spool = stack.enter_context(tempfile.TemporaryFile())
        param = _context_tar(path, dockerfile, spool, secret_files)
        spool.seek(0)
        lines = app.client.build(spool, tags=tags, dockerfile=param, build_args=_pairs(build_args, "--build-arg", True),
                                 target=target, no_cache=no_cache, pull=pull, quiet=quiet,
                                 labels={k: v or "" for k, v in _pairs(labels, "--label", False).items()},
                                 network=network, platform=platform, force_rm=force_rm, remove=rm,
                                 secrets=list(secret_files))
        image_id = _show(lines, quiet)
    if iidfile and image_id:
        with open(iidfile, "w") as f:
            f.write(image_id)


def _show(lines: Any, quiet: bool) -> str:
    image_id = ""
    for message in lines:
        error = in_band_error(message)
        if error is not None:
            raise error
        if message.get("aux", {}).get("ID"):
            image_id = str(message["aux"]["ID"])
        elif message.get("stream") and not quiet:
            click.echo(message["stream"], nl=False)
    if quiet and image_id:
        click.echo(image_id)
    return image_id

"""`rootless cp`: copy files between a container and the local filesystem.

Tars are made and unpacked here (docker's CLI does the same, cli/command/container/cp.go),
through HEAD/GET/PUT /containers/{id}/archive. Paths follow docker's rules: an
existing directory receives the source under its own name; a new name renames
it; SRC/. copies a directory's contents; '-' is a tar on stdin or stdout.
"""
from __future__ import annotations

import os
import sys
from typing import IO, Any, Optional, Tuple

import click

from rootless.cli.app import App
from rootless.cli.humanize import human_size
from rootless.errors import InvalidArgument, NotFound
from rootless.util import confined_tar
from rootless.util.confined import Root

GO_MODE_DIR = 1 << 31  # Go's os.ModeDir in the archive stat header


def split_cp_arg(arg: str) -> Tuple[Optional[str], str]:
    """'c:/etc' -> ('c', '/etc'); a local path (absolute, ./relative or '-') -> (None, path)."""
    if arg.startswith(("/", ".")) or arg == "-":
        return None, arg
    container, sep, path = arg.partition(":")
    return (container, path) if sep and container else (None, arg)


def _safe_name(name: str) -> bool:
    parts = name.split("/")
    return not name.startswith("/") and ".." not in parts


def rename_root(name: str, old_root: str, new_root: str) -> Optional[str]:
    """A tar member name with its first component old_root changed to new_root ('' = drop it)."""
    head, _, rest = name.partition("/")
    if head != old_root:
        return name
    if not new_root:
        return rest or None
    return f"{new_root}/{rest}" if rest else new_root


def extract_tar(stream: IO[bytes], dest_dir: str, new_root: str) -> int:
    """Unpack a tar stream into dest_dir, its root entry renamed to new_root; the bytes of file data.

    The tar comes from a container and is hostile: entries are made with *at
    calls below dest_dir (util/confined_tar.py), an entry whose path crosses a
    symlink (one it just extracted, say) is refused, and a symlink in the way of
    an entry is replaced, never written through. Like docker's CLI (CopyTo), a
    directory is never replaced by a non-directory nor the other way round.
    """
    import tarfile

    total = 0
    old_root: Optional[str] = None
    with Root(dest_dir, symlinks=False) as root, tarfile.open(fileobj=stream, mode="r|*") as archive:
        extractor = confined_tar.Extractor(root, "/", no_overwrite_dir_non_dir=True)
        for member in archive:
            if old_root is None:
                old_root = member.name.split("/")[0]
            name = rename_root(member.name.rstrip("/"), old_root, new_root)
            if name is None:
                continue
            if not _safe_name(name) or (member.islnk() and not _safe_name(member.linkname)):
                raise InvalidArgument(f"copy: refusing tar entry {member.name!r}: it points outside the target")
            if member.islnk():
                member.linkname = rename_root(member.linkname, old_root, new_root) or "."
            member.name = name
            total += member.size if member.isfile() else 0
            extractor.extract(archive, member)
        extractor.finish()
    return total


def make_tar(src: str, arcname: str, out: IO[bytes]) -> int:
    """Write a tar of src (named arcname inside) to out; the bytes of file data."""
    import tarfile

    with tarfile.open(fileobj=out, mode="w|") as archive:
        archive.add(src, arcname=arcname)
    return _tree_size(src)


def _tree_size(path: str) -> int:
    if not os.path.isdir(path) or os.path.islink(path):
        return os.lstat(path).st_size if not os.path.islink(path) else 0
    return sum(os.lstat(os.path.join(d, f)).st_size for d, _, files in os.walk(path) for f in files
               if not os.path.islink(os.path.join(d, f)))


class ChunkReader:
    """A read(n) file object over a response's body chunks (what tarfile's stream mode needs)."""

    def __init__(self, chunks: Any) -> None:
        self._chunks = iter(chunks)
        self._buffer = b""

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._chunks, b"")
            if not chunk:
                break
            self._buffer += chunk
        if size < 0:
            size = len(self._buffer)
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data


def local_target(dest: str, src_path: str) -> Tuple[str, str]:
    """(directory to unpack into, name for the copied root) for a copy out to dest."""
    if src_path.endswith("/."):
        os.makedirs(dest, exist_ok=True)
        return dest, ""
    if os.path.isdir(dest):
        return dest, os.path.basename(src_path.rstrip("/")) or "."
    parent = os.path.dirname(dest.rstrip("/")) or "."
    if dest.endswith("/") or not os.path.isdir(parent):
        raise NotFound(f"copy: destination directory {dest} does not exist")
    return parent, os.path.basename(dest.rstrip("/"))


def copy_out(app: App, container: str, src_path: str, dest: str) -> int:
    """Container path -> local path (or a tar on stdout for '-'); bytes copied."""
    response, _ = app.client.get_archive(container, src_path)
    try:
        if dest == "-":
            for chunk in response.iter_raw():
                sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
            return 0
        directory, new_root = local_target(dest, src_path)
        return extract_tar(ChunkReader(response.iter_raw()), directory, new_root)  # type: ignore[arg-type]
    finally:
        response.close()


def container_target(app: App, container: str, src: str, dest_path: str) -> Tuple[str, str]:
    """(container directory to PUT into, name for the copied root) for a copy in to dest_path."""
    try:
        stat = app.client.stat_path(container, dest_path)
    except NotFound:
        stat = None
    if stat is not None and int(stat.get("mode", 0)) & GO_MODE_DIR and not src.endswith("/."):
        return dest_path, os.path.basename(src.rstrip("/"))
    if stat is not None and os.path.isdir(src) and not int(stat.get("mode", 0)) & GO_MODE_DIR:
        raise InvalidArgument(f"copy: cannot copy a directory to a file: {container}:{dest_path}")
    if stat is None and dest_path.endswith("/"):
        raise NotFound(f"copy: destination directory {container}:{dest_path} does not exist")
    return os.path.dirname(dest_path.rstrip("/")) or "/", os.path.basename(dest_path.rstrip("/"))


def copy_in(app: App, src: str, container: str, dest_path: str) -> int:
    """Local path (or a tar on stdin for '-') -> container path; bytes copied."""
    import tempfile

    if src == "-":
        app.client.put_archive(container, dest_path, sys.stdin.buffer)
        return 0
    if not os.path.lexists(src):
        raise NotFound(f"copy: lstat {src}: no such file or directory")
    directory, name = container_target(app, container, src, dest_path)
    with tempfile.SpooledTemporaryFile(max_size=16 << 20) as spool:
        total = make_tar(src[:-2] or "/" if src.endswith("/.") else src, name, spool)
        spool.seek(0)
        app.client.put_archive(container, directory, spool)
    return total


@click.command()
@click.option("-a", "--archive", is_flag=True, help="Archive mode (copy all uid/gid information).")
@click.option("-L", "--follow-link", is_flag=True, help="Always follow symbol link in SRC_PATH.")
@click.option("-q", "--quiet", is_flag=True, help="Suppress progress output during copy.")
@click.argument("source")
@click.argument("destination")
@click.pass_obj
def cp(app: App, archive: bool, follow_link: bool, quiet: bool, source: str, destination: str) -> None:
    """Copy files/folders between a container and the local filesystem (CONTAINER:PATH)."""
    src_container, src_path = split_cp_arg(source)
    dest_container, dest_path = split_cp_arg(destination)
    if (src_container is None) == (dest_container is None):
        raise InvalidArgument("copy: exactly one of source and destination must be CONTAINER:PATH",
                              hint="e.g. rootless cp web:/etc/hostname . or rootless cp ./f web:/tmp/")
    if src_container is not None:
        total = copy_out(app, src_container, src_path, dest_path)
    else:
        total = copy_in(app, src_path, str(dest_container), dest_path)
    if not quiet and "-" not in (source, destination):
        click.echo(f"Successfully copied {human_size(total)} to {destination}", err=True)

"""A container's files from outside: docker cp (archive), export, changes, top.

Paths are resolved inside the rootfs the way the container would see them:
symlinks are followed relative to the rootfs root and can never leave it.
"""
from __future__ import annotations

import datetime
import io
import os
import stat
import tarfile
from typing import IO, Any, Dict, Iterator, List, Tuple, cast

from rootless.errors import InvalidArgument, NotFound
from rootless.runtime.users import resolve_in_root



def go_file_mode(st: os.stat_result) -> int:
    """Go's os.FileMode bits, which docker cp's stat header carries."""
    mode = stat.S_IMODE(st.st_mode) & 0o777
    if stat.S_ISDIR(st.st_mode):
        mode |= 1 << 31
    elif stat.S_ISLNK(st.st_mode):
        mode |= 1 << 27
    elif stat.S_ISFIFO(st.st_mode):
        mode |= 1 << 25
    elif stat.S_ISSOCK(st.st_mode):
        mode |= 1 << 24
    elif stat.S_ISCHR(st.st_mode):
        mode |= (1 << 26) | (1 << 21)
    elif stat.S_ISBLK(st.st_mode):
        mode |= 1 << 26
    if st.st_mode & stat.S_ISUID:
        mode |= 1 << 23
    if st.st_mode & stat.S_ISGID:
        mode |= 1 << 22
    if st.st_mode & stat.S_ISVTX:
        mode |= 1 << 20
    return mode


def path_stat(rootfs: str, container_path: str, container_name: str) -> Dict[str, Any]:
    host_path = resolve_in_root(rootfs, container_path, follow_last=False)
    try:
        st = os.lstat(host_path)
    except FileNotFoundError:
        raise NotFound(f"Could not find the file {container_path} in container {container_name}") from None
    link = ""
    if stat.S_ISLNK(st.st_mode):
        link = os.readlink(host_path)
    mtime = datetime.datetime.fromtimestamp(st.st_mtime, datetime.timezone.utc).isoformat()
    return {"name": os.path.basename(container_path.rstrip("/")) or "/", "size": st.st_size,
            "mode": go_file_mode(st), "mtime": mtime, "linkTarget": link}


class _PipeWriter(io.RawIOBase):
    """A file object tarfile writes into, feeding a generator chunk by chunk."""

    def __init__(self) -> None:
        self.chunks: List[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.chunks.append(bytes(data))
        return len(data)


def tar_stream(host_path: str, arcname: str) -> Iterator[bytes]:
    """A tar of host_path (recursively) named arcname, streamed in pieces."""
    sink = _PipeWriter()
    # Older typeshed wants IO[bytes] for fileobj; stream mode "w|" only calls write() and close().
    with tarfile.open(fileobj=cast(IO[bytes], sink), mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for full, name in _walk(host_path, arcname):
            tar.add(full, arcname=name, recursive=False)
            if sink.chunks:
                yield b"".join(sink.chunks)
                sink.chunks.clear()
    if sink.chunks:
        yield b"".join(sink.chunks)


def _walk(host_path: str, arcname: str) -> Iterator[Tuple[str, str]]:
    if arcname:  # an export (arcname "") has no entry for the root itself
        yield host_path, arcname
    if os.path.isdir(host_path) and not os.path.islink(host_path):
        for dirpath, dirnames, filenames in os.walk(host_path):
            dirnames.sort()
            rel = os.path.relpath(dirpath, host_path)
            for name in sorted(dirnames) + sorted(filenames):
                sub = name if rel == "." else os.path.join(rel, name)
                yield os.path.join(dirpath, name), f"{arcname}/{sub}" if arcname else sub


def extract_into(rootfs: str, container_dir: str, body: IO[bytes], no_overwrite_dir_non_dir: bool) -> None:
    """Extract a tar body into a directory of the container, refusing escapes."""
    target = resolve_in_root(rootfs, container_dir)
    if not os.path.exists(target):
        raise NotFound(f"Could not find the file {container_dir} in container")
    if not os.path.isdir(target):
        raise InvalidArgument(f"extraction point is not a directory: {container_dir}")
    with tarfile.open(fileobj=body, mode="r|*") as tar:
        for member in tar:
            name = os.path.normpath(member.name).lstrip("/")
            if name.startswith("..") or "/../" in f"/{name}/":
                raise InvalidArgument(f"invalid archive entry: {member.name}: outside the target")
            dest = resolve_in_root(rootfs, os.path.join(container_dir, os.path.dirname(name)))
            final = os.path.join(dest, os.path.basename(name))
            if no_overwrite_dir_non_dir and os.path.isdir(final) and not member.isdir():
                raise InvalidArgument(f"cannot overwrite directory {name} with non-directory")
            if member.islnk():
                link_target = resolve_in_root(rootfs, os.path.join(container_dir, member.linkname))
                member.linkname = os.path.relpath(link_target, target)
            member.name = os.path.relpath(final, target)
            # Names were checked above; tarfile's filter= argument is not in every 3.9-3.11.
            tar.extract(member, target, set_attrs=True, numeric_owner=True)


def processes_in(pid: int) -> List[int]:
    """Every process in the pid namespace whose init is pid (seen from our side)."""
    try:
        target = os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return []
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/ns/pid") == target:
                    found.append(int(entry))
            except OSError:
                continue
    return sorted(found)


def top_rows(pids: List[int]) -> Dict[str, Any]:
    """docker top's default ps -ef columns."""
    rows = []
    clock = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            uid = os.stat(f"/proc/{pid}").st_uid
        except OSError:
            continue
        seconds = (int(fields[11]) + int(fields[12])) // clock
        rows.append([str(uid), str(pid), fields[1], "0", "-", "?",
                     f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}", cmd])
    return {"Titles": ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"], "Processes": rows}

"""Builds small layer tarballs for the images tests (any entry, any name)."""
from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from typing import Dict, Optional

MTIME = 1700000000


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class LayerTar:
    """An in-memory PAX tar; every method adds one entry and returns self."""

    def __init__(self) -> None:
        self.buf = io.BytesIO()
        self.tar = tarfile.open(fileobj=self.buf, mode="w", format=tarfile.PAX_FORMAT)

    def _add(self, name: str, type_: bytes, mode: int = 0o644, uid: int = 0, gid: int = 0,
             data: bytes = b"", linkname: str = "", pax: Optional[Dict[str, str]] = None) -> "LayerTar":
        info = tarfile.TarInfo(name)
        info.type, info.mode, info.uid, info.gid, info.mtime = type_, mode, uid, gid, MTIME
        info.linkname = linkname
        info.size = len(data)
        info.pax_headers = dict(pax or {})
        self.tar.addfile(info, io.BytesIO(data) if data else None)
        return self

    def dir(self, name: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> "LayerTar":
        return self._add(name, tarfile.DIRTYPE, mode, uid, gid)

    def file(self, name: str, data: bytes = b"", mode: int = 0o644, uid: int = 0, gid: int = 0,
             xattrs: Optional[Dict[str, str]] = None) -> "LayerTar":
        pax = {f"SCHILY.xattr.{k}": v for k, v in (xattrs or {}).items()}
        return self._add(name, tarfile.REGTYPE, mode, uid, gid, data=data, pax=pax)

    def symlink(self, name: str, target: str) -> "LayerTar":
        return self._add(name, tarfile.SYMTYPE, 0o777, linkname=target)

    def hardlink(self, name: str, target: str) -> "LayerTar":
        return self._add(name, tarfile.LNKTYPE, linkname=target)

    def fifo(self, name: str, mode: int = 0o644) -> "LayerTar":
        return self._add(name, tarfile.FIFOTYPE, mode)

    def bytes(self) -> bytes:
        self.tar.close()
        return self.buf.getvalue()

    def gzip(self) -> bytes:
        return gzip.compress(self.bytes(), compresslevel=1, mtime=0)

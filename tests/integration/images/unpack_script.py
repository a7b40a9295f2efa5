"""Run inside the engine's namespace (`rootless unshare python - < this`): unpack test layers.

Self-contained (the test user imports only the rootless package): builds the
layers, unpacks them with rootless.images, mounts the result with overlay and
prints a JSON report on stdout.
"""
from __future__ import annotations

import io
import json
import os
import stat
import sys
import tarfile
import tempfile

from rootless.config.paths import Paths
from rootless.errors import InvalidArgument
from rootless.images import layers, types
from rootless.images.store import ImageStore, LayerRecord
from rootless.util import linux


def tar(*entries: tuple) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as out:
        for kind, name, extra in entries:
            info = tarfile.TarInfo(name)
            info.mtime, info.mode = 1700000000, extra.get("mode", 0o644)
            info.uid, info.gid = extra.get("uid", 0), extra.get("gid", 0)
            data = extra.get("data", b"")
            info.type = {"dir": tarfile.DIRTYPE, "file": tarfile.REGTYPE, "sym": tarfile.SYMTYPE,
                         "link": tarfile.LNKTYPE, "fifo": tarfile.FIFOTYPE, "chr": tarfile.CHRTYPE}[kind]
            info.linkname = extra.get("target", "")
            info.devmajor, info.devminor = extra.get("dev", (0, 0))
            info.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in extra.get("xattrs", {}).items()}
            info.size = len(data)
            out.addfile(info, io.BytesIO(data) if data else None)
    return buf.getvalue()


BASE = tar(
    ("dir", "data", {}), ("file", "data/a", {"data": b"a"}), ("file", "data/b", {"data": b"b"}),
    ("dir", "opq", {}), ("file", "opq/x", {"data": b"x"}),
    ("dir", "home/app", {"uid": 1000, "gid": 1000, "mode": 0o700}),
    ("file", "home/app/f", {"uid": 1000, "gid": 1000, "data": b"mine", "xattrs": {"user.note": "hi"}}),
    ("file", "suid", {"mode": 0o4755, "uid": 0, "gid": 0, "data": b"#!"}),
    ("file", "unmapped", {"uid": 100000, "gid": 100000, "data": b"u"}),
    ("link", "data/b-link", {"target": "data/b"}), ("sym", "sh", {"target": "/bin/busybox"}),
    ("fifo", "fifo", {}), ("chr", "null", {"dev": (1, 3), "mode": 0o666}),
)
TOP = tar(("dir", "data", {}), ("file", "data/.wh.a", {}), ("dir", "opq", {}),
          ("file", "opq/.wh..wh..opq", {}), ("file", "opq/z", {"data": b"z"}))
EVIL = {
    "dotdot": tar(("file", "../escape", {"data": b"x"})),
    "absolute": tar(("file", "/abs", {"data": b"x"})),
    "symlink": tar(("sym", "link", {"target": "/tmp"}), ("file", "link/escape", {"data": b"x"})),
    "hardlink": tar(("link", "h", {"target": "../../../../etc/passwd"})),
}


def add_image(store: ImageStore, blobs: list) -> object:
    records = [LayerRecord(store.put_blob(b), types.MT_OCI_LAYER, len(b), store.put_blob(b)) for b in blobs]
    config = {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers",
                                                                  "diff_ids": [r.diff_id for r in records]}}
    config_digest = store.put_blob(json.dumps(config).encode())
    return store.add_image(store.put_blob(b"{}"), types.MT_OCI_MANIFEST, config_digest, records)


def describe(path: str) -> dict:
    info = os.lstat(path)
    out = {"uid": info.st_uid, "gid": info.st_gid, "mode": stat.S_IMODE(info.st_mode), "ino": info.st_ino,
           "whiteout": stat.S_ISCHR(info.st_mode) and info.st_rdev == 0,
           "fifo": stat.S_ISFIFO(info.st_mode), "symlink": stat.S_ISLNK(info.st_mode)}
    if not stat.S_ISLNK(info.st_mode):
        out["xattrs"] = {n: os.getxattr(path, n).decode() for n in os.listxattr(path) if n.startswith("user.")}
    return out


def merged_view(dirs: list, scratch: str) -> dict:
    merged = os.path.join(scratch, "merged")
    os.mkdir(merged)
    lowers = ":".join(reversed(dirs))  # overlay lists the top layer first
    linux.mount("overlay", merged, "overlay", 0, f"lowerdir={lowers},userxattr")
    try:
        return {d: sorted(os.listdir(os.path.join(merged, d))) for d in ("data", "opq")}
    finally:
        linux.umount(merged)


def main() -> None:
    scratch = tempfile.mkdtemp(dir=sys.argv[1])
    store = ImageStore(Paths(root=os.path.join(scratch, "store"), run=os.path.join(scratch, "run")))
    record = add_image(store, [BASE, TOP])
    dirs = layers.ensure_unpacked(store, record)
    base, top = dirs
    report = {"files": {name: describe(os.path.join(base, name)) for name in
                        ("home/app", "home/app/f", "suid", "unmapped", "data/b", "data/b-link", "fifo", "sh")},
              "null_exists": os.path.lexists(os.path.join(base, "null")),
              "top": {name: describe(os.path.join(top, name)) for name in ("data/a", "opq", "opq/z")},
              "opaque": os.getxattr(os.path.join(top, "opq"), "user.overlay.opaque").decode(),
              "merged": merged_view(dirs, scratch), "evil": {}}
    before = sorted(n for n in os.listdir(store.paths.layers) if not n.endswith(".lock"))
    for name, blob in EVIL.items():
        try:
            layers.ensure_unpacked(store, add_image(store, [blob]))
            report["evil"][name] = "accepted"
        except InvalidArgument as exc:
            report["evil"][name] = str(exc)
    after = sorted(n for n in os.listdir(store.paths.layers) if not n.endswith(".lock"))
    report["leftovers"] = sorted(set(after) - set(before))
    report["escaped"] = [p for p in ("/tmp/escape", "/abs", os.path.join(scratch, "escape"))
                         if os.path.lexists(p)]
    print(json.dumps(report))


main()

from __future__ import annotations

import io
import os
import tarfile

from rootless.runtime.storage import changes, whiteouts
from tests.unit.swap_race import swapping


def write(path, text: str) -> None:
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def make_upper(root) -> str:
    upper = root / "upper"
    write(upper / "etc" / "conf", "c")
    os.link(upper / "etc" / "conf", upper / "etc" / "conf-link")
    os.setxattr(str(upper / "etc" / "conf"), "user.note", b"hi")
    whiteouts.make_whiteout(str(upper / "gone"))
    write(upper / "kopq" / "new", "n")
    whiteouts.mark_opaque(str(upper / "kopq"))
    # fuse-overlayfs style opaque dir: xattr + marker entries
    write(upper / "fopq" / "f", "f")
    os.setxattr(str(upper / "fopq"), "user.fuseoverlayfs.opaque", b"y")
    write(upper / "fopq" / whiteouts.AUFS_OPAQUE, "")
    whiteouts.make_whiteout(str(upper / "fopq" / whiteouts.FUSE_OPAQUE_WHITEOUT))
    return str(upper)


def test_layer_tar_uses_oci_whiteouts(tmp_path) -> None:
    upper = make_upper(tmp_path)
    data = changes.layer_tar_bytes(upper)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert sorted(members) == sorted([
        "etc", "etc/conf", "etc/conf-link", ".wh.gone",
        "fopq", "fopq/.wh..wh..opq", "fopq/f",
        "kopq", "kopq/.wh..wh..opq", "kopq/new",
    ])
    assert members[".wh.gone"].isreg() and members[".wh.gone"].size == 0
    assert members["etc/conf-link"].islnk() or members["etc/conf"].islnk()
    assert members["etc/conf"].pax_headers.get("SCHILY.xattr.user.note") == "hi"
    assert not any(k.startswith("SCHILY.xattr.user.overlay") for k in members["kopq"].pax_headers)


def test_list_changes_against_lowers(tmp_path) -> None:
    lower = tmp_path / "lower"
    write(lower / "etc" / "conf", "old")
    write(lower / "gone", "g")
    upper = make_upper(tmp_path)
    found = {c["Path"]: c["Kind"] for c in changes.list_changes(upper, [str(lower)])}
    assert found["/etc"] == changes.KIND_CHANGED
    assert found["/etc/conf"] == changes.KIND_CHANGED
    assert found["/etc/conf-link"] == changes.KIND_ADDED
    assert found["/gone"] == changes.KIND_DELETED
    assert "/fopq/.wh..opq" not in found and "/fopq/.wh..wh..opq" not in found


def test_a_directory_swapped_for_a_symlink_is_never_entered(tmp_path) -> None:
    """The container renames while docker diff / commit read its upper dir (renameat2 RENAME_EXCHANGE)."""
        
    host = tmp_path / "host"
    write(host / "host-only-name", "HOST-SECRET")
    upper = tmp_path / "upper"
    write(upper / "d" / "f", "inside")
    write(upper / "g", "inside")
    os.symlink(str(host), upper / "dl")
    os.symlink(str(host / "host-only-name"), upper / "gl")
    pairs = [(bytes(upper / "d"), bytes(upper / "dl")), (bytes(upper / "g"), bytes(upper / "gl"))]
    with swapping(pairs):
        for _ in range(200):
            assert not any("host-only-name" in c["Path"] for c in changes.list_changes(str(upper), []))
            try:
                data = changes.layer_tar_bytes(str(upper))
            except OSError:
                continue  # "changed while being read" is fine; reading the host's file is not
            assert b"HOST-SECRET" not in data and b"host-only-name/" not in data

"""Issue 7 (items 1, 2, 4): a container's symlinks and races never reach the user's own files.

A hostile image (or a running container) aims symlinks at files in the user's
home; docker cp, rootless cp, a raw archive PUT, export and an image's
WorkingDir must act inside the container's rootfs only. The races run a
bounded number of times against a container that keeps renaming things.
"""
from __future__ import annotations

import io
import os
import pathlib
import shutil
import stat
import struct
import sysconfig
import tarfile
import tempfile
import time
import uuid
from typing import Any, Dict, Iterator, Tuple

import docker.errors
import pytest

from tests import imagebuild
from tests.integration.conftest import Engine

SECRET = f"TOPSECRET-{uuid.uuid4().hex}"
RACE_TRIES = 100


@pytest.fixture()
def victim(engine: Engine) -> Iterator[pathlib.Path]:
    """The user's own files a container aims at: bashrc, secret.txt, victimdir/ (owned by the user)."""
    path = pathlib.Path(tempfile.mkdtemp(prefix="cpsec-", dir=engine.user.home))
    (path / "bashrc").write_text("the user's bashrc\n")
    (path / "secret.txt").write_text(SECRET + "\n")
    (path / "victimdir").mkdir(mode=0o700)
    for entry in (path, path / "bashrc", path / "secret.txt", path / "victimdir"):
        os.chown(entry, engine.user.uid, engine.user.gid)
    os.chmod(path, 0o755)
    before = _snapshot(path)
    yield path
    assert _snapshot(path) == before, "the container reached the user's files"
    shutil.rmtree(path, ignore_errors=True)


def _snapshot(path: pathlib.Path) -> Dict[str, Tuple[int, int, int, str]]:
    """(mode, uid, gid, content or listing) of everything under path, to compare before and after."""
    found = {}
    for entry in sorted(path.rglob("*")):
        st = entry.lstat()
        body = ",".join(sorted(os.listdir(entry))) if entry.is_dir() else entry.read_text()
        found[str(entry)] = (st.st_mode, st.st_uid, st.st_gid, body)
    return found


@pytest.fixture()
def user_dir(engine: Engine) -> Iterator[pathlib.Path]:
    path = pathlib.Path(tempfile.mkdtemp(dir=engine.run_dir))
    os.chown(path, engine.user.uid, engine.user.gid)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _push_hostile(registry: Any, victim: pathlib.Path, name: str, extra: Dict[str, Any]) -> str:
    """busybox + /tmp/notes.txt -> victim/bashrc and /tmp/mydir -> victim/victimdir, pushed as name."""
    raw = io.BytesIO(imagebuild.busybox_rootfs())
    with tarfile.open(fileobj=raw, mode="a") as tar:
        for link, target in (("tmp/notes.txt", victim / "bashrc"), ("tmp/mydir", victim / "victimdir")):
            info = tarfile.TarInfo(link)
            info.type, info.linkname, info.mode = tarfile.SYMTYPE, str(target), 0o777
            tar.addfile(info)
    layer = imagebuild.Layer(raw.getvalue())
    registry.client.push_image(name, "latest", [layer], imagebuild.image_config([layer], extra=extra))
    return f"{registry.host}/{name}:latest"


def _local_files(engine: Engine, user_dir: pathlib.Path) -> Tuple[pathlib.Path, pathlib.Path]:
    notes, mydir = user_dir / "notes.txt", user_dir / "mydir"
    notes.write_text("from the host side\n")
    mydir.mkdir(mode=0o777)
    (mydir / "inner").write_text("inner\n")
    for entry in (notes, mydir, mydir / "inner"):
        os.chown(entry, engine.user.uid, engine.user.gid)
    os.chmod(mydir, 0o777)
    return notes, mydir


def _archive(engine: Engine, container: str, path: str) -> Dict[str, Tuple[str, bytes]]:
    stream, _ = engine.client().api.get_archive(container, path)
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        return {m.name: (m.linkname, tar.extractfile(m).read() if m.isfile() else b"")  # type: ignore[union-attr]
                for m in tar}


def test_cp_into_a_never_started_hostile_image(engine: Engine, registry: Any, victim: pathlib.Path,
                                               user_dir: pathlib.Path) -> None:
    image = _push_hostile(registry, victim, "cpsec-hostile", {})
    engine.docker("pull", "-q", image)
    notes, mydir = _local_files(engine, user_dir)
    for name in ("cpsec-created", "cpsec-created2"):
        engine.docker("create", "--name", name, image, "true")
    try:
        # naming the link itself: docker's CLI follows it once, to a path missing in the container
        engine.docker("cp", str(notes), "cpsec-created:/tmp/notes.txt", check=False)
        engine.docker("cp", str(notes), "cpsec-created:/tmp/")
        refused = engine.docker("cp", str(mydir), "cpsec-created:/tmp/", check=False)  # noOverwriteDirNonDir
        assert refused.returncode == 1 and "cannot overwrite non-directory '/tmp/mydir'" in refused.stderr
        engine.cli("cp", str(notes), "cpsec-created2:/tmp/notes.txt")  # our CLI PUTs into /tmp: the link goes
        refused = engine.cli("cp", str(mydir), "cpsec-created2:/tmp/", check=False)
        assert refused.returncode == 1 and "cannot overwrite non-directory '/tmp/mydir'" in refused.stderr
        for name in ("cpsec-created", "cpsec-created2"):
            assert _archive(engine, name, "/tmp")["tmp/notes.txt"] == ("", b"from the host side\n")
    finally:
        engine.docker("rm", "-f", "cpsec-created", "cpsec-created2")


def _tar(*entries: Tuple[str, str, str]) -> bytes:
    """(name, sym|file|dir, link target or data), owned by uid 1000 (a chown through a link would show)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, kind, value in entries:
            info = tarfile.TarInfo(name)
            info.uid = info.gid = 1000
            info.mode = 0o777
            info.type = {"sym": tarfile.SYMTYPE, "file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE}[kind]
            if kind == "sym":
                info.linkname = value
                tar.addfile(info)
            else:
                info.size = len(value.encode())
                tar.addfile(info, io.BytesIO(value.encode()))
    return out.getvalue()


def test_raw_archive_put_of_a_symlink_then_a_file_of_the_same_name(engine: Engine, busybox: str,
                                                                    victim: pathlib.Path) -> None:
    api = engine.client().api
    container = api.create_container(busybox, ["true"])["Id"]
    try:
        body = _tar(("evil", "sym", str(victim / "bashrc")), ("evil", "file", "written\n"),
                    ("d", "sym", str(victim / "victimdir")), ("d", "dir", ""), ("d/planted", "file", "x\n"),
                    ("e", "sym", str(victim / "victimdir")), ("e/planted", "file", "y\n"))
        assert api.put_archive(container, "/tmp", body)
        found = _archive(engine, container, "/tmp")
        assert found["tmp/evil"] == ("", b"written\n")
        assert found["tmp/d/planted"] == ("", b"x\n")
        # e/planted followed e inside the rootfs: the victim's path, as the container sees it
        assert _archive(engine, container, str(victim / "victimdir"))["victimdir/planted"] == ("", b"y\n")
    finally:
        api.remove_container(container, force=True)


def test_relative_working_dir_is_refused_before_touching_disk(engine: Engine, registry: Any, busybox: str,
                                                               victim: pathlib.Path) -> None:
    climb = "../" * 16 + str(victim / "victimdir" / "X").lstrip("/")
    image = _push_hostile(registry, victim, "cpsec-workdir", {"WorkingDir": climb})
    engine.docker("pull", "-q", image)
    before = engine.docker("ps", "-aq").stdout
    for args in ((image, "true"), ("-w", climb, busybox, "true"), ("-w", "../../x", busybox, "true")):
        result = engine.docker("run", "--rm", *args, check=False)
        assert result.returncode == 125, result.stderr
        workdir = climb if args[0] != "-w" else args[1]
        assert f"the working directory '{workdir}' is invalid, it needs to be an absolute path" in result.stderr
    result = engine.cli("run", "--rm", "-w", "../../x", busybox, "true", check=False)
    assert result.returncode == 125 and "it needs to be an absolute path" in result.stderr
    assert engine.docker("ps", "-aq").stdout == before  # refused at create: no record, no rootfs


def test_absolute_working_dir_through_a_hostile_symlink_stays_inside(engine: Engine, registry: Any,
                                                                       victim: pathlib.Path) -> None:
    image = _push_hostile(registry, victim, "cpsec-workdir-link", {"WorkingDir": "/tmp/mydir/X"})
    engine.docker("pull", "-q", image)
    out = engine.docker("run", "--rm", image, "pwd").stdout
    assert out in ("/tmp/mydir/X\n", f"{victim}/victimdir/X\n")  # made where the link leads, in the rootfs


# The racer swaps with renameat2(RENAME_EXCHANGE), so each name always exists and flips between a
# file or directory and a symlink to the user's files thousands of times a second. busybox has no
# renameat2, so it runs the host's own python (bound read-only into the container) through ctypes.
RACER = r"""
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
victim = sys.argv[1]
os.makedirs("/race/d/a")
with open("/race/d/a/planted", "w") as f:
    f.write("planted\n")
with open("/race/f", "w") as f:
    f.write("inside\n")
os.symlink(victim + "/secret.txt", "/race/fl")
os.symlink(victim, "/race/d/al")
open("/race/ready", "w").close()
pairs = [(b"/race/f", b"/race/fl"), (b"/race/d/a", b"/race/d/al")]
while True:
    for _ in range(20):
        for a, b in pairs:
            libc.renameat2(-100, a, -100, b, 2)
    time.sleep(0.0002)
"""


def _elf_interpreter(path: str) -> str:
    """PT_INTERP of a 64-bit little-endian ELF (x86_64, aarch64)."""
    with open(path, "rb") as f:
        data = f.read(1 << 16)
    phoff = struct.unpack_from("<Q", data, 0x20)[0]
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    for index in range(phnum):
        entry = phoff + index * phentsize
        if struct.unpack_from("<I", data, entry)[0] == 3:  # PT_INTERP
            offset, size = struct.unpack_from("<Q", data, entry + 8)[0], struct.unpack_from("<Q", data, entry + 32)[0]
            return data[offset:offset + size].rstrip(b"\0").decode()
    raise AssertionError(f"{path}: no PT_INTERP")


def _host_python_argv() -> Tuple[str, ...]:
    """The host's python, run from /host/usr inside a busybox container (merged-/usr hosts)."""
    python = os.path.realpath("/usr/bin/python3")
    loader = os.path.realpath(_elf_interpreter(python))
    multiarch = sysconfig.get_config_var("MULTIARCH") or ""
    if not (python.startswith("/usr/") and loader.startswith("/usr/") and multiarch):
        pytest.skip("the racer needs a merged-/usr host python")
    return ("/host" + loader, "--library-path", f"/host/usr/lib/{multiarch}", "/host" + python)


@pytest.fixture()
def racer(engine: Engine, busybox: str, victim: pathlib.Path) -> Iterator[str]:
    """A running container that keeps swapping a file and a directory with symlinks to the victim's."""
    engine.docker("run", "-d", "--name", "cpsec-racer", "-v", "/usr:/host/usr:ro", "-e", "PYTHONHOME=/host/usr",
                  busybox, *_host_python_argv(), "-c", RACER, str(victim))
    try:
        for _ in range(100):
            if engine.docker("exec", "cpsec-racer", "test", "-e", "/race/ready", check=False).returncode == 0:
                break
            time.sleep(0.1)
        else:
            raise AssertionError("the racer did not start: " + engine.docker("logs", "cpsec-racer").stderr)
        yield "cpsec-racer"
    finally:
        engine.docker("rm", "-f", "cpsec-racer")


def test_cp_out_and_export_during_a_swap_race_never_read_host_files(engine: Engine, racer: str) -> None:
    api = engine.client().api
    leaked, read = [], 0
    for attempt in range(RACE_TRIES):
        for path in ("/race/f", "/race/d", "/race"):
            try:
                stream, _ = api.get_archive(racer, path)
                data = b"".join(stream)
            except docker.errors.NotFound:  # renamed away at that instant: fine, a leak is not
                continue
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:  # a whole tar, not one cut by an error
                assert tar.getmembers(), path
            read += 1
            if SECRET.encode() in data:
                leaked.append((attempt, path))
    for _ in range(5):
        result = engine.docker("cp", f"{racer}:/race/f", "-", check=False)
        assert SECRET not in result.stdout
        assert SECRET.encode() not in b"".join(api.export(racer))
    assert leaked == []
    assert read > RACE_TRIES  # the loop did read, it did not only miss


def test_rootless_cp_out_during_a_swap_race_never_writes_into_the_home(engine: Engine, racer: str,
                                                                         user_dir: pathlib.Path) -> None:
    outcomes = []
    for attempt in range(RACE_TRIES // 4):
        result = engine.cli("cp", f"{racer}:/race/d", str(user_dir / f"out{attempt}"), check=False)
        outcomes.append(result.returncode)
        assert result.returncode == 0 or "Traceback" not in result.stderr, result.stderr
    assert 0 in outcomes
    # the victim fixture checks that victimdir got nothing planted and nothing changed

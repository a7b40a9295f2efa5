"""Builds test images from the static busybox and pushes them with plain HTTP.

Deliberately independent of the rootless package: the fixtures must not rely
on the code they test. Speaks the distribution API directly with requests.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import requests

BUSYBOX = "/usr/bin/busybox"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"

PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"
    "daemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
    "app:x:1000:1000:app:/home/app:/bin/sh\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
)
GROUP = "root:x:0:\ndaemon:x:1:\napp:x:1000:\nusers:x:100:app\nnogroup:x:65534:\n"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class TarBuilder:
    """A tiny in-memory tar writer for layer contents."""

    def __init__(self) -> None:
        self.buf = io.BytesIO()
        self.tar = tarfile.open(fileobj=self.buf, mode="w", format=tarfile.PAX_FORMAT)

    def _info(self, name: str, type_: bytes, mode: int, uid: int, gid: int) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type = type_
        info.mode = mode
        info.uid, info.gid = uid, gid
        info.mtime = 1700000000
        return info

    def dir(self, name: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> "TarBuilder":
        self.tar.addfile(self._info(name, tarfile.DIRTYPE, mode, uid, gid))
        return self

    def file(self, name: str, data: bytes, mode: int = 0o644, uid: int = 0, gid: int = 0) -> "TarBuilder":
        info = self._info(name, tarfile.REGTYPE, mode, uid, gid)
        info.size = len(data)
        self.tar.addfile(info, io.BytesIO(data))
        return self

    def symlink(self, name: str, target: str) -> "TarBuilder":
        info = self._info(name, tarfile.SYMTYPE, 0o777, 0, 0)
        info.linkname = target
        self.tar.addfile(info)
        return self

    def hardlink(self, name: str, target: str) -> "TarBuilder":
        info = self._info(name, tarfile.LNKTYPE, 0o644, 0, 0)
        info.linkname = target
        self.tar.addfile(info)
        return self

    def bytes(self) -> bytes:
        self.tar.close()
        return self.buf.getvalue()


def busybox_applets() -> List[str]:
    out = subprocess.run([BUSYBOX, "--list"], check=True, capture_output=True, text=True).stdout
    return [a for a in out.split() if a and a != "busybox"]


def busybox_rootfs() -> bytes:
    """A small but real rootfs: static busybox with its applets, passwd, group."""
    t = TarBuilder()
    for d in ("bin", "etc", "root", "home", "home/app", "proc", "sys", "dev", "var", "usr", "usr/bin"):
        t.dir(d, 0o700 if d == "root" else 0o755, *((1000, 1000) if d == "home/app" else (0, 0)))
    t.dir("tmp", 0o1777)
    with open(BUSYBOX, "rb") as f:
        t.file("bin/busybox", f.read(), 0o755)
    for applet in busybox_applets():
        t.symlink(f"bin/{applet}", "busybox")
    t.file("etc/passwd", PASSWD.encode())
    t.file("etc/group", GROUP.encode())
    return t.bytes()


@dataclass
class Layer:
    """An uncompressed tar and its gzip blob."""

    tar: bytes
    blob: bytes = b""
    diff_id: str = ""
    digest: str = ""

    def __post_init__(self) -> None:
        self.blob = gzip.compress(self.tar, compresslevel=1, mtime=0)
        self.diff_id = sha256(self.tar)
        self.digest = sha256(self.blob)


def image_config(layers: Sequence[Layer], arch: str = "amd64", cmd: Optional[List[str]] = None,
                 env: Optional[List[str]] = None, extra: Optional[Dict[str, object]] = None) -> bytes:
    config = {
        "architecture": arch, "os": "linux", "created": "2024-01-01T00:00:00Z",
        "config": {"Env": env or ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                   "Cmd": cmd or ["sh"], **(extra or {})},
        "rootfs": {"type": "layers", "diff_ids": [l.diff_id for l in layers]},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": f"layer {i}"} for i in range(len(layers))],
    }
    return json.dumps(config, sort_keys=True).encode()


@dataclass
class Registry:
    """A plain-HTTP distribution endpoint on loopback."""

    host: str
    auth: Optional[Tuple[str, str]] = None
    session: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        if self.auth:
            self.session.auth = self.auth

    def url(self, path: str) -> str:
        return f"http://{self.host}/v2/{path}"

    def push_blob(self, repo: str, data: bytes) -> str:
        digest = sha256(data)
        if self.session.head(self.url(f"{repo}/blobs/{digest}")).status_code == 200:
            return digest
        start = self.session.post(self.url(f"{repo}/blobs/uploads/"))
        start.raise_for_status()
        location = start.headers["Location"]
        if location.startswith("/"):
            location = f"http://{self.host}{location}"
        sep = "&" if "?" in location else "?"
        put = self.session.put(f"{location}{sep}digest={digest}", data=data,
                               headers={"Content-Type": "application/octet-stream"})
        put.raise_for_status()
        return digest

    def push_manifest(self, repo: str, ref: str, manifest: bytes, media_type: str) -> str:
        r = self.session.put(self.url(f"{repo}/manifests/{ref}"), data=manifest,
                             headers={"Content-Type": media_type})
        r.raise_for_status()
        return sha256(manifest)

    def push_image(self, repo: str, tag: str, layers: Sequence[Layer], config: bytes,
                   oci: bool = False) -> Tuple[str, int]:
        for layer in layers:
            self.push_blob(repo, layer.blob)
        self.push_blob(repo, config)
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST if oci else DOCKER_MANIFEST,
            "config": {"mediaType": OCI_CONFIG if oci else DOCKER_CONFIG,
                       "digest": sha256(config), "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER if oci else DOCKER_LAYER,
                        "digest": l.digest, "size": len(l.blob)} for l in layers],
        }
        if oci:
            del manifest["mediaType"]  # OCI manifests often omit it (HOST-NOTES)
        data = json.dumps(manifest).encode()
        digest = self.push_manifest(repo, tag, data, OCI_MANIFEST if oci else DOCKER_MANIFEST)
        return digest, len(data)

    def push_index(self, repo: str, tag: str, entries: Sequence[Tuple[str, int, str]]) -> str:
        index = {
            "schemaVersion": 2, "mediaType": OCI_INDEX,
            "manifests": [{"mediaType": OCI_MANIFEST, "digest": d, "size": s,
                           "platform": {"os": "linux", "architecture": arch}} for d, s, arch in entries],
        }
        return self.push_manifest(repo, tag, json.dumps(index).encode(), OCI_INDEX)


def wait_for_registry(host: str, timeout: float = 15.0, auth: Optional[Tuple[str, str]] = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            r = requests.get(f"http://{host}/v2/", auth=auth, timeout=1)
            if r.status_code in (200, 401):
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"registry on {host} did not come up")


@dataclass
class TestImages:
    """References of the images the session pushed."""

    __test__ = False

    busybox: str
    busybox_oci: str
    layered: str
    multiarch: str
    busybox_layer: Layer


def layered_layers(base: Layer) -> List[Layer]:
    """busybox + a layer with files + a layer that deletes one and makes a dir opaque."""
    second = (TarBuilder().dir("data").file("data/a", b"a\n").file("data/b", b"b\n")
              .dir("opq").file("opq/x", b"x\n").file("opq/y", b"y\n")
              .file("owned", b"app\n", uid=1000, gid=1000).file("suid", b"#!/bin/sh\n", mode=0o4755)
              .hardlink("data/a-link", "data/b").bytes())
    third = (TarBuilder().dir("data").file("data/.wh.a", b"").dir("opq").file("opq/.wh..wh..opq", b"")
             .file("opq/z", b"z\n").bytes())
    return [base, Layer(second), Layer(third)]


def build_and_push(registry: Registry) -> TestImages:
    base = Layer(busybox_rootfs())
    digest_bb, _ = registry.push_image("busybox", "latest", [base], image_config([base]))
    registry.push_image("busybox-oci", "latest", [base], image_config([base]), oci=True)
    layers = layered_layers(base)
    registry.push_image("layered", "latest", layers, image_config(layers, cmd=["ls", "/data"]))
    entries = []
    for arch in ("amd64", "arm64"):
        marker = Layer(TarBuilder().file("arch", f"{arch}\n".encode()).bytes())
        arch_layers = [base, marker]
        digest, size = registry.push_image("multiarch", f"only-{arch}", arch_layers,
                                           image_config(arch_layers, arch=arch, cmd=["cat", "/arch"]), oci=True)
        entries.append((digest, size, arch))
    registry.push_index("multiarch", "latest", entries)
    h = registry.host
    return TestImages(f"{h}/busybox:latest", f"{h}/busybox-oci:latest", f"{h}/layered:latest",
                      f"{h}/multiarch:latest", base)

"""Compile each seccomp profile once: reuse crun's BPF through run.oci.seccomp_bpf_data.

crun 1.8.1 compiles linux.seccomp with libseccomp on every `crun create`
(~11 ms of a ~17 ms create here; bench/README.md); its own cache in
ROOT/.cache/seccomp stays unused in Debian's build. crun also accepts the
filter ready-made, base64 in the run.oci.seccomp_bpf_data annotation (crun.1,
"Extensions to OCI"), and then skips compiling. So after a create we keep the
ROOT/ID/seccomp.bpf crun wrote, under a key over everything that shaped it
(the profile, the options annotation, crun's and libseccomp's versions, the
kernel, the machine), and later bundles with the same key get the annotation.
A key we can't compute (no libseccomp to ask) means no caching.
"""
from __future__ import annotations

import base64
import ctypes
import functools
import hashlib
import json
import logging
import os
from typing import Any, Dict, Optional

from rootless.runtime.crun import runtime_version
from rootless.util import fs

logger = logging.getLogger(__name__)

BPF_ANNOTATION = "run.oci.seccomp_bpf_data"
OPTION_ANNOTATIONS = ("run.oci.seccomp_fail_unknown_syscall",)
MAX_BPF_BYTES = 1 << 20


class _ScmpVersion(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint), ("minor", ctypes.c_uint), ("micro", ctypes.c_uint)]


@functools.lru_cache(maxsize=1)
def libseccomp_version() -> Optional[str]:
    """The libseccomp crun links (seccomp_version(3)), or None when it can't be loaded."""
    try:
        lib = ctypes.CDLL("libseccomp.so.2")
        lib.seccomp_version.restype = ctypes.POINTER(_ScmpVersion)
        version = lib.seccomp_version().contents
    except (OSError, AttributeError, ValueError):
        return None
    return f"{version.major}.{version.minor}.{version.micro}"


def cache_key(spec: Dict[str, Any], crun_version: str) -> Optional[str]:
    """sha256 over what determines the compiled filter; None: don't cache this spec."""
    profile = (spec.get("linux") or {}).get("seccomp")
    libseccomp = libseccomp_version()
    if not profile or not libseccomp or crun_version.startswith("unavailable"):
        return None
    annotations = spec.get("annotations") or {}
    uname = os.uname()
    material = {"profile": profile, "options": {k: annotations.get(k) for k in OPTION_ANNOTATIONS},
                "crun": crun_version, "libseccomp": libseccomp,
                "kernel": [uname.release, uname.version], "machine": uname.machine}
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


class SeccompCache:
    """Compiled filters in one private dir (config.Paths.seccomp_cache)."""

    def __init__(self, directory: str, crun_binary: str) -> None:
        self.directory = directory
        self.crun_binary = crun_binary

    def prepare_bundle(self, bundle: str) -> Optional[str]:
        """Give the bundle a cached filter if there is one; return its key to store() after create."""
        config_path = os.path.join(bundle, "config.json")
        spec: Optional[Dict[str, Any]] = fs.read_json(config_path)
        if spec is None or BPF_ANNOTATION in (spec.get("annotations") or {}):
            return None
        key = self.annotate(spec)
        if BPF_ANNOTATION in (spec.get("annotations") or {}):
            fs.atomic_write_json(config_path, spec, 0o600, durable=False)  # rewritten at every launch
        return key

    def annotate(self, spec: Dict[str, Any]) -> Optional[str]:
        """prepare_bundle on a spec not yet written: the bundle is then written once per launch.

        Adds the cached filter's annotation if there is one; returns the key to
        store() after create when there is none yet.
        """
        if BPF_ANNOTATION in (spec.get("annotations") or {}):
            return None
        key = cache_key(spec, runtime_version(self.crun_binary))  # one `crun --version` per process
        if key is None:
            return None
        bpf = self._load(key)
        if bpf is None:
            return key
        spec.setdefault("annotations", {})[BPF_ANNOTATION] = base64.b64encode(bpf).decode("ascii")
        return None

    def store(self, key: str, compiled: str) -> None:
        """Keep the filter crun compiled (ROOT/ID/seccomp.bpf) for the next bundle with this key."""
        try:
            with open(compiled, "rb") as f:
                bpf = f.read(MAX_BPF_BYTES + 1)
        except OSError as exc:
            logger.debug("no compiled seccomp filter to cache: %s", exc)
            return
        if not bpf or len(bpf) > MAX_BPF_BYTES or len(bpf) % 8:  # struct sock_filter is 8 bytes
            return
        fs.ensure_dir(self.directory, 0o700)
        fs.atomic_write(os.path.join(self.directory, key), bpf, 0o600)

    def _load(self, key: str) -> Optional[bytes]:
        try:
            with open(os.path.join(self.directory, key), "rb") as f:
                return f.read(MAX_BPF_BYTES)
        except OSError:
            return None

from __future__ import annotations

import base64
import json

import pytest

from rootless.runtime import seccomp_cache
from rootless.runtime.seccomp_cache import BPF_ANNOTATION, SeccompCache
from tests.unit.fsync_spy import spy_fsync

PROFILE = {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}


@pytest.fixture(autouse=True)
def versions(monkeypatch):
    monkeypatch.setattr(seccomp_cache, "libseccomp_version", lambda: "2.5.4")
    monkeypatch.setattr(seccomp_cache, "runtime_version", lambda binary: "crun version 1.8.1")


def bundle(tmp_path, spec):
    path = tmp_path / "bundle"
    path.mkdir(exist_ok=True)
    (path / "config.json").write_text(json.dumps(spec))
    return str(path)


def test_key_covers_profile_options_and_versions():
    spec = {"linux": {"seccomp": PROFILE}}
    key = seccomp_cache.cache_key(spec, "crun version 1.8.1")
    assert key and key == seccomp_cache.cache_key(json.loads(json.dumps(spec)), "crun version 1.8.1")
    assert key != seccomp_cache.cache_key(spec, "crun version 1.9")
    other = {"linux": {"seccomp": PROFILE}, "annotations": {"run.oci.seccomp_fail_unknown_syscall": "1"}}
    assert key != seccomp_cache.cache_key(other, "crun version 1.8.1")
    assert seccomp_cache.cache_key({"linux": {}}, "crun version 1.8.1") is None
    assert seccomp_cache.cache_key(spec, "unavailable (not found)") is None


def test_first_bundle_stores_then_next_gets_the_annotation(tmp_path, monkeypatch):
    synced = spy_fsync(monkeypatch)
    cache = SeccompCache(str(tmp_path / "cache"), "crun")
    first = bundle(tmp_path, {"linux": {"seccomp": PROFILE}})
    key = cache.prepare_bundle(first)
    assert key and "annotations" not in json.loads((tmp_path / "bundle" / "config.json").read_text())
    compiled = tmp_path / "seccomp.bpf"
    compiled.write_bytes(b"\x06\x00\x00\x00\x00\x00\xff\x7f")  # one sock_filter: RET ALLOW
    cache.store(key, str(compiled))
    second = bundle(tmp_path, {"linux": {"seccomp": PROFILE}})
    assert cache.prepare_bundle(second) is None
    spec = json.loads((tmp_path / "bundle" / "config.json").read_text())
    assert base64.b64decode(spec["annotations"][BPF_ANNOTATION]) == compiled.read_bytes()
    # the bundle is written again at every launch: its rewrite costs no fsync on the run path
    assert len(synced) == 2  # the one store() of the compiled filter: file and dir


def test_odd_sized_or_missing_filters_are_not_cached(tmp_path):
    cache = SeccompCache(str(tmp_path / "cache"), "crun")
    bad = tmp_path / "bad.bpf"
    bad.write_bytes(b"123")
    cache.store("k", str(bad))
    cache.store("k", str(tmp_path / "missing.bpf"))
    assert not (tmp_path / "cache" / "k").exists()


def test_annotate_gives_a_spec_not_yet_written_the_cached_filter(tmp_path):
    cache = SeccompCache(str(tmp_path / "cache"), "crun")
    spec = {"linux": {"seccomp": PROFILE}}
    key = cache.annotate(spec)
    assert key and "annotations" not in spec  # a miss: the key, to store() after create
    compiled = tmp_path / "seccomp.bpf"
    compiled.write_bytes(b"\x06\x00\x00\x00\x00\x00\xff\x7f")
    cache.store(key, str(compiled))
    again = {"linux": {"seccomp": PROFILE}}
    assert cache.annotate(again) is None
    assert base64.b64decode(again["annotations"][BPF_ANNOTATION]) == compiled.read_bytes()
    assert cache.annotate(again) is None and cache.annotate({"linux": {}}) is None

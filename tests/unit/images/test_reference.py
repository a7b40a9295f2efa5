from __future__ import annotations

import pytest

from rootless.errors import InvalidArgument
from rootless.images.reference import Reference, is_reference, parse_name, parse_reference

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    "text, host, repository, tag, digest",
    [
        ("busybox", "docker.io", "library/busybox", "latest", None),
        ("busybox:1.36", "docker.io", "library/busybox", "1.36", None),
        ("user/app", "docker.io", "user/app", "latest", None),
        ("docker.io/busybox", "docker.io", "library/busybox", "latest", None),
        ("index.docker.io/library/busybox", "docker.io", "library/busybox", "latest", None),
        ("127.0.0.1:5000/busybox:1", "127.0.0.1:5000", "busybox", "1", None),
        ("localhost/x", "localhost", "x", "latest", None),
        ("localhost:5000/a/b/c", "localhost:5000", "a/b/c", "latest", None),
        ("quay.io/org/app_x.y-z", "quay.io", "org/app_x.y-z", "latest", None),
        (f"repo@{DIGEST}", "docker.io", "library/repo", None, DIGEST),
        (f"repo:tag@{DIGEST}", "docker.io", "library/repo", "tag", DIGEST),
        (f"host:5000/repo@{DIGEST}", "host:5000", "repo", None, DIGEST),
        ("[::1]:5000/repo", "[::1]:5000", "repo", "latest", None),
    ],
)
def test_parse_reference(text: str, host: str, repository: str, tag: str, digest: str) -> None:
    assert parse_reference(text) == Reference(host, repository, tag, digest)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Busybox",
        "docker.io/library/BusyBox",
        "busybox:bad tag",
        "busybox:-bad",
        "busybox:" + "t" * 129,
        "busybox@sha256:abc",
        "busybox@md5:" + "a" * 32,
        "a" * 64,
        "bad_/name",
        "name/",
        " busybox",
        "busybox::1",
        "-host/x",
    ],
)
def test_parse_reference_rejects(text: str) -> None:
    with pytest.raises(InvalidArgument, match="^invalid reference format"):
        parse_reference(text)


def test_uppercase_first_component_is_a_registry() -> None:
    ref = parse_reference("MyHost/app")
    assert (ref.registry, ref.repository) == ("MyHost", "app")


def test_str_and_familiar() -> None:
    ref = parse_reference("busybox")
    assert str(ref) == "docker.io/library/busybox:latest"
    assert ref.familiar() == "busybox:latest"
    assert ref.name == "docker.io/library/busybox"
    assert ref.familiar_name == "busybox"
    local = parse_reference("127.0.0.1:5000/busybox")
    assert local.familiar() == "127.0.0.1:5000/busybox:latest"
    assert str(local) == "127.0.0.1:5000/busybox:latest"
    assert parse_reference("user/app:1").familiar() == "user/app:1"
    assert parse_reference("library/a/b").familiar_name == "library/a/b"
    both = parse_reference(f"repo:t@{DIGEST}")
    assert both.familiar() == f"repo:t@{DIGEST}"
    assert str(both) == f"docker.io/library/repo:t@{DIGEST}"


def test_round_trip_through_str() -> None:
    for text in ("busybox", "127.0.0.1:5000/a/b:2", f"x@{DIGEST}"):
        ref = parse_reference(text)
        assert parse_reference(str(ref)) == ref
        assert parse_reference(ref.familiar()) == ref


def test_with_tag_and_digest() -> None:
    ref = parse_reference(f"repo:t@{DIGEST}")
    assert ref.with_tag("v2") == Reference("docker.io", "library/repo", "v2", None)
    assert ref.with_digest(DIGEST) == Reference("docker.io", "library/repo", None, DIGEST)
    with pytest.raises(InvalidArgument):
        ref.with_tag("bad tag")
    with pytest.raises(InvalidArgument):
        ref.with_digest("sha256:12")


def test_reference_component_for_urls() -> None:
    assert parse_reference("busybox").reference == "latest"
    assert parse_reference(f"busybox:1@{DIGEST}").reference == DIGEST


def test_default_registry_and_no_default_tag() -> None:
    ref = parse_reference("app", default_registry="127.0.0.1:5000", default_tag=None)
    assert ref == Reference("127.0.0.1:5000", "app", None, None)
    assert str(ref) == "127.0.0.1:5000/app"


def test_parse_name() -> None:
    assert parse_name("busybox") == Reference("docker.io", "library/busybox", None, None)
    with pytest.raises(InvalidArgument):
        parse_name("busybox:1")


def test_is_reference() -> None:
    assert is_reference("busybox:1")
    assert not is_reference("a" * 64)

from __future__ import annotations

import io
import json
import os
import socket
from typing import Iterator, List, Optional

import pytest

from rootless.errors import InvalidArgument, NotFound, Unauthorized, Unavailable
from rootless.images.reference import parse_reference
from rootless.images.types import Descriptor
from rootless.registry.auth import Credentials
from rootless.registry.client import RegistryClient, is_loopback
from tests.fakes.registry import FakeRegistry, digest_of

LAYER = os.urandom(3 << 20)  # large enough to take the PATCH path and several chunks


@pytest.fixture
def fake() -> Iterator[FakeRegistry]:
    with FakeRegistry() as server:
        yield server


def make_client(creds: Optional[Credentials] = None, **kwargs: object) -> RegistryClient:
    return RegistryClient(credentials_provider=lambda registry: creds, backoff=0.0, **kwargs)  # type: ignore[arg-type]


def fetch(client: RegistryClient, ref_text: str, data: bytes) -> bytes:
    out = bytearray()
    progress: List[int] = []
    desc = Descriptor(media_type="x", digest=digest_of(data), size=len(data))
    client.fetch_blob(parse_reference(ref_text), desc, out.extend, progress.append)
    assert sum(progress) == len(out)
    return bytes(out)


def test_loopback_is_insecure_by_default() -> None:
    assert is_loopback("127.0.0.1:5000") and is_loopback("localhost") and is_loopback("[::1]:5000")
    assert not is_loopback("quay.io")
    client = RegistryClient(insecure_registries=["10.0.0.0/8", "myreg:5000"])
    assert client.is_insecure("10.1.2.3:5000") and client.is_insecure("myreg:5000")
    assert not client.is_insecure("docker.io")


def test_falls_back_to_http_for_insecure_registry(fake: FakeRegistry) -> None:
    client = make_client()
    assert client.base_url(fake.host) == fake.url
    client.ping(fake.host)


def test_get_manifest_by_tag_and_digest(fake: FakeRegistry) -> None:
    digest, data = fake.add_image("busybox", "1", [b"layer"])
    client = make_client()
    got = client.get_manifest(parse_reference(f"{fake.host}/busybox:1"))
    assert (got.data, got.media_type, got.digest) == (data, "application/vnd.oci.image.manifest.v1+json", digest)
    accept = fake.requests[-1].headers["Accept"]
    assert "application/vnd.oci.image.index.v1+json" in accept
    assert "application/vnd.docker.distribution.manifest.v2+json" in accept
    body, _, by_digest = client.get_manifest(parse_reference(f"{fake.host}/busybox@{digest}"))
    assert (body, by_digest) == (data, digest)


def test_manifest_unknown_is_not_found(fake: FakeRegistry) -> None:
    with pytest.raises(NotFound, match=r"^manifest unknown: 127\.0\.0\.1:\d+/nope:latest$"):
        make_client().get_manifest(parse_reference(f"{fake.host}/nope"))


def test_schema1_is_refused(fake: FakeRegistry) -> None:
    fake.schema1.add(("old", "latest"))
    with pytest.raises(InvalidArgument, match="unsupported manifest: schema1") as info:
        make_client().get_manifest(parse_reference(f"{fake.host}/old"))
    assert "re-push the image" in (info.value.hint or "")


def test_manifest_digest_mismatch(fake: FakeRegistry) -> None:
    fake.add_image("busybox", "1", [b"layer"])
    fake.wrong_manifest_digest = True
    with pytest.raises(InvalidArgument, match="digest mismatch"):
        make_client().get_manifest(parse_reference(f"{fake.host}/busybox:1"))


def test_fetch_blob_streams_into_writer(fake: FakeRegistry) -> None:
    fake.add_blob("busybox", LAYER)
    assert fetch(make_client(), f"{fake.host}/busybox", LAYER) == LAYER


def test_fetch_blob_corrupt_names_the_blob(fake: FakeRegistry) -> None:
    digest = fake.add_blob("busybox", LAYER)
    fake.corrupt.add(digest)
    with pytest.raises(Unavailable, match=f"fetch blob {digest}: .*digest mismatch"):
        fetch(make_client(), f"{fake.host}/busybox", LAYER)


def test_fetch_blob_resumes_after_a_drop(fake: FakeRegistry) -> None:
    digest = fake.add_blob("busybox", LAYER)
    fake.truncate[digest] = [1000, 1]
    assert fetch(make_client(), f"{fake.host}/busybox", LAYER) == LAYER
    assert fake.requests[-1].headers.get("Range") == "bytes=1000-"


def test_fetch_blob_resumes_when_server_ignores_range(fake: FakeRegistry) -> None:
    digest = fake.add_blob("busybox", LAYER)
    fake.truncate[digest] = [1000, 1]
    fake.honour_range = False
    assert fetch(make_client(), f"{fake.host}/busybox", LAYER) == LAYER


def test_fetch_blob_truncated_for_good(fake: FakeRegistry) -> None:
    digest = fake.add_blob("busybox", LAYER)
    fake.truncate[digest] = [1000, None]
    with pytest.raises(Unavailable, match=f"fetch blob {digest}: .*truncated") as caught:
        fetch(make_client(), f"{fake.host}/busybox", LAYER)
    # urllib3's reason, not the repr of its args tuple
    assert "connection broken: incompleteread(" in caught.value.message.lower()
    assert "('" not in caught.value.message


def test_fetch_blob_unknown(fake: FakeRegistry) -> None:
    with pytest.raises(NotFound, match="blob unknown"):
        fetch(make_client(), f"{fake.host}/busybox", b"nothing")


def test_redirect_does_not_leak_authorization() -> None:
    with FakeRegistry(auth="basic") as origin, FakeRegistry() as cdn:
        digest = origin.add_blob("busybox", LAYER)
        cdn.blobs[digest] = LAYER
        origin.redirect_blobs_to = cdn.url
        client = make_client(Credentials("alice", "secret"))
        assert fetch(client, f"{origin.host}/busybox", LAYER) == LAYER
        assert origin.requests[-1].headers.get("Authorization", "").startswith("Basic ")
        assert cdn.paths() == [f"/cdn/{digest}"]
        assert "Authorization" not in cdn.requests[0].headers


def test_connection_refused_is_unavailable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = make_client()
    with pytest.raises(Unavailable, match=fr"can.t reach 127.0.0.1:{port} \(connection refused\)"):
        client.get_manifest(parse_reference(f"127.0.0.1:{port}/busybox"))


def test_unauthorized_without_credentials() -> None:
    with FakeRegistry(auth="basic") as fake:
        fake.add_image("busybox", "1", [b"layer"])
        with pytest.raises(Unauthorized, match="unauthorized: authentication required"):
            make_client().get_manifest(parse_reference(f"{fake.host}/busybox:1"))


def test_basic_auth(fake: FakeRegistry) -> None:
    fake.auth = "basic"
    digest, _ = fake.add_image("busybox", "1", [b"layer"])
    client = make_client(Credentials("alice", "secret"))
    assert client.get_manifest(parse_reference(f"{fake.host}/busybox:1")).digest == digest
    # The second request sends the header up front instead of meeting a 401 again.
    client.get_manifest(parse_reference(f"{fake.host}/busybox:1"))
    assert [r.headers.get("Authorization") is not None for r in fake.requests[-3:]] == [False, True, True]


def test_bearer_auth_caches_tokens_per_scope(fake: FakeRegistry) -> None:
    fake.auth = "bearer"
    fake.add_image("busybox", "1", [b"layer"])
    client = make_client(Credentials("alice", "secret"))
    ref = parse_reference(f"{fake.host}/busybox:1")
    client.get_manifest(ref)
    client.get_manifest(ref)
    assert fake.token_requests == 1
    token_request = [r for r in fake.requests if r.path == "/token"][0]
    assert token_request.query["scope"] == ["repository:busybox:pull"]
    assert token_request.query["service"] == ["fake"]


def test_bearer_anonymous_pull(fake: FakeRegistry) -> None:
    fake.auth, fake.anonymous_pull = "bearer", True
    fake.add_image("busybox", "1", [b"layer"])
    make_client().get_manifest(parse_reference(f"{fake.host}/busybox:1"))
    assert "Authorization" not in [r for r in fake.requests if r.path == "/token"][0].headers


def test_bearer_expired_token_is_refetched(fake: FakeRegistry) -> None:
    fake.auth = "bearer"
    fake.add_image("busybox", "1", [b"layer"])
    client = make_client(Credentials("alice", "secret"))
    now = [1000.0]
    client.auth.clock = lambda: now[0]
    ref = parse_reference(f"{fake.host}/busybox:1")
    client.get_manifest(ref)
    now[0] += fake.token_lifetime  # past expires_in: the cached token is not offered again
    client.get_manifest(ref)
    assert fake.token_requests == 2


def test_bearer_with_identity_token(fake: FakeRegistry) -> None:
    fake.auth = "bearer"
    fake.add_image("busybox", "1", [b"layer"])
    client = make_client(Credentials(identity_token="refresh-alice"))
    client.get_manifest(parse_reference(f"{fake.host}/busybox:1"))
    assert [r.method for r in fake.requests if r.path == "/token"] == ["POST"]


def test_bearer_wrong_password(fake: FakeRegistry) -> None:
    fake.auth = "bearer"
    fake.add_image("busybox", "1", [b"layer"])
    with pytest.raises(Unauthorized, match="incorrect username or password"):
        make_client(Credentials("alice", "nope")).get_manifest(parse_reference(f"{fake.host}/busybox:1"))


def push_blob(client: RegistryClient, ref_text: str, data: bytes, mount_from: Optional[str] = None) -> bool:
    desc = Descriptor(media_type="x", digest=digest_of(data), size=len(data))
    sent: List[int] = []
    mounted = client.upload_blob(parse_reference(ref_text), desc, lambda: io.BytesIO(data),
                                 mount_from=mount_from, progress=sent.append)
    assert mounted or sum(sent) == len(data)
    return mounted


@pytest.mark.parametrize("data", [b"small blob", LAYER], ids=["monolithic", "chunked"])
def test_upload_blob_and_manifest(fake: FakeRegistry, data: bytes) -> None:
    fake.auth = "bearer"
    client = make_client(Credentials("alice", "secret"))
    ref = parse_reference(f"{fake.host}/app:v1")
    assert not client.blob_exists(ref, digest_of(data))
    assert push_blob(client, str(ref), data) is False
    assert fake.blobs[digest_of(data)] == data
    assert client.blob_exists(ref, digest_of(data))
    manifest = json.dumps({"schemaVersion": 2, "layers": []}).encode()
    digest = client.put_manifest(ref, manifest, "application/vnd.oci.image.manifest.v1+json")
    assert digest == digest_of(manifest)
    assert fake.manifests[("app", "v1")][0] == manifest
    methods = [r.method for r in fake.requests if "/uploads/" in r.path]
    # The first POST meets the 401 that earns the push token.
    assert methods == (["POST", "POST", "PUT"] if len(data) < 1 << 20 else ["POST", "POST", "PATCH", "PUT"])


def test_upload_blob_cross_repo_mount(fake: FakeRegistry) -> None:
    fake.auth = "bearer"
    fake.add_blob("library/base", b"shared layer")
    client = make_client(Credentials("alice", "secret"))
    assert push_blob(client, f"{fake.host}/app", b"shared layer", mount_from="library/base") is True
    post = [r for r in fake.requests if r.method == "POST" and "/uploads/" in r.path][-1]
    assert post.query["from"] == ["library/base"]
    scopes = [r.query["scope"] for r in fake.requests if r.path == "/token"]
    assert ["repository:app:pull,push", "repository:library/base:pull"] in scopes


def test_push_without_credentials_is_unauthorized(fake: FakeRegistry) -> None:
    fake.auth = "basic"
    with pytest.raises(Unauthorized):
        push_blob(make_client(), f"{fake.host}/app", b"data")


def test_mirror_is_tried_first_then_upstream() -> None:
    with FakeRegistry() as upstream, FakeRegistry() as mirror:
        digest, _ = upstream.add_image("busybox", "1", [b"layer"])
        client = make_client(mirrors={upstream.host: [mirror.url]})
        assert client.get_manifest(parse_reference(f"{upstream.host}/busybox:1")).digest == digest
        assert mirror.paths() == ["/v2/busybox/manifests/1"]
        mirror.add_image("busybox", "1", [b"layer"])
        client.get_manifest(parse_reference(f"{upstream.host}/busybox:1"))
        assert len(mirror.paths()) == 2 and len(upstream.paths()) == 1


def test_check_login_basic_and_bearer(fake: FakeRegistry) -> None:
    client = make_client()
    assert client.check_login(fake.host, "alice", "x") is None  # no auth: anything goes
    fake.auth = "basic"
    assert client.check_login(fake.host, "alice", "secret") is None
    with pytest.raises(Unauthorized, match="incorrect username or password"):
        client.check_login(fake.host, "alice", "wrong")
    fake.auth = "bearer"
    assert client.check_login(fake.host, "alice", "secret") == "refresh-alice"
    with pytest.raises(Unauthorized):
        client.check_login(fake.host, "bob", "secret")

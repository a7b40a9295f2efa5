"""The stall rule (rootless/registry/stall.py) on a fake clock, and a real client against
a fake registry that trickles or goes silent: the fetch gives up within bounded time."""
from __future__ import annotations

import os
import time
from typing import Iterator, List

import pytest

from rootless.config import load_settings
from rootless.errors import InvalidArgument, Unavailable
from rootless.images.reference import parse_reference
from rootless.images.types import Descriptor
from rootless.registry.client import RegistryClient
from rootless.registry.stall import StallRule
from tests.fakes.registry import FakeRegistry, digest_of


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_silence_for_a_window_is_a_stall() -> None:
    clock = Clock()
    rule = StallRule(60, "reg:5000", min_bytes=1000, clock=clock)
    clock.now += 59.9
    assert rule.stalled() is None
    clock.now += 0.1
    assert rule.stalled() == "no data from reg:5000 for 60 s"


def test_a_trickle_is_a_stall_too() -> None:
    clock = Clock()
    rule = StallRule(3, "reg:5000", min_bytes=1000, clock=clock)
    for _ in range(3):  # one byte a second never makes a window's worth
        clock.now += 1
        rule.feed(1)
    assert rule.stalled() == "too slow: 3 bytes from reg:5000 in 3 s (less than 1000)"


def test_progress_starts_a_new_window() -> None:
    clock = Clock()
    rule = StallRule(3, "reg", min_bytes=1000, clock=clock)
    for _ in range(10):  # 600 bytes a second: slow, but progress
        clock.now += 2
        rule.feed(600)
        assert rule.stalled() is None
    clock.now += 3
    assert rule.stalled() == "no data from reg for 3 s"


def test_the_readers_own_time_does_not_count() -> None:
    clock = Clock()
    rule = StallRule(3, "reg", min_bytes=1000, clock=clock)
    clock.now += 2
    rule.feed(10)
    clock.now += 5  # writing and unpacking what came: not the registry's delay
    rule.exclude(5)
    assert rule.stalled() is None
    clock.now += 1
    assert rule.stalled() == "too slow: 10 bytes from reg in 3 s (less than 1000)"


@pytest.fixture
def fake() -> Iterator[FakeRegistry]:
    with FakeRegistry() as server:
        yield server


def fetch_slowly(fake: FakeRegistry, data: bytes, first: int, interval: float, stall: float) -> float:
    """Fetch a blob the fake trickles; returns the seconds until the client gave up."""
    digest = fake.add_blob("slow", data)
    fake.slow[digest] = (first, interval)
    received: List[bytes] = []
    client = RegistryClient(stall_timeout=stall, backoff=0.0)
    started = time.monotonic()
    with pytest.raises(Unavailable) as caught:
        client.fetch_blob(parse_reference(f"{fake.host}/slow"), Descriptor("x", digest, len(data)), received.append)
    elapsed = time.monotonic() - started
    assert caught.value.message.startswith(f"can't pull {fake.host}/slow:latest: blob {digest}: ")
    assert "pull_stall_timeout" in (caught.value.hint or "")
    assert fake.blob_gets(digest) == 1  # a stall is not retried: the next try would stall as well
    return elapsed


def test_fetch_gives_up_on_a_one_byte_a_second_trickle(fake: FakeRegistry) -> None:
    data = os.urandom(200 << 10)
    elapsed = fetch_slowly(fake, data, 100 << 10, 0.2, stall=1.0)
    assert elapsed < 4  # the first 100 KiB were progress, then the window ran out


def test_fetch_gives_up_on_silence(fake: FakeRegistry) -> None:
    data = os.urandom(50 << 10)
    digest = digest_of(data)
    fake.held.add(digest)
    elapsed = fetch_slowly(fake, data, 1000, 0, stall=1.0)
    assert 0.9 < elapsed < 4


def test_silence_message_names_the_host(fake: FakeRegistry) -> None:
    data = os.urandom(5000)
    digest = fake.add_blob("slow", data)
    fake.slow[digest], fake.held = (10, 0), {digest}
    client = RegistryClient(stall_timeout=0.5)
    with pytest.raises(Unavailable) as caught:
        client.fetch_blob(parse_reference(f"{fake.host}/slow"), Descriptor("x", digest, len(data)), lambda b: None)
    assert caught.value.message == (f"can't pull {fake.host}/slow:latest: blob {digest}: "
                                    f"no data from {fake.host} for 0.5 s")


def test_held_blob_completes_once_released(fake: FakeRegistry) -> None:
    data = os.urandom(300 << 10)
    digest = fake.add_blob("slow", data)
    fake.slow[digest], fake.held = (10, 0), {digest}
    fake.release()
    out = bytearray()
    RegistryClient(stall_timeout=5).fetch_blob(parse_reference(f"{fake.host}/slow"),
                                               Descriptor("x", digest, len(data)), out.extend)
    assert bytes(out) == data


def test_manifest_trickle_gives_up(fake: FakeRegistry) -> None:
    digest, data = fake.add_image("slow", "1", [b"layer"])
    fake.slow[digest] = (10, 0.1)
    started = time.monotonic()
    with pytest.raises(Unavailable) as caught:
        RegistryClient(stall_timeout=1).get_manifest(parse_reference(f"{fake.host}/slow:1"))
    assert caught.value.message.startswith(f"get manifest: {fake.host}/slow:1: too slow: ")
    assert time.monotonic() - started < 4


def test_registry_that_never_answers(fake: FakeRegistry) -> None:
    digest, _ = fake.add_image("mute", "1", [b"layer"])
    fake.hold_headers.add(digest)
    client = RegistryClient(stall_timeout=1)
    client.base_url(fake.host)  # the scheme probe is not what is tested
    started = time.monotonic()
    with pytest.raises(Unavailable) as caught:
        client.get_manifest(parse_reference(f"{fake.host}/mute:1"))
    assert caught.value.message == f"registry {fake.host}: no answer from {fake.host} for 1 s"
    assert time.monotonic() - started < 3  # one try: a silent registry is not asked again and again
    assert fake.paths("GET").count("/v2/mute/manifests/1") == 1


def test_pull_stall_timeout_setting(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert load_settings({"HOME": str(tmp_path)}).pull_stall_timeout == 60.0
    config = tmp_path / "c.toml"
    config.write_text("pull_stall_timeout = 3\n")
    assert load_settings({"ROOTLESS_CONFIG": str(config)}).pull_stall_timeout == 3.0
    env = {"ROOTLESS_CONFIG": str(config), "ROOTLESS_PULL_STALL_TIMEOUT": "7.5"}
    assert load_settings(env).pull_stall_timeout == 7.5
    for bad in ("0", "-1", "soon", "inf"):
        with pytest.raises(InvalidArgument, match="^config: pull_stall_timeout: invalid value"):
            load_settings({"HOME": str(tmp_path), "ROOTLESS_PULL_STALL_TIMEOUT": bad})

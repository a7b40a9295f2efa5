"""What a container asks to mount, as create resolves it once (binds, --mount, VOLUME)."""
from __future__ import annotations

import pytest

from typing import Any, Dict, List

from rootless.engine import container_spec
from rootless.engine.container_model import Container
from rootless.engine.container_spec import MountRequest, parse_bind
from rootless.errors import InvalidArgument


def mount_requests(config: Dict[str, Any], host_config: Dict[str, Any]) -> List[MountRequest]:
    record = Container(None, {"Id": "c" * 64, "Config": config, "HostConfig": host_config})  # type: ignore[arg-type]
    return container_spec.mount_requests(record)


@pytest.mark.parametrize("spec, expected", [
    ("/h:/c", ("/h", "/c", [])),
    ("vol:/c:ro,z", ("vol", "/c", ["ro", "z"])),
    ("/data", ("", "/data", [])),          # docker-py containers.run(volumes=["/data"])
    ("/data:ro", ("", "/data", ["ro"])),   # dst:mode, as docker's linux parser reads it
])
def test_parse_bind_reads_docker_forms(spec: str, expected: tuple) -> None:  # type: ignore[type-arg]
    assert parse_bind(spec) == expected


@pytest.mark.parametrize("spec", ["data", "a:b:c:d", "/h:", "vol:ro"])
def test_parse_bind_refuses_malformed(spec: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid volume specification"):
        parse_bind(spec)


def test_requests_in_docker_order_and_image_volumes_not_doubled() -> None:
    config = {"Volumes": {"/named": {}, "/anon": {}, "/image": {}}}
    host_config = {"Binds": ["named:/named", "/host:/bind:ro"],
                   "Mounts": [{"Type": "volume", "Target": "/m"}, {"Type": "tmpfs", "Target": "/t"}]}
    requests = mount_requests(config, host_config)
    assert [(r.destination, r.source, r.read_only) for r in requests] == [
        ("/named", "named", False), ("/bind", "/host", True), ("/m", "", False),
        ("/anon", "", False), ("/image", "", False)]
    assert [r.destination for r in requests if r.is_anonymous] == ["/m", "/anon", "/image"]
    assert [r.destination for r in requests if r.is_volume] == ["/named", "/m", "/anon", "/image"]
    assert requests[1].options == ("rbind", "ro")


def test_bad_mode_is_refused_at_create() -> None:
    with pytest.raises(InvalidArgument, match="invalid mode: bogus"):
        mount_requests({}, {"Binds": ["/h:/c:bogus"]})



def test_one_destination_twice_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="^Duplicate mount point: /d$"):
        mount_requests({}, {"Binds": ["a:/d"], "Mounts": [{"Type": "volume", "Target": "/d"}]})

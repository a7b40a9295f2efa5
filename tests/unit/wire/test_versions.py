"""wire.versions: /vX.Y/ prefixes and docker's version comparison."""
from __future__ import annotations

import pytest

from rootless.errors import InvalidArgument
from rootless.wire import versions


def test_split_path() -> None:
    assert versions.split_path("/v1.44/containers/json") == ("1.44", "/containers/json")
    assert versions.split_path("/v1/x") == ("1", "/x")
    assert versions.split_path("/containers/json") == (None, "/containers/json")
    assert versions.split_path("/v1.44") == (None, "/v1.44")
    assert versions.split_path("/vx.1/info") == (None, "/vx.1/info")


def test_versioned_path_is_the_inverse() -> None:
    assert versions.versioned_path("1.44", "/info") == "/v1.44/info"
    assert versions.versioned_path(None, "/info") == "/info"
    assert versions.split_path(versions.versioned_path("1.41", "/a/b")) == ("1.41", "/a/b")


@pytest.mark.parametrize("a,b,result", [("1.44", "1.44", 0), ("1.4", "1.40", -1), ("1.9", "1.10", -1),
                                        ("1", "1.0", 0), ("2.0", "1.99", 1), ("1.44.1", "1.44", 1)])
def test_compare_is_numeric_per_part(a: str, b: str, result: int) -> None:
    assert versions.compare(a, b) == result
    assert versions.is_older(a, b) is (result < 0)
    assert versions.at_least(a, b) is (result >= 0)


@pytest.mark.parametrize("bad", ["", "1.x", "v1.44", "1..2"])
def test_version_tuple_refuses_junk(bad: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid API version"):
        versions.version_tuple(bad)

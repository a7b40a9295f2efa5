"""Container names: dockerd's pattern, matched whole (a trailing newline is not a name)."""
from __future__ import annotations

import pytest

from rootless.engine.names import random_name, validate_name
from rootless.errors import InvalidArgument


@pytest.mark.parametrize("name", ["web\n", "web\nother", "a", "/a", "-web", "we b", "web\t", "ünï", "", "/"])
def test_names_outside_dockers_pattern_are_refused(name: str) -> None:
    with pytest.raises(InvalidArgument, match=r"Invalid container name \(.*\), only \[a-zA-Z0-9\]"):
        validate_name(name)


def test_a_control_character_is_shown_escaped_not_raw() -> None:
    with pytest.raises(InvalidArgument) as caught:
        validate_name("web\n")
    assert "\n" not in caught.value.message and "'web\\n'" in caught.value.message


def test_names_are_bounded() -> None:
    assert validate_name("n" * 255) == "n" * 255
    assert validate_name("/" + "n" * 255) == "n" * 255
    with pytest.raises(InvalidArgument, match="at most 255 characters"):
        validate_name("n" * 256)


@pytest.mark.parametrize("name", ["web", "/web", "my_app.1-2", "0x"])
def test_docker_names_pass_without_their_slash(name: str) -> None:
    assert validate_name(name) == name.lstrip("/")


def test_random_names_are_valid_names() -> None:
    assert validate_name(random_name(lambda _: False))

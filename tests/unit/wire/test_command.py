"""wire.command: docker's entrypoint/cmd merge and its two env merges."""
from __future__ import annotations

import pytest

from rootless.errors import InvalidArgument
from rootless.wire.command import command_line, create_env, merge_command, merge_env, str_slice

IMG_EP, IMG_CMD = ["/entry"], ["serve", "--port=1"]


@pytest.mark.parametrize("entrypoint,cmd,expected", [
    (None, None, ["/entry", "serve", "--port=1"]),         # all from the image
    (None, ["run"], ["/entry", "run"]),                    # cmd replaces the image's cmd only
    (["/bin/sh"], None, ["/bin/sh"]),                      # an entrypoint drops the image's cmd
    (["/bin/sh", "-c"], ["echo"], ["/bin/sh", "-c", "echo"]),
    ([], None, ["serve", "--port=1"]),                     # API "Entrypoint": [] clears it, keeps image cmd
    ([], ["ls"], ["ls"]),
    ([""], ["ls"], ["ls"]),                                # docker run --entrypoint "" image ls
])
def test_command_line(entrypoint: list, cmd: list, expected: list) -> None:
    assert command_line(entrypoint, cmd, IMG_EP, IMG_CMD) == expected


def test_entrypoint_reset_to_empty_drops_image_cmd_too() -> None:
    # moby: [""] has length 1, so merge keeps neither image value; then it is reset to none.
    assert merge_command([""], None, IMG_EP, IMG_CMD) == (None, None)
    with pytest.raises(InvalidArgument, match="no command specified"):
        command_line([""], None, IMG_EP, IMG_CMD)


def test_no_command_anywhere_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="no command specified"):
        command_line(None, None, None, None)


def test_merge_command_stores_none_for_empty() -> None:
    assert merge_command(None, None, None, ["sh"]) == (None, ["sh"])
    assert merge_command(["/x"], [], None, ["sh"]) == (["/x"], None)


def test_create_env_keeps_request_first_and_bare_keys() -> None:
    image = ["PATH=/usr/bin", "A=image", "B=image"]
    assert create_env(image, ["A=req", "C=req"]) == ["A=req", "C=req", "PATH=/usr/bin", "B=image"]
    assert create_env(image, ["B"]) == ["B", "PATH=/usr/bin", "A=image"]
    assert create_env(image, []) == image


def test_merge_env_is_replace_or_append() -> None:
    # moby's TestReplaceAndAppendEnvVars
    assert merge_env(["HOME=/", "FOO=foo_default"], ["HOME=/root", "TERM=xterm", "FOO", "BAR"]) == \
        ["HOME=/root", "TERM=xterm"]


def test_merge_env_keeps_base_order_and_dedupes() -> None:
    assert merge_env(["A=1", "B=2"], ["A=3", "C=4", "C=5"]) == ["A=3", "B=2", "C=5"]
    assert merge_env(["A=1"], ["A", "A=2"]) == ["A=2"]
    assert merge_env(["BARE", "A=1"], []) == ["A=1"]


def test_the_two_merges_differ_on_a_bare_key() -> None:
    stored = create_env(["KEY=image"], ["KEY"])
    assert stored == ["KEY"]
    assert merge_env(["PATH=/bin"], stored) == ["PATH=/bin"]


def test_str_slice_is_dockers_strslice() -> None:
    assert str_slice(None, "Cmd") is None
    assert str_slice("echo hi", "Cmd") == ["echo hi"]
    assert str_slice(["a", "b"], "Cmd") == ["a", "b"]
    with pytest.raises(InvalidArgument, match="invalid Cmd"):
        str_slice([1], "Cmd")

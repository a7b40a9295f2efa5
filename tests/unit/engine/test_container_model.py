"""Container records: the log configuration docker's json-file driver accepts."""
from __future__ import annotations

import pytest

from rootless.api import types
from rootless.engine.container_model import checked_log_config, log_max_files, log_max_size, merge_config
from rootless.errors import InvalidArgument


def test_default_log_config_is_json_file_without_rotation() -> None:
    assert checked_log_config({}) == {"Type": "json-file", "Config": {}}
    assert checked_log_config({"Type": "", "Config": None}) == {"Type": "json-file", "Config": {}}
    assert log_max_size({}) == -1 and log_max_files({}) == 1


def test_rotation_options_are_kept_and_parsed() -> None:
    config = checked_log_config({"Type": "json-file", "Config": {"max-size": "1.5k", "max-file": "3"}})
    assert config["Config"] == {"max-size": "1.5k", "max-file": "3"}
    assert log_max_size(config["Config"]) == 1536
    assert log_max_size({"max-size": "2m"}) == 2 << 20 and log_max_size({"max-size": "100"}) == 100
    assert log_max_files(config["Config"]) == 3


@pytest.mark.parametrize("log_config, message", [
    ({"Type": "syslog"}, "log driver syslog: not supported"),
    ({"Config": {"max-size": "lots"}}, "max-size=lots: not a size"),
    ({"Config": {"max-file": "0"}}, "max-file=0: must be a number >= 1"),
    ({"Config": {"max-file": "x"}}, "max-file=x"),
    ({"Config": {"colour": "red"}}, "unknown log opt 'colour' for json-file log driver"),
])
def test_bad_log_config_is_refused_at_create(log_config, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidArgument, match=message):
        checked_log_config(log_config)


@pytest.mark.parametrize("request_dir, image_dir", [
    ("../../x", ""), ("", "../../../../home/user/victimdir/X"), ("rel", "/abs")])
def test_relative_working_dir_is_refused_with_dockers_words(request_dir: str, image_dir: str) -> None:
    bad = request_dir or image_dir
    with pytest.raises(InvalidArgument) as caught:
        merge_config({"WorkingDir": image_dir}, types.ContainerConfig(WorkingDir=request_dir), "0" * 64)
    assert caught.value.message == f"the working directory '{bad}' is invalid, it needs to be an absolute path"


def test_absolute_working_dir_is_kept() -> None:
    assert merge_config({"WorkingDir": "/app"}, types.ContainerConfig(), "0" * 64)["WorkingDir"] == "/app"
    assert merge_config({}, types.ContainerConfig(WorkingDir="/w"), "0" * 64)["WorkingDir"] == "/w"

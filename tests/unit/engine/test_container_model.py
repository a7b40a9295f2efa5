"""Container records: the log configuration docker's json-file driver accepts."""
from __future__ import annotations

import pytest

from rootless.engine.container_model import checked_log_config, log_max_files, log_max_size
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

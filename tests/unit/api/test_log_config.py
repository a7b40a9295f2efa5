"""HostConfig.LogConfig at the API edge: moby's logger.ValidateLogOpts words, and rootless's own refusals."""
from __future__ import annotations

from typing import Any, Dict, Optional

import pytest

from rootless.api import types
from rootless.api.decode import decode_body
from rootless.errors import InvalidArgument


def create(log_type: str, config: Optional[Dict[str, Any]] = None) -> types.ContainerCreate:
    return decode_body(types.ContainerCreate,
                       {"Image": "busybox", "HostConfig": {"LogConfig": {"Type": log_type, "Config": config}}})


@pytest.mark.parametrize("log_type, config", [
    ("", None), ("", {}), ("json-file", {}), ("json-file", {"max-size": "1k", "max-file": "3"}),
    ("json-file", {"mode": "blocking"}), ("", {"mode": ""}),
    # issue 11: none, local and journald, with the options rootless applies
    ("none", None), ("local", {"max-size": "1m", "max-file": "2", "compress": "false"}),
    ("json-file", {"compress": "true"}), ("journald", {"tag": "{{.Name}}", "cache-disabled": "true"}),
])
def test_json_file_with_rotation_options_is_accepted(log_type: str, config: Optional[Dict[str, Any]]) -> None:
    assert create(log_type, config).HostConfig is not None


@pytest.mark.parametrize("log_type, config, message", [
    # dockerd's own words (daemon/logger/factory.go, jsonfilelog.ValidateLogOpt)
    ("foo", None, "logger: no log driver named 'foo' is registered"),
    ("foo", {"mode": "fast"}, "logger: logging mode not supported: fast"),
    ("json-file", {"max-buffer-size": "4m"},
     "logger: max-buffer-size option is only supported with 'mode=non-blocking'"),
    ("json-file", {"x": "1"}, "unknown log opt 'x' for json-file log driver"),
    ("", {"cache-foo": "1"}, "unknown log opt 'cache-foo' for json-file log driver"),
    # drivers and options dockerd has but rootless does not apply
    ("syslog", {"syslog-address": "udp://x:514"}, "logger: log driver 'syslog' is not supported by rootless"),
    ("local", {"labels": "a"}, "unknown log opt 'labels' for local log driver"),
    ("none", {"max-size": "1m"}, "logger: log opt 'max-size' of the none log driver is not supported"),
    ("journald", {"labels": "a"}, "logger: log opt 'labels' of the journald log driver is not supported"),
    ("json-file", {"mode": "non-blocking"}, "logger: log opt 'mode' of the json-file log driver is not supported"),
    ("json-file", {"tag": "{{.Name}}"}, "logger: log opt 'tag' of the json-file log driver is not supported"),
])
def test_other_log_configs_are_refused(log_type: str, config: Optional[Dict[str, Any]], message: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        create(log_type, config)
    assert caught.value.message.startswith(message)

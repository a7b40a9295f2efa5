"""hooks.d loading and matching (runtime/hooks.py)."""
from __future__ import annotations

import json
import logging
from typing import Any, Dict

import pytest

from rootless.errors import InvalidArgument
from rootless.runtime.hooks import When, hooks_for, load_definitions, matches, parse_definition


def definition(**overrides: Any) -> Dict[str, Any]:
    base: Dict[str, Any] = {"version": "1.0.0", "hook": {"path": "/bin/h"}, "when": {"always": True},
                            "stages": ["prestart"]}
    base.update(overrides)
    return base


def write(directory: Any, name: str, body: Dict[str, Any]) -> None:
    directory.mkdir(exist_ok=True)
    (directory / name).write_text(json.dumps(body))


def test_earlier_dir_masks_same_name_and_order_is_by_file_name(tmp_path: Any) -> None:
    user, system = tmp_path / "user", tmp_path / "system"
    write(user, "10-b.json", definition(hook={"path": "/user/b"}))
    write(system, "10-b.json", definition(hook={"path": "/system/b"}))
    write(system, "01-a.json", definition(hook={"path": "/system/a"}))
    (system / "README").write_text("not a hook")
    found = load_definitions([str(user), str(system), str(tmp_path / "missing")])
    assert [d.hook["path"] for d in found] == ["/system/a", "/user/b"]


def test_full_entry_is_kept(tmp_path: Any) -> None:
    hook = {"path": "/bin/h", "args": ["h", "1"], "env": ["A=1"], "timeout": 3}
    parsed = parse_definition("x.json", json.dumps(definition(hook=hook, stages=["createRuntime", "poststop"])))
    assert parsed is not None
    assert parsed.hook == hook and parsed.stages == ("createRuntime", "poststop")


@pytest.mark.parametrize("body, reason", [
    (definition(hook={"path": "rel"}), "hook.path must be absolute"),
    (definition(hook={}), "hook.path is required"),
    (definition(hook={"path": "/h", "timeout": 0}), "timeout must be a positive integer"),
    (definition(hook={"path": "/h", "args": "x"}), "hook.args must be a list of strings"),
    (definition(when={}), "when needs at least one condition"),
    (definition(stages=["later"]), "unknown stage 'later'"),
    (definition(stages=[]), "stages must be a non-empty list"),
    (definition(when={"commands": ["("]}), "bad regular expression"),
])
def test_invalid_definitions(body: Dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidArgument, match=reason) as caught:
        parse_definition("/d/x.json", json.dumps(body))
    assert caught.value.message.startswith("invalid hook definition: /d/x.json: ")


def test_bad_json_and_other_versions(caplog: Any) -> None:
    with pytest.raises(InvalidArgument, match="invalid hook definition"):
        parse_definition("x.json", "{")
    with caplog.at_level(logging.WARNING):
        assert parse_definition("old.json", json.dumps({"hook": "/bin/x", "stages": ["prestart"]})) is None
    assert "unsupported version" in caplog.text


@pytest.mark.parametrize("when, args, annotations, binds, expected", [
    (When(always=True), ["sh"], {}, False, True),
    (When(always=False), ["sh"], {}, False, False),
    (When(commands=(".*/init$", "^sh$")), ["sh"], {}, False, True),
    (When(commands=(".*/init$",)), ["sh"], {}, False, False),
    (When(annotations={"^io\\.x$": "^on$"}), [], {"io.x": "on"}, False, True),
    (When(annotations={"^io\\.x$": "^on$"}), [], {"io.x": "off", "io.y": "on"}, False, False),
    (When(annotations={"a": ".", "b": "."}), [], {"a": "1"}, False, False),  # every pair must match
    (When(has_bind_mounts=True), [], {}, True, True),
    (When(has_bind_mounts=True), [], {}, False, False),
    (When(has_bind_mounts=False), [], {}, False, False),
    (When(always=True, commands=("^x$",)), ["sh"], {}, False, False),  # conditions combine with AND
])
def test_matches(when: When, args: Any, annotations: Dict[str, str], binds: bool, expected: bool) -> None:
    assert matches(when, args, annotations, binds) is expected


def test_hooks_for_groups_by_stage_in_order(tmp_path: Any) -> None:
    write(tmp_path, "01.json", definition(hook={"path": "/a"}, stages=["prestart", "poststop"]))
    write(tmp_path, "02.json", definition(hook={"path": "/b"}, when={"commands": ["^nomatch$"]}))
    write(tmp_path, "03.json", definition(hook={"path": "/c"}, stages=["prestart"]))
    found = hooks_for(load_definitions([str(tmp_path)]), ["sh"], {}, False)
    assert found == {"prestart": [{"path": "/a"}, {"path": "/c"}], "poststop": [{"path": "/a"}]}


def test_sample_hook_definition_is_valid() -> None:
    import os
    sample = os.path.join(os.path.dirname(__file__), "..", "..", "..", "hooks", "record-state.json")
    with open(sample) as f:
        parsed = parse_definition(sample, f.read())
    assert parsed is not None
    assert matches(parsed.when, ["sh"], {"io.rootless.hooks.record-state": "true"}, False)
    assert not matches(parsed.when, ["sh"], {}, False)

"""OCI hooks from hooks.d directories, as podman and CRI-O read them.

Each `*.json` file holds one 1.0.0 hook definition: the OCI hook entry to
inject, `when` conditions and the `stages` to inject it in. The format is
documented in podman's pkg/hooks/docs/oci-hooks.5.md; the hook entry and stages
are the runtime spec's: https://github.com/opencontainers/runtime-spec/blob/v1.0.2/config.md#posix-platform-hooks
(createRuntime/createContainer/startContainer are from runtime-spec 1.0.2+; crun runs them).
"""
from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from rootless.errors import InvalidArgument

logger = logging.getLogger(__name__)

STAGES = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")
SCHEMA_VERSION = "1.0.0"


@dataclass(frozen=True)
class When:
    """Conditions a container must meet; every condition that is set must hold."""

    always: Optional[bool] = None
    annotations: Dict[str, str] = field(default_factory=dict)
    commands: Tuple[str, ...] = ()
    has_bind_mounts: Optional[bool] = None

    def is_empty(self) -> bool:
        return (self.always is None and not self.annotations and not self.commands
                and self.has_bind_mounts is None)


@dataclass(frozen=True)
class HookDefinition:
    """One hooks.d file: the OCI hook entry, when to inject it and where."""

    name: str
    hook: Dict[str, Any]
    when: When
    stages: Tuple[str, ...]


def _fail(path: str, reason: str) -> InvalidArgument:
    return InvalidArgument(f"invalid hook definition: {path}: {reason}",
                           hint="see hooks/README.md for the 1.0.0 format")


def _parse_hook_entry(path: str, raw: Any) -> Dict[str, Any]:
    if not isinstance(raw, dict) or not isinstance(raw.get("path"), str):
        raise _fail(path, "hook.path is required")
    if not os.path.isabs(raw["path"]):
        raise _fail(path, f"hook.path must be absolute: {raw['path']}")
    entry: Dict[str, Any] = {"path": raw["path"]}
    for key in ("args", "env"):
        if key in raw:
            if not isinstance(raw[key], list) or not all(isinstance(a, str) for a in raw[key]):
                raise _fail(path, f"hook.{key} must be a list of strings")
            entry[key] = list(raw[key])
    if "timeout" in raw:
        if not isinstance(raw["timeout"], int) or raw["timeout"] <= 0:
            raise _fail(path, "hook.timeout must be a positive integer")
        entry["timeout"] = raw["timeout"]
    return entry


def _compile_all(path: str, patterns: Sequence[str]) -> None:
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise _fail(path, f"bad regular expression {pattern!r}: {exc}") from None


def _parse_when(path: str, raw: Any) -> When:
    if not isinstance(raw, dict):
        raise _fail(path, "when is required")
    annotations = raw.get("annotations") or {}
    commands = raw.get("commands") or []
    if not isinstance(annotations, dict) or not isinstance(commands, list):
        raise _fail(path, "when.annotations must be an object and when.commands a list")
    _compile_all(path, list(annotations) + list(annotations.values()) + commands)
    when = When(always=raw.get("always"), annotations=dict(annotations), commands=tuple(commands),
                has_bind_mounts=raw.get("hasBindMounts"))
    if when.is_empty():
        raise _fail(path, "when needs at least one condition")
    return when


def parse_definition(path: str, text: str) -> Optional[HookDefinition]:
    """A hook definition, or None for another schema version (logged, skipped)."""
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise _fail(path, str(exc)) from None
    if not isinstance(raw, dict):
        raise _fail(path, "not a JSON object")
    if raw.get("version") != SCHEMA_VERSION:
        logger.warning("skipping hook %s: unsupported version %r (want %s)", path, raw.get("version"), SCHEMA_VERSION)
        return None
    stages = raw.get("stages")
    if not isinstance(stages, list) or not stages:
        raise _fail(path, "stages must be a non-empty list")
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise _fail(path, f"unknown stage {unknown[0]!r} (known: {', '.join(STAGES)})")
    return HookDefinition(name=os.path.basename(path), hook=_parse_hook_entry(path, raw.get("hook")),
                          when=_parse_when(path, raw.get("when")), stages=tuple(stages))


def _definition_files(dirs: Sequence[str]) -> List[str]:
    """JSON files by name; a file in an earlier dir masks one of the same name in a later dir."""
    chosen: Dict[str, str] = {}
    for directory in dirs:
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        for name in names:
            if name.endswith(".json") and name not in chosen:
                chosen[name] = os.path.join(directory, name)
    return [chosen[name] for name in sorted(chosen)]


def load_definitions(dirs: Sequence[str]) -> List[HookDefinition]:
    """Every hook definition in dirs (highest precedence first), in file-name order."""
    definitions = []
    for path in _definition_files(dirs):
        with open(path, encoding="utf-8") as f:
            definition = parse_definition(path, f.read())
        if definition is not None:
            definitions.append(definition)
    return definitions


def _annotations_match(patterns: Mapping[str, str], annotations: Mapping[str, str]) -> bool:
    return all(
        any(re.search(key_re, key) and re.search(value_re, value) for key, value in annotations.items())
        for key_re, value_re in patterns.items()
    )


def matches(when: When, args: Sequence[str], annotations: Mapping[str, str], has_bind_mounts: bool) -> bool:
    """Podman's When.Match: each condition that is set must hold, and one must be set."""
    if when.always is False or (when.has_bind_mounts and not has_bind_mounts):
        return False
    if not _annotations_match(when.annotations, annotations):
        return False
    if when.commands:
        command = args[0] if args else ""
        if not any(re.search(pattern, command) for pattern in when.commands):
            return False
    return not when.is_empty() and when.has_bind_mounts is not False


def hooks_for(
    definitions: Sequence[HookDefinition],
    args: Sequence[str],
    annotations: Mapping[str, str],
    has_bind_mounts: bool,
) -> Dict[str, List[Dict[str, Any]]]:
    """The config.json `hooks` object: matching hook entries per stage, in definition order."""
    stages: Dict[str, List[Dict[str, Any]]] = {}
    for definition in definitions:
        if matches(definition.when, args, annotations, has_bind_mounts):
            for stage in definition.stages:
                stages.setdefault(stage, []).append(dict(definition.hook))
    return stages

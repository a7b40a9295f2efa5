"""Docker's rules for a container's command line and environment (pure functions).

Command: moby merges the request's Entrypoint/Cmd with the image's
(daemon/commit.go `merge`, then daemon/create.go): when the request has no
entrypoint (None or []), an empty Cmd takes the image's Cmd, and only a None
entrypoint takes the image's Entrypoint; a non-empty entrypoint drops the
image's Cmd. Afterwards an entrypoint of [""] (what `docker run
--entrypoint ""` sends) is reset to none, and nothing left is "no command
specified". So `--entrypoint ""` clears the image's entrypoint *and* its Cmd,
while an API client's `"Entrypoint": []` clears only the entrypoint.

Environment, two different merges:
- create_env (at create, moby `merge`): the request's Env first, then each
  image entry whose key the request does not name. A bare "KEY" in the
  request is kept as it is (it names KEY, so the image's KEY=... is dropped);
  the record stores what the user asked for.
- merge_env (building a process's env: the spec at start and exec; moby
  ReplaceOrAppendEnvValues): overrides replace a base entry with the same key
  in place or are appended; a bare "KEY" unsets KEY and is never passed on.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

from rootless.errors import InvalidArgument

Argv = Optional[Sequence[str]]


def env_key(entry: str) -> str:
    """"KEY" of "KEY=VALUE" (and of a bare "KEY")."""
    return entry.partition("=")[0]


def merge_command(entrypoint: Argv, cmd: Argv, image_entrypoint: Argv,
                  image_cmd: Argv) -> Tuple[Optional[List[str]], Optional[List[str]]]:
    """The (Entrypoint, Cmd) docker stores for a container; None for an empty one."""
    chosen_entrypoint = None if entrypoint is None else list(entrypoint)
    chosen_cmd = list(cmd or [])
    if not chosen_entrypoint:
        if not chosen_cmd:
            chosen_cmd = list(image_cmd or [])
        if chosen_entrypoint is None:
            chosen_entrypoint = list(image_entrypoint or [])
    if chosen_entrypoint == [""]:
        chosen_entrypoint = []
    return chosen_entrypoint or None, chosen_cmd or None


def command_line(entrypoint: Argv, cmd: Argv, image_entrypoint: Argv, image_cmd: Argv) -> List[str]:
    """The argv a container runs: merged entrypoint + cmd. Raises InvalidArgument when empty."""
    chosen_entrypoint, chosen_cmd = merge_command(entrypoint, cmd, image_entrypoint, image_cmd)
    argv = list(chosen_entrypoint or []) + list(chosen_cmd or [])
    if not argv:
        raise InvalidArgument("no command specified", hint="give a command or set an entrypoint")
    return argv


def create_env(image_env: Sequence[str], request_env: Sequence[str]) -> List[str]:
    """Config.Env at create: the request's entries, then the image's whose key the request lacks."""
    if not request_env:
        return list(image_env or [])
    named = {env_key(e) for e in request_env}
    return list(request_env) + [e for e in image_env or [] if env_key(e) not in named]


def merge_env(base: Sequence[str], overrides: Sequence[str]) -> List[str]:
    """A process's env: overrides replace by key in place or append; a bare KEY unsets KEY."""
    merged: Dict[str, Optional[str]] = {}
    for entry in base:
        if "=" in entry:
            merged[env_key(entry)] = entry
    for entry in overrides:
        if "=" in entry:
            merged[env_key(entry)] = entry
        elif entry in merged:
            merged[entry] = None  # unset; its slot is dropped below
    return [e for e in merged.values() if e is not None]


def str_slice(value: object, field: str) -> Optional[List[str]]:
    """Docker's StrSlice JSON: null, a string (one element, not split) or a list of strings."""
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise InvalidArgument(f"invalid {field}: want a string or a list of strings, got {type(value).__name__}")

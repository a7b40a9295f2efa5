"""docker's context store, shared with the docker CLI (issue 14).

Layout (docker/cli cli/context/store): a context NAME lives in
~/.docker/contexts/meta/<sha256(NAME)>/meta.json, its TLS files in
~/.docker/contexts/tls/<sha256(NAME)>/docker/{ca,cert,key}.pem, and the
current one is "currentContext" in ~/.docker/config.json. "default" is not
stored: it is DOCKER_HOST or the local daemon.
"""
from __future__ import annotations

import os

TYPE_CHECKING = False  # True for mypy; importing typing costs ~3 ms (cli/fast.py)
if TYPE_CHECKING:
    from typing import Any, Dict, List, Mapping, Optional

    from rootless.errors import FailedPrecondition

from rootless.config.paths import docker_config_dir
from rootless.util.jsonlite import loads
from rootless.util.record import Record

# hashlib, shutil, util.fs (ctypes, tempfile) and rootless.errors are imported by the functions
# that use them: every CLI command without DOCKER_HOST reads currentContext through this module,
# and only commands that use a named context, or a broken config.json, need more
# (bench/README.md "CLI start-up" and "CLI fast path").

DEFAULT = "default"
ENDPOINT = "docker"
TLS_NAMES = {"ca": "ca.pem", "cert": "cert.pem", "key": "key.pem"}
# docker/cli cli/context/store/store.go restrictedNamePattern; compiled on first use (re caches it)
# by the commands that name a context, not by every command that reads currentContext: `re`
# itself costs ~4.5 ms, and bin/rootless no longer imports it (bench/README.md "CLI start-up, session 9").
_NAME_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$"


class Context(Record):
    """One stored context's docker endpoint and where its files are."""

    name: str
    host: str
    skip_tls_verify: bool
    description: str
    tls_dir: Optional[str]  # set when the context has TLS files
    raw: Dict[str, Any]

    def __init__(self, name: str, host: str, skip_tls_verify: bool = False, description: str = "",
                 tls_dir: Optional[str] = None, raw: Optional[Dict[str, Any]] = None) -> None:
        self._set(name=name, host=host, skip_tls_verify=skip_tls_verify, description=description, tls_dir=tls_dir,
                  raw={} if raw is None else raw)


def context_id(name: str) -> str:
    """The directory name docker gives a context: the hex sha256 of its name."""
    import hashlib

    return hashlib.sha256(name.encode("utf-8")).hexdigest()


def check_name(name: str) -> None:
    import re

    if name == DEFAULT or not re.match(_NAME_PATTERN, name):
        from rootless.errors import InvalidArgument

        raise InvalidArgument(f"invalid context name: {name!r}",
                              hint='names match [a-zA-Z0-9][a-zA-Z0-9_.+-]+ and "default" is reserved')


class ContextStore:
    """Read and write contexts where the docker CLI keeps them."""

    def __init__(self, env: Optional[Mapping[str, str]] = None) -> None:
        self.config_dir = docker_config_dir(env)

    def meta_dir(self, name: str) -> str:
        return os.path.join(self.config_dir, "contexts", "meta", context_id(name))

    def tls_dir(self, name: str) -> str:
        """The endpoint's TLS files: tls/<id>/docker/."""
        return os.path.join(self.config_dir, "contexts", "tls", context_id(name), ENDPOINT)

    @property
    def config_file(self) -> str:
        return os.path.join(self.config_dir, "config.json")

    def get(self, name: str) -> Context:
        from rootless.errors import FailedPrecondition, NotFound

        path = os.path.join(self.meta_dir(name), "meta.json")
        try:
            with open(path, "rb") as f:
                raw = loads(f.read())
        except FileNotFoundError:
            raise NotFound(f"context {name!r} does not exist",
                           hint="'rootless context ls' lists them") from None
        except ValueError as exc:
            raise FailedPrecondition(f"can't read context: {path}: {exc}") from None
        return _from_meta(name, raw, self.tls_dir(name))

    def names(self) -> List[str]:
        from rootless.util import fs

        base = os.path.join(self.config_dir, "contexts", "meta")
        found = []
        for entry in sorted(os.listdir(base)) if os.path.isdir(base) else []:
            meta = fs.read_json(os.path.join(base, entry, "meta.json"))
            if isinstance(meta, dict) and isinstance(meta.get("Name"), str):
                found.append(meta["Name"])
        return sorted(found)

    def create(self, name: str, host: str, description: str = "", tls: Optional[Dict[str, str]] = None,
               skip_tls_verify: bool = False) -> Context:
        """Store a context; tls maps "ca"/"cert"/"key" to files copied into the store."""
        from rootless.errors import AlreadyExists
        from rootless.util import fs

        check_name(name)
        if os.path.exists(self.meta_dir(name)):
            raise AlreadyExists(f"context {name!r} already exists")
        self._copy_tls(name, tls or {})
        meta = {"Name": name, "Metadata": {"Description": description} if description else {},
                "Endpoints": {ENDPOINT: {"Host": host, "SkipTLSVerify": skip_tls_verify}}}
        fs.ensure_dir(self.meta_dir(name), 0o755)
        fs.atomic_write_json(os.path.join(self.meta_dir(name), "meta.json"), meta, 0o644)
        return self.get(name)

    def _copy_tls(self, name: str, tls: Dict[str, str]) -> None:
        from rootless.errors import InvalidArgument
        from rootless.util import fs

        for kind, source in tls.items():
            if kind not in TLS_NAMES:
                raise InvalidArgument(f"context {name}: unknown TLS file kind {kind!r}")
            try:
                with open(source, "rb") as f:
                    data = f.read()
            except OSError as exc:
                raise InvalidArgument(f"can't read {kind} file: {source}: {exc.strerror}") from None
            fs.ensure_dir(self.tls_dir(name), 0o700)
            # The key is a credential: docker writes every TLS file 0600.
            fs.atomic_write(os.path.join(self.tls_dir(name), TLS_NAMES[kind]), data, 0o600)

    def remove(self, name: str) -> None:
        import shutil

        self.get(name)
        for path in (self.meta_dir(name), os.path.dirname(self.tls_dir(name))):
            shutil.rmtree(path, ignore_errors=True)

    def current(self) -> str:
        """currentContext of config.json, "default" when unset."""
        config = _read_config(self.config_file)
        value = config.get("currentContext")
        return value if isinstance(value, str) and value else DEFAULT

    def use(self, name: str) -> None:
        """Set currentContext, keeping every other key of config.json (credentials, ...)."""
        from rootless.util import fs

        if name != DEFAULT:
            self.get(name)
        config = _read_config(self.config_file)
        if name == DEFAULT:
            config.pop("currentContext", None)
        else:
            config["currentContext"] = name
        fs.ensure_dir(self.config_dir, 0o700)
        import json  # ~1 ms (util/jsonlite.py): only for writing

        fs.atomic_write(self.config_file, json.dumps(config, indent="\t") + "\n", 0o600)


def _read_config(path: str) -> Dict[str, Any]:
    try:
        with open(path, "rb") as f:
            data = loads(f.read())  # json.load(f), without the json package (util/jsonlite.py)
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        raise _config_error(path, str(exc)) from None
    if not isinstance(data, dict):
        raise _config_error(path, "not a JSON object")
    return data


def _config_error(path: str, reason: str) -> FailedPrecondition:
    from rootless.errors import FailedPrecondition

    return FailedPrecondition(f"can't read docker config: {path}: {reason}")


def _from_meta(name: str, raw: Any, tls_dir: str) -> Context:
    from rootless.errors import FailedPrecondition

    endpoint = raw.get("Endpoints", {}).get(ENDPOINT) if isinstance(raw, dict) else None
    if not isinstance(endpoint, dict) or not isinstance(endpoint.get("Host"), str):
        raise FailedPrecondition(f"context {name!r} has no docker endpoint")
    metadata = raw.get("Metadata") or {}
    return Context(
        name=name, host=endpoint["Host"], skip_tls_verify=bool(endpoint.get("SkipTLSVerify", False)),
        description=str(metadata.get("Description", "")) if isinstance(metadata, dict) else "",
        tls_dir=tls_dir if os.path.isdir(tls_dir) else None, raw=raw,
    )

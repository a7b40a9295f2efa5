"""Registry credentials and the 401 escalation ladder.

Credentials come from the docker CLI's config.json (``auths`` entries, or a
``credHelpers``/``credsStore`` helper speaking the docker-credential protocol,
https://github.com/docker/docker-credential-helpers#development). A 401 names
the scheme in ``WWW-Authenticate`` (RFC 7235): Basic gets the credentials
directly; Bearer sends us to a token server
(https://distribution.github.io/distribution/spec/auth/token/) whose tokens
are cached per (registry, scope) until they expire.
"""
from __future__ import annotations

import base64
import json
import logging
import os
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import requests

from rootless.config.paths import docker_config_file
from rootless.errors import InvalidArgument, ToolError, Unauthorized, Unavailable
from rootless.images.reference import DOCKER_HUB
from rootless.registry.reach import unreachable
from rootless.util import proc
from rootless.util.fs import atomic_write_json, read_json

logger = logging.getLogger(__name__)

# The key docker writes for Docker Hub in config.json (cli/config/configfile).
DOCKER_HUB_CONFIG_KEY = "https://index.docker.io/v1/"
_HUB_HOSTS = ("index.docker.io", "registry-1.docker.io", DOCKER_HUB)
# A credential helper reports an identity token with this user name.
_TOKEN_USERNAME = "<token>"
_CLIENT_ID = "rootless"
_TOKEN_TIMEOUT = 30.0
# Tokens without expires_in are valid for 60 s (token spec, "Token Response Fields").
_DEFAULT_TOKEN_LIFETIME = 60
_EXPIRY_MARGIN = 5.0


@dataclass(frozen=True)
class Credentials:
    """What a user authenticates with; identity_token is an OAuth2 refresh token."""

    username: str = ""
    password: str = field(default="", repr=False)
    identity_token: str = field(default="", repr=False)

    def basic_header(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")

    def has_password(self) -> bool:
        return bool(self.username and self.password)


CredentialsProvider = Callable[[str], Optional[Credentials]]


def config_key(registry: str) -> str:
    """The config.json ``auths`` key docker uses for a registry."""
    return DOCKER_HUB_CONFIG_KEY if registry in _HUB_HOSTS else registry


def normalise_server(server: str) -> str:
    """Registry host of a config key or login argument: "https://x:5000/v1/" -> "x:5000"."""
    host = re.sub(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", "", server.strip()).split("/", 1)[0]
    return DOCKER_HUB if host in _HUB_HOSTS or not host else host


# -- credential helpers ----------------------------------------------------


def _helper_argv(helper: str, action: str) -> List[str]:
    return [f"docker-credential-{helper}", action]


def helper_get(helper: str, server: str) -> Optional[Credentials]:
    """Ask docker-credential-<helper> for the credentials of server."""
    result = proc.run(_helper_argv(helper, "get"), input=server.encode(), check=False, timeout=60)
    if result.returncode != 0:
        if b"credentials not found" in result.stdout + result.stderr:
            return None
        raise ToolError(f"docker-credential-{helper}", "get failed", stderr=result.text
                        or result.stderr.decode("utf-8", "replace"))
    try:
        answer = json.loads(result.stdout)
    except ValueError as exc:
        raise ToolError(f"docker-credential-{helper}", f"unparsable answer: {exc}") from exc
    username, secret = answer.get("Username", ""), answer.get("Secret", "")
    if username == _TOKEN_USERNAME:
        return Credentials(identity_token=secret)
    return Credentials(username=username, password=secret)


def helper_store(helper: str, server: str, creds: Credentials) -> None:
    """Hand credentials to docker-credential-<helper> store."""
    username, secret = creds.username, creds.password
    if creds.identity_token:
        username, secret = _TOKEN_USERNAME, creds.identity_token
    payload = {"ServerURL": server, "Username": username, "Secret": secret}
    proc.run(_helper_argv(helper, "store"), input=json.dumps(payload).encode(), timeout=60)


def helper_erase(helper: str, server: str) -> None:
    proc.run(_helper_argv(helper, "erase"), input=server.encode(), timeout=60)


# -- config.json -------------------------------------------------------------


def _decode_auth_entry(server: str, entry: Mapping[str, Any]) -> Credentials:
    username, password = entry.get("username", ""), entry.get("password", "")
    if entry.get("auth"):
        try:
            decoded = base64.b64decode(entry["auth"]).decode("utf-8")
            username, _, password = decoded.partition(":")
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidArgument(
                f"read docker config: auths[{server}]: invalid auth field: {exc}"
            ) from exc
    return Credentials(username, password, entry.get("identitytoken", ""))


class DockerConfig:
    """The credential parts of ~/.docker/config.json (or $DOCKER_CONFIG/config.json)."""

    def __init__(self, path: Optional[str] = None) -> None:
        self.path = path or docker_config_file()

    def _load(self) -> Dict[str, Any]:
        try:
            data = read_json(self.path, default={})
        except ValueError as exc:
            raise InvalidArgument(f"read docker config: {self.path}: {exc}") from exc
        return data if isinstance(data, dict) else {}

    def _helper_for(self, data: Mapping[str, Any], registry: str) -> Optional[str]:
        helpers = data.get("credHelpers") or {}
        for server, helper in helpers.items():
            if normalise_server(server) == registry:
                return str(helper)
        store = data.get("credsStore")
        return str(store) if store else None

    def _auth_entry(self, data: Mapping[str, Any], registry: str) -> Tuple[str, Optional[Any]]:
        for server, entry in (data.get("auths") or {}).items():
            if normalise_server(server) == registry:
                return server, entry
        return config_key(registry), None

    def credentials(self, registry: str) -> Optional[Credentials]:
        """Stored credentials for registry (a host like "127.0.0.1:5000"), or None."""
        registry = normalise_server(registry)
        data = self._load()
        helper = self._helper_for(data, registry)
        if helper:
            return helper_get(helper, config_key(registry))
        server, entry = self._auth_entry(data, registry)
        if not isinstance(entry, dict):
            return None
        creds = _decode_auth_entry(server, entry)
        return creds if creds.has_password() or creds.identity_token else None

    __call__ = credentials

    def store(self, registry: str, creds: Credentials) -> None:
        """Save credentials (login): through the helper if one is configured."""
        registry = normalise_server(registry)
        data = self._load()
        helper = self._helper_for(data, registry)
        server, _ = self._auth_entry(data, registry)
        if helper:
            helper_store(helper, config_key(registry), creds)
            entry: Dict[str, str] = {}
        else:
            entry = {"auth": base64.b64encode(f"{creds.username}:{creds.password}".encode())
                     .decode("ascii")}
            if creds.identity_token:
                entry = {"identitytoken": creds.identity_token}
        data.setdefault("auths", {})[server] = entry
        self._save(data)

    def erase(self, registry: str) -> bool:
        """Forget credentials (logout); False when there were none."""
        registry = normalise_server(registry)
        data = self._load()
        helper = self._helper_for(data, registry)
        server, entry = self._auth_entry(data, registry)
        if helper:
            helper_erase(helper, config_key(registry))
        if entry is None:
            return bool(helper)
        del data["auths"][server]
        self._save(data)
        return True

    def _save(self, data: Mapping[str, Any]) -> None:
        os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
        atomic_write_json(self.path, data, mode=0o600)


# -- WWW-Authenticate ----------------------------------------------------------

_CHALLENGE_START_RE = re.compile(r"\s*([A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*)\s*")
_PARAM_RE = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?')


@dataclass(frozen=True)
class Challenge:
    """One challenge of a WWW-Authenticate header: scheme (lower-case) and parameters."""

    scheme: str
    params: Mapping[str, str]


def parse_challenges(header: str) -> List[Challenge]:
    """Parse 'Bearer realm="...",service="...",scope="..."' (and Basic) challenges."""
    challenges: List[Challenge] = []
    pos = 0
    while pos < len(header):
        start = _CHALLENGE_START_RE.match(header, pos)
        if not start:
            break
        pos = start.end()
        params: Dict[str, str] = {}
        while True:
            param = _PARAM_RE.match(header, pos)
            if not param:
                break
            quoted, bare = param.group(2), param.group(3)
            value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
            params[param.group(1).lower()] = value
            pos = param.end()
        challenges.append(Challenge(start.group(1).lower(), params))
        while pos < len(header) and header[pos] in ", ":
            pos += 1
    return challenges


# -- bearer tokens -------------------------------------------------------------


def merge_scopes(scopes: Sequence[str]) -> List[str]:
    """Union scopes per resource: "repository:a:pull" + "repository:a:push" -> "repository:a:pull,push"."""
    actions: Dict[str, List[str]] = {}
    for scope in scopes:
        resource, _, wanted = scope.rpartition(":")
        if not resource:
            continue
        known = actions.setdefault(resource, [])
        known += [a for a in wanted.split(",") if a and a not in known]
    return [f"{resource}:{','.join(acts)}" for resource, acts in actions.items()]


def _scope_list(scopes: Sequence[str], challenge: Challenge) -> List[str]:
    """Our scopes plus any the registry's challenge asks for."""
    return merge_scopes(list(scopes) + challenge.params.get("scope", "").split(" "))


def _token_from_response(realm: str, response: "requests.Response") -> Tuple[str, float, str]:
    if response.status_code in (401, 403):
        raise Unauthorized(f"get token: {realm}: unauthorized: incorrect username or password")
    if response.status_code >= 400:
        raise Unauthorized(f"get token: {realm}: status {response.status_code}")
    try:
        body = response.json()
    except ValueError as exc:
        raise Unauthorized(f"get token: {realm}: invalid response: {exc}") from exc
    token = body.get("token") or body.get("access_token")
    if not token:
        raise Unauthorized(f"get token: {realm}: response holds no token")
    lifetime = float(body.get("expires_in") or _DEFAULT_TOKEN_LIFETIME)
    return str(token), lifetime, str(body.get("refresh_token") or "")


def fetch_token(
    session: "requests.Session",
    challenge: Challenge,
    scopes: Sequence[str],
    creds: Optional[Credentials],
    offline: bool = False,
) -> Tuple[str, float, str]:
    """Get (token, lifetime seconds, refresh token) from the challenge's realm."""
    realm = challenge.params.get("realm", "")
    if not realm.startswith(("http://", "https://")):
        raise Unauthorized(f"get token: invalid realm {realm!r} in WWW-Authenticate")
    service = challenge.params.get("service", "")
    try:
        if creds is not None and creds.identity_token:
            # OAuth2 refresh-token grant (token spec, "oauth.md").
            form = {"grant_type": "refresh_token", "refresh_token": creds.identity_token,
                    "service": service, "client_id": _CLIENT_ID, "scope": " ".join(scopes)}
            response = session.post(realm, data=form, timeout=_TOKEN_TIMEOUT)
        else:
            params: List[Tuple[str, str]] = [("service", service)] if service else []
            params += [("scope", scope) for scope in scopes]
            if offline:
                params += [("offline_token", "true"), ("client_id", _CLIENT_ID)]
            headers = {"Authorization": creds.basic_header()} if creds and creds.has_password() else {}
            response = session.get(realm, params=params, headers=headers, timeout=_TOKEN_TIMEOUT)
    except requests.RequestException as exc:
        raise unreachable(realm, exc, f"get token: {realm}") from exc
    with response:
        return _token_from_response(realm, response)


class Authenticator:
    """Answers 401 challenges for the registry client and caches the answers."""

    def __init__(
        self,
        session: "requests.Session",
        credentials: Optional[CredentialsProvider] = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.session = session
        self.credentials = credentials or (lambda registry: None)
        self.clock = clock
        self._lock = threading.Lock()
        # (registry, scopes) -> (Authorization header value, expiry on self.clock)
        self._cache: Dict[Tuple[str, str], Tuple[str, float]] = {}

    def cached_header(self, registry: str, scopes: Sequence[str]) -> Optional[str]:
        """The Authorization value earned earlier for these scopes, if still valid."""
        with self._lock:
            entry = self._cache.get((registry, " ".join(scopes)))
        if entry is None or entry[1] <= self.clock():
            return None
        return entry[0]

    def answer(self, registry: str, scopes: Sequence[str], www_authenticate: str,
               creds: Optional[Credentials] = None) -> str:
        """Turn a 401's challenge into an Authorization header value, or raise Unauthorized."""
        creds = creds if creds is not None else self.credentials(registry)
        for challenge in parse_challenges(www_authenticate):
            if challenge.scheme == "bearer":
                token, lifetime, _ = fetch_token(
                    self.session, challenge, _scope_list(scopes, challenge), creds)
                return self._remember(registry, scopes, f"Bearer {token}", lifetime)
            if challenge.scheme == "basic":
                if creds is None or not creds.has_password():
                    break
                return self._remember(registry, scopes, creds.basic_header(), float("inf"))
        raise Unauthorized(
            f"access {registry}: unauthorized: authentication required",
            hint=f"log in first: rootless login {registry}",
        )

    def _remember(self, registry: str, scopes: Sequence[str], header: str, lifetime: float) -> str:
        expiry = self.clock() + max(lifetime - _EXPIRY_MARGIN, 1.0)
        with self._lock:
            self._cache[(registry, " ".join(scopes))] = (header, expiry)
        return header

    def forget(self, registry: str) -> None:
        with self._lock:
            for key in [k for k in self._cache if k[0] == registry]:
                del self._cache[key]


def check_login(
    session: "requests.Session", v2_url: str, registry: str, username: str, password: str,
    verify: bool = True,
) -> Optional[str]:
    """Prove the credentials against registry's /v2/; return an identity token if one is issued.

    Raises Unauthorized when the registry refuses them.
    """
    creds = Credentials(username, password)
    try:
        with session.get(v2_url, timeout=_TOKEN_TIMEOUT, verify=verify) as probe:
            status, header = probe.status_code, probe.headers.get("WWW-Authenticate", "")
    except requests.RequestException as exc:
        raise unreachable(v2_url, exc, f"login: {registry}") from exc
    if status != 401:
        return None
    for challenge in parse_challenges(header):
        if challenge.scheme == "bearer":
            _, _, refresh = fetch_token(session, challenge, [], creds, offline=True)
            return refresh or None
        if challenge.scheme == "basic":
            _check_basic(session, v2_url, registry, creds, verify)
            return None
    raise Unauthorized(f"login: {registry}: unsupported authentication scheme: {header!r}")


def _check_basic(session: "requests.Session", v2_url: str, registry: str,
                 creds: Credentials, verify: bool) -> None:
    try:
        with session.get(v2_url, headers={"Authorization": creds.basic_header()},
                         timeout=_TOKEN_TIMEOUT, verify=verify) as response:
            status = response.status_code
    except requests.RequestException as exc:
        raise unreachable(v2_url, exc, f"login: {registry}") from exc
    if status in (401, 403):
        raise Unauthorized(f"login: {registry}: unauthorized: incorrect username or password")
    if status >= 400:
        raise Unauthorized(f"login: {registry}: status {status}")
    return None

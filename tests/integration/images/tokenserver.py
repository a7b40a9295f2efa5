"""A small token server for docker-registry's token auth (distribution spec/auth/token.md).

It signs RS256 JWTs with a throw-away key whose self-signed certificate is the
registry's rootcertbundle; the certificate rides in the JWT's x5c header, which
distribution 2.8 verifies against that bundle. Signing goes through openssl so
the tests need no crypto library. Users: tester/secret; anonymous callers may pull.
"""
from __future__ import annotations

import base64
import json
import os
import subprocess
import time
import uuid
from http.server import BaseHTTPRequestHandler
from typing import Dict, List, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

from tests.fakes.server import ThreadedServer

SERVICE = "rootless-test-registry"
ISSUER = "rootless-test-issuer"
USERS = {"tester": "secret"}
REFRESH_PREFIX = "refresh-"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    """Use as a context manager; .realm is the URL to put in the registry config."""

    def __init__(self, directory: str) -> None:
        self.key = os.path.join(directory, "token.key")
        self.cert = os.path.join(directory, "token.crt")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", self.key,
                        "-out", self.cert, "-days", "2", "-subj", "/CN=rootless-token"],
                       check=True, capture_output=True)
        with open(self.cert) as f:
            pem = "".join(line.strip() for line in f if not line.startswith("-----"))
        self.x5c = [pem]  # base64 DER, as the JWS x5c header wants
        self.requests: List[Tuple[str, Dict[str, List[str]], bool]] = []
        self._server = ThreadedServer()

    def __enter__(self) -> "TokenServer":
        self._server.start(_handler(self))
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self._server.port}/token"

    def registry_config(self) -> str:
        return (f"auth:\n  token:\n    realm: {self.realm}\n    service: {SERVICE}\n"
                f"    issuer: {ISSUER}\n    rootcertbundle: {self.cert}\n")

    def sign(self, subject: str, access: List[Dict[str, object]]) -> str:
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": self.x5c}
        claims = {"iss": ISSUER, "sub": subject, "aud": SERVICE, "exp": now + 300, "nbf": now - 10,
                  "iat": now, "jti": uuid.uuid4().hex, "access": access}
        payload = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.key], input=payload.encode(),
                                   check=True, capture_output=True).stdout
        return f"{payload}.{_b64url(signature)}"


def _access(scopes: List[str], user: Optional[str]) -> List[Dict[str, object]]:
    granted = []
    for scope in " ".join(scopes).split():
        kind, _, rest = scope.partition(":")
        name, _, actions = rest.rpartition(":")
        allowed = [a for a in actions.split(",") if user is not None or a == "pull"]
        granted.append({"type": kind, "name": name, "actions": allowed})
    return granted


def _handler(server: TokenServer) -> type:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def _user(self, params: Dict[str, List[str]]) -> Tuple[Optional[str], bool]:
            """(user, refused): refused when credentials were given and are wrong."""
            refresh = params.get("refresh_token", [""])[0]
            if refresh:
                name = refresh[len(REFRESH_PREFIX):]
                return (name, False) if name in USERS else (None, True)
            scheme, _, value = self.headers.get("Authorization", "").partition(" ")
            if scheme != "Basic":
                return None, False
            name, _, password = base64.b64decode(value).decode().partition(":")
            return (name, False) if USERS.get(name) == password else (None, True)

        def _answer(self, params: Dict[str, List[str]], post: bool) -> None:
            user, refused = self._user(params)
            server.requests.append((self.command, params, user is not None))
            if refused:
                self.send_response(401)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            token = server.sign(user or "", _access(params.get("scope", []), user))
            body: Dict[str, object] = {"expires_in": 300, ("access_token" if post else "token"): token}
            if user and (params.get("offline_token") == ["true"] or post):
                body["refresh_token"] = REFRESH_PREFIX + user
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._answer(parse_qs(urlsplit(self.path).query), post=False)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self._answer(parse_qs(self.rfile.read(length).decode()), post=True)

    return Handler

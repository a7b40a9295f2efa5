"""A CA, a server and a client certificate for the daemon's mutual TLS, made with openssl (issue 14).

openssl rather than the `cryptography` package: it is on every host already,
runs through util/proc like every other tool, and this is done once per
setup, so a compiled dependency for the CLI would buy nothing. The recipe is
docker's "Protect the Docker daemon socket", with P-256 keys (fast, and
accepted by Go's and Python's TLS) and extensions written out in our own
config file, so the distro's openssl.cnf changes nothing.
"""
from __future__ import annotations

import ipaddress
import os
import secrets
import tempfile
from dataclasses import dataclass
from typing import Dict, List, Sequence

from rootless.errors import AlreadyExists, InvalidArgument
from rootless.util import fs, proc

KEY_ARGS = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
# The files each side gets, in docker's layout.
SERVER_FILES = ("ca.pem", "ca-key.pem", "server-cert.pem", "server-key.pem")
CLIENT_FILES = ("ca.pem", "cert.pem", "key.pem")


@dataclass(frozen=True)
class CertRequest:
    """What to make: the server's names and addresses, how long everything is valid, the CN of each."""

    names: Sequence[str]
    days: int = 365
    ca_name: str = "rootless CA"
    client_name: str = "rootless client"


def subject_alt_names(names: Sequence[str]) -> str:
    """subjectAltName for the server: IP: for addresses, DNS: for names."""
    entries: List[str] = []
    for name in names:
        try:
            entries.append(f"IP:{ipaddress.ip_address(name)}")
        except ValueError:
            if not name or any(c in name for c in ",=\n/ "):
                raise InvalidArgument(f"invalid server name: {name!r}", hint="give a DNS name or an IP address")
            entries.append(f"DNS:{name}")
    if not entries:
        raise InvalidArgument("no server names", hint="give at least one --name or --ip")
    return ",".join(entries)


def openssl_config(san: str) -> str:
    return (
        "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = rootless\n"
        "[ca_ext]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n"
        "subjectKeyIdentifier = hash\n"
        "[server_ext]\nbasicConstraints = CA:FALSE\nkeyUsage = critical,digitalSignature,keyEncipherment\n"
        f"extendedKeyUsage = serverAuth\nsubjectAltName = {san}\n"
        "[client_ext]\nbasicConstraints = CA:FALSE\nkeyUsage = critical,digitalSignature\n"
        "extendedKeyUsage = clientAuth\n"
    )


def ca_argv(work: str, request: CertRequest) -> List[str]:
    return ["openssl", "req", "-x509", "-config", f"{work}/openssl.cnf", "-extensions", "ca_ext", *KEY_ARGS,
            "-keyout", f"{work}/ca-key.pem", "-out", f"{work}/ca.pem", "-days", str(request.days),
            "-subj", f"/CN={request.ca_name}"]


def leaf_argvs(work: str, kind: str, common_name: str, days: int) -> List[List[str]]:
    """A key and request, then the CA's signature with the kind's extensions (server_ext, client_ext)."""
    return [
        ["openssl", "req", "-new", "-config", f"{work}/openssl.cnf", *KEY_ARGS, "-keyout", f"{work}/{kind}-key.pem",
         "-out", f"{work}/{kind}.csr", "-subj", f"/CN={common_name}"],
        ["openssl", "x509", "-req", "-in", f"{work}/{kind}.csr", "-CA", f"{work}/ca.pem", "-CAkey",
         f"{work}/ca-key.pem", "-set_serial", f"0x{secrets.token_hex(16)}", "-days", str(days),
         "-extfile", f"{work}/openssl.cnf", "-extensions", f"{kind}_ext", "-out", f"{work}/{kind}-cert.pem"],
    ]


def generate(request: CertRequest) -> Dict[str, bytes]:
    """Make everything in a private temp dir; file name -> contents (keys included)."""
    if request.days < 1:
        raise InvalidArgument(f"invalid --days: {request.days}", hint="give a positive number of days")
    san = subject_alt_names(request.names)
    with tempfile.TemporaryDirectory(prefix="rootless-tls-") as work:  # 0700: the keys are made here
        fs.atomic_write(os.path.join(work, "openssl.cnf"), openssl_config(san), 0o600)
        proc.run(ca_argv(work, request), tool="openssl")
        for kind, name in (("server", request.names[0]), ("client", request.client_name)):
            for argv in leaf_argvs(work, kind, name, request.days):
                proc.run(argv, tool="openssl")
        made = {}
        for name in ("ca.pem", "ca-key.pem", "server-cert.pem", "server-key.pem", "client-cert.pem", "client-key.pem"):
            with open(os.path.join(work, name), "rb") as f:
                made[name] = f.read()
    return made


def install(made: Dict[str, bytes], server_dir: str, client_dir: str, force: bool) -> List[str]:
    """Write the server's files and the client's (docker's ca.pem, cert.pem, key.pem); keys 0600."""
    plan = {os.path.join(server_dir, name): made[name] for name in SERVER_FILES}
    plan.update({os.path.join(client_dir, "ca.pem"): made["ca.pem"],
                 os.path.join(client_dir, "cert.pem"): made["client-cert.pem"],
                 os.path.join(client_dir, "key.pem"): made["client-key.pem"]})
    existing = [path for path in plan if os.path.exists(path)]
    if existing and not force:
        raise AlreadyExists(f"TLS files exist: {', '.join(existing)}",
                            hint="pass --force to replace them (clients holding the old CA stop working)")
    for path, data in plan.items():
        fs.ensure_dir(os.path.dirname(path), 0o700)
        fs.atomic_write(path, data, 0o600 if path.endswith("key.pem") else 0o644)
    return sorted(plan)

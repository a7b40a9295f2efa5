"""Issue 14: the openssl recipe of `rootless tls generate` (argv and extensions; openssl itself runs in
tests/integration/remote)."""
from __future__ import annotations

import pytest

from rootless.errors import AlreadyExists, InvalidArgument
from rootless.util import certs


def test_subject_alt_names() -> None:
    assert certs.subject_alt_names(["localhost", "127.0.0.1", "::1", "box.example"]) == \
        "DNS:localhost,IP:127.0.0.1,IP:::1,DNS:box.example"


@pytest.mark.parametrize("names", [[], ["bad name"], ["a,b"], ["x=y"]])
def test_bad_names_refused(names) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidArgument):
        certs.subject_alt_names(names)


def test_extensions_make_a_ca_a_server_and_a_client() -> None:
    config = certs.openssl_config("DNS:localhost")
    assert "[ca_ext]\nbasicConstraints = critical,CA:TRUE" in config
    assert "extendedKeyUsage = serverAuth\nsubjectAltName = DNS:localhost" in config
    assert "[client_ext]" in config and "extendedKeyUsage = clientAuth" in config


def test_leaf_is_signed_by_the_ca_with_its_extensions() -> None:
    request, sign = certs.leaf_argvs("/w", "client", "me", 30)
    assert request[:3] == ["openssl", "req", "-new"] and "/w/client-key.pem" in request
    assert sign[sign.index("-CA") + 1] == "/w/ca.pem" and sign[sign.index("-extensions") + 1] == "client_ext"
    assert sign[sign.index("-days") + 1] == "30"


def test_install_writes_keys_0600_and_refuses_to_overwrite(tmp_path) -> None:
    made = {name: name.encode() for name in ("ca.pem", "ca-key.pem", "server-cert.pem", "server-key.pem",
                                             "client-cert.pem", "client-key.pem")}
    written = certs.install(made, str(tmp_path / "server"), str(tmp_path / "client"), force=False)
    assert (tmp_path / "client" / "cert.pem").read_bytes() == b"client-cert.pem"
    assert (tmp_path / "client" / "key.pem").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "server" / "server-key.pem").stat().st_mode & 0o777 == 0o600
    assert len(written) == 7
    with pytest.raises(AlreadyExists, match="TLS files exist"):
        certs.install(made, str(tmp_path / "server"), str(tmp_path / "client"), force=False)
    certs.install(made, str(tmp_path / "server"), str(tmp_path / "client"), force=True)

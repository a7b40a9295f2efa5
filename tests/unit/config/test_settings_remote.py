"""Issue 14: hosts = [...], insecure_tcp and [tls] in config.toml."""
from __future__ import annotations

import os

import pytest

from rootless.config.settings import load_settings
from rootless.errors import InvalidArgument


def _load(tmp_path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "config.toml"
    path.write_text(text)
    return load_settings({"ROOTLESS_CONFIG": str(path), "HOME": str(tmp_path)})


def test_hosts_and_tls_table(tmp_path) -> None:
    settings = _load(tmp_path, 'hosts = ["tcp://0.0.0.0:2376", "tcp://127.0.0.1:2377"]\n'
                               '[tls]\nverify = true\ncacert = "/etc/ca.pem"\nkey = "~/k.pem"\n')
    assert settings.hosts == ["tcp://0.0.0.0:2376", "tcp://127.0.0.1:2377"]
    assert settings.tls_verify is True
    ca, cert, key = settings.tls_files({"HOME": str(tmp_path)})
    assert ca == "/etc/ca.pem"
    assert cert == os.path.join(str(tmp_path), ".config", "rootless", "tls", "server-cert.pem")
    assert key == os.path.expanduser("~/k.pem")


def test_defaults_have_no_listener() -> None:
    settings = load_settings({"ROOTLESS_CONFIG": "/nonexistent/config.toml", "HOME": "/nonexistent"})
    assert settings.hosts == [] and not settings.tls_verify and not settings.insecure_tcp


@pytest.mark.parametrize("text,why", [
    ('hosts = "tcp://0.0.0.0:2376"\n', "hosts: must be a list"),
    ("hosts = [1]\n", "hosts: must be a list"),
    ('insecure_tcp = "yes"\n', "insecure_tcp: invalid value"),
    ('[tls]\nverify = 1\n', r"\[tls\] verify: invalid value"),
    ('[tls]\ncert = 3\n', r"\[tls\] cert: must be a file path"),
    ('[tls]\ncacerts = "/x"\n', "unknown key 'cacerts'"),
    ('tls = "on"\n', r"\[tls\] must be a table"),
])
def test_bad_remote_settings_are_refused_by_name(tmp_path, text: str, why: str) -> None:
    with pytest.raises(InvalidArgument, match=why):
        _load(tmp_path, text)

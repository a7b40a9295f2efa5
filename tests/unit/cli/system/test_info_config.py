"""Issue 11: `info` warns when the config file changed since the daemon loaded it; `--format '{{.Socket}}'`."""
from __future__ import annotations

import hashlib

from rootless.cli.system.info import config_warnings


def _env(tmp_path):  # type: ignore[no-untyped-def]
    return {"ROOTLESS_CONFIG": str(tmp_path / "config.toml"), "HOME": str(tmp_path)}


def test_unchanged_changed_removed_and_created(tmp_path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('log_level = "info"\n')
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert config_warnings(str(path), digest, _env(tmp_path)) == []
    path.write_text('log_level = "debug"\n')
    (changed,) = config_warnings(str(path), digest, _env(tmp_path))
    assert changed == (f"WARNING: {path} changed since rootlessd loaded it: restart it with 'rootless system stop' "
                       "to apply it (containers keep running)")
    path.unlink()
    assert "was removed after rootlessd loaded it" in config_warnings(str(path), digest, _env(tmp_path))[0]
    assert config_warnings("(defaults)", "", _env(tmp_path)) == []
    path.write_text("idle_timeout = 5\n")
    assert "was created after rootlessd started with the defaults" in config_warnings("(defaults)", "",
                                                                                      _env(tmp_path))[0]


def test_a_daemon_with_another_file_is_named(tmp_path) -> None:
    (warning,) = config_warnings("/etc/elsewhere.toml", "x", _env(tmp_path))
    assert warning == f"WARNING: rootlessd loaded /etc/elsewhere.toml; this shell's config file is {tmp_path}/config.toml"


def test_format_socket_and_the_daemons_key_warnings(invoke, fake_client, monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ROOTLESS_CONFIG", str(tmp_path / "none.toml"))
    fake_client.answers["info"] = {"Rootless": {"Socket": "/run/user/1000/rootless/rootless.sock",
                                                "ConfigFile": "(defaults)", "ConfigWarnings": ["config: unknown key 'x'"]}}
    result = invoke("info", "--format", "{{.Socket}}")
    assert result.stdout == "/run/user/1000/rootless/rootless.sock\n"
    assert "WARNING: config: unknown key 'x'" in result.stderr

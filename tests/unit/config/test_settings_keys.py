"""Issue 11: unknown config keys warn with the nearest valid key; the loaded file is fingerprinted."""
from __future__ import annotations

import hashlib

import pytest

from rootless.config.settings import load_settings
from rootless.errors import InvalidArgument


def _load(tmp_path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "config.toml"
    path.write_text(text)
    return load_settings({"ROOTLESS_CONFIG": str(path), "HOME": str(tmp_path)})


def test_an_unknown_key_warns_with_the_nearest_valid_one(tmp_path) -> None:
    settings = _load(tmp_path, 'storage_drivr = "vfs"\nzzz = 1\nidle_timeout = 5\n[registries]\n'
                               'insecur = ["r:5000"]\n')
    assert settings.warnings == (
        "config: unknown key 'storage_drivr' (did you mean `storage_driver`?)",
        "config: unknown key 'zzz'",
        "config: [registries]: unknown key 'insecur' (did you mean `insecure`?)",
    )
    assert settings.idle_timeout == 5.0 and settings.storage_driver == "auto"  # the rest still applies


def test_known_keys_give_no_warning(tmp_path) -> None:
    settings = _load(tmp_path, 'storage_driver = "vfs"\n[registries]\ndefault = "docker.io"\n[api]\n'
                               'max_connections = 10\n')
    assert settings.warnings == ()


def test_an_unknown_api_key_is_still_refused_with_the_nearest(tmp_path) -> None:
    with pytest.raises(InvalidArgument, match=r"unknown key 'max_connection' \(did you mean `max_connections`\?\)"):
        _load(tmp_path, "[api]\nmax_connection = 10\n")


def test_a_broken_file_is_named_with_a_way_out(tmp_path) -> None:
    with pytest.raises(InvalidArgument) as caught:
        _load(tmp_path, "storage_driver = \n")
    assert str(tmp_path / "config.toml") in caught.value.message
    assert caught.value.hint and "move it away" in caught.value.hint


def test_the_loaded_file_is_fingerprinted(tmp_path) -> None:
    text = 'log_level = "debug"\n'
    settings = _load(tmp_path, text)
    assert settings.source == str(tmp_path / "config.toml")
    assert settings.source_digest == hashlib.sha256(text.encode()).hexdigest()

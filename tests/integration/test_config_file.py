"""Issue 11: config.toml mistakes are named, never in the way of `system stop` or `doctor`; `info` says
when the running daemon's config is out of date; the build id survives a reinstall of the same code."""
from __future__ import annotations

import os

from tests.integration.conftest import Engine


def _config(engine: Engine, text: str) -> None:
    path = os.path.join(engine.config_home, "rootless", "config.toml")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o644)


def test_unknown_keys_changes_and_a_broken_file(fresh_engine: Engine) -> None:
    _config(fresh_engine, "idle_timout = 0\n")
    first = fresh_engine.cli("info")
    assert "WARNING: config: unknown key 'idle_timout' (did you mean `idle_timeout`?)" in first.stderr
    assert os.path.join(fresh_engine.config_home, "rootless", "config.toml") in first.stdout  # Config file: line
    assert "changed since" not in first.stderr
    _config(fresh_engine, 'idle_timeout = 0\nlog_level = "debug"\n')
    changed = fresh_engine.cli("info")
    assert "config.toml changed since rootlessd loaded it: restart it with 'rootless system stop'" in changed.stderr
    _config(fresh_engine, "idle_timeout = = 0\n")
    # Without --root/ROOTLESS_ROOT both need the file (storage_root may be set there): it's broken.
    no_root = {"ROOTLESS_ROOT": ""}
    doctor = fresh_engine.cli("doctor", check=False, env=no_root)
    assert "[FAIL] config file: config:" in doctor.stdout, doctor.stdout + doctor.stderr
    assert "crun" in doctor.stdout  # the other checks still ran
    stop = fresh_engine.cli("system", "stop", env=no_root)
    assert "stopped" in stop.stdout and "not running" not in stop.stdout
    assert "WARNING: config:" in stop.stderr and "using the defaults" in stop.stderr


def test_reinstalling_the_same_code_is_not_other_code(engine: Engine) -> None:
    """The daemon runs the published package; new mtimes on every file (a reinstall) change nothing."""
    source = engine.user.base_env["PYTHONPATH"]
    for dirpath, _, filenames in os.walk(os.path.join(source, "rootless")):
        for name in filenames:
            os.utime(os.path.join(dirpath, name), (1_500_000_000, 1_500_000_000))
    result = engine.cli("info")
    assert "runs other code" not in result.stderr, result.stderr

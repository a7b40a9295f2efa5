"""Issue 11: the systemd units' Documentation= points at the README, where setup-host.sh installs it."""
from __future__ import annotations

import os
import re

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def _read(*parts: str) -> str:
    with open(os.path.join(REPO, *parts), encoding="utf-8") as f:
        return f.read()


def test_each_unit_documents_itself_with_the_installed_readme() -> None:
    setup = _read("contrib", "setup-host.sh")
    for unit in ("rootless.service", "rootless.socket"):
        uris = re.findall(r"^Documentation=(.*)$", _read("contrib", "systemd", unit), re.MULTILINE)
        assert uris == ["file:/opt/rootless/README.md"], unit
    assert 'install -m 0644 "$SRC/README.md" /opt/rootless/README.md' in setup
    assert "example.invalid" not in _read("contrib", "systemd", "rootless.service")

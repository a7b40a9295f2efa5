"""`--network pasta:OPTS` (podman's syntax, issue 10): allow-listed pasta options reach the
container's own pasta; one that would change where pasta runs or what it runs is refused."""
from __future__ import annotations

from tests.integration.conftest import Engine


def test_pasta_options_are_applied_or_refused(engine: Engine, busybox: str) -> None:
    mode = "pasta:--mtu,1400,-a,10.5.0.2,-n,24,-g,10.5.0.1"
    done = engine.docker("run", "--rm", "--network", mode, busybox, "sh", "-c",
                         "ip -4 -o addr show; ip -o link show; ip route", check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "inet 10.5.0.2/24" in done.stdout
    assert "mtu 1400" in done.stdout
    assert "default via 10.5.0.1" in done.stdout
    refused = engine.docker("run", "--rm", "--network", "pasta:--runas,0:0", busybox, "true", check=False)
    assert refused.returncode != 0 and "pasta option '--runas' is not allowed" in refused.stderr

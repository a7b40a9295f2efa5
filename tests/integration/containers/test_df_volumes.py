"""Issue 11: `system df` counts small volumes (their size was never measured: always N/A, 0B in the sum)."""
from __future__ import annotations

from tests.integration.conftest import Engine


def test_a_ten_byte_volume_counts_ten_bytes(engine: Engine, busybox: str) -> None:
    engine.cli("volume", "create", "df-small")
    try:
        engine.cli("run", "--rm", "-v", "df-small:/data", busybox, "sh", "-c", "printf 0123456789 > /data/f")
        usage = {v["Name"]: v["UsageData"] for v in engine.client().df()["Volumes"]}
        assert usage["df-small"]["Size"] == 10 and usage["df-small"]["RefCount"] == 0
        ours = [line.split() for line in engine.cli("system", "df", "-v").stdout.splitlines()]
        assert ["df-small", "0", "10B"] in ours
        docker = [line.split() for line in engine.docker("system", "df", "-v").stdout.splitlines()]
        assert ["df-small", "0", "10B"] in docker
        summary = engine.cli("system", "df", "--format", "{{.Type}}={{.Size}}").stdout.splitlines()
        assert not any(line == "Local Volumes=0B" for line in summary), summary
    finally:
        engine.cli("volume", "rm", "df-small", check=False)

"""`docker network create --ip-range` (issue 10): dynamic addresses come only from the
range, a static --ip may lie anywhere in the subnet, inspect shows the range, and a
range outside the subnet is refused with dockerd's words and no network is stored."""
from __future__ import annotations

import json

from tests.integration.conftest import Engine


def test_ip_range_with_the_docker_cli(engine: Engine, busybox: str) -> None:
    made = engine.docker("network", "create", "--subnet", "10.98.0.0/16", "--ip-range", "10.98.7.0/24", "iprng",
                         check=False)
    assert made.returncode == 0, made.stderr
    try:
        config = json.loads(engine.docker("network", "inspect", "iprng").stdout)[0]["IPAM"]["Config"]
        assert config == [{"Subnet": "10.98.0.0/16", "Gateway": "10.98.0.1", "IPRange": "10.98.7.0/24"}]
        engine.docker("run", "-d", "--name", "iprdyn", "--network", "iprng", busybox, "sleep", "300")
        engine.docker("run", "-d", "--name", "iprfix", "--network", "iprng", "--ip", "10.98.200.9",
                      busybox, "sleep", "300")
        dynamic = engine.docker("inspect", "-f", "{{.NetworkSettings.Networks.iprng.IPAddress}}", "iprdyn").stdout
        assert dynamic.strip() == "10.98.7.0"
        seen = engine.docker("exec", "iprfix", "ip", "-4", "-o", "addr", "show", "dev", "eth0").stdout
        assert "10.98.200.9/16" in seen
        ping = engine.docker("exec", "iprfix", "ping", "-c", "1", "-W", "5", "10.98.7.0", check=False)
        assert ping.returncode == 0, ping.stdout + ping.stderr
    finally:
        engine.docker("rm", "-f", "iprdyn", "iprfix", check=False)
        engine.docker("network", "rm", "iprng", check=False)
    refused = engine.docker("network", "create", "--subnet", "10.98.0.0/16", "--ip-range", "10.99.0.0/24",
                            "iprbad", check=False)
    assert refused.returncode != 0 and "no matching subnet for range 10.99.0.0/24" in refused.stderr  # the CLI's check
    import docker  # the daemon's own check, for clients that don't pair ranges themselves
    pool = docker.types.IPAMPool(subnet="10.98.0.0/16", iprange="10.99.0.0/24")
    try:
        engine.client().networks.create("iprbad", ipam=docker.types.IPAMConfig(pool_configs=[pool]))
        raise AssertionError("a range outside the subnet was accepted")
    except docker.errors.APIError as exc:
        assert exc.status_code == 400
        assert "invalid ip-range 10.99.0.0/24: it must be a subset of subnet 10.98.0.0/16" in str(exc)
    assert "iprbad" not in engine.docker("network", "ls", "--format", "{{.Name}}").stdout.split()

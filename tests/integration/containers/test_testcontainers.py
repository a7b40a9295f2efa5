"""testcontainers-python against our socket (DOCKER-API.md section 9), as the unprivileged user.

testcontainers reads DOCKER_HOST and friends from the environment of the
process that imports it, so the scenario runs in a child Python as that user.
"""
from __future__ import annotations

import json
import textwrap

import pytest

from tests.integration.conftest import VENV_PYTHON, Engine

SCENARIO = textwrap.dedent('''
    import json, sys, urllib.request
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs

    image = sys.argv[1]
    script = ("echo booting; sleep 0.5; echo 'server is ready' >&2; mkdir /www; echo tc-body > /www/index.html; "
              "httpd -f -p 8080 -h /www")
    with DockerContainer(image).with_command(["sh", "-c", script]).with_exposed_ports(8080) \\
            .with_env("TC_ENV", "x") as container:
        wait_for_logs(container, "server is ready", timeout=30)
        host, port = container.get_container_host_ip(), container.get_exposed_port(8080)
        wrapped = container.get_wrapped_container()
        wrapped.reload()
        code, output = container.exec(["sh", "-c", "echo $TC_ENV"])
        body = None
        for _ in range(50):
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=2).read().decode()
                break
            except OSError:
                import time; time.sleep(0.2)
        print(json.dumps({"id": wrapped.id, "status": wrapped.status, "labels": wrapped.labels, "host": host,
                          "port": port, "exec": [code, output.decode()], "body": body,
                          "logs": container.get_logs()[0].decode()}))
''')


def test_testcontainers_starts_waits_for_logs_and_cleans_up(engine: Engine, busybox: str) -> None:
    pytest.importorskip("testcontainers")
    env = {"TESTCONTAINERS_RYUK_DISABLED": "true", "TESTCONTAINERS_CONNECTION_MODE": "docker_host"}
    ran = engine.user.run([VENV_PYTHON, "-c", SCENARIO, busybox], env={**engine.env, **env}, timeout=120,
                          check=False)
    assert ran.returncode == 0, ran.stderr[-3000:]
    report = json.loads(ran.stdout.strip().splitlines()[-1])
    assert report["status"] == "running"
    assert report["labels"]["org.testcontainers"] == "true" and "org.testcontainers.session-id" in report["labels"]
    assert report["host"] == "localhost" and int(report["port"]) > 0
    assert report["exec"] == [0, "x\n"]
    assert report["body"] == "tc-body\n"
    assert report["logs"] == "booting\n"
    gone = engine.cli("inspect", report["id"], check=False)  # the context exit removed it (force, v)
    assert gone.returncode == 1 and "No such" in gone.stderr

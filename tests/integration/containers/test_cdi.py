"""Issue 15: --device vendor.com/class=name applies a CDI spec's edits; an unknown device is refused at create.

The test writes its own spec into /etc/cdi (it runs as root) and removes it
afterwards: /dev/null stands in for a real device node.
"""
from __future__ import annotations

import json
import os
import pathlib
import shutil
import tempfile
import uuid
from typing import Iterator

import pytest

from tests.integration.conftest import Engine

CDI_DIR = pathlib.Path("/etc/cdi")


@pytest.fixture()
def cdi_kind(engine: Engine) -> Iterator[str]:
    """A CDI kind (vendor.com/class) with one device "dev": /dev/cdi-null, CDI_VAR and a read-only mount."""
    kind = f"vendor.com/test{uuid.uuid4().hex[:8]}"
    shared = pathlib.Path(tempfile.mkdtemp(prefix="cdi-", dir="/tmp"))
    (shared / "lib.txt").write_text("from the cdi mount\n")
    os.chmod(shared, 0o755)
    made_dir = not CDI_DIR.exists()
    CDI_DIR.mkdir(mode=0o755, exist_ok=True)
    spec_file = CDI_DIR / f"{kind.replace('/', '_')}.json"
    spec_file.write_text(json.dumps({
        "cdiVersion": "0.6.0", "kind": kind,
        "devices": [{"name": "dev", "containerEdits": {
            "deviceNodes": [{"path": "/dev/cdi-null", "hostPath": "/dev/null"}],
            "env": ["CDI_VAR=hello-cdi"],
            "mounts": [{"hostPath": str(shared), "containerPath": "/cdi-mnt", "options": ["ro"]}]}}]}))
    yield kind
    spec_file.unlink()
    if made_dir:
        shutil.rmtree(CDI_DIR, ignore_errors=True)
    shutil.rmtree(shared, ignore_errors=True)


def test_a_cdi_device_brings_its_node_env_and_mount(engine: Engine, busybox: str, cdi_kind: str) -> None:
    out = engine.docker("run", "--rm", "--device", f"{cdi_kind}=dev", busybox, "sh", "-c",
                        "echo $CDI_VAR; test -c /dev/cdi-null && echo node; cat /cdi-mnt/lib.txt").stdout
    assert out.split("\n")[:3] == ["hello-cdi", "node", "from the cdi mount"]
    assert "/etc/cdi" in engine.docker("info", "--format", "{{json .CDISpecDirs}}").stdout


def test_an_unknown_cdi_device_is_refused_at_create(engine: Engine, busybox: str, cdi_kind: str) -> None:
    name = f"cdi-{uuid.uuid4().hex[:8]}"
    refused = engine.docker("create", "--name", name, "--device", f"{cdi_kind}=nope", busybox, check=False)
    assert refused.returncode != 0 and f"{cdi_kind}=nope" in refused.stderr and "not found" in refused.stderr
    assert engine.docker("inspect", name, check=False).returncode != 0


def test_gpus_without_an_nvidia_cdi_spec_are_refused(engine: Engine, busybox: str) -> None:
    refused = engine.docker("create", "--gpus", "all", busybox, check=False)
    assert refused.returncode != 0 and "nvidia.com/gpu" in refused.stderr

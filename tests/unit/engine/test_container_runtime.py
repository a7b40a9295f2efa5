"""HostRuntime: the state machine's calls reach the driver, the monitor supervisor and crun as meant."""
from __future__ import annotations

import json
import os
from typing import Any, Dict, List

from rootless.config import Paths
from rootless.engine.container_runtime import HostRuntime, MonitorSettings, RuntimeHost
from rootless.host.cgroups import CgroupInfo
from rootless.host.userns import IdMap, Mapping
from rootless.runtime.spec import HostFacts, SpecOptions
from rootless.runtime.supervisor import Launched
from tests.unit.fsync_spy import spy_fsync


class Recorder:
    """Any method call is recorded and answers from `answers` (by name) or None."""

    def __init__(self, **answers: Any) -> None:
        self.calls: List[str] = []
        self.answers = answers

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            answer = self.answers.get(name)
            return answer(*args, **kwargs) if callable(answer) else answer
        return call


def test_host_runtime_delegates_and_writes_the_bundle(tmp_path: Any, monkeypatch: Any) -> None:
    synced = spy_fsync(monkeypatch)
    paths = Paths(root=str(tmp_path / "root"), run=str(tmp_path / "run"))
    driver = Recorder(mount="/merged", upper_dir=str(tmp_path), is_mounted=False)
    launches: List[Dict[str, Any]] = []
    supervisor = Recorder(new_config=lambda *a, **k: ("config", a, k),
                          launch=lambda config, **k: launches.append(k) or Launched("c", 1, 2, []),
                          bundle_dir=str(tmp_path / "bundle"), wait_exit={"ExitCode": 0}, read_exit=None,
                          is_alive=True, resume_start=None)
    mapping = Mapping((IdMap(0, 1000, 65536),), (IdMap(0, 1000, 65536),))
    host = RuntimeHost(mapping, CgroupInfo("v1"), HostFacts({}, 40, 0, "x86_64", (6, 1), None, ()), "crun", "info")
    runtime = HostRuntime(paths, None, driver, host, supervisor)  # type: ignore[arg-type]
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    (rootfs / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    monitor = MonitorSettings(str(tmp_path / "log"), -1, 1, False, False, False, "none", [])
    launched = runtime.launch("c", SpecOptions(rootfs=str(rootfs), args=["true"], network="none"), monitor)
    assert launched.pid == 1
    # the spec goes to the supervisor, which writes it into the bundle in the monitor dir
    assert json.loads(launches[0]["bundle_spec"])["process"]["args"] == ["true"]
    assert not os.path.exists(str(tmp_path / "bundle"))
    assert synced == []  # written again before every launch: no fsync on the run path
    assert runtime.mount("c") == "/merged" and runtime.upper_dir("c") == str(tmp_path)
    runtime.start("c")
    assert runtime.wait_exit("c") == {"ExitCode": 0} and runtime.read_exit("c") is None
    assert runtime.is_alive("c") and runtime.resume_start("c") is None and not runtime.has_leftovers("c")
    runtime.resize("c", 1, 2)
    runtime.attach("c", True, True, True)
    runtime.exec("c", "e", {}, stdin=False, detach=True)
    runtime.teardown("c")
    runtime.remove_rootfs("c")
    assert supervisor.calls == ["prepare_spec", "bundle_dir", "new_config", "launch", "start", "wait_exit", "read_exit", "is_alive",
                                "resume_start", "resize", "attach", "exec", "remove", "remove"]
    assert driver.calls == ["mount", "upper_dir", "is_mounted", "unmount", "remove"]


def test_the_bundle_is_written_once_per_launch_with_the_cached_filter_in_it(tmp_path: Any, monkeypatch: Any) -> None:
    from rootless.engine import container_runtime

    paths = Paths(root=str(tmp_path / "root"), run=str(tmp_path / "run"))
    launches: List[Dict[str, Any]] = []
    supervisor = Recorder(new_config=lambda *a, **k: "config", prepare_spec=lambda spec: spec.update(
        annotations={"run.oci.seccomp_bpf_data": "AAAA"}) or "key", bundle_dir=str(tmp_path / "bundle"),
        launch=lambda config, **k: launches.append(k) or Launched("c", 1, 2, []))
    mapping = Mapping((IdMap(0, 1000, 65536),), (IdMap(0, 1000, 65536),))
    host = RuntimeHost(mapping, CgroupInfo("v1"), HostFacts({}, 40, 0, "x86_64", (6, 1), None, ()), "crun", "info")
    runtime = HostRuntime(paths, None, Recorder(), host, supervisor)  # type: ignore[arg-type]
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    writes: List[str] = []
    real = container_runtime.fs.atomic_write
    monkeypatch.setattr(container_runtime.fs, "atomic_write",
                        lambda path, *a, **k: (writes.append(os.path.basename(path)), real(path, *a, **k)))
    monitor = MonitorSettings(str(tmp_path / "log"), -1, 1, False, False, False, "none", [])
    runtime.launch("c", SpecOptions(rootfs=str(rootfs), args=["true"], network="none"), monitor)
    assert writes == []  # the supervisor writes it, once, into the fresh monitor dir
    [launch] = launches
    assert json.loads(launch.pop("bundle_spec"))["annotations"]["run.oci.seccomp_bpf_data"] == "AAAA"
    assert {k: v for k, v in launch.items() if k != "while_creating"} == {
        "timeout": container_runtime.START_TIMEOUT, "seccomp_key": "key", "spec_prepared": True}

"""docker CLI flags rootless would not apply are refused with the field and why; the applied ones take effect.

api/support.py classifies every accepted field. Before it, `--pid host`,
`--device /dev/fuse` or `--storage-opt size=1G` created containers that simply
ran without them, and `--dns-option`, `--annotation` and `--mount
type=tmpfs,tmpfs-size=` were dropped on the way to the spec.
"""
from __future__ import annotations

import json
import os
from typing import List

import pytest

from tests.integration.conftest import Engine


@pytest.fixture(scope="module")
def busybox(engine: Engine, images) -> str:  # type: ignore[no-untyped-def]
    engine.docker("pull", "-q", images.busybox, timeout=300)
    return str(images.busybox)


@pytest.mark.parametrize("flags,message", [
    (["--device-cgroup-rule", "c 10:229 rwm"], "HostConfig.DeviceCgroupRules: "),
    (["--cgroup-parent", "x"], 'HostConfig.CgroupParent: "x": rootless places containers'),
    (["--storage-opt", "size=1G"], "HostConfig.StorageOpt: size=1G: per-container storage options"),
    (["--uts", "host"], 'HostConfig.UTSMode: "host"'),
    (["--runtime", "kata"], 'HostConfig.Runtime: "kata"'),
    (["--mount", "type=bind,src=/tmp,dst=/t,readonly,bind-recursive=writable"],
     "HostConfig.Mounts[0].BindOptions.ReadOnlyNonRecursive: true"),
    (["--health-cmd", "true", "--health-interval", "500us"],
     "Healthcheck.Interval: 500000: Interval in Healthcheck cannot be less than 1ms"),
    (["--memory-swappiness", "10"], "HostConfig.MemorySwappiness: 10"),
])
def test_unsupported_flags_are_refused_naming_the_field(engine: Engine, busybox: str, flags: List[str],
                                                         message: str) -> None:
    result = engine.docker("run", "--rm", "--name", "refused", *flags, busybox, "true", check=False)
    assert result.returncode == 125, result.stderr
    assert message in result.stderr
    assert "refused" not in engine.docker("ps", "-a", "--format", "{{.Names}}").stdout.split()


def test_network_create_ipv6_and_records_options(engine: Engine) -> None:
    engine.docker("network", "create", "--ipv6", "v6net")  # issue 16: a ULA /64 when no subnet is given
    try:
        shown = json.loads(engine.docker("network", "inspect", "v6net").stdout)[0]
        assert shown["EnableIPv6"] is True and any(c["Subnet"].startswith("fd89:89:") for c in shown["IPAM"]["Config"])
    finally:
        engine.docker("network", "rm", "v6net", check=False)
    engine.docker("network", "create", "-o", "com.example.opt=1", "optnet")
    try:
        shown = json.loads(engine.docker("network", "inspect", "optnet").stdout)[0]
        assert shown["Options"] == {"com.example.opt": "1"}
    finally:
        engine.docker("network", "rm", "optnet", check=False)


def _run(engine: Engine, busybox: str, *args: str) -> str:
    return engine.docker("run", "--rm", *args, timeout=120).stdout


def test_dns_options_and_search_reach_resolv_conf(engine: Engine, busybox: str) -> None:
    text = _run(engine, busybox, "--dns-option", "ndots:2", "--dns-search", "a.example", "--dns-search",
                "b.example", busybox, "cat", "/etc/resolv.conf")
    assert "options ndots:2\n" in text and "search a.example b.example\n" in text


def _df_kib(output: str) -> int:
    """The size column of `df -k` for the one mount asked about."""
    return int(output.strip().splitlines()[-1].split()[1])


def test_tmpfs_sizes_apply(engine: Engine, busybox: str) -> None:
    assert _df_kib(_run(engine, busybox, "--tmpfs", "/t:size=1m", busybox, "df", "-k", "/t")) == 1024
    text = _run(engine, busybox, "--mount", "type=tmpfs,dst=/t,tmpfs-size=1048576,tmpfs-mode=0700", busybox,
                "sh", "-c", "df -k /t; stat -c %a /t")
    assert _df_kib(text.splitlines()[0] + "\n" + text.splitlines()[1]) == 1024 and text.split()[-1] == "700"
    ro = engine.docker("run", "--rm", "--mount", "type=tmpfs,dst=/t,readonly", busybox, "touch", "/t/x",
                       check=False)
    assert ro.returncode != 0 and "Read-only file system" in ro.stderr


def test_annotations_reach_the_spec_and_inspect(engine: Engine, busybox: str) -> None:
    cid = engine.docker("run", "-d", "--annotation", "com.example.a=1", busybox, "sleep", "60").stdout.strip()
    try:
        shown = json.loads(engine.docker("inspect", cid).stdout)[0]
        assert shown["HostConfig"]["Annotations"] == {"com.example.a": "1"}
        with open(os.path.join(engine.run_dir, "monitors", cid, "bundle", "config.json")) as f:  # in the runtime dir
            assert json.load(f)["annotations"]["com.example.a"] == "1"
    finally:
        engine.docker("rm", "-f", cid, check=False)


def test_masked_and_readonly_paths_replace_the_defaults(engine: Engine, busybox: str) -> None:
    api = engine.client().api
    body = {"Image": busybox, "Cmd": ["sh", "-c", "wc -c < /etc/passwd; touch /tmp/x || echo ro-tmp"],
            "HostConfig": {"MaskedPaths": ["/etc/passwd"], "ReadonlyPaths": ["/tmp"]}}
    cid = api._result(api._post_json(api._url("/containers/create"), data=body), True)["Id"]
    try:
        api.start(cid)
        assert api.wait(cid, timeout=60)["StatusCode"] == 0
        assert api.logs(cid, stderr=False).decode().split() == ["0", "ro-tmp"]
    finally:
        api.remove_container(cid, force=True)


def test_read_only_rootfs_still_works(engine: Engine, busybox: str) -> None:
    ro = engine.docker("run", "--rm", "--read-only", "--tmpfs", "/w", busybox, "sh", "-c",
                       "touch /w/ok && touch /nope", check=False)
    assert ro.returncode != 0 and "Read-only file system" in ro.stderr


def test_volume_labels_and_propagation_of_mounts(engine: Engine, busybox: str) -> None:
    _run(engine, busybox, "--mount", "type=volume,src=labelled,dst=/v,volume-label=com.example.l=2,volume-nocopy",
         "--mount", "type=bind,src=/tmp,dst=/b,bind-propagation=rprivate", busybox, "true")
    try:
        shown = json.loads(engine.docker("volume", "inspect", "labelled").stdout)[0]
        assert shown["Labels"] == {"com.example.l": "2"}
    finally:
        engine.docker("volume", "rm", "labelled", check=False)


def test_ipc_shareable_and_runtime_runc_are_accepted(engine: Engine, busybox: str) -> None:
    assert _run(engine, busybox, "--ipc", "shareable", "--runtime", "runc", "--cgroupns", "private", busybox,
                "echo", "ok").strip() == "ok"


@pytest.mark.parametrize("propagation", ["rprivate", "private"])
def test_private_bind_propagation_is_set(engine: Engine, busybox: str, propagation: str) -> None:
    text = _run(engine, busybox, "--mount", f"type=bind,src=/tmp,dst=/b,bind-propagation={propagation}", busybox,
                "grep", " /b ", "/proc/self/mountinfo")
    assert not any(tag in text.split(" - ")[0] for tag in ("shared:", "master:")), text


@pytest.mark.parametrize("flags", [["--mount", "type=bind,src=/tmp,dst=/b,bind-propagation=rshared"],
                                   ["-v", "/tmp:/b:shared"]])
def test_shared_propagation_is_refused(engine: Engine, busybox: str, flags: List[str]) -> None:
    """The engine's mount namespace only holds slave or private copies of the host's mounts, so
    moby's own rule (ensureShared) refuses, at start (issue 16; rslave: test_bind_propagation.py)."""
    result = engine.docker("run", "--rm", *flags, busybox, "true", check=False)
    assert result.returncode == 125 and "path /tmp is mounted on" in result.stderr, result.stderr
    assert "but it is not a shared" in result.stderr


def test_domainname_and_network_disabled(engine: Engine, busybox: str) -> None:
    assert _run(engine, busybox, "--domainname", "example.org", busybox, "cat",
                "/proc/sys/kernel/domainname").strip() == "example.org"
    api = engine.client().api
    body = {"Image": busybox, "Cmd": ["ls", "/sys/class/net"], "NetworkDisabled": True}
    cid = api._result(api._post_json(api._url("/containers/create"), data=body), True)["Id"]
    try:
        api.start(cid)
        assert api.wait(cid, timeout=60)["StatusCode"] == 0
        assert api.logs(cid, stderr=False).decode().split() == ["lo"]
    finally:
        api.remove_container(cid, force=True)


def test_ip_at_create_is_the_address_in_the_network_record(engine: Engine, busybox: str) -> None:
    engine.docker("network", "create", "--subnet", "10.97.3.0/24", "ipnet")
    try:
        cid = engine.docker("create", "--network", "ipnet", "--ip", "10.97.3.42", busybox, "sleep", "300").stdout.strip()
        created = json.loads(engine.docker("inspect", cid).stdout)[0]["NetworkSettings"]["Networks"]["ipnet"]
        assert created["IPAMConfig"]["IPv4Address"] == "10.97.3.42"  # reserved at create
        engine.docker("start", cid)
        shown = json.loads(engine.docker("network", "inspect", "ipnet").stdout)[0]
        engine.docker("rm", "-f", cid)
        # as dockerd, network inspect lists running containers only
        assert shown["Containers"][cid]["IPv4Address"] == "10.97.3.42/24"
    finally:
        engine.docker("network", "rm", "ipnet", check=False)


def test_docker_update_refuses_what_it_would_not_apply_naming_the_field(engine: Engine, busybox: str) -> None:
    engine.docker("create", "--name", "upd-fields", busybox, "true")
    try:
        refused = engine.docker("update", "--cpu-rt-runtime", "1000", "upd-fields", check=False)
        assert refused.returncode == 1
        assert "CpuRealtimeRuntime: 1000: real-time CPU scheduling needs cgroup v1 and root" in refused.stderr
        engine.docker("update", "--restart", "unless-stopped", "upd-fields")
        policy = engine.docker("inspect", "-f", "{{.HostConfig.RestartPolicy.Name}}", "upd-fields").stdout
        assert policy == "unless-stopped\n"
    finally:
        engine.docker("rm", "-f", "upd-fields", check=False)

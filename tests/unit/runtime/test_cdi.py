"""runtime/cdi.py: CDI specs the test writes (no GPU here: /dev/null stands in for a device node)."""
from __future__ import annotations

import json
import os

import pytest

from rootless.errors import FailedPrecondition, InvalidArgument, NotFound
from rootless.runtime import cdi

SPEC = {
    "cdiVersion": "0.6.0",
    "kind": "example.com/test",
    "containerEdits": {"env": ["SPEC_WIDE=1"]},
    "devices": [{
        "name": "null0",
        "containerEdits": {
            "env": ["EXAMPLE_DEVICE=null0", "PATH=/cdi/bin"],
            "deviceNodes": [{"path": "/dev/example0", "hostPath": "/dev/null", "permissions": "rw"}],
            "mounts": [{"hostPath": "/usr/lib/example", "containerPath": "/usr/lib/example",
                        "options": ["ro", "nosuid"]}],
            "hooks": [{"hookName": "createContainer", "path": "/usr/bin/example-hook", "args": ["example-hook", "x"]}],
        },
    }, {"name": "all", "containerEdits": {"env": ["ALL=1"]}}],
}


def _write(directory, name: str, data: object, as_yaml: bool = False) -> str:
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        if as_yaml:
            import yaml
            yaml.safe_dump(data, f)
        else:
            json.dump(data, f)
    return path


def _base_spec() -> dict:
    return {"process": {"env": ["PATH=/usr/bin", "HOME=/root"], "user": {"uid": 0, "gid": 0}},
            "mounts": [{"destination": "/dev/null", "type": "bind", "source": "/dev/null", "options": ["bind"]}]}


def test_a_device_applies_its_node_env_mount_and_hook(tmp_path):
    _write(tmp_path / "etc", "example.json", SPEC)
    devices = cdi.load_devices([str(tmp_path / "etc")])
    spec = _base_spec()
    cdi.apply(spec, cdi.resolve(["example.com/test=null0"], devices))
    assert spec["process"]["env"] == ["HOME=/root", "SPEC_WIDE=1", "EXAMPLE_DEVICE=null0", "PATH=/cdi/bin"]
    assert {"destination": "/dev/example0", "type": "bind", "source": "/dev/null",
            "options": ["bind", "nosuid", "noexec"]} in spec["mounts"]
    assert {"destination": "/usr/lib/example", "type": "bind", "source": "/usr/lib/example",
            "options": ["bind", "ro", "nosuid"]} in spec["mounts"]
    assert spec["hooks"] == {"createContainer": [{"path": "/usr/bin/example-hook", "args": ["example-hook", "x"]}]}


def test_yaml_specs_are_read(tmp_path):
    pytest.importorskip("yaml")
    _write(tmp_path, "example.yaml", SPEC, as_yaml=True)
    assert set(cdi.load_devices([str(tmp_path)])) == {"example.com/test=null0", "example.com/test=all"}


def test_var_run_overrides_etc_and_a_dir_may_not_define_a_device_twice(tmp_path):
    _write(tmp_path / "etc", "a.json", SPEC)
    override = {**SPEC, "devices": [{"name": "null0", "containerEdits": {"env": ["FROM=run"]}}]}
    _write(tmp_path / "run", "a.json", override)
    devices = cdi.load_devices([str(tmp_path / "etc"), str(tmp_path / "run")])
    assert devices["example.com/test=null0"].edits == {"env": ["FROM=run"]}
    assert "example.com/test=all" in devices
    _write(tmp_path / "run", "b.json", override)
    with pytest.raises(InvalidArgument, match="conflicting CDI device example.com/test=null0"):
        cdi.load_devices([str(tmp_path / "run")])


def test_unknown_device_and_bad_names(tmp_path):
    _write(tmp_path, "a.json", SPEC)
    devices = cdi.load_devices([str(tmp_path)])
    with pytest.raises(NotFound, match="CDI device example.com/test=gone: not found"):
        cdi.resolve(["example.com/test=gone"], devices)
    with pytest.raises(InvalidArgument):
        cdi.resolve(["/dev/sda"], devices)
    assert cdi.is_qualified_name("nvidia.com/gpu=0") and not cdi.is_qualified_name("/dev/null")


def test_gpus_all_maps_to_the_nvidia_spec_or_fails_clearly(tmp_path):
    _write(tmp_path, "a.json", SPEC)
    with pytest.raises(FailedPrecondition, match="no CDI spec of kind nvidia.com/gpu"):
        cdi.gpu_requests("all", cdi.load_devices([str(tmp_path)]))
    _write(tmp_path, "nvidia.json", {**SPEC, "kind": "nvidia.com/gpu"})
    devices = cdi.load_devices([str(tmp_path)])
    assert cdi.gpu_requests("all", devices) == ["nvidia.com/gpu=all"]
    assert cdi.resolve(cdi.gpu_requests("all", devices), devices)[0].edits == {"env": ["ALL=1"]}
    assert cdi.gpu_requests("device=0,1", devices) == ["nvidia.com/gpu=0", "nvidia.com/gpu=1"]
    with pytest.raises(InvalidArgument):
        cdi.gpu_requests("2", devices)


def _device(edits: dict) -> cdi.Device:
    return cdi.Device("example.com/test=x", edits, {}, "/etc/cdi/x.json")


@pytest.mark.parametrize("edits, error", [
    ({"intelRdt": {"closID": "x"}}, "intelRdt edits are not supported"),
    ({"deviceNodes": [{"path": "/dev/x", "hostPath": "/dev/null", "uid": 5}]}, "uid can't be applied"),
    ({"deviceNodes": [{"path": "/dev/x", "hostPath": "/nonexistent-node"}]}, "host node /nonexistent-node"),
    ({"deviceNodes": [{"path": "dev/x"}]}, "must be an absolute path"),
    ({"hooks": [{"hookName": "onBoot", "path": "/bin/true"}]}, "hookName 'onBoot'"),
    ({"env": ["NOEQUALS"]}, "expected KEY=VALUE"),
])
def test_edits_that_cant_be_applied_are_refused(edits, error):
    with pytest.raises((InvalidArgument, FailedPrecondition), match=error):
        cdi.apply(_base_spec(), [_device(edits)])


def test_a_regular_file_is_not_a_device_node(tmp_path):
    path = tmp_path / "plain"
    path.write_text("")
    with pytest.raises(InvalidArgument, match="is not a device node"):
        cdi.apply(_base_spec(), [_device({"deviceNodes": [{"path": "/dev/x", "hostPath": str(path)}]})])


def test_a_broken_spec_file_is_named(tmp_path):
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(InvalidArgument, match="bad.json"):
        cdi.load_devices([str(tmp_path)])
    (tmp_path / "bad.json").write_text(json.dumps({"kind": "nokind", "devices": [{"name": "a"}]}))
    with pytest.raises(InvalidArgument, match="is not vendor.com/class"):
        cdi.load_devices([str(tmp_path)])


def test_additional_gids_and_missing_dirs(tmp_path):
    spec = _base_spec()
    cdi.apply(spec, [_device({"additionalGids": [44, 44]})])
    assert spec["process"]["user"]["additionalGids"] == [44]
    assert cdi.load_devices([str(tmp_path / "absent")]) == {}


def test_build_spec_applies_cdi_devices_last(tmp_path):
    """The runtime side of the wiring: SpecOptions.cdi_devices -> build_spec edits config.json."""
    from rootless.host.userns import IdMap, Mapping
    from rootless.runtime.spec import HostFacts, SpecOptions, build_spec

    _write(tmp_path / "cdi", "example.json", SPEC)
    etc = tmp_path / "rootfs" / "etc"
    etc.mkdir(parents=True)
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (etc / "group").write_text("root:x:0:\n")
    host = HostFacts(rlimits={}, last_cap=40, oom_score_adj=0, machine="x86_64", kernel=(6, 1),
                     init_binary=None, devices=())
    mapping = Mapping((IdMap(0, 1000, 1),), (IdMap(0, 1000, 1),))
    options = SpecOptions(rootfs=str(tmp_path / "rootfs"), args=["sh"], env=["PATH=/bin"], hooks_dirs=[],
                          cdi_devices=["example.com/test=null0"], cdi_spec_dirs=[str(tmp_path / "cdi")])
    config = build_spec(options, mapping, host)
    assert "EXAMPLE_DEVICE=null0" in config["process"]["env"] and "PATH=/cdi/bin" in config["process"]["env"]
    assert [m["source"] for m in config["mounts"] if m["destination"] == "/dev/example0"] == ["/dev/null"]
    assert config["hooks"]["createContainer"][0]["path"] == "/usr/bin/example-hook"
    with pytest.raises(NotFound):
        build_spec(SpecOptions(rootfs=str(tmp_path / "rootfs"), args=["sh"], hooks_dirs=[],
                               cdi_devices=["example.com/test=nope"], cdi_spec_dirs=[str(tmp_path / "cdi")]),
                   mapping, host)

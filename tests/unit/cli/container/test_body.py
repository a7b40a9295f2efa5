from __future__ import annotations

import json

import pytest

from rootless.cli.container.body import CreateOptions, build_create_body
from rootless.errors import InvalidArgument

FILES = {"/tmp/env": "A=from-file\n", "/tmp/seccomp.json": '{"defaultAction":"SCMP_ACT_ALLOW"}'}


def body(**kwargs):
    image = kwargs.pop("image", "127.0.0.1:5000/busybox:latest")
    command = kwargs.pop("command", ())
    return build_create_body(CreateOptions(**kwargs), image, command, {"HOME": "/home/u"}, FILES.__getitem__, "/w")


def test_defaults_match_docker_cli():
    assert body(command=("sh", "-c", "echo hi")) == {
        "Hostname": "", "Domainname": "", "User": "", "AttachStdin": False, "AttachStdout": True,
        "AttachStderr": True, "ExposedPorts": {}, "Tty": False, "OpenStdin": False, "StdinOnce": False,
        "Env": [], "Cmd": ["sh", "-c", "echo hi"], "Image": "127.0.0.1:5000/busybox:latest", "Volumes": {},
        "WorkingDir": "", "Entrypoint": None, "OnBuild": None, "Labels": {},
        "HostConfig": {
            "Binds": None, "NetworkMode": "default", "PortBindings": {},
            "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}, "AutoRemove": False,
            "LogConfig": {"Type": "", "Config": {}}, "Mounts": None, "PublishAllPorts": False,
            "Privileged": False, "ReadonlyRootfs": False, "CapAdd": None, "CapDrop": None, "Dns": [],
            "ExtraHosts": None, "SecurityOpt": None, "Tmpfs": None, "PidMode": "", "IpcMode": "",
            "Devices": [], "DeviceCgroupRules": None},
        "NetworkingConfig": {"EndpointsConfig": {}},
    }


def test_interactive_tty_detached():
    it = body(interactive=True, tty=True, console_size=(24, 80))
    assert (it["AttachStdin"], it["OpenStdin"], it["StdinOnce"], it["Tty"]) == (True, True, True, True)
    assert it["HostConfig"]["ConsoleSize"] == [24, 80]
    assert it["Cmd"] is None
    detached = body(detach=True, interactive=True)
    assert (detached["AttachStdin"], detached["AttachStdout"], detached["OpenStdin"], detached["StdinOnce"]) == (
        False, False, True, False)


def test_every_flag_lands_in_its_field():
    b = body(rm=True, env=("B=2", "HOME"), env_file=("/tmp/env",), workdir="/tmp", user="1000:1000",
             entrypoint="", hostname="box", label=("a=b",), publish=("127.0.0.1:18080:8080",), expose=("9000",),
             volume=("vol:/data", "/anon", "./here:/h:ro"), mount=("type=tmpfs,target=/t",), tmpfs=("/run:size=1m",),
             network="mynet", network_alias=("db",), read_only=True, cap_add=("NET_ADMIN",), cap_drop=("ALL",),
             privileged=True, init=True, ulimit=("nofile=10:20",), security_opt=("seccomp=/tmp/seccomp.json",
                                                                                 "no-new-privileges"),
             memory="64m", cpus="0.5", pids_limit=100, shm_size="1m", add_host=("db:10.0.0.2",), dns=("1.1.1.1",),
             stop_signal="SIGINT", stop_timeout=3)
    host = b["HostConfig"]
    assert b["Env"] == ["A=from-file", "B=2", "HOME=/home/u"]
    assert (b["WorkingDir"], b["User"], b["Entrypoint"], b["Hostname"]) == ("/tmp", "1000:1000", [""], "box")
    assert b["ExposedPorts"] == {"8080/tcp": {}, "9000/tcp": {}}
    assert b["Volumes"] == {"/anon": {}}
    assert (b["StopSignal"], b["StopTimeout"], b["Labels"]) == ("SIGINT", 3, {"a": "b"})
    assert host["PortBindings"] == {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "18080"}]}
    assert host["Binds"] == ["vol:/data", "/w/here:/h:ro"]
    assert host["Mounts"] == [{"Type": "tmpfs", "Target": "/t"}]
    assert host["Tmpfs"] == {"/run": "size=1m"}
    assert (host["AutoRemove"], host["NetworkMode"], host["ReadonlyRootfs"], host["Privileged"], host["Init"]) == (
        True, "mynet", True, True, True)
    assert (host["CapAdd"], host["CapDrop"], host["Dns"], host["ExtraHosts"]) == (
        ["NET_ADMIN"], ["ALL"], ["1.1.1.1"], ["db:10.0.0.2"])
    assert host["SecurityOpt"] == ['seccomp={"defaultAction":"SCMP_ACT_ALLOW"}', "no-new-privileges"]
    assert host["Ulimits"] == [{"Name": "nofile", "Soft": 10, "Hard": 20}]
    assert (host["Memory"], host["NanoCpus"], host["PidsLimit"], host["ShmSize"]) == (64 << 20, 500000000, 100, 1 << 20)
    assert b["NetworkingConfig"] == {"EndpointsConfig": {"mynet": {"Aliases": ["db"]}}}
    json.dumps(b)


def test_namespace_and_device_flags_as_the_docker_cli_sends_them():
    b = body(pid="host", ipc="container:db", network="container:db",
             device=("/dev/fuse", "/dev/null:/dev/n", "/dev/zero:r", "/dev/full:/dev/f:rw", "vendor.com/gpu=0"),
             device_cgroup_rule=("c 10:229 rwm",))
    host = b["HostConfig"]
    assert (host["PidMode"], host["IpcMode"], host["NetworkMode"]) == ("host", "container:db", "container:db")
    assert host["Devices"] == [
        {"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse", "CgroupPermissions": "rwm"},
        {"PathOnHost": "/dev/null", "PathInContainer": "/dev/n", "CgroupPermissions": "rwm"},
        {"PathOnHost": "/dev/zero", "PathInContainer": "/dev/zero", "CgroupPermissions": "r"},
        {"PathOnHost": "/dev/full", "PathInContainer": "/dev/f", "CgroupPermissions": "rw"},
        {"PathOnHost": "vendor.com/gpu=0", "PathInContainer": "", "CgroupPermissions": ""}]
    assert host["DeviceCgroupRules"] == ["c 10:229 rwm"]
    assert b["NetworkingConfig"] == {"EndpointsConfig": {}}  # no endpoint: the other container's network


@pytest.mark.parametrize("spec,message", [
    ("/dev/a:/b:/c:rw", "invalid device specification"), ("/dev/a:/b:rwx", "invalid device mode: rwx"),
    ("/dev/a:b", "must be absolute"), (":/b", "invalid device specification"),
])
def test_a_bad_device_is_refused_by_the_cli(spec, message):
    with pytest.raises(InvalidArgument, match=message):
        body(device=(spec,))


def test_conflicts():
    with pytest.raises(InvalidArgument, match="--restart and --rm"):
        body(rm=True, restart="always")
    with pytest.raises(InvalidArgument, match="user-defined networks"):
        body(network_alias=("x",))


def test_log_driver_and_options():
    host = body(log_driver="json-file", log_opt=("max-size=1k", "max-file=3"))["HostConfig"]
    assert host["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "1k", "max-file": "3"}}
    with pytest.raises(InvalidArgument, match="invalid key-value log-opt: max-size"):
        body(log_opt=("max-size",))
    with pytest.raises(InvalidArgument, match="invalid logging opts for driver none"):
        body(log_driver="none", log_opt=("max-size=1k",))


def test_health_flags_build_docker_cli_healthcheck():
    assert body(health_cmd="test -f /ok", health_interval="1s", health_retries=2,
                health_start_interval="500ms")["Healthcheck"] == {
        "Test": ["CMD-SHELL", "test -f /ok"], "Interval": 1_000_000_000, "Timeout": 0, "StartPeriod": 0,
        "StartInterval": 500_000_000, "Retries": 2}
    assert body(no_healthcheck=True)["Healthcheck"] == {"Test": ["NONE"]}
    assert "Healthcheck" not in body()
    with pytest.raises(InvalidArgument, match="--no-healthcheck conflicts with --health-\\* options"):
        body(no_healthcheck=True, health_cmd="true")
    with pytest.raises(InvalidArgument, match='invalid duration "soon"'):
        body(health_cmd="true", health_timeout="soon")
    with pytest.raises(InvalidArgument, match="--health-interval cannot be negative"):
        body(health_cmd="true", health_interval="-1s")

from __future__ import annotations

import io
import tarfile
import time

import pytest

from rootless.cli import _error_exit_code
from rootless.cli.container import cp as cp_module
from rootless.cli.container.exec import exec_body
from rootless.errors import Conflict, Internal, NotFound

NOW = 1_700_000_000
SUMMARY = {
    "Id": "0123456789ab" + "c" * 52, "Names": ["/web"], "Image": "127.0.0.1:5000/busybox:latest",
    "Command": "sh -c 'echo hello; sleep 100'", "Created": NOW - 3, "State": "running", "Status": "Up 3 seconds",
    "Ports": [{"IP": "127.0.0.1", "PrivatePort": 8080, "PublicPort": 18080, "Type": "tcp"},
              {"PrivatePort": 9000, "Type": "udp"}],
    "Labels": {"b": "2", "a": "1"}, "Mounts": [], "NetworkSettings": {"Networks": {"bridge": {}}},
}


@pytest.fixture
def frozen(monkeypatch):
    monkeypatch.setattr(time, "time", lambda: NOW)


def test_ps_default_table(invoke, fake_client, frozen):
    fake_client.answers["containers"] = [SUMMARY]
    result = invoke("ps")
    assert result.output.splitlines() == [
        "CONTAINER ID   IMAGE                           COMMAND                  CREATED         STATUS"
        "         PORTS                                 NAMES",
        "0123456789ab   127.0.0.1:5000/busybox:latest   \"sh -c 'echo hello; …\"   3 seconds ago   Up 3 seconds"
        "   127.0.0.1:18080->8080/tcp, 9000/udp   web",
    ]
    assert fake_client.called("containers") == [((), {"all": False, "limit": None, "size": False, "filters": {}})]


def test_ps_quiet_format_filters(invoke, fake_client, frozen):
    fake_client.answers["containers"] = [SUMMARY]
    assert invoke("ps", "-q").output == "0123456789ab\n"
    assert invoke("ps", "--no-trunc", "-q").output == SUMMARY["Id"] + "\n"
    assert invoke("ps", "--format", "{{.Names}}|{{.Labels}}|{{.State}}").output == "web|a=1,b=2|running\n"
    invoke("ps", "-a", "--filter", "status=exited", "-f", "label=a", "-n", "2")
    assert fake_client.called("containers")[-1] == ((), {"all": True, "limit": 2, "size": False,
                                                         "filters": {"status": ["exited"], "label": ["a"]}})


def test_run_detached_prints_id(invoke, fake_client):
    fake_client.answers["create_container"] = {"Id": "f" * 64, "Warnings": []}
    result = invoke("run", "-d", "--name", "web", "-e", "A=1", "img", "sh", "-c", "true")
    assert result.output == "f" * 64 + "\n"
    (body, name, platform), _ = fake_client.called("create_container")[0]
    assert (name, platform, body["Cmd"], body["Env"], body["AttachStdout"]) == (
        "web", None, ["sh", "-c", "true"], ["A=1"], False)
    assert fake_client.called("start") == [(("f" * 64,), {})]


def test_create_pulls_a_missing_image(invoke, fake_client):
    answers = [NotFound("No such image: img:latest"), {"Id": "e" * 64, "Warnings": ["careful"]}]

    def create(*args, **kwargs):
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    fake_client.answers["create_container"] = create
    fake_client.answers["pull"] = [{"status": "Pulling from img", "id": "latest"},
                                   {"status": "Downloading", "progressDetail": {"current": 1, "total": 2}, "id": "ab"},
                                   {"status": "Status: Downloaded newer image for img:latest"}]
    result = invoke("create", "img")
    assert result.stdout == "e" * 64 + "\n"
    assert result.stderr == ("Unable to find image 'img:latest' locally\nlatest: Pulling from img\n"
                             "Status: Downloaded newer image for img:latest\nWARNING: careful\n")
    assert fake_client.called("pull") == [(("img", "latest", None), {})]


def test_pull_never_does_not_pull(invoke, fake_client):
    fake_client.answers["create_container"] = NotFound("No such image: img:latest")
    with pytest.raises(NotFound):
        invoke("run", "--pull", "never", "img")
    assert fake_client.called("pull") == []


def test_rm_force_ignores_missing(invoke, fake_client):
    fake_client.answers["remove_container"] = NotFound("No such container: nope")
    forced = invoke("rm", "-f", "nope")
    assert (forced.exit_code, forced.stdout, forced.stderr) == (0, "", "Error: No such container: nope\n")
    assert invoke("rm", "nope").exit_code == 1
    fake_client.answers["remove_container"] = None
    assert invoke("rm", "-v", "a", "b").output == "a\nb\n"
    assert fake_client.called("remove_container")[-1] == (("b", False, True), {})


def test_stop_reports_each_failure(invoke, fake_client):
    def stop(name, timeout, signal):
        if name == "bad":
            raise Conflict("cannot stop bad")
    fake_client.answers["stop"] = stop
    result = invoke("stop", "-t", "3", "good", "bad", "good2")
    assert (result.exit_code, result.stdout, result.stderr) == (1, "good\ngood2\n", "Error: cannot stop bad\n")


def test_inspect_falls_through_kinds_and_formats(invoke, fake_client):
    fake_client.answers["inspect_container"] = NotFound("No such container: img")
    fake_client.answers["inspect_image"] = {"Id": "sha256:abc", "Config": {"Env": ["A=1"]}}
    assert invoke("inspect", "-f", "{{.Id}} {{json .Config.Env}}", "img").output == 'sha256:abc ["A=1"]\n'
    assert invoke("inspect", "img").output == '[\n    {\n        "Id": "sha256:abc",\n        "Config": {\n' \
        '            "Env": [\n                "A=1"\n            ]\n        }\n    }\n]\n'
    fake_client.answers["inspect_image"] = NotFound("No such image: x")
    fake_client.answers["inspect_volume"] = NotFound("no such volume")
    fake_client.answers["inspect_network"] = NotFound("network x not found")
    result = invoke("inspect", "x")
    assert (result.exit_code, result.stdout, result.stderr) == (1, "[]\n", "Error: No such object: x\n")


def test_port(invoke, fake_client):
    fake_client.answers["inspect_container"] = {"NetworkSettings": {"Ports": {
        "8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "18080"}], "53/udp": None,
        "80/tcp": [{"HostIp": "", "HostPort": "32768"}, {"HostIp": "::", "HostPort": "32768"}]}}}
    assert invoke("port", "c").output == "80/tcp -> 0.0.0.0:32768\n80/tcp -> [::]:32768\n8080/tcp -> 127.0.0.1:18080\n"
    assert invoke("port", "c", "8080").output == "127.0.0.1:18080\n"


def test_volume_and_network_listing(invoke, fake_client):
    fake_client.answers["volumes"] = {"Volumes": [{"Name": "v2", "Driver": "local"}, {"Name": "v1", "Driver": "local"}]}
    assert invoke("volume", "ls").output == "DRIVER    VOLUME NAME\nlocal     v1\nlocal     v2\n"
    assert invoke("volume", "ls", "-q").output == "v1\nv2\n"
    fake_client.answers["networks"] = [{"Id": "a" * 64, "Name": "bridge", "Driver": "bridge", "Scope": "local"}]
    assert invoke("network", "ls").output == ("NETWORK ID     NAME      DRIVER    SCOPE\n"
                                              "aaaaaaaaaaaa   bridge    bridge    local\n")
    fake_client.answers["create_network"] = {"Id": "b" * 64, "Warning": ""}
    assert invoke("network", "create", "--subnet", "10.9.0.0/24", "n1").output == "b" * 64 + "\n"
    (body,), _ = fake_client.called("create_network")[0]
    assert body["IPAM"]["Config"] == [{"Subnet": "10.9.0.0/24"}] and body["Name"] == "n1"


def test_prune_reports(invoke, fake_client):
    fake_client.answers["prune_containers"] = {"ContainersDeleted": ["x1"], "SpaceReclaimed": 2048}
    assert invoke("container", "prune", "-f").output == "Deleted Containers:\nx1\n\nTotal reclaimed space: 2.048kB\n"
    assert invoke("container", "prune", input="n\n").exit_code == 0
    assert len(fake_client.called("prune_containers")) == 1


def test_exit_codes():
    assert _error_exit_code(["run", "img"], Internal("boom")) == 125
    assert _error_exit_code(["--root", "/r", "container", "create", "img"]) == 125
    assert _error_exit_code(["ps"]) == 1
    marked = Internal("not found")
    marked.exit_status = 127  # type: ignore[attr-defined]
    assert _error_exit_code(["run", "img"], marked) == 127


def test_exec_body():
    body = exec_body(("sh", "-c", "x"), interactive=True, tty=False, detach=False, env=("A=1",),
                     env_text="B=2\n", user="app", workdir="/tmp", privileged=False, detach_keys="")
    assert body == {"User": "app", "Privileged": False, "Tty": False, "AttachStdin": True, "AttachStderr": True,
                    "AttachStdout": True, "Detach": False, "DetachKeys": "", "Env": ["B=2", "A=1"],
                    "WorkingDir": "/tmp", "Cmd": ["sh", "-c", "x"]}


def test_cp_paths_and_tars(tmp_path):
    assert cp_module.split_cp_arg("web:/etc") == ("web", "/etc")
    assert cp_module.split_cp_arg("./a:b") == (None, "./a:b")
    assert cp_module.split_cp_arg("-") == (None, "-")
    assert cp_module.rename_root("etc/passwd", "etc", "etc2") == "etc2/passwd"
    assert cp_module.rename_root("etc", "etc", "") is None
    src = tmp_path / "src"
    src.mkdir()
    (src / "f.txt").write_text("data")
    buffer = io.BytesIO()
    assert cp_module.make_tar(str(src), "src", buffer) == 4
    buffer.seek(0)
    dest = tmp_path / "dest"
    dest.mkdir()
    assert cp_module.extract_tar(buffer, str(dest), "renamed") == 4
    assert (dest / "renamed" / "f.txt").read_text() == "data"
    assert cp_module.local_target(str(dest), "/etc/") == (str(dest), "etc")
    assert cp_module.local_target(str(dest / "new"), "/etc") == (str(dest), "new")


def test_cp_refuses_escaping_tar(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo("x/../../evil")
        archive.addfile(info, io.BytesIO(b""))
    buffer.seek(0)
    with pytest.raises(Exception, match="outside the target"):
        cp_module.extract_tar(buffer, str(tmp_path), "x")


def test_update_sends_dockers_flags_as_the_update_body(invoke, fake_client):
    fake_client.answers["update"] = {"Warnings": []}
    result = invoke("update", "--restart", "on-failure:3", "-m", "64m", "--memory-swap", "-1", "--pids-limit", "-1",
                    "--cpus", "1.5", "web", "db")
    assert result.exit_code == 0 and result.output == "web\ndb\n"
    body = {"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3}, "Memory": 64 << 20, "MemorySwap": -1,
            "PidsLimit": -1, "NanoCpus": 1_500_000_000}
    assert fake_client.called("update") == [(("web", body), {}), (("db", body), {})]


def test_update_without_flags_is_refused() -> None:
    from rootless.cli.container.update import update_body
    from rootless.errors import InvalidArgument
    with pytest.raises(InvalidArgument, match="one or more flags"):
        update_body({"memory": None, "restart": None})

"""--format on info, events, version, inspect and ps: docker's Go templates, bad ones refused (issue 11)."""
from __future__ import annotations

import pytest

from rootless.cli.format import render
from rootless.errors import InvalidArgument

INFO = {"ServerVersion": "0.9", "Driver": "overlay", "Rootless": {"Socket": "/run/user/1000/rootless/api.sock"}}
EVENT = {"Type": "container", "Action": "start", "Actor": {"ID": "abc", "Attributes": {"name": "box"}},
         "time": 1, "timeNano": 1000000000}
VERSION = {"Version": "0.9", "ApiVersion": "1.44", "MinAPIVersion": "1.24", "Os": "linux", "Arch": "amd64",
           "KernelVersion": "6.1", "Components": []}


def test_info_format_renders_docker_and_rootless_fields(invoke, fake_client):
    fake_client.answers["info"] = INFO
    result = invoke("info", "--format", "{{.ServerVersion}} {{.Socket}} {{.Rootless.Socket}}")
    assert result.output == "0.9 /run/user/1000/rootless/api.sock /run/user/1000/rootless/api.sock\n"


def test_events_format_renders_each_event(invoke, fake_client):
    fake_client.answers["events"] = [EVENT, dict(EVENT, Action="die")]
    result = invoke("events", "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}")
    assert result.output == "container start box\ncontainer die box\n"
    assert invoke("events", "--format", "json").output.splitlines()[0].startswith('{"Type":"container"')


def test_version_format_has_client_and_server(invoke, fake_client):
    fake_client.answers["version"] = VERSION
    result = invoke("version", "--format", "{{.Server.Version}}/{{.Server.ApiVersion}}/{{.Client.ApiVersion}}")
    assert result.output == "0.9/1.44/1.44\n"


@pytest.mark.parametrize("verb", [("info",), ("events",), ("version",), ("ps",), ("images",),
                                  ("volume", "ls"), ("network", "ls"), ("inspect", "x"),
                                  ("image", "inspect", "x"), ("system", "df"), ("history", "x")])
def test_a_malformed_template_is_an_error_not_echoed(invoke, fake_client, verb):
    """Before: `{{.Foo` has no closing braces, so it was printed back as text with exit 0."""
    fake_client.answers.update(info=INFO, version=VERSION, events=[EVENT], containers=[], images=[],
                               volumes={"Volumes": []}, networks=[], disk_usage={}, history=[])
    with pytest.raises(InvalidArgument) as caught:
        invoke(*verb, "--format", "{{.Foo")
    assert caught.value.message == "template parsing error: template: :1: unclosed action"


@pytest.mark.parametrize("bad,reason", [
    ("{{.A}", "unclosed action"),
    ("{{if .A}}x", "unexpected EOF"),
    ("{{end}}", "unexpected {{end}}"),
    ("{{.A | nofunc}}", 'function "nofunc" not defined'),
    ("a\n{{.A}\n", ":2: unclosed action"),
])
def test_parse_errors_use_text_templates_words(bad, reason):
    with pytest.raises(InvalidArgument) as caught:
        render(bad, {})
    assert caught.value.message.startswith("template parsing error: template: :")
    assert reason in caught.value.message


def test_go_comparison_builtins():
    assert render('{{if eq .State "running"}}up{{else}}down{{end}}', {"State": "running"}) == "up"
    assert render("{{if and .A (not .B)}}y{{end}}{{or .B 7}}", {"A": 1, "B": 0}) == "y7"


def test_ps_size_shows_virtual_size_like_docker(invoke, fake_client):
    fake_client.answers["containers"] = [{
        "Id": "a" * 64, "Names": ["/box"], "Image": "busybox", "Command": "sh", "Created": 0, "Ports": [],
        "Labels": {}, "State": "exited", "Status": "Exited (0)", "SizeRw": 0, "SizeRootFs": 4300000}]
    result = invoke("ps", "-a", "-s", "--format", "{{.Names}} {{.Size}}")
    assert result.output == "box 0B (virtual 4.3MB)\n"
    assert fake_client.called("containers")[0][1]["size"] is True

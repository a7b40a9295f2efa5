from __future__ import annotations

import pytest

from rootless.cli.format import format_rows, format_value, render, tabwrite
from rootless.errors import InvalidArgument

INSPECT = {
    "Id": "abc",
    "State": {"Status": "running", "Pid": 42, "Running": True, "ExitCode": 0},
    "Config": {"Env": ["A=1", "B=2"], "Labels": {"k": "v", "com.x": "y"}, "Cmd": None, "Tty": False},
    "NetworkSettings": {"Ports": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]}},
    "Mounts": [],
}


@pytest.mark.parametrize("fmt,expected", [
    ("{{.State.Status}}", "running"),
    ("{{.State.Pid}} {{.State.Running}}", "42 true"),
    ("{{json .Config.Labels}}", '{"k":"v","com.x":"y"}'),
    ("{{json .Config.Env}}", '["A=1","B=2"]'),
    ("{{.Config.Cmd}}", "<nil>"),
    ("{{.Nope.Deeper}}", "<no value>"),
    ('{{index .Config.Labels "com.x"}}', "y"),
    ('{{(index (index .NetworkSettings.Ports "80/tcp") 0).HostPort}}', "8080"),
    ("{{range .Config.Env}}[{{.}}]{{end}}", "[A=1][B=2]"),
    ("{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}", "com.x=y;k=v;"),
    ('{{range $p, $b := .NetworkSettings.Ports}}{{$p}}->{{(index $b 0).HostPort}}{{end}}', "80/tcp->8080"),
    ("{{range .Mounts}}x{{else}}none{{end}}", "none"),
    ("{{if .State.Running}}up{{else}}down{{end}}", "up"),
    ("{{if .Config.Tty}}tty{{else}}notty{{end}}", "notty"),
    ("{{with .State}}{{.Status}}{{end}}", "running"),
    ('{{join .Config.Env ","}}', "A=1,B=2"),
    ("{{.State.Status | upper}}", "RUNNING"),
    ("{{len .Config.Env}}", "2"),
    ('{{printf "%s-%d" .Id 7}}', "abc-7"),
    ("a {{- .Id -}} b", "aabcb"),
    ("{{.Config.Labels}}", "map[com.x:y k:v]"),
    ("{{json .}}", None),
    ("{{$.Id}}", "abc"),
])
def test_render(fmt, expected):
    if expected is None:
        assert render(fmt, INSPECT).startswith('{"Id":"abc"')
        return
    assert render(fmt, INSPECT) == expected


def test_backslash_escapes_become_tab_and_newline():
    assert render(r"{{.Id}}\t{{.State.Status}}\n", INSPECT) == "abc\trunning\n"


@pytest.mark.parametrize("bad", ["{{if .Id}}x", "{{end}}", "{{.Id ~}}", "{{nofunc .Id}}"])
def test_bad_templates_are_invalid_argument(bad):
    with pytest.raises(InvalidArgument):
        render(bad, INSPECT)


def test_format_value_like_go():
    assert format_value(3.0) == "3"
    assert format_value([1, "a", None]) == "[1 a <nil>]"
    assert format_value(False) == "false"


def test_tabwrite_pads_to_min_10_plus_3():
    assert tabwrite(["CONTAINER ID\tNAMES", "abc\tx"]) == ["CONTAINER ID   NAMES", "abc            x"]
    assert tabwrite(["A\tB\tC", "long-value-here\tb\tc"]) == ["A                 B         C",
                                                            "long-value-here   b         c"]


def test_format_rows_table_with_headers():
    rows = [{"ID": "abc", "Names": "web"}, {"ID": "defghi", "Names": "db"}]
    lines = format_rows("table {{.ID}}\t{{.Names}}\t{{.Other}}", rows, {"ID": "CONTAINER ID", "Names": "NAMES"})
    assert lines == ["CONTAINER ID   NAMES     OTHER",
                     "abc            web       <no value>",
                     "defghi         db        <no value>"]


def test_format_rows_plain_and_json():
    rows = [{"ID": "a"}, {"ID": "b"}]
    assert format_rows("{{.ID}}", rows, {}) == ["a", "b"]
    assert format_rows("json", rows, {}) == ['{"ID":"a"}', '{"ID":"b"}']


@pytest.mark.parametrize("source", [".ID", " .ID ", ".A.B", ".A_b.c9", ".Labels.x", ".", "..A", ".A.", ".0", ".é.ñ",
                                    ".²", ".A-B", ".A B", "json .X", "$x.A", ".A|upper", "index .M \"k\""])
def test_a_field_chain_tokenizes_as_the_token_regex_does(source: str) -> None:
    """_tokenize reads `.A.B` without compiling _TOKEN (cli/fast.py start-up): the same tokens as the regex."""
    import re

    from rootless.cli import format as fmt

    regex = re.compile(fmt._TOKEN_PATTERN)
    expected, pos, text = [], 0, source.strip()
    while pos < len(text):
        match = regex.match(text, pos)
        if not match or match.end() == pos:
            expected = None
            break
        expected.append(match.group(1))
        pos = match.end()
    try:
        tokens = fmt._tokenize(source)
    except InvalidArgument:
        tokens = None
    assert tokens == expected

"""The Dockerfile parser, on strings alone: real-world files, every instruction, every error's line."""
from __future__ import annotations

import re
import textwrap

import pytest

from rootless.build import dockerfile as df
from rootless.build.dockerfile import (Add, Arg, ArgDecl, Cmd, Copy, DockerfileError, Entrypoint, Env, Expose,
                                       From, Healthcheck, Label, Maintainer, Onbuild, Run, Shell, StageVars,
                                       StopSignal, User, Volume, Workdir, expand_instruction, expand_word,
                                       expand_words, parse_dockerfile)
from rootless.errors import InvalidArgument


def parse(text: str) -> df.Dockerfile:
    return parse_dockerfile(textwrap.dedent(text).lstrip("\n"))


def only(text: str) -> df.Instruction:
    """The one instruction after ``FROM scratch``."""
    stage = parse("FROM scratch\n" + textwrap.dedent(text).lstrip("\n")).stages[0]
    assert len(stage.instructions) == 1
    return stage.instructions[0]


# ---------------------------------------------------------------- real-world files

GO_MULTI_STAGE = """
    # syntax=docker/dockerfile:1.6
    ARG GO_VERSION=1.22
    FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-alpine AS build
    WORKDIR /src
    COPY go.mod go.sum ./
    RUN --mount=type=cache,target=/go/pkg/mod \\
        go mod download
    COPY . .
    ARG TARGETOS TARGETARCH
    RUN --mount=type=cache,target=/root/.cache/go-build \\
        CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -o /out/server ./cmd/server

    FROM gcr.io/distroless/static:nonroot AS runtime
    COPY --from=build /out/server /server
    USER nonroot:nonroot
    EXPOSE 8080
    ENTRYPOINT ["/server"]
"""

DEBIAN_APT = """
    FROM debian:bookworm-slim
    LABEL maintainer="ops@example.com" \\
          org.opencontainers.image.title="web"
    ENV DEBIAN_FRONTEND=noninteractive \\
        LANG=C.UTF-8
    RUN apt-get update \\
     && apt-get install -y --no-install-recommends \\
            ca-certificates \\
            curl \\
            # a comment inside the continuation is dropped
            nginx \\
     && rm -rf /var/lib/apt/lists/*
    COPY nginx.conf /etc/nginx/nginx.conf
    VOLUME ["/var/cache/nginx"]
    EXPOSE 80/tcp 443
    STOPSIGNAL SIGQUIT
    HEALTHCHECK --interval=30s --timeout=3s --retries=3 CMD curl -fs http://localhost/ || exit 1
    CMD ["nginx", "-g", "daemon off;"]
"""

PYTHON_APP = """
    FROM python:3.12-slim
    ENV PYTHONDONTWRITEBYTECODE 1
    ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
    WORKDIR /app
    RUN useradd --create-home app
    COPY --chown=app:app requirements.txt .
    RUN pip install -r requirements.txt
    COPY --chown=app:app --chmod=0644 . .
    USER app
    SHELL ["/bin/bash", "-o", "pipefail", "-c"]
    ONBUILD COPY . /app/extra
    CMD gunicorn -b 0.0.0.0:8000 app:app
"""


def test_go_multi_stage_build_parses() -> None:
    d = parse(GO_MULTI_STAGE)
    assert d.syntax == "docker/dockerfile:1.6" and any("syntax directive" in w for w in d.warnings)
    assert d.meta_args == (Arg(2, 2, "ARG GO_VERSION=1.22", args=(ArgDecl("GO_VERSION", "1.22"),)),)
    build, runtime = d.stages
    assert build.from_ == From(3, 3, "FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-alpine AS build",
                               base="golang:${GO_VERSION}-alpine", name="build", platform="$BUILDPLATFORM")
    run = build.instructions[2]
    assert isinstance(run, Run) and (run.line, run.end_line) == (6, 7)
    assert run.command == ("go mod download",) and run.shell_form
    assert [(m.type, m.target, m.readonly) for m in run.mounts] == [("cache", "/go/pkg/mod", False)]
    assert run.original == "RUN --mount=type=cache,target=/go/pkg/mod     go mod download"
    assert build.instructions[4] == Arg(9, 9, "ARG TARGETOS TARGETARCH",
                                        args=(ArgDecl("TARGETOS"), ArgDecl("TARGETARCH")))
    copy = runtime.instructions[0]
    assert isinstance(copy, Copy) and copy.from_ref == "build" and copy.sources == ("/out/server",)
    assert runtime.instructions[-1] == Entrypoint(17, 17, 'ENTRYPOINT ["/server"]', command=("/server",),
                                                  shell_form=False)
    assert d.step_count == 1 + 2 + 6 + 4  # global ARG, two FROMs, the instructions


def test_debian_apt_file_parses() -> None:
    d = parse(DEBIAN_APT)
    (stage,) = d.stages
    label, env, run, copy, volume, expose, stop, health, cmd = stage.instructions
    assert isinstance(label, Label) and label.pairs == (("maintainer", '"ops@example.com"'),
                                                        ("org.opencontainers.image.title", '"web"'))
    assert isinstance(env, Env) and env.pairs == (("DEBIAN_FRONTEND", "noninteractive"), ("LANG", "C.UTF-8"))
    assert isinstance(run, Run) and (run.line, run.end_line) == (6, 12)
    assert "# a comment" not in run.command[0] and re.search(r"curl +nginx", run.command[0])
    assert isinstance(copy, Copy) and copy.dest == "/etc/nginx/nginx.conf"
    assert volume == Volume(14, 14, 'VOLUME ["/var/cache/nginx"]', paths=("/var/cache/nginx",))
    assert expose == Expose(15, 15, "EXPOSE 80/tcp 443", ports=("80/tcp", "443"))
    assert stop == StopSignal(16, 16, "STOPSIGNAL SIGQUIT", signal="SIGQUIT")
    assert health == Healthcheck(17, 17, health.original, test=("CMD-SHELL", "curl -fs http://localhost/ || exit 1"),
                                 interval=30 * 10**9, timeout=3 * 10**9, retries=3)
    assert cmd == Cmd(18, 18, 'CMD ["nginx", "-g", "daemon off;"]', command=("nginx", "-g", "daemon off;"),
                      shell_form=False)


def test_python_app_parses() -> None:
    (stage,) = parse(PYTHON_APP).stages
    kinds = [type(i).__name__ for i in stage.instructions]
    assert kinds == ["Env", "Env", "Workdir", "Run", "Copy", "Run", "Copy", "User", "Shell", "Onbuild", "Cmd"]
    legacy = stage.instructions[0]
    assert isinstance(legacy, Env) and legacy.pairs == (("PYTHONDONTWRITEBYTECODE", "1"),)
    copy = stage.instructions[6]
    assert isinstance(copy, Copy) and (copy.chown, copy.chmod, copy.sources, copy.dest) == ("app:app", "0644", (".",), ".")
    assert stage.instructions[8] == Shell(10, 10, 'SHELL ["/bin/bash", "-o", "pipefail", "-c"]',
                                          shell=("/bin/bash", "-o", "pipefail", "-c"))
    onbuild = stage.instructions[9]
    assert isinstance(onbuild, Onbuild) and onbuild.expression == "COPY . /app/extra"
    assert isinstance(onbuild.trigger, Copy) and onbuild.trigger.dest == "/app/extra"
    assert stage.instructions[10] == Cmd(12, 12, "CMD gunicorn -b 0.0.0.0:8000 app:app",
                                         command=("gunicorn -b 0.0.0.0:8000 app:app",), shell_form=True)


# ---------------------------------------------------------------- lines and directives

def test_keywords_are_case_insensitive_and_stage_names_lower_cased() -> None:
    d = parse("from Alpine as Builder\nrun echo hi\n")
    assert d.stages[0].name == "builder" and d.stages[0].from_.base == "Alpine"
    assert isinstance(d.stages[0].instructions[0], Run) and d.stages[0].instructions[0].keyword == "RUN"


def test_escape_directive_switches_to_backtick() -> None:
    d = parse("""
        # escape=`
        FROM scratch
        COPY testfile.txt c:\\
        RUN dir c:\\ `
            && echo done
    """)
    copy, run = d.stages[0].instructions
    assert d.escape == "`" and isinstance(copy, Copy) and copy.dest == "c:\\"
    assert isinstance(run, Run) and run.command == ("dir c:\\     && echo done",) and run.end_line == 5


def test_directive_after_a_comment_is_just_a_comment() -> None:
    d = parse("# hello\n# escape=`\nFROM scratch\nRUN echo \\\n  hi\n")
    assert d.escape == "\\" and d.stages[0].instructions[0].end_line == 5


def test_bom_blank_lines_and_a_trailing_continuation_at_eof() -> None:
    d = parse_dockerfile("\ufeffFROM scratch\n\n\n   \nCMD [\"a\"] \\")
    assert d.stages[0].instructions[0].line == 5


def test_empty_continuation_line_is_a_warning() -> None:
    d = parse("FROM scratch\nRUN echo a \\\n\n    b\n")
    run = d.stages[0].instructions[0]
    assert isinstance(run, Run) and run.command == ("echo a     b",)
    assert any("empty continuation line" in w for w in d.warnings)


def test_double_backslash_does_not_continue() -> None:
    d = parse("FROM scratch\nRUN echo a\\\\\nRUN echo b\n")
    assert len(d.stages[0].instructions) == 2


# ---------------------------------------------------------------- heredocs

def test_run_heredoc_is_a_script() -> None:
    run = only("""
        RUN <<EOF
        apt-get update
        apt-get install -y vim
        EOF
    """)
    assert isinstance(run, Run) and run.command == ("<<EOF",) and (run.line, run.end_line) == (2, 5)
    assert run.heredocs == (df.Heredoc("EOF", "apt-get update\napt-get install -y vim\n"),)
    assert df.run_argv(run) == (["/bin/sh", "-c", "apt-get update\napt-get install -y vim\n"], None)


def test_run_heredoc_with_shebang_is_written_and_executed() -> None:
    run = only("RUN <<EOT\n#!/usr/bin/env python3\nprint('hi')\nEOT\n")
    assert isinstance(run, Run)
    argv, script = df.run_argv(run)
    assert argv == ["/dev/pipes/EOT"] and script is not None and script.data.startswith("#!/usr/bin/env python3")


def test_heredoc_given_to_a_command_goes_back_to_the_shell() -> None:
    run = only("RUN python3 <<'PY' > /out\nprint(1)\nPY\n")
    assert isinstance(run, Run) and run.heredocs[0].expand is False
    assert df.run_argv(run, ["/bin/bash", "-c"])[0] == ["/bin/bash", "-c", "python3 <<'PY' > /out\nprint(1)\nPY"]


def test_chomped_heredoc_strips_leading_tabs() -> None:
    run = only("RUN <<-EOF\n\techo hi\n\tEOF\n")
    assert isinstance(run, Run) and run.heredocs[0].chomp and run.heredocs[0].data == "echo hi\n"


def test_copy_heredocs_are_inline_sources() -> None:
    copy = only('COPY <<one <<"two" /dest/\nfirst $X\none\nsecond $X\ntwo\n')
    assert isinstance(copy, Copy) and copy.sources == () and copy.dest == "/dest/"
    assert [(d.name, d.content, d.expand) for d in copy.inline] == [("one", "first $X\n", True),
                                                                    ("two", "second $X\n", False)]
    expanded = expand_instruction(copy, {"X": "1"})
    assert [d.content for d in expanded.inline] == ["first 1\n", "second $X\n"]


def test_json_run_never_has_heredocs() -> None:
    run = only('RUN ["cat", "<<EOF"]\n')
    assert isinstance(run, Run) and run.heredocs == () and run.command == ("cat", "<<EOF")


# ---------------------------------------------------------------- instructions

@pytest.mark.parametrize("line,expected", [
    ("FROM scratch", From(1, 1, "FROM scratch", base="scratch")),
    ("FROM --platform=linux/arm64 alpine:3.19 AS b", From(1, 1, "FROM --platform=linux/arm64 alpine:3.19 AS b",
                                                          base="alpine:3.19", name="b", platform="linux/arm64")),
])
def test_from(line: str, expected: From) -> None:
    assert parse(line).stages[0].from_ == expected


@pytest.mark.parametrize("text,command,shell_form", [
    ("RUN echo hi", ("echo hi",), True),
    ('RUN ["echo", "hi"]', ("echo", "hi"), False),
    ("RUN [ -f /etc/passwd ] && echo yes", ("[ -f /etc/passwd ] && echo yes",), True),
    ('RUN ["/bin/sh", "-c", "echo \\"quoted\\""]', ("/bin/sh", "-c", 'echo "quoted"'), False),
])
def test_run_forms(text: str, command: tuple, shell_form: bool) -> None:
    run = only(text)
    assert isinstance(run, Run) and (run.command, run.shell_form) == (command, shell_form)


def test_run_flags() -> None:
    run = only("RUN --network=none --security=insecure --mount=type=bind,source=go.sum,target=/x,rw true")
    assert isinstance(run, Run) and (run.network, run.security) == ("none", "insecure")
    (mount,) = run.mounts
    assert (mount.type, mount.source, mount.target, mount.readonly) == ("bind", "go.sum", "/x", False)


@pytest.mark.parametrize("spec,fields", [
    ("type=cache,target=/root/.cache,id=pip,sharing=locked,mode=0755,uid=1000",
     {"type": "cache", "cache_id": "pip", "sharing": "locked", "mode": 0o755, "uid": 1000, "readonly": False}),
    ("type=secret,id=token,required", {"type": "secret", "cache_id": "token", "required": True, "readonly": True}),
    ("type=tmpfs,target=/tmp,size=64m", {"type": "tmpfs", "size": 64 * 1024 * 1024}),
    ("type=bind,from=build,src=/out,dst=/in", {"from_ref": "build", "source": "/out", "target": "/in"}),
    ('type=bind,target=/a,"source=a,b"', {"target": "/a", "source": "a,b"}),  # CSV quoting
])
def test_run_mount_fields(spec: str, fields: dict) -> None:
    mount = df.parse_mount(spec)
    for key, value in fields.items():
        assert getattr(mount, key) == value, key


def test_cmd_entrypoint_and_clearing() -> None:
    assert only("ENTRYPOINT []") == Entrypoint(2, 2, "ENTRYPOINT []", command=(), shell_form=False)
    assert only("CMD echo $HOME") == Cmd(2, 2, "CMD echo $HOME", command=("echo $HOME",), shell_form=True)


@pytest.mark.parametrize("text,pairs", [
    ("ENV A=1 B=\"two words\" C=three\\ words", (("A", "1"), ("B", '"two words"'), ("C", "three\\ words"))),
    ("ENV MY_VAR my value with spaces", (("MY_VAR", "my value with spaces"),)),
    ("ENV EMPTY=", (("EMPTY", ""),)),
])
def test_env_forms(text: str, pairs: tuple) -> None:
    env = only(text)
    assert isinstance(env, Env) and env.pairs == pairs


def test_arg_forms() -> None:
    arg = only('ARG A B=1 C="x y" D=')
    assert isinstance(arg, Arg) and arg.args == (ArgDecl("A"), ArgDecl("B", "1"), ArgDecl("C", '"x y"'),
                                                 ArgDecl("D", ""))


def test_copy_add_flags_and_json_form() -> None:
    copy = only('COPY --from=0 --link ["a b", "c", "/dst/"]')
    assert isinstance(copy, Copy) and (copy.sources, copy.dest, copy.from_ref, copy.link) == (("a b", "c"), "/dst/",
                                                                                             "0", True)
    add = only("ADD --chown=1:1 app.tar.gz /opt/")
    assert isinstance(add, Add) and (add.sources, add.chown) == (("app.tar.gz",), "1:1")


def test_small_instructions() -> None:
    assert only("USER  app:staff ") == User(2, 2, "USER  app:staff", user="app:staff")
    assert only('WORKDIR "/my dir"') == Workdir(2, 2, 'WORKDIR "/my dir"', path='"/my dir"')
    assert only("MAINTAINER Jane <j@example.com>") == Maintainer(2, 2, "MAINTAINER Jane <j@example.com>",
                                                                 maintainer="Jane <j@example.com>")
    assert only("VOLUME /a /b") == Volume(2, 2, "VOLUME /a /b", paths=("/a", "/b"))


@pytest.mark.parametrize("text,test,fields", [
    ("HEALTHCHECK NONE", ("NONE",), {}),
    ('HEALTHCHECK --interval=1m30s --start-period=500ms --start-interval=2s CMD ["/bin/check", "-q"]',
     ("CMD", "/bin/check", "-q"), {"interval": 90 * 10**9, "start_period": 5 * 10**8, "start_interval": 2 * 10**9}),
    ("HEALTHCHECK --timeout=1.5h cmd true", ("CMD-SHELL", "true"), {"timeout": 5400 * 10**9}),
])
def test_healthcheck(text: str, test: tuple, fields: dict) -> None:
    health = only(text)
    assert isinstance(health, Healthcheck) and health.test == test
    for key, value in fields.items():
        assert getattr(health, key) == value


def test_parse_trigger_from_an_image_config() -> None:
    run = df.parse_trigger("RUN <<EOF\necho hi\nEOF")
    assert isinstance(run, Run) and run.heredocs[0].content == "echo hi\n"


# ---------------------------------------------------------------- errors name the line

ERRORS = [
    ("FROM scratch\nFOO bar\n", 2, "unknown instruction: FOO"),
    ("FROM scratch\n\nFORM x\n", 3, "unknown instruction: FORM"),
    ("", 0, "file with no instructions"),
    ("# only a comment\n", 0, "file with no instructions"),
    ("RUN true\n", 1, "no build stage in current context"),
    ("ARG A=1\n", 0, "dockerfile contains no stages to build"),
    ("FROM a b\n", 1, "FROM requires either one or three arguments"),
    ("FROM a AS 1x\n", 1, "invalid name for build stage"),
    ("FROM a AS x\nFROM b AS X\n", 2, 'duplicate stage name "x"'),
    ("FROM --platfrom=x a\n", 1, "unknown flag: --platfrom"),
    ("FROM scratch\nRUN --foo true\n", 2, "unknown flag: --foo"),
    ("FROM scratch\nRUN --network=bridge true\n", 2, 'invalid network mode "bridge"'),
    ("FROM scratch\nRUN --security=x true\n", 2, 'security "x" is not valid'),
    ("FROM scratch\nRUN --device=/dev/fuse true\n", 2, "RUN --device is not supported"),
    ("FROM scratch\nRUN --mount=type=nfs,target=/x true\n", 2, 'unsupported mount type "nfs"'),
    ("FROM scratch\nRUN --mount=type=bind,target=/x,size=1m true\n", 2, "unexpected key 'size' for mount type 'bind'"),
    ("FROM scratch\nRUN --mount=type=bind true\n", 2, "mount target is required"),
    ("FROM scratch\nRUN --mount=type=secret true\n", 2, "invalid secret mount"),
    ("FROM scratch\nRUN --mount=type=cache,target=/x,uid=-1 true\n", 2, "invalid value -1 for uid"),
    ("FROM scratch\nRUN --mount=type=bind,target=/x,from=$S true\n", 2, "'from' doesn't support variable expansion"),
    ("FROM scratch\nRUN\n", 2, "RUN requires at least one argument"),
    ("FROM scratch\nRUN []\n", 2, "RUN requires at least one argument"),
    ("FROM scratch\nRUN [\"a\", 1]\n", 2, "arrays must be comprised of strings only"),
    ("FROM scratch\nCMD\n", 2, "CMD requires at least one argument"),
    ("FROM scratch\nSHELL /bin/bash -c\n", 2, "SHELL requires the arguments to be in JSON form"),
    ("FROM scratch\nENV\n", 2, "ENV requires at least one argument"),
    ("FROM scratch\nENV ONLYKEY\n", 2, "ENV must have two arguments"),
    ("FROM scratch\nENV A=1 B\n", 2, "can't find = in \"B\""),
    ("FROM scratch\nLABEL =x\n", 2, "LABEL names can not be blank"),
    ("FROM scratch\nARG =x\n", 2, "ARG names can not be blank"),
    ("FROM scratch\nEXPOSE\n", 2, "EXPOSE requires at least one argument"),
    ("FROM scratch\nVOLUME [\"\"]\n", 2, "VOLUME specified can not be an empty string"),
    ("FROM scratch\nUSER\n", 2, "USER requires exactly one argument"),
    ("FROM scratch\nWORKDIR\n", 2, "WORKDIR requires exactly one argument"),
    ("FROM scratch\nCOPY onlyone\n", 2, "COPY requires at least two arguments"),
    ("FROM scratch\nCOPY a <<EOF\nx\nEOF\n", 2, "COPY cannot accept a heredoc as a destination"),
    ("FROM scratch\nCOPY --parents a /b\n", 2, "COPY --parents is not supported"),
    ("FROM scratch\nCOPY --exclude=*.md a /b\n", 2, "COPY --exclude is not supported"),
    ("FROM scratch\nADD --checksum=sha256:0 a /b\n", 2, "ADD --checksum is not supported"),
    ("FROM scratch\nADD --from=x a /b\n", 2, "unknown flag: --from"),
    ("FROM scratch\nCOPY --from=$X a /b\n", 2, "variable expansion is not supported for --from"),
    ("FROM scratch\nCOPY --link=maybe a /b\n", 2, "expecting boolean value for flag --link"),
    ("FROM scratch\nCOPY --chown a /b\n", 2, "missing a value on flag: --chown"),
    ("FROM scratch\nCOPY --chown=a --chown=b a /b\n", 2, "duplicate flag specified: --chown"),
    ("FROM scratch\nHEALTHCHECK\n", 2, "HEALTHCHECK requires at least one argument"),
    ("FROM scratch\nHEALTHCHECK NONE x\n", 2, "HEALTHCHECK NONE takes no arguments"),
    ("FROM scratch\nHEALTHCHECK --interval=5s NONE\n", 2, "HEALTHCHECK NONE takes no flags"),
    ("FROM scratch\nHEALTHCHECK RUN true\n", 2, 'Unknown type "RUN" in HEALTHCHECK'),
    ("FROM scratch\nHEALTHCHECK CMD\n", 2, "Missing command after HEALTHCHECK CMD"),
    ("FROM scratch\nHEALTHCHECK --interval=5 CMD true\n", 2, 'time: invalid duration "5"'),
    ("FROM scratch\nHEALTHCHECK --interval=10us CMD true\n", 2, 'Interval "interval" cannot be less than 1ms'),
    ("FROM scratch\nHEALTHCHECK --retries=-1 CMD true\n", 2, "--retries cannot be negative (-1)"),
    ("FROM scratch\nHEALTHCHECK --retries=x CMD true\n", 2, "invalid syntax"),
    ("FROM scratch\nONBUILD\n", 2, "ONBUILD requires at least one argument"),
    ("FROM scratch\nONBUILD ONBUILD RUN x\n", 2, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
    ("FROM scratch\nONBUILD FROM x\n", 2, "FROM isn't allowed as an ONBUILD trigger"),
    ("FROM scratch\nONBUILD MAINTAINER x\n", 2, "MAINTAINER isn't allowed as an ONBUILD trigger"),
    ("FROM scratch\nONBUILD FOO x\n", 2, "unknown instruction: FOO"),
    ("FROM scratch\n\nRUN <<EOF\necho\n", 3, "unterminated heredoc"),
    ("# escape=x\nFROM scratch\n", 1, "invalid escape token 'x' does not match ` or \\"),
    ("# escape=`\n# escape=`\nFROM scratch\n", 2, "only one escape parser directive can be used"),
]


@pytest.mark.parametrize("text,line,message", ERRORS, ids=[e[2][:40] for e in ERRORS])
def test_errors_name_the_line(text: str, line: int, message: str) -> None:
    with pytest.raises(DockerfileError) as caught:
        parse_dockerfile(text)
    assert caught.value.line == line
    assert message in str(caught.value)
    prefix = f"dockerfile parse error on line {line}: " if line else "dockerfile parse error: "
    assert str(caught.value).startswith(prefix)
    assert isinstance(caught.value, InvalidArgument)


def test_unknown_instruction_message_is_dockers() -> None:
    with pytest.raises(DockerfileError) as caught:
        parse_dockerfile("FROM scratch\nFOO bar\n")
    assert str(caught.value) == "dockerfile parse error on line 2: unknown instruction: FOO"
    with pytest.raises(DockerfileError) as caught:
        parse_dockerfile("FORM scratch\n")
    assert caught.value.hint == "did you mean FROM?"


def test_error_of_a_continued_instruction_names_its_first_line() -> None:
    with pytest.raises(DockerfileError) as caught:
        parse_dockerfile("FROM scratch\nRUN --bad \\\n  true\n")
    assert caught.value.line == 2


# ---------------------------------------------------------------- substitution

ENV = {"PWD": "/home", "SHELL": "bash", "NULL": "", "string": "foobarbaz"}


@pytest.mark.parametrize("word,expected", [
    ("hello", "hello"), ("he'll'o", "hello"), ("he\\'llo", "he'llo"), ('"abc\\tdef"', "abc\\tdef"),
    ("'abc\\tdef'", "abc\\tdef"), ("hello\\\\", "hello\\"), ('"hel\'lo"', "hel'lo"), ("$.", "$."),
    ("he$1x", "hex"), ("he$PWD", "he/home"), ("he\\$PWD", "he$PWD"), ("he\\\\$PWD", "he\\/home"),
    ('"he\\$PWD"', "he$PWD"), ("'$PWD'", "$PWD"), ('"he\'$PWD\'"', "he'/home'"), ("\\${}", "${}"),
    ("he${hi}xx", "hexx"), ("he${PWD}", "he/home"),
    ("${XXX:-000}", "000"), ("${PWD:-000}", "/home"), ("${NULL:-x}", "x"), ("${NULL-x}", ""),
    ("${XXX:-${PWD:-yyy}}", "/home"), ("${XXX:+000}", ""), ("${PWD:+000}", "000"), ("${NULL+set}", "set"),
    ("${PWD:+${PWD}:}xx", "/home:xx"), ("${XXX:-\\$PWD:}", "$PWD:"), ("${aaa:-bbb}}", "bbb}"),
    ("$@ $* $# $? $$ $! $0", "      "),
    # docs.docker.com "Environment replacement": the bash modifiers.
    ("${string#f*b}", "arbaz"), ("${string##f*b}", "az"), ("${string%b*}", "foobar"), ("${string%%b*}", "foo"),
    ("${string/ba/fo}", "fooforbaz"), ("${string//ba/fo}", "fooforfoz"),
])
def test_expand_word(word: str, expected: str) -> None:
    assert expand_word(word, ENV) == expected


@pytest.mark.parametrize("word", ["he'llo", '"hello', "'hello", "${}", "he${.}", "he${XXX:YYY}", "he${XXX?}",
                                  "he${NULL:?}", "he${PWD", "he${PWD:=000}xx", "${:}", "${aaa:-bbb"])
def test_expand_word_errors(word: str) -> None:
    with pytest.raises(InvalidArgument):
        expand_word(word, ENV)


def test_required_variable_message() -> None:
    with pytest.raises(InvalidArgument, match="VAR: message herex"):
        expand_word("${VAR:?message here$ARG}", {"VAR": "", "ARG": "x"})


@pytest.mark.parametrize("text,words", [
    ("hello${space}bye", ["helloabc", "defbye"]), ('hello"${space}"bye', ["helloabc  defbye"]),
    ("hello\\ there", ["hello there"]), ('hello" there  "', ["hello there  "]), ("x $empty y", ["x", "y"]),
])
def test_expand_words(text: str, words: list) -> None:
    assert expand_words(text, {"space": "abc  def", "empty": ""}) == words


def test_backtick_escape_in_substitution() -> None:
    assert expand_word("`$HOME", {"HOME": "/root"}, "`") == "$HOME"


def test_docs_example_env_uses_the_values_before_the_instruction() -> None:
    d = parse("""
        FROM busybox
        ENV FOO=/bar
        WORKDIR ${FOO}
        ADD . $FOO
        COPY \\$FOO /quux
        ENV abc=hello
        ENV abc=bye def=$abc
        ENV ghi=$abc
    """)
    scope = StageVars({}, {})
    steps = [scope.expand(i) for i in d.stages[0].instructions]
    assert steps[1] == Workdir(3, 3, "WORKDIR ${FOO}", path="/bar")
    assert isinstance(steps[2], Add) and steps[2].dest == "/bar"
    assert isinstance(steps[3], Copy) and steps[3].sources == ("$FOO",)
    assert scope.env["def"] == "hello" and scope.env["ghi"] == "bye"


def test_expose_label_user_volume_stopsignal_expand() -> None:
    env = {"P": "80 443/udp", "V": "/data", "S": "SIGTERM", "U": "app"}
    d = parse("FROM x\nEXPOSE $P 8080\nLABEL \"k$U\"=\"v $V\"\nUSER $U\nVOLUME [\"$V\"]\nSTOPSIGNAL $S\nRUN echo $U\n")
    out = [expand_instruction(i, env) for i in d.stages[0].instructions]
    assert isinstance(out[0], Expose) and out[0].ports == ("80", "443/udp", "8080")
    assert isinstance(out[1], Label) and out[1].pairs == (("kapp", "v /data"),)
    assert [getattr(o, f) for o, f in zip(out[2:5], ("user", "paths", "signal"))] == ["app", ("/data",), "SIGTERM"]
    assert out[5] == d.stages[0].instructions[5]  # RUN is the shell's business


def test_expansion_error_names_the_line() -> None:
    d = parse("FROM x\n\nWORKDIR ${oops\n")
    with pytest.raises(DockerfileError, match="line 3: .*missing '}'"):
        expand_instruction(d.stages[0].instructions[0], {})


def test_run_mount_values_expand_at_build_time() -> None:
    run = only("RUN --mount=type=cache,target=$CACHE,id=$ID true")
    out = expand_instruction(run, {"CACHE": "/root/.cache", "ID": "pip"})
    assert isinstance(out, Run) and (out.mounts[0].target, out.mounts[0].cache_id) == ("/root/.cache", "pip")


# ---------------------------------------------------------------- ARG and ENV scoping

def test_global_args_are_for_from_lines_only_unless_redeclared() -> None:
    d = parse("""
        ARG VERSION=latest
        FROM busybox:$VERSION
        RUN echo $VERSION
        ARG VERSION
        RUN echo $VERSION
    """)
    global_args = df.resolve_global_args(d, {})
    assert expand_instruction(d.stages[0].from_, global_args).base == "busybox:latest"
    scope = StageVars({}, global_args)
    assert "VERSION" not in scope.expansion_env()
    scope.expand(d.stages[0].instructions[1])
    assert scope.expansion_env()["VERSION"] == "latest" and "VERSION=latest" in scope.run_env()
    assert df.resolve_global_args(d, {"VERSION": "1.36"})["VERSION"] == "1.36"


def test_global_arg_defaults_expand_in_order_with_automatic_args() -> None:
    d = parse("ARG A=x\nARG B=${A}-$TARGETARCH\nFROM scratch\n")
    assert df.resolve_global_args(d, {}, df.platform_args("linux", "amd64"))["B"] == "x-amd64"


def test_env_beats_arg_and_build_arg_beats_default() -> None:
    d = parse("""
        FROM ubuntu
        ARG CONT_IMG_VER
        ENV CONT_IMG_VER=v1.0.0
        ARG OTHER=dflt
        ENV FROM_ARG=${OTHER:-none}
    """)
    scope = StageVars({"CONT_IMG_VER": "v2.0.1", "OTHER": "given"}, {})
    for instr in d.stages[0].instructions:
        scope.expand(instr)
    assert scope.expansion_env()["CONT_IMG_VER"] == "v1.0.0"
    assert scope.env["FROM_ARG"] == "given" and scope.args_in_use["CONT_IMG_VER"] == "v2.0.1"


def test_arg_used_before_declaration_is_unset() -> None:
    d = parse("""
        FROM busybox
        USER ${username:-some_user}
        ARG username
        USER $username
    """)
    scope = StageVars({"username": "what_user"}, {})
    users = [scope.expand(i) for i in d.stages[0].instructions]
    assert [u.user for u in users if isinstance(u, User)] == ["some_user", "what_user"]


def test_proxy_args_need_no_declaration_and_image_env_is_the_start() -> None:
    scope = StageVars({"HTTP_PROXY": "http://p:3128", "UNDECLARED": "x"}, {}, ["PATH=/usr/bin", "HOME=/root"])
    assert scope.run_env() == ["PATH=/usr/bin", "HOME=/root", "HTTP_PROXY=http://p:3128"]
    d = parse("FROM x\nARG USED\n")
    assert df.unconsumed_build_args(d, ["USED", "HTTP_PROXY", "UNDECLARED"]) == ["UNDECLARED"]


def test_arg_without_default_takes_the_global_value() -> None:
    scope = StageVars({}, {"TARGETARCH": "arm64"})
    arg = scope.expand(only("ARG TARGETARCH"))
    assert isinstance(arg, Arg) and arg.args == (ArgDecl("TARGETARCH", "arm64"),)


# ---------------------------------------------------------------- stages

MULTI = """
    ARG BASE=alpine
    FROM $BASE AS deps
    RUN echo deps
    FROM deps AS build
    COPY --from=deps /a /a
    FROM alpine AS unrelated
    RUN --mount=type=bind,from=build,target=/b true
    FROM scratch AS final
    COPY --from=1 /a /a
    COPY --from=nginx:latest /etc/nginx /etc/nginx
"""


def test_target_selection_and_required_stages() -> None:
    d = parse(MULTI)
    assert [s.name for s in d.required_stages(None, df.resolve_global_args(d, {}))] == ["deps", "build", "final"]
    assert [s.name for s in d.required_stages("unrelated", {"BASE": "alpine"})] == ["deps", "build", "unrelated"]
    assert d.target_stage("BUILD").index == 1
    with pytest.raises(InvalidArgument, match='target stage "nope" could not be found'):
        d.target_stage("nope")


def test_from_refs_are_classified() -> None:
    d = parse(MULTI)
    assert d.resolve_ref("1", 3) == df.SourceRef(stage=1)
    assert d.resolve_ref("Deps", 3) == df.SourceRef(stage=0)
    assert d.resolve_ref("nginx:latest", 3) == df.SourceRef(image="nginx:latest")
    assert d.resolve_base(d.stages[0], {"BASE": "scratch"}).is_scratch
    assert d.resolve_base(d.stages[1], {}) == df.SourceRef(stage=0)
    with pytest.raises(DockerfileError, match="invalid stage index 3"):
        d.resolve_ref("3", 3, line=9)
    with pytest.raises(DockerfileError, match='line 5: stage "final" is used before it is defined'):
        d.resolve_ref("final", 1, line=5)


def test_empty_base_after_expansion_is_refused() -> None:
    d = parse("ARG BASE\nFROM $BASE\n")
    with pytest.raises(DockerfileError, match="line 2: base name"):
        d.resolve_base(d.stages[0], df.resolve_global_args(d, {}))


def test_env_words_keep_quotes_until_expanded() -> None:
    env = only("ENV A=\"two words\" B='single $X' C=b\\\"c D=x\\ y")
    assert isinstance(env, Env)
    assert env.pairs == (("A", '"two words"'), ("B", "'single $X'"), ("C", 'b\\"c'), ("D", "x\\ y"))
    assert expand_instruction(env, {"X": "1"}).pairs == (("A", "two words"), ("B", "single $X"), ("C", 'b"c'),
                                                         ("D", "x y"))


def test_onbuild_with_a_heredoc_keeps_it_in_the_expression() -> None:
    onbuild = only("ONBUILD RUN <<EOF\necho hi\nEOF\n")
    assert isinstance(onbuild, Onbuild) and onbuild.keyword == "ONBUILD"
    assert onbuild.expression == "RUN <<EOF\necho hi\nEOF"
    assert isinstance(onbuild.trigger, Run) and onbuild.trigger.heredocs[0].content == "echo hi\n"
    assert df.parse_trigger(onbuild.expression) == df.parse_trigger("RUN <<EOF\necho hi\nEOF\n")


def test_referenced_names_are_the_args_a_word_uses() -> None:
    assert df.referenced_names("${A:-$B}/$C '$D'", {"A": "", "B": "b", "D": "d"}) == {"A", "B"}


def test_expose_expansion_uses_the_files_escape() -> None:
    d = parse("# escape=`\nFROM x\nEXPOSE `$P $P\n")
    out = expand_instruction(d.stages[0].instructions[0], {"P": "80"}, d.escape)
    assert isinstance(out, Expose) and out.ports == ("$P", "80")

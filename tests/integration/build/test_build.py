"""docker build (classic builder, DOCKER_BUILDKIT=0), docker-py, docker-compose and commit against rootlessd."""
from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
import tempfile
from typing import Dict, Iterator

import pytest

CLASSIC = {"DOCKER_BUILDKIT": "0"}


@pytest.fixture()
def context() -> Iterator[str]:
    path = tempfile.mkdtemp(prefix="rootless-build-ctx-", dir="/tmp")
    os.chmod(path, 0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def write(root: str, files: Dict[str, str]) -> None:
    for name, text in files.items():
        path = os.path.join(root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o644)
    for dirpath, dirnames, _ in os.walk(root):
        for d in dirnames:
            os.chmod(os.path.join(dirpath, d), 0o755)


def build(engine, context: str, *args: str, check: bool = True, input: str = None):  # type: ignore[no-untyped-def,assignment]
    return engine.docker("build", *args, context, check=check, input=input, env=CLASSIC, timeout=300)


def image_config(engine, name: str) -> Dict:  # type: ignore[no-untyped-def,type-arg]
    return json.loads(engine.docker("image", "inspect", name).stdout)[0]


def test_smoke(engine, images, context) -> None:  # type: ignore[no-untyped-def]
    write(context, {"Dockerfile": f"FROM {images.busybox}\nCOPY a.txt /a.txt\nRUN cat /a.txt && echo built > /b\n"
                                  "ENV X=1\nWORKDIR /w\nCMD [\"cat\", \"/b\"]\n", "a.txt": "hello\n"})
    out = build(engine, context, "-t", "smoke:1")
    print(out.stdout, out.stderr)
    assert "Successfully tagged smoke:1" in out.stdout
    run = engine.docker("run", "--rm", "smoke:1")
    assert run.stdout == "built\n"



def make_tar_gz(path: str, files: Dict[str, str]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.uid, info.gid = len(data), 0o604, 123, 456
            tar.addfile(info, io.BytesIO(data))
    os.chmod(path, 0o644)


MULTI = """\
ARG BASE={base}
FROM $BASE AS unused
RUN echo never-built && false
FROM ${{BASE}} AS builder
ARG GREETING=hello
SHELL ["/bin/sh", "-ec"]
WORKDIR /src
COPY --chmod=755 tool.sh ./
COPY dir/ /src/dir/
RUN ./tool.sh "$GREETING" > /src/out.txt
RUN ["/bin/sh", "-c", "echo exec-form > /src/exec.txt"]
RUN <<EOF
echo heredoc > /src/heredoc.txt
EOF
FROM $BASE
LABEL org.example.k="v v"
ENV APP_HOME=/app PATH=/app/bin:$PATH
COPY --from=builder /src/out.txt /src/exec.txt /src/heredoc.txt $APP_HOME/
COPY --from=builder --chown=1000:1000 /src/dir /app/dir
ADD files.tar.gz /app/unpacked/
COPY *.md /app/docs/
EXPOSE 8080 9090/udp
VOLUME /data
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s CMD true
ONBUILD RUN echo triggered > /tmp/onbuild.txt
USER 1000:1000
WORKDIR /app
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /app/out.txt"]
"""


def multi_context(root: str, base: str) -> None:
    write(root, {"Dockerfile": MULTI.format(base=base), "tool.sh": "#!/bin/sh\necho \"$1 from tool\"\n",
                 "dir/a": "a\n", "dir/sub/b": "b\n", "one.md": "1\n", "two.md": "2\n"})
    make_tar_gz(os.path.join(root, "files.tar.gz"), {"x": "from the tar\n"})


def test_multistage_build_config_files_and_cache(engine, images, context) -> None:  # type: ignore[no-untyped-def]
    multi_context(context, images.busybox)
    first = build(engine, context, "-t", "multi:1", "--build-arg", "GREETING=hi")
    assert "never-built" not in first.stdout and "RUN echo never-built" not in first.stdout
    assert "Step 1/" in first.stdout and "Successfully tagged multi:1" in first.stdout
    info = image_config(engine, "multi:1")
    config = info["Config"]
    assert config["Labels"]["org.example.k"] == "v v"
    assert "APP_HOME=/app" in config["Env"] and any(e.startswith("PATH=/app/bin:") for e in config["Env"])
    assert set(config["ExposedPorts"]) == {"8080/tcp", "9090/udp"}
    assert set(config["Volumes"]) == {"/data"}
    assert config["StopSignal"] == "SIGTERM" and config["User"] == "1000:1000" and config["WorkingDir"] == "/app"
    assert config["Healthcheck"]["Test"] == ["CMD-SHELL", "true"] and config["Healthcheck"]["Interval"] == 30 * 10**9
    assert config["OnBuild"] == ["RUN echo triggered > /tmp/onbuild.txt"]
    assert config["Entrypoint"] == ["/bin/sh", "-c"] and config["Cmd"] == ["cat /app/out.txt"]
    assert engine.docker("run", "--rm", "multi:1").stdout == "hi from tool\n"
    listing = engine.docker("run", "--rm", "multi:1",
                            "cat exec.txt heredoc.txt unpacked/x docs/one.md docs/two.md; "
                            "stat -c '%u:%g %a %n' dir dir/a dir/sub/b unpacked/x").stdout
    assert listing.splitlines() == ["exec-form", "heredoc", "from the tar", "1", "2", "1000:1000 755 dir",
                                    "1000:1000 644 dir/a", "1000:1000 644 dir/sub/b", "0:0 604 unpacked/x"]  # docker keeps 123:456
    image_id = info["Id"]

    # unchanged: every step a hit, the same image
    again = build(engine, context, "-t", "multi:1", "--build-arg", "GREETING=hi")
    assert " ---> Running in" not in again.stdout
    assert image_config(engine, "multi:1")["Id"] == image_id

    # touched, not changed: still hits; a moved context too
    os.utime(os.path.join(context, "tool.sh"), (1, 1))
    moved = context + "-moved"
    os.rename(context, moved)
    try:
        touched = build(engine, moved, "-t", "multi:1", "--build-arg", "GREETING=hi")
        assert " ---> Running in" not in touched.stdout
        assert image_config(engine, "multi:1")["Id"] == image_id
        # one file changed: rebuilt from its step on
        write(moved, {"tool.sh": "#!/bin/sh\necho \"$1 from tool v2\"\n"})
        changed = build(engine, moved, "-t", "multi:1", "--build-arg", "GREETING=hi")
        steps = changed.stdout.split("Step ")
        tool_step = next(i for i, s in enumerate(steps) if "COPY --chmod=755 tool.sh" in s)
        assert all("Using cache" in s for s in steps[1:tool_step] if "RUN" in s or "COPY" in s)
        assert "Using cache" not in steps[tool_step]
        assert engine.docker("run", "--rm", "multi:1").stdout == "hi from tool v2\n"
    finally:
        os.rename(moved, context)

    # ONBUILD triggers run in an image built FROM it
    child = tempfile.mkdtemp(prefix="rootless-build-child-", dir="/tmp")
    try:
        os.chmod(child, 0o777)
        write(child, {"Dockerfile": "FROM multi:1\nRUN cat /tmp/onbuild.txt\n"})
        out = build(engine, child, "-t", "child:1")
        assert "Executing 1 build trigger" in out.stdout and "triggered" in out.stdout
        assert image_config(engine, "child:1")["Config"]["OnBuild"] in (None, [])
    finally:
        shutil.rmtree(child, ignore_errors=True)


def test_failing_run_shows_output_and_code_and_tags_nothing(engine, images, context) -> None:  # type: ignore[no-untyped-def]
    write(context, {"Dockerfile": f"FROM {images.busybox}\nRUN echo about-to-fail && exit 3\n"})
    out = build(engine, context, "-t", "failed:1", check=False)
    assert out.returncode != 0
    assert "about-to-fail" in out.stdout and "failed at Dockerfile line 2: RUN echo about-to-fail" in out.stdout
    assert "The command '/bin/sh -c echo about-to-fail && exit 3' returned a non-zero code: 3" in out.stderr
    assert engine.docker("image", "inspect", "failed:1", check=False).returncode != 0
    leftovers = engine.docker("ps", "-a", "--filter", "label=io.rootless.build", "-q").stdout
    assert leftovers.strip() == ""


def test_dockerignore_dockerfile_outside_and_stdin(engine, images, context) -> None:  # type: ignore[no-untyped-def]
    write(context, {".dockerignore": "secret.txt\nlogs/**\n!logs/keep.log\n", "secret.txt": "s\n",
                    "logs/a.log": "a\n", "logs/keep.log": "k\n", "app.txt": "app\n"})
    elsewhere = tempfile.mkdtemp(prefix="rootless-build-df-", dir="/tmp")
    try:
        os.chmod(elsewhere, 0o777)
        write(elsewhere, {"Build.dockerfile": f"FROM {images.busybox}\nCOPY . /ctx/\nCMD find /ctx -type f\n"})
        build(engine, context, "-f", os.path.join(elsewhere, "Build.dockerfile"), "-t", "ignored:1")
        files = sorted(engine.docker("run", "--rm", "ignored:1").stdout.split())
        assert files == ["/ctx/.dockerignore", "/ctx/app.txt", "/ctx/logs/keep.log"]  # as docker does
    finally:
        shutil.rmtree(elsewhere, ignore_errors=True)
    out = build(engine, context, "-f", "-", "-t", "stdin:1",
                input=f"FROM {images.busybox}\nCOPY app.txt /\nCMD cat /app.txt\n")
    assert "Successfully tagged stdin:1" in out.stdout
    assert engine.docker("run", "--rm", "stdin:1").stdout == "app\n"
    iid = os.path.join(context, "iid")
    quiet = build(engine, context, "-q", "--iidfile", iid, "-t", "stdin:1", "-f", "-",
                  input=f"FROM {images.busybox}\nCOPY app.txt /\nCMD cat /app.txt\n")
    with open(iid) as f:
        assert quiet.stdout.strip() == f.read().strip() == image_config(engine, "stdin:1")["Id"]


def test_docker_py_build(engine, images, context) -> None:  # type: ignore[no-untyped-def]
    write(context, {"Dockerfile": f"FROM {images.busybox}\nARG V=x\nRUN echo \"v=$V\" > /v\nCMD cat /v\n"})
    client = engine.client()
    image, logs = client.images.build(path=context, tag="dockerpy:1", buildargs={"V": "py"}, rm=True)
    assert any("Successfully built" in (line.get("stream") or "") for line in logs)
    assert client.containers.run(image.id, remove=True) == b"v=py\n"
    # docker-py's default rm=False keeps the RUN step's container, as docker does
    client.images.build(path=context, tag="dockerpy:2", buildargs={"V": "kept"}, nocache=True)
    kept = engine.docker("ps", "-a", "-q", "--filter", "label=io.rootless.build=kept").stdout.split()
    assert len(kept) == 1
    engine.docker("rm", *kept)


def test_docker_compose_build(engine, images, context) -> None:  # type: ignore[no-untyped-def]
    compose = shutil.which("docker-compose") or "/usr/bin/docker-compose"
    if not os.path.exists(compose):
        pytest.skip("docker-compose is not installed (setup-host.sh --tests installs it)")
    write(context, {"docker-compose.yml": "version: '3'\nservices:\n  web:\n    build: ./web\n    image: composed:1\n",
                    "web/Dockerfile": f"FROM {images.busybox}\nCOPY hello /hello\nCMD cat /hello\n",
                    "web/hello": "composed\n"})
    engine.user.run([compose, "-f", os.path.join(context, "docker-compose.yml"), "build"],
                    env={**engine.env, "COMPOSE_DOCKER_CLI_BUILD": "0"}, timeout=300)
    assert engine.docker("run", "--rm", "composed:1").stdout == "composed\n"


def test_commit_with_changes_and_message(engine, images) -> None:  # type: ignore[no-untyped-def]
    engine.docker("run", "--name", "to-commit", images.busybox, "sh", "-c", "echo kept > /committed")
    try:
        engine.docker("commit", "-c", 'CMD ["cat", "/committed"]', "-m", "a message", "-a", "me",
                      "to-commit", "committed:1")
        assert engine.docker("run", "--rm", "committed:1").stdout == "kept\n"
        info = image_config(engine, "committed:1")
        assert info["Comment"] == "a message" and info["Author"] == "me"
        assert info["Config"]["Cmd"] == ["cat", "/committed"]
    finally:
        engine.docker("rm", "-f", "to-commit", check=False)


def test_built_image_pushes_and_pulls_back(engine, images, registry, context) -> None:  # type: ignore[no-untyped-def]
    write(context, {"Dockerfile": f"FROM {images.busybox}\nRUN mkdir /d && echo pushed > /d/f && rm -rf /etc/group\n"
                                  "CMD cat /d/f\n"})
    name = f"{registry.host}/built:1"
    build(engine, context, "-t", name)
    engine.docker("push", name)
    engine.docker("rmi", name)
    engine.docker("pull", name)
    assert engine.docker("run", "--rm", name).stdout == "pushed\n"
    assert engine.docker("run", "--rm", name, "ls", "/etc/group", check=False).returncode != 0


def test_builder_prune_and_system_df(engine, images, context) -> None:  # type: ignore[no-untyped-def]
    write(context, {"Dockerfile": f"FROM {images.busybox}\nRUN echo pruned > /p\n"})
    build(engine, context, "-t", "prune:1")
    df = engine.client().api.df()
    assert df["BuildCache"], df
    assert "Build Cache" in engine.docker("system", "df").stdout
    ours = [line for line in engine.cli("system", "df").stdout.splitlines() if line.startswith("Build Cache")]
    assert ours and ours[0].split()[2] != "0", ours
    engine.docker("builder", "prune", "-a", "-f", env=CLASSIC)
    assert not engine.client().api.df()["BuildCache"]
    again = build(engine, context, "-t", "prune:1")
    assert " ---> Running in" in again.stdout
    assert "Total reclaimed space" in engine.cli("builder", "prune", "-f").stdout
    assert not engine.client().api.df()["BuildCache"]
    build(engine, context, "-t", "prune:1")
    engine.docker("image", "prune", "-f")  # image prune empties the build cache too
    assert not engine.client().api.df()["BuildCache"]


def test_rootless_cli_build_and_commit(engine, images, context) -> None:  # type: ignore[no-untyped-def]
    write(context, {".dockerignore": "skip.txt\n", "skip.txt": "no\n", "app.txt": "app\n"})
    elsewhere = tempfile.mkdtemp(prefix="rootless-build-df-", dir="/tmp")
    try:
        os.chmod(elsewhere, 0o777)
        write(elsewhere, {"Dockerfile": f"FROM {images.busybox}\nARG V\nCOPY . /ctx/\nRUN echo \"v=$V\" > /v\n"
                                        "CMD cat /v\n"})
        iid = os.path.join(context, "iid")
        out = engine.cli("build", "-f", os.path.join(elsewhere, "Dockerfile"), "--build-arg", "V=cli",
                         "-t", "clibuilt:1", "--label", "a=b", "--iidfile", iid, context, timeout=300)
        assert "Successfully tagged clibuilt:1" in out.stdout
        with open(iid) as f:
            image_id = f.read()
    finally:
        shutil.rmtree(elsewhere, ignore_errors=True)
    assert image_config(engine, "clibuilt:1")["Id"] == image_id
    assert image_config(engine, "clibuilt:1")["Config"]["Labels"]["a"] == "b"
    assert engine.docker("run", "--rm", "clibuilt:1").stdout == "v=cli\n"
    assert engine.docker("run", "--rm", "clibuilt:1", "ls", "/ctx").stdout.split() == ["app.txt"]
    quiet = engine.cli("build", "-q", "-f", "-", context, input=f"FROM {images.busybox}\nCMD echo stdin\n")
    assert quiet.stdout.strip().startswith("sha256:")
    failed = engine.cli("build", "-f", "-", context, input=f"FROM {images.busybox}\nRUN exit 7\n", check=False)
    assert failed.returncode == 1 and "returned a non-zero code: 7" in failed.stderr
    engine.docker("run", "--name", "cli-commit", images.busybox, "sh", "-c", "echo c > /c")
    try:
        out = engine.cli("commit", "-c", "ENV K=v", "-m", "msg", "cli-commit", "clicommit:2")
        assert out.stdout.startswith("sha256:")
        info = image_config(engine, "clicommit:2")
        assert "K=v" in info["Config"]["Env"] and info["Comment"] == "msg"
        assert engine.docker("run", "--rm", "clicommit:2", "cat", "/c").stdout == "c\n"
    finally:
        engine.docker("rm", "-f", "cli-commit", check=False)


def _start_slow_build(engine, context: str, base: str):  # type: ignore[no-untyped-def]
    import subprocess
    import time
    write(context, {"Dockerfile": f"FROM {base}\nRUN echo started && sleep 60\n"})
    proc = engine.user.popen(["docker", "build", "-t", "slow:1", context], env={**engine.env, **CLASSIC},
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline, seen = time.monotonic() + 60, b""
    while b"started" not in seen and time.monotonic() < deadline:
        seen += proc.stdout.readline()
    assert b"started" in seen, seen
    return proc


def _build_leftovers(engine) -> tuple:  # type: ignore[no-untyped-def,type-arg]
    containers = engine.docker("ps", "-a", "-q", "--filter", "label=io.rootless.build").stdout.split()
    dangling = engine.docker("images", "-q", "--filter", "dangling=true").stdout.split()
    return containers, dangling


def test_client_disconnect_cancels_and_cleans_up(engine, images, context) -> None:  # type: ignore[no-untyped-def]
    import time
    before = _build_leftovers(engine)[1]
    proc = _start_slow_build(engine, context, images.busybox)
    proc.kill()  # as Ctrl-C of docker build: the connection closes
    proc.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _build_leftovers(engine)[0]:
        time.sleep(0.5)
    containers, dangling = _build_leftovers(engine)
    assert containers == [] and sorted(dangling) == sorted(before)
    assert engine.docker("image", "inspect", "slow:1", check=False).returncode != 0


def test_daemon_kill_mid_build_leaves_nothing_after_restart(fresh_engine, images, context) -> None:  # type: ignore[no-untyped-def]
    from tests.integration.conftest import kill_engine_processes
    fresh_engine.cli("info")
    proc = _start_slow_build(fresh_engine, context, images.busybox)
    kill_engine_processes(fresh_engine.run_dir)
    proc.wait(timeout=30)
    fresh_engine.cli("info")  # the next daemon
    containers, dangling = _build_leftovers(fresh_engine)
    assert containers == [] and dangling == []
    leftovers = [n for n in os.listdir(os.path.join(fresh_engine.root, "tmp")) if n.startswith("build-context-")]
    assert leftovers == []


def test_run_mounts_cache_and_bind(engine, images, context) -> None:  # type: ignore[no-untyped-def]
    write(context, {"data/x": "from the context\n", "Dockerfile": f"""\
FROM {images.busybox} AS stage
RUN echo from-a-stage > /made
FROM {images.busybox}
RUN --mount=type=cache,target=/var/cache/app echo run >> /var/cache/app/log && wc -l < /var/cache/app/log > /runs
RUN --mount=type=bind,source=data,target=/mnt cat /mnt/x > /bound
RUN --mount=type=bind,from=stage,source=/made,target=/tmp/made cat /tmp/made > /from-stage
CMD cat /runs /bound /from-stage
"""})
    build(engine, context, "-t", "mounts:1")
    assert engine.docker("run", "--rm", "mounts:1").stdout == "1\nfrom the context\nfrom-a-stage\n"
    # the cache mount persists across builds, and its mount point is not in the image
    build(engine, context, "--no-cache", "-t", "mounts:1")
    assert engine.docker("run", "--rm", "mounts:1", "cat", "/runs").stdout == "2\n"
    assert engine.docker("run", "--rm", "mounts:1", "ls", "/var/cache/app", check=False).returncode != 0
    assert engine.docker("run", "--rm", "mounts:1", "ls", "/mnt", check=False).returncode != 0  # busybox has none
    # a bound file that changed busts the step
    write(context, {"data/x": "changed\n"})
    out = build(engine, context, "-t", "mounts:1")
    assert "Running in" in out.stdout.split("--mount=type=bind,source=data")[1].split("Step")[0]
    assert engine.docker("run", "--rm", "mounts:1", "cat", "/bound").stdout == "changed\n"
    os.symlink("/etc", os.path.join(context, "escape"))
    write(context, {"Dockerfile": f"FROM {images.busybox}\nRUN --mount=type=bind,source=escape,target=/m ls /m\n"})
    refused = build(engine, context, check=False)
    assert refused.returncode != 0 and "symbolic link" in refused.stderr


def test_private_base_with_x_registry_config(fresh_engine, auth_registry, images, context) -> None:  # type: ignore[no-untyped-def]
    from tests import imagebuild
    fresh_engine.cli("info")
    base = images.busybox_layer
    auth_registry.client.push_image("private", "1", [base], imagebuild.image_config([base]))
    write(context, {"Dockerfile": f"FROM {auth_registry.host}/private:1\nCMD [\"true\"]\n"})
    denied = build(fresh_engine, context, check=False)
    assert denied.returncode != 0 and "authentication required" in denied.stderr
    client = fresh_engine.client()
    client.login(username="tester", password="secret", registry=auth_registry.host)  # kept client-side
    image, _ = client.images.build(path=context, tag="fromprivate:1")
    assert image.attrs["Config"]["Cmd"] == ["true"]


def test_rootless_build_secret(engine, images, context) -> None:  # type: ignore[no-untyped-def]
    secret = os.path.join(context, "..", os.path.basename(context) + "-token")
    with open(secret, "w") as f:
        f.write("s3cret")
    os.chmod(secret, 0o644)
    try:
        write(context, {"Dockerfile": f"FROM {images.busybox}\nCOPY . /ctx/\n"
                                      "RUN --mount=type=secret,id=token,required=true cat /run/secrets/token > /seen\n"
                                      "RUN --mount=type=secret,id=other,required=false echo optional\n"})
        engine.cli("build", "--secret", f"id=token,src={secret}", "-t", "secret:1", context, timeout=300)
        assert engine.docker("run", "--rm", "secret:1", "cat", "/seen").stdout == "s3cret"
        assert engine.docker("run", "--rm", "secret:1", "ls", "-a", "/ctx").stdout.split() == [".", "..", "Dockerfile"]
        assert engine.docker("run", "--rm", "secret:1", "ls", "/run/secrets", check=False).returncode != 0
        missing = engine.cli("build", "-t", "secret:2", context, check=False, timeout=300)
        assert missing.returncode == 1 and "secret token not found" in missing.stderr
    finally:
        os.unlink(secret)


def test_cache_survives_a_daemon_restart_and_image_removal(fresh_engine, images, context) -> None:  # type: ignore[no-untyped-def]
    fresh_engine.cli("info")
    write(context, {"a": "a\n", "Dockerfile": f"FROM {images.busybox}\nCOPY a /a\nRUN echo x > /x\nCMD cat /x\n"})
    build(fresh_engine, context, "-t", "restart:1")
    image_id = image_config(fresh_engine, "restart:1")["Id"]
    fresh_engine.docker("rmi", "restart:1")  # its layers' blobs are collected; the cache keeps links
    fresh_engine.cli("system", "stop")
    fresh_engine.cli("info")  # a new daemon
    again = build(fresh_engine, context, "-t", "restart:1")
    assert " ---> Running in" not in again.stdout and again.stdout.count("Using cache") == 3
    assert image_config(fresh_engine, "restart:1")["Id"] == image_id
    assert fresh_engine.docker("run", "--rm", "restart:1").stdout == "x\n"


def test_target_builds_only_the_stages_it_needs(engine, images, context) -> None:  # type: ignore[no-untyped-def]
    multi_context(context, images.busybox)
    out = build(engine, context, "--target", "builder", "-t", "target:1", "--build-arg", "GREETING=t")
    assert "never-built" not in out.stdout and "HEALTHCHECK" not in out.stdout
    assert engine.docker("run", "--rm", "target:1", "cat", "/src/out.txt").stdout == "t from tool\n"
    missing = build(engine, context, "--target", "nope", check=False)
    assert missing.returncode != 0 and 'target stage "nope" could not be found' in missing.stderr

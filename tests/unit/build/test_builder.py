"""build/builder.py on metadata-only Dockerfiles (no container needed): cache hits, same id, stages."""
from __future__ import annotations

import os
import threading
from typing import Any, Dict, List, Optional

import pytest

from rootless.build.builder import Builder, BuildOptions, RunSpec
from rootless.build.cache import BuildCache
from rootless.build.dockerfile import parse_dockerfile
from rootless.config.paths import Paths
from rootless.images.store import ImageRecord, ImageStore

DOCKERFILE = """\
ARG NAME=app
FROM registry.invalid/never-pulled AS unused
FROM scratch AS base
ENV A=1 B="two words"
LABEL name=$NAME
FROM base
EXPOSE 80
USER 1000:1000
WORKDIR /srv
WORKDIR data
STOPSIGNAL SIGINT
ENTRYPOINT ["/app"]
CMD run --fast
"""


class NoContainers:
    """A Dockerfile with no RUN/COPY/ADD must never ask for a build container."""

    def create(self, image_id: str, spec: RunSpec) -> Any:
        raise AssertionError("no container expected")


def no_pull(name: str, platform: Optional[str], always: bool) -> ImageRecord:
    raise AssertionError(f"{name} must not be pulled: its stage is not needed")


@pytest.fixture()
def builder(tmp_path) -> Builder:  # type: ignore[no-untyped-def]
    paths = Paths(root=str(tmp_path / "root"), run=str(tmp_path / "run"))
    for directory in (paths.blobs, paths.ingest, paths.images, paths.layers, paths.tmp):
        os.makedirs(directory, exist_ok=True)
    store = ImageStore(paths)
    return Builder(store, BuildCache(paths.build_cache, store), NoContainers(), no_pull, paths.tmp)


def run(builder: Builder, text: str, **options: Any) -> tuple:  # type: ignore[type-arg]
    lines: List[Dict[str, Any]] = []
    record = builder.build("/nonexistent", parse_dockerfile(text), BuildOptions(**options), lines.append,
                           threading.Event())
    return record, "".join(line.get("stream", "") for line in lines), lines


def test_config_and_same_id_from_cache(builder: Builder) -> None:
    first, out, lines = run(builder, DOCKERFILE, tags=["docker.io/library/meta:1"])
    config = first.config.config
    assert config.env and "A=1" in config.env and "B=two words" in config.env
    assert config.labels == {"name": ""}  # NAME is a global ARG not declared in the stage: empty
    assert config.exposed_ports == {"80/tcp": {}} and config.user == "1000:1000"
    assert config.working_dir == "/srv/data" and config.stop_signal == "SIGINT"
    assert config.entrypoint == ["/app"] and config.cmd == ["/bin/sh", "-c", "run --fast"]
    assert "Step 1/12 : ARG NAME=app" in out and "never-pulled" not in out
    assert {"aux": {"ID": first.image_id}} in lines
    assert builder.store.get("docker.io/library/meta:1").image_id == first.image_id
    again, out2, _ = run(builder, DOCKERFILE)
    assert again.image_id == first.image_id
    assert out2.count(" ---> Using cache") == 9  # every instruction but the ARG and FROMs


def test_a_changed_step_misses_from_there_on(builder: Builder) -> None:
    first, _, _ = run(builder, DOCKERFILE)
    changed, out, _ = run(builder, DOCKERFILE.replace("EXPOSE 80", "EXPOSE 81"))
    assert changed.image_id != first.image_id
    steps = out.split("Step ")
    exposed = next(i for i, s in enumerate(steps) if s.startswith("6/12 : EXPOSE 81"))
    assert all("Using cache" in s for s in steps[3:exposed] if "FROM" not in s)
    assert all("Using cache" not in s for s in steps[exposed:])
    nocache, out, _ = run(builder, DOCKERFILE, no_cache=True)
    assert "Using cache" not in out


def test_build_args_and_labels(builder: Builder) -> None:
    text = "FROM scratch\nARG V=default\nENV V=$V\n"
    record, _, _ = run(builder, text, build_args={"V": "given"}, labels={"l": "x"})
    assert "V=given" in (record.config.config.env or []) and record.config.config.labels == {"l": "x"}


def test_add_url_is_refused_clearly(builder: Builder) -> None:
    with pytest.raises(Exception, match="downloading URLs is not supported"):
        run(builder, "FROM scratch\nADD https://example.com/x /x\n")


def test_entrypoint_clears_the_base_cmd_but_not_one_set_in_the_stage(builder: Builder) -> None:
    base, _, _ = run(builder, "FROM scratch\nCMD [\"base\"]\n", tags=["docker.io/library/base:1"])
    assert base.config.config.cmd == ["base"]
    builder.pull = lambda name, platform, always: builder.store.get("docker.io/library/" + name)  # type: ignore[assignment]
    cleared, _, _ = run(builder, "FROM base:1\nENTRYPOINT [\"/e\"]\n")
    assert cleared.config.config.cmd is None
    kept, _, _ = run(builder, "FROM base:1\nCMD [\"mine\"]\nENTRYPOINT [\"/e\"]\n")
    assert kept.config.config.cmd == ["mine"] and kept.config.config.entrypoint == ["/e"]

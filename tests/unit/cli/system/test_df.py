"""`rootless system df`: docker's summary table, with the daemon's reclaimable size for images."""
from __future__ import annotations

import json

from click.testing import CliRunner

import rootless.cli
from rootless.cli.system.df import summary_rows, verbose_lines

USED = "sha256:" + "a" * 64
UNUSED = "sha256:" + "b" * 64
USAGE = {
    "LayersSize": 3000,
    "Images": [
        {"Id": USED, "RepoTags": ["app:1"], "RepoDigests": [], "Created": 0, "Size": 2000,
         "SharedSize": 1000, "Containers": 1},
        {"Id": UNUSED, "RepoTags": ["other:1"], "RepoDigests": [], "Created": 0, "Size": 2000,
         "SharedSize": 1000, "Containers": 0},
    ],
    # the base layer (1000) is shared, and the in-use image needs it: only 1000 can go
    "Rootless": {"ImagesReclaimable": 1000},
    "Containers": [{"Id": "c" * 64, "Image": "app:1", "Command": "sh", "Created": 0, "Names": ["/c1"],
                    "State": "exited", "Status": "Exited (0)", "SizeRw": 500, "Mounts": []}],
    "Volumes": [{"Name": "v1", "UsageData": {"Size": -1, "RefCount": 0}}],
    "BuildCache": [],
}


def test_summary_table(invoke, fake_client) -> None:
    fake_client.answers["disk_usage"] = USAGE
    result = invoke("system", "df")
    assert result.output.splitlines() == [
        "TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE",
        "Images          2         1         3kB       1kB (33%)",
        "Containers      1         0         500B      500B (100%)",
        "Local Volumes   1         0         0B        0B",
        "Build Cache     0         0         0B        0B",
    ]


def test_without_the_extension_it_estimates_like_docker() -> None:
    usage = dict(USAGE)
    del usage["Rootless"]
    assert summary_rows(usage)[0]["Reclaimable"] == "2kB (66%)"  # docker's CLI: 3000 - (2000 - 1000)


def test_format_json(invoke, fake_client) -> None:
    fake_client.answers["disk_usage"] = USAGE
    rows = [json.loads(line) for line in invoke("system", "df", "--format", "json").output.splitlines()]
    assert rows[0] == {"Type": "Images", "TotalCount": "2", "Active": "1", "Size": "3kB",
                       "Reclaimable": "1kB (33%)"}
    assert invoke("system", "df", "--format", "{{.Type}}").output.split("\n")[:2] == ["Images", "Containers"]


def test_verbose_tables() -> None:
    assert verbose_lines(USAGE, now=3600.0) == [
        "Images space usage:",
        "",
        "REPOSITORY   TAG       IMAGE ID       CREATED             SIZE      SHARED SIZE   UNIQUE SIZE   CONTAINERS",
        "app          1         aaaaaaaaaaaa   About an hour ago   2kB       1kB           1kB           1",
        "other        1         bbbbbbbbbbbb   About an hour ago   2kB       1kB           1kB           0",
        "",
        "Containers space usage:",
        "",
        "CONTAINER ID   IMAGE     COMMAND   LOCAL VOLUMES   SIZE      CREATED             STATUS       NAMES",
        "cccccccccccc   app:1     \"sh\"      0               500B      About an hour ago   Exited (0)   c1",
        "",
        "Local Volumes space usage:",
        "",
        "VOLUME NAME   LINKS     SIZE",
        "v1            0         N/A",
        "",
        "Build cache usage: 0B",
    ]


def test_verbose_and_format_conflict(invoke, fake_client) -> None:
    fake_client.answers["disk_usage"] = USAGE
    result = CliRunner().invoke(rootless.cli.cli, ["system", "df", "-v", "--format", "json"])
    assert result.exit_code == 2 and "conflict" in result.output

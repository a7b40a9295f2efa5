"""cli/table.plain_rows prints what cli/format.format_rows prints, or declines (None)."""
from __future__ import annotations

import pytest

from rootless.cli.common.rows import CONTAINER_HEADERS, IMAGE_HEADERS, container_row, image_rows
from rootless.cli.format import format_rows
from rootless.cli.listings import DIGESTS_FORMAT, IMAGES_FORMAT, PS_FORMAT
from rootless.cli.table import plain_rows

CONTAINERS = [container_row({"Id": "c" * 64, "Names": ["/web"], "Image": "busybox", "Command": "sleep 1d",
                             "Created": 1700000000, "State": "running", "Status": "Up 2 hours",
                             "Ports": [{"PrivatePort": 80, "Type": "tcp"}], "Labels": {"a": "1"}, "Mounts": []},
                            truncate=True, now=1700007200),
              container_row({"Id": "d" * 64, "Names": ["/a-much-longer-name"], "Image": "sha256:" + "e" * 64,
                             "Command": "sh -c 'echo \u00e9t\u00e9'", "Created": 1600000000, "State": "exited",
                             "Status": "Exited (0)"}, truncate=False, now=1700007200)]
IMAGES = image_rows({"Id": "sha256:" + "b" * 64, "RepoTags": ["busybox:latest", "localhost:5000/x:1"],
                     "RepoDigests": ["busybox@sha256:" + "f" * 64], "Created": 1700000000, "Size": 2000000},
                    truncate=True, now=1700007200)

# Every default of ps and images, -q's, and the other shapes plain_rows reads itself.
PLAIN = [PS_FORMAT, PS_FORMAT + "\t{{.Size}}", IMAGES_FORMAT, IMAGES_FORMAT + "\t{{.ReadOnly}}", DIGESTS_FORMAT,
         "{{.ID}}", "{{.Names}} {{.CreatedAt}}", "table {{.ID}}\\t{{.Nope}}", "{{.ID}}\\n{{.Image}}", "table",
         "table    {{.Names}}", "text only", "{{.ID}}}}", "}}{{.Labels}}", "{{.ID.Deeper}}", "table {{.Image.X}}",
         "{{.Status_}}{{.Names}}", "tablex {{.ID}}", ""]
# What needs the template engine: plain_rows declines, format_rows prints (or refuses) it.
ENGINE = ["json", "{{json .}}", "{{ .ID }}", "{{- .ID}}", "{{.ID -}}", "{{.}}", "{{upper .Names}}",
          "{{if .ID}}x{{end}}", "{{.ID", "{{{.ID}}", "{{.ID}} {{", "{{.A-B}}", "{{.ID|lower}}", "{{$x := 1}}"]


@pytest.mark.parametrize("fmt", PLAIN)
@pytest.mark.parametrize("rows,headers", [(CONTAINERS, CONTAINER_HEADERS), (IMAGES, IMAGE_HEADERS), ([], IMAGE_HEADERS)],
                         ids=["containers", "images", "no rows"])
def test_plain_formats_print_what_the_template_engine_prints(fmt, rows, headers) -> None:  # type: ignore[no-untyped-def]
    assert plain_rows(fmt, rows, headers) == format_rows(fmt, rows, headers)


@pytest.mark.parametrize("fmt", ENGINE)
def test_anything_else_is_left_to_the_template_engine(fmt) -> None:  # type: ignore[no-untyped-def]
    assert plain_rows(fmt, CONTAINERS, CONTAINER_HEADERS) is None


def test_a_value_that_is_not_text_is_left_to_the_template_engine() -> None:
    rows = [{"ID": "x", "Count": 3, "Map": {"k": "v"}}]
    assert plain_rows("{{.Count}}", rows, {}) is None
    assert plain_rows("{{.Map.k}}", rows, {}) is None
    assert plain_rows("{{.ID}}", rows, {}) == format_rows("{{.ID}}", rows, {}) == ["x"]

from __future__ import annotations

from rootless.cli.common.labels import parse_labels


def test_labels_and_bare_keys() -> None:
    assert parse_labels(["a=b", "c", "d=e=f"]) == {"a": "b", "c": "", "d": "e=f"}

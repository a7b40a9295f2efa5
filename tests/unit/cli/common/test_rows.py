from __future__ import annotations

from rootless.cli.common.rows import image_rows

ID = "sha256:" + "ab" * 32


def test_image_rows() -> None:
    summary = {"Id": ID, "RepoTags": ["127.0.0.1:5000/app:1", "app:latest"],
               "RepoDigests": ["127.0.0.1:5000/app@sha256:dd"], "Created": 0, "Size": 1234567}
    rows = image_rows(summary, truncate=True, now=3600)
    assert [(r["Repository"], r["Tag"], r["Digest"]) for r in rows] == [
        ("127.0.0.1:5000/app", "1", "sha256:dd"), ("app", "latest", "<none>")]
    assert rows[0]["ID"] == "ab" * 6 and rows[0]["Size"] == "1.235MB"
    assert rows[0]["CreatedSince"].endswith(" ago")
    dangling = image_rows({"Id": ID, "RepoTags": [], "RepoDigests": []}, truncate=False, now=0)
    assert [(r["Repository"], r["Tag"], r["ID"]) for r in dangling] == [("<none>", "<none>", ID)]

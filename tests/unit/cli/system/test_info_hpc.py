"""`rootless info` shows the idle exit and, through Warnings, where the store went (issue 15)."""
from __future__ import annotations

from rootless.api.routes.system import _add_placement
from rootless.cli.system.info import format_info


def test_info_says_when_the_daemon_exits_idle_and_where_the_store_went():
    body = {"Rootless": {"StorageRoot": "/tmp/rootless-store-1000"}, "Warnings": ["WARNING: other"]}
    _add_placement(body, "/home/u/.local/share/rootless is on nfs: using node-local /tmp/rootless-store-1000", 30.0)
    assert body["Rootless"]["IdleTimeout"] == 30.0
    assert body["Warnings"][-1].startswith("WARNING: storage: /home/u/.local/share/rootless is on nfs")
    lines = format_info(body)
    assert "Idle exit:        after 30s with no containers running and no clients" in lines
    assert lines[-1] == body["Warnings"][-1]


def test_no_note_no_warning_and_zero_is_never():
    body = {"Rootless": {}, "Warnings": None}
    _add_placement(body, "", 0.0)
    assert body["Warnings"] is None and body["Rootless"]["StoragePlacement"] == ""
    assert "Idle exit:        never (idle_timeout = 0)" in format_info(body)


def test_info_counts_images_not_yet_in_the_configured_format():
    from types import SimpleNamespace

    from rootless.api.routes.system import _add_hpc

    settings = SimpleNamespace(additional_image_stores=[], userns="", image_format="squashfs", site_store_warnings=[])
    body = {"Rootless": {}, "Warnings": None}
    _add_hpc(body, settings, 2)
    assert body["Rootless"]["ImagesNotInFormat"] == 2
    assert body["Warnings"] == ["WARNING: 2 image(s) not yet in the configured image_format 'squashfs': "
                                "run 'rootless image convert'"]
    assert "Image format:     squashfs (2 image(s) not converted yet: rootless image convert)" in format_info(body)
    body = {"Rootless": {}, "Warnings": None}
    _add_hpc(body, settings, 0)
    assert body["Warnings"] is None and "Image format:     squashfs" in format_info(body)

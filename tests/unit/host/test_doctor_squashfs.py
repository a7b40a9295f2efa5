"""`rootless doctor`'s squashfs check (issue 15): only when squashfs images are configured."""
from __future__ import annotations

from typing import Optional

from rootless.host.doctor import check_squashfs_tools


def nothing_installed(tool: str) -> Optional[str]:
    return None


def everything_installed(tool: str) -> Optional[str]:
    return f"/usr/bin/{tool}"


def test_not_relevant_without_squashfs_images() -> None:
    assert check_squashfs_tools("dirs", [], nothing_installed) is None


def test_image_format_squashfs_needs_both_tools_with_the_apt_fix() -> None:
    check = check_squashfs_tools("squashfs", [], nothing_installed)
    assert check is not None and check.status == "warn"
    assert "mksquashfs and squashfuse not installed" in check.detail
    assert check.fix == "sudo apt-get install squashfs-tools squashfuse"


def test_site_stores_need_squashfuse_only() -> None:
    check = check_squashfs_tools("dirs", ["/site/images"], lambda t: None if t == "squashfuse" else "/x")
    assert check is not None and check.status == "warn" and check.fix == "sudo apt-get install squashfuse"
    ok = check_squashfs_tools("dirs", ["/site/images"], lambda t: None if t == "mksquashfs" else "/x")
    assert ok is not None and ok.status == "ok"


def test_ok_when_installed() -> None:
    check = check_squashfs_tools("squashfs", [], everything_installed)
    assert check is not None and check.status == "ok" and "additional" not in check.detail

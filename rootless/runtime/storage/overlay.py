"""Kernel overlayfs in the user namespace (Linux >= 5.11 with `userxattr`).

With userxattr the kernel reads and writes user.overlay.* xattrs, the format
our layers are unpacked in (see whiteouts.py). The mount lives in the engine's
mount namespace, which the pause process keeps, so a restarted daemon finds it
in /proc/self/mountinfo.
"""
from __future__ import annotations

import contextlib
import logging
import os
import shutil
from typing import Iterator, List, Sequence

from rootless.errors import ToolError
from rootless.runtime.storage.driver import OVERLAY, MountingDriver, RootfsLayout, lowerdir_paths
from rootless.util import linux

logger = logging.getLogger(__name__)

# mount(2) copies at most one page of option data (fs/namespace.c copy_mount_options).
OPTIONS_LIMIT = os.sysconf("SC_PAGE_SIZE") - 1
# Characters the legacy option parser splits on; such a path must go by fd.
_UNSAFE_IN_OPTIONS = (",", ":", "\\")


def overlay_options(lowerdirs: Sequence[str], upper: str, work: str, volatile: bool = False) -> str:
    """The -o string for kernel overlay (lowerdirs already top first)."""
    return (f"lowerdir={':'.join(lowerdirs)},upperdir={upper},workdir={work},userxattr"
            f"{',volatile' if volatile else ''}")


def needs_fd_paths(lowerdirs: Sequence[str], upper: str, work: str, volatile: bool = False) -> bool:
    """Too long for one page, or a path the option parser would split."""
    if len(overlay_options(lowerdirs, upper, work, volatile)) > OPTIONS_LIMIT:
        return True
    return any(c in p for p in lowerdirs for c in _UNSAFE_IN_OPTIONS)


@contextlib.contextmanager
def fd_paths(dirs: Sequence[str]) -> Iterator[List[str]]:
    """/proc/self/fd/N names for dirs: ~18 bytes per layer, whatever the real path.

    Like containers/storage's short "l/" links, this keeps many layers under
    the one-page limit; the kernel resolves the magic links at mount time, so
    the fds can be closed right after mount(2).
    """
    with contextlib.ExitStack() as stack:
        names = []
        for path in dirs:
            fd = os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            stack.callback(os.close, fd)
            names.append(f"/proc/self/fd/{fd}")
        yield names


def clear_volatile_mark(work: str) -> None:
    """Let a volatile rootfs be mounted again: its unmount left work/incompat/volatile.

    The kernel refuses any later mount with that dir (after a crash the upper may be
    torn, Documentation/filesystems/overlayfs.rst "Volatile mount"); a volatile
    rootfs is a --rm container's, whose files nothing needs after a crash, and
    mount() is only called with the rootfs unmounted (lock held).
    """
    shutil.rmtree(os.path.join(work, "work", "incompat"), ignore_errors=True)


class OverlayDriver(MountingDriver):
    """Kernel overlayfs, mounted with mount(2) from the daemon itself."""

    name = OVERLAY

    def mount_layers(self, layout: RootfsLayout, lowers: Sequence[str], volatile: bool = False) -> None:
        lowerdirs = lowerdir_paths(lowers, "" if lowers else self.empty_dir(layout))
        if volatile:
            clear_volatile_mark(layout.work)
        with contextlib.ExitStack() as stack:
            if needs_fd_paths(lowerdirs, layout.upper, layout.work, volatile):
                lowerdirs = stack.enter_context(fd_paths(lowerdirs))
            options = overlay_options(lowerdirs, layout.upper, layout.work, volatile)
            try:
                linux.mount("overlay", layout.merged, "overlay", 0, options)
            except OSError as exc:
                raise ToolError(
                    "overlay", f"mount {layout.merged}: {exc.strerror}",
                    hint="set storage driver to fuse-overlayfs or vfs if the kernel refuses overlay",
                ) from exc
        logger.debug("mounted overlay at %s (%d layers)", layout.merged, len(lowers))

"""The monitor's OOM watch: an inotify fd that turns readable when memory.events changes."""
from __future__ import annotations

import os
import select
from typing import Any

import pytest

from rootless.util import linux


def test_a_modify_watch_turns_readable_on_a_write(tmp_path: Any) -> None:
    path = tmp_path / "memory.events"
    path.write_text("oom_kill 0\n")
    fd = linux.inotify_modify_watch(str(path))
    try:
        assert select.select([fd], [], [], 0)[0] == []
        path.write_text("oom_kill 1\n")
        assert select.select([fd], [], [], 1)[0] == [fd]
        assert os.read(fd, 4096)
        with pytest.raises(BlockingIOError):  # drained: the monitor's read loop ends here
            os.read(fd, 4096)
    finally:
        os.close(fd)


def test_a_missing_file_is_an_oserror_naming_it(tmp_path: Any) -> None:
    with pytest.raises(OSError, match="inotify_add_watch .*gone"):
        linux.inotify_modify_watch(str(tmp_path / "gone"))

from __future__ import annotations

import os
import sys

from rootless.runtime import zygote


def test_fork_monitor_declines_when_the_zygote_cannot_start(fp):
    # The zygote exits at once: the request can't be delivered, so the caller execs instead.
    fp.register([sys.executable, "-m", "rootless.runtime.zygote", fp.any()], returncode=1)
    z = zygote.Zygote(sys.executable)
    read_fd, write_fd = os.pipe()
    try:
        assert z.fork_monitor("/cfg.json", write_fd, 1.0) is False
    finally:
        z.close()
        os.close(read_fd)
        os.close(write_fd)


def test_main_usage():
    assert zygote.main(["zygote"]) == 2

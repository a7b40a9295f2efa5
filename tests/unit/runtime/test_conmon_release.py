"""conmon.release_created: `crun start` without its process (crun's exec.fifo handshake)."""
from __future__ import annotations

import os

from rootless.runtime import conmon


def _created(tmp_path) -> str:  # type: ignore[no-untyped-def]
    state = tmp_path / "crun" / "c1"
    state.mkdir(parents=True)
    os.mkfifo(state / conmon.EXEC_FIFO, 0o600)
    return str(tmp_path / "crun")


def test_release_writes_the_byte_the_init_waits_for_and_unlinks_the_fifo(tmp_path):
    root = _created(tmp_path)
    fifo = os.path.join(root, "c1", conmon.EXEC_FIFO)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # the init's end, as crun create leaves it
    try:
        assert conmon.release_created(root, "c1")
        assert os.read(reader, 8) == b"\0"
    finally:
        os.close(reader)
    assert not os.path.exists(fifo)  # `crun state` now says "running", as after crun start


def test_no_reader_means_crun_start_decides(tmp_path):
    # The init died after create: crun start says "container is not running"; we must not block
    # (a blocking open of a fifo without a reader never returns) nor unlink its fifo.
    root = _created(tmp_path)
    assert not conmon.release_created(root, "c1")
    assert os.path.exists(os.path.join(root, "c1", conmon.EXEC_FIFO))


def test_no_fifo_means_crun_start_decides(tmp_path):
    # started already (or no such container): crun start gives its own error
    assert not conmon.release_created(str(tmp_path), "c1")
    (tmp_path / "c2").mkdir()
    (tmp_path / "c2" / conmon.EXEC_FIFO).write_text("")  # not a fifo
    assert not conmon.release_created(str(tmp_path), "c2")

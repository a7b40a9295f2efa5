"""util/trash.py: the one rename-then-delete every store's removal goes through."""
from __future__ import annotations

import os
import threading
import time
from typing import Any, Callable, List

import pytest

from rootless.util import trash as trash_module
from rootless.util.trash import TRASH, Trash


def _tree(path: str) -> str:
    os.makedirs(os.path.join(path, "sub", "ro"))
    with open(os.path.join(path, "sub", "file"), "w") as f:
        f.write("x")
    os.chmod(os.path.join(path, "sub", "ro"), 0o555)  # what a container or a layer may leave
    return path


def _eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition never became true"
        time.sleep(0.01)


def test_discard_renames_out_of_sight_and_delete_now_deletes(tmp_path: Any) -> None:
    victim = _tree(str(tmp_path / "victim"))
    trash = Trash(str(tmp_path / TRASH))
    doomed = trash.discard(victim)
    assert doomed is not None and os.path.dirname(doomed) == trash.dir
    assert os.path.basename(doomed).startswith("victim-")
    assert not os.path.exists(victim) and os.path.isdir(os.path.join(doomed, "sub"))
    trash.delete_now(doomed)
    assert os.listdir(trash.dir) == []


def test_a_source_already_gone_is_none_for_both_discards(tmp_path: Any) -> None:
    trash = Trash(str(tmp_path / TRASH))
    assert trash.discard(str(tmp_path / "gone")) is None
    assert trash.discard_durably(str(tmp_path / "gone")) is None
    assert trash.leftovers() == []


def test_discard_durably_fsyncs_the_trash_dir_and_the_sources_parent(tmp_path: Any,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    parent = tmp_path / "store"
    victim = _tree(str(parent / "victim"))
    synced: List[str] = []
    real_fsync_dir, me = trash_module.fs.fsync_dir, threading.get_ident()

    def recording_fsync_dir(path: str) -> None:
        if threading.get_ident() == me:  # not a worker thread another test left running
            synced.append(os.fspath(path))
        real_fsync_dir(path)

    monkeypatch.setattr(trash_module.fs, "fsync_dir", recording_fsync_dir)
    trash = Trash(str(parent / TRASH))
    assert trash.discard(_tree(str(parent / "fast"))) is not None
    assert synced == []  # the fast one does not wait for the disk
    assert trash.discard_durably(victim) is not None
    assert sorted(synced) == sorted([trash.dir, str(parent)])


def test_empty_now_deletes_a_killed_process_leftovers_but_what_it_keeps(tmp_path: Any) -> None:
    trash = Trash(str(tmp_path / TRASH), keep=("journal.json",))
    for name in ("a-0001", "b-0002"):
        _tree(os.path.join(trash.dir, name))
    with open(os.path.join(trash.dir, "journal.json"), "w") as f:
        f.write("{}")
    assert [os.path.basename(p) for p in trash.leftovers()] == ["a-0001", "b-0002"]
    assert trash.empty_now() == 2
    assert os.listdir(trash.dir) == ["journal.json"]
    assert Trash(str(tmp_path / "never-made")).empty_now() == 0


def test_empty_deletes_on_the_worker_thread_and_a_failure_does_not_stop_it(tmp_path: Any) -> None:
    threads: List[str] = []

    def delete(path: str) -> None:
        threads.append(threading.current_thread().name)
        if path.endswith("a-0001"):
            raise OSError("stuck")
        trash_module.fs.remove_tree(path)

    trash = Trash(str(tmp_path / TRASH), delete=delete)
    for name in ("a-0001", "b-0002"):
        _tree(os.path.join(trash.dir, name))
    assert trash.empty() == 2
    _eventually(lambda: os.listdir(trash.dir) == ["a-0001"])  # the next start tries the stuck one again
    assert threads == ["trash", "trash"]

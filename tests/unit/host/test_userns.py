from __future__ import annotations

from rootless.config.subids import IdRange
import pytest

from rootless.errors import FailedPrecondition, InvalidArgument
from rootless.host import userns
from rootless.host.userns import IdMap, compute_mapping, newidmap_argv, parse_id_map


def test_mapping_puts_the_user_at_zero_and_the_range_above():
    mapping = compute_mapping(1000, 1000, IdRange(100000, 65536), IdRange(200000, 65536))
    assert mapping.uids == (IdMap(0, 1000, 1), IdMap(1, 100000, 65536))
    assert mapping.gids == (IdMap(0, 1000, 1), IdMap(1, 200000, 65536))
    assert not mapping.single_id
    assert mapping.to_json()["UidMap"] == [[0, 1000, 1], [1, 100000, 65536]]


def test_mapping_without_a_range_is_single_id():
    mapping = compute_mapping(1000, 1000, None, IdRange(200000, 65536))
    assert mapping.single_id
    assert mapping.gids == (IdMap(0, 1000, 1),)


def test_newuidmap_argv():
    maps = (IdMap(0, 1000, 1), IdMap(1, 100000, 65536))
    assert newidmap_argv("newuidmap", 42, maps) == ["newuidmap", "42", "0", "1000", "1", "1", "100000", "65536"]


def test_parse_proc_uid_map():
    text = "         0       1000          1\n         1     100000      65536\n"
    assert parse_id_map(text) == (IdMap(0, 1000, 1), IdMap(1, 100000, 65536))


# -- keep-id ------------------------------------------------------------------------------------
ENGINE = userns.Mapping((userns.IdMap(0, 1001, 1), userns.IdMap(1, 100000, 65536)),
                        (userns.IdMap(0, 1002, 1), userns.IdMap(1, 200000, 65536)))


def test_keep_id_puts_the_users_ids_on_the_engines_zero_and_shifts_the_ones_below() -> None:
    keep = userns.keep_id(ENGINE)
    assert (keep.uid, keep.gid) == (1001, 1002)
    assert keep.uids == (userns.IdMap(0, 1, 1001), userns.IdMap(1001, 0, 1), userns.IdMap(1002, 1002, 64535))
    assert keep.gids == (userns.IdMap(0, 1, 1002), userns.IdMap(1002, 0, 1), userns.IdMap(1003, 1003, 64534))
    for maps in (keep.uids, keep.gids):  # every engine id 0..65536 used exactly once
        assert sorted(o for m in maps for o in range(m.outside, m.outside + m.count)) == list(range(65537))


@pytest.mark.parametrize("uid,expected", [
    (0, (userns.IdMap(0, 0, 1), userns.IdMap(1, 1, 65536))),  # keep-id:uid=0: the default mapping
    (65536, (userns.IdMap(0, 1, 65536), userns.IdMap(65536, 0, 1))),  # the last id: nothing above it
])
def test_keep_id_at_the_edges(uid: int, expected: object) -> None:
    assert userns.keep_id(ENGINE, uid, 5).uids == expected


def test_keep_id_refuses_ids_beyond_the_range_and_single_id_mode() -> None:
    with pytest.raises(FailedPrecondition, match="uid 65537 is not below the 65537 ids"):
        userns.keep_id(ENGINE, 65537)
    single = userns.compute_mapping(1001, 1001, None, None)
    with pytest.raises(FailedPrecondition, match="no subordinate id range"):
        userns.keep_id(single)


@pytest.mark.parametrize("mode,expected", [
    ("keep-id", (None, None)), ("keep-id:uid=1000,gid=100", (1000, 100)), ("keep-id:gid=7", (None, 7)),
])
def test_parse_keep_id(mode: str, expected: object) -> None:
    assert userns.parse_keep_id(mode) == expected


@pytest.mark.parametrize("mode", ["auto", "keep-id:uid=x", "keep-id:size=3", "keep-id:uid=1,uid=2", "nomap"])
def test_parse_keep_id_refuses_what_it_does_not_know(mode: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid userns mode"):
        userns.parse_keep_id(mode)

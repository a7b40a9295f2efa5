from __future__ import annotations

from rootless.config.subids import IdRange
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

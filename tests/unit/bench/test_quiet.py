"""harness.Quiet leaves zombies out: a reaped-late conmon is no work on the next sample's clock."""
from __future__ import annotations

from bench import harness


def test_stat_state_survives_a_command_with_parens_and_spaces() -> None:
    assert harness.parse_stat_state("4242 (con mon) (x)) Z 1 4242 4242 0 -1") == "Z"
    assert harness.parse_stat_state("17 (sleep) S 16 17 16 34816") == "S"


def test_a_live_process_is_not_a_zombie() -> None:
    assert not harness.is_zombie("/proc/self")

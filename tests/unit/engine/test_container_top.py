"""docker top's ps output handling (issue 11): dockerd's rules for ps_args, rows of the container's pids only."""
from __future__ import annotations

import os

import pytest

from rootless.engine import container_top
from rootless.errors import InvalidArgument

PS_EF = """UID          PID    PPID  C STIME TTY          TIME CMD
cloudsdk    4242    4200  0 10:01 ?        00:00:00 sleep 300
root        4300       1  0 Dec04 pts/0    00:00:01 /bin/sh -c while true; do sleep 1; done
"""


def test_only_the_containers_pids_and_the_command_kept_whole() -> None:
    table = container_top.parse_ps(PS_EF, [4242])
    assert table == {"Titles": ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"],
                     "Processes": [["cloudsdk", "4242", "4200", "0", "10:01", "?", "00:00:00", "sleep 300"]]}
    both = container_top.parse_ps(PS_EF, [4242, 4300])
    assert both["Processes"][1][-1] == "/bin/sh -c while true; do sleep 1; done"


def test_output_without_a_pid_column_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="couldn't find PID field"):
        container_top.parse_ps("USER COMMAND\nroot sh\n", [1])


@pytest.mark.parametrize("args,ok", [("-ef", True), ("-o pid,user", True), ("-o pid=PID", True),
                                     ("-o user=PID", False), ("aux -o comm=PIDX", False)])
def test_only_pid_may_be_titled_pid(args: str, ok: bool) -> None:
    if ok:
        container_top.check_ps_args(args)
    else:
        with pytest.raises(InvalidArgument, match="is not allowed"):
            container_top.check_ps_args(args)


def test_user_columns_get_the_containers_names() -> None:
    me = os.geteuid()
    table = {"Titles": ["UID", "PID", "CMD"], "Processes": [["hostname", str(os.getpid()), "python"]]}
    container_top.name_users(table, {me: "app"}, numeric_too=False)
    assert table["Processes"][0][0] == "app"
    table["Processes"][0][0] = str(me)  # `-o uid` asked for a number: kept
    container_top.name_users(table, {me: "app"}, numeric_too=False)
    assert table["Processes"][0][0] == str(me)
    container_top.name_users(table, {}, numeric_too=True)  # no name in the container: the number
    assert table["Processes"][0][0] == str(me)

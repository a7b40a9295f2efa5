"""daemon/idle.py: exit after idle_timeout with no container and no client (issue 15)."""
from __future__ import annotations

from rootless.daemon.idle import IdleWatch


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _watch(busy: "list[bool]", fired: "list[int]", clock: Clock) -> IdleWatch:
    return IdleWatch(10, lambda: busy[0], lambda: fired.append(1), clock)


def test_fires_once_after_the_timeout_of_idleness():
    clock, busy, fired = Clock(), [False], []
    watch = _watch(busy, fired, clock)
    assert not watch.step()
    clock.now += 9.9
    assert not watch.step() and not fired
    clock.now += 0.2
    assert watch.step() and fired == [1]
    clock.now += 100
    assert not watch.step() and fired == [1]  # once


def test_busy_resets_the_count():
    clock, busy, fired = Clock(), [False], []
    watch = _watch(busy, fired, clock)
    watch.step()
    clock.now += 8
    busy[0] = True
    watch.step()
    busy[0] = False
    clock.now += 5
    assert not watch.step()  # idle again for 0 s, not 13
    clock.now += 10
    assert watch.step()


def test_a_client_arriving_while_stopping_rearms():
    clock, busy, fired = Clock(), [False], []
    watch = _watch(busy, fired, clock)
    watch.step()
    clock.now += 11
    assert watch.step() and watch.fired.is_set()
    busy[0] = True
    assert not watch.still_idle()
    assert not watch.fired.is_set()
    busy[0] = False
    assert watch.still_idle() is True


def test_short_requests_between_looks_count_as_use():
    clock, fired, accepted = Clock(), [], [0]
    watch = IdleWatch(10, lambda: False, lambda: fired.append(1), clock, activity=lambda: accepted[0])
    watch.step()
    for _ in range(5):  # a request every 4 s, each over before the next look
        clock.now += 4
        accepted[0] += 1
        assert not watch.step()
    clock.now += 1
    assert not watch.step()  # the first idle look starts the count
    clock.now += 10
    assert watch.step() and fired == [1]

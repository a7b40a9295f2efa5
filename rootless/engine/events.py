"""The engine's event bus: a replay ring plus live subscribers (docker events)."""
from __future__ import annotations

import collections
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Deque, Dict, Iterator, List, Optional

from rootless.errors import Unavailable

# How often a blocked waiter (docker wait, docker events) checks whether its
# client is still there: an abandoned request holds a thread and an fd (issue 7).
GONE_CHECK_INTERVAL = 1.0


class ClientGone(Unavailable):
    """The client of a blocking call (wait) hung up; nobody is left to answer."""


@dataclass(frozen=True)
class Event:
    """One docker-style event."""

    type: str
    action: str
    actor_id: str
    attributes: Dict[str, str] = field(default_factory=dict)
    time_nano: int = 0

    def to_json(self) -> Dict[str, Any]:
        body: Dict[str, Any] = {
            "Type": self.type,
            "Action": self.action,
            "Actor": {"ID": self.actor_id, "Attributes": dict(self.attributes)},
            "scope": "local",
            "time": self.time_nano // 1_000_000_000,
            "timeNano": self.time_nano,
        }
        if self.type == "container":
            # Pre-1.22 fields the docker CLI still prints.
            body.update(status=self.action, id=self.actor_id, **{"from": self.attributes.get("image", "")})
        return body


class EventBus:
    """Publishes events to subscribers and keeps the last ones for since/until."""

    def __init__(self, keep: int = 1024) -> None:
        self._ring: Deque[Event] = collections.deque(maxlen=keep)
        self._subscribers: List["queue.Queue[Event]"] = []
        self._lock = threading.Lock()

    def publish(self, event_type: str, action: str, actor_id: str, /, **attributes: str) -> Event:
        event = Event(event_type, action, actor_id, attributes, time.time_ns())
        with self._lock:
            self._ring.append(event)
            for q in self._subscribers:
                q.put(event)
        return event

    def subscribe(self, since_nano: Optional[int] = None) -> "tuple[List[Event], queue.Queue[Event]]":
        """Past events newer than since_nano, and a queue of everything after."""
        q: "queue.Queue[Event]" = queue.Queue()
        with self._lock:
            past = [e for e in self._ring if since_nano is not None and e.time_nano >= since_nano]
            self._subscribers.append(q)
        return past, q

    def unsubscribe(self, q: "queue.Queue[Event]") -> None:
        with self._lock:
            if q in self._subscribers:
                self._subscribers.remove(q)

    @property
    def listeners(self) -> int:
        return len(self._subscribers)

    def follow(self, live: "queue.Queue[Event]", until_s: Optional[float] = None,
               client_gone: Callable[[], bool] = lambda: False) -> Iterator[Event]:
        """Live events from subscribe()'s queue until `until` or the client hangs up."""
        while until_s is None or time.time() < until_s:
            if client_gone():
                return
            timeout = GONE_CHECK_INTERVAL if until_s is None else max(0.0, min(GONE_CHECK_INTERVAL, until_s - time.time()))
            try:
                yield live.get(timeout=timeout)
            except queue.Empty:
                continue

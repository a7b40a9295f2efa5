"""Docker's small rules of the container state machine, as pure functions.

engine/containers.py drives the transitions; what docker decides on the way
lives here so it is tested on values alone: the signal names, the exit code of
a start that failed, crun's words put the way docker clients parse them,
restart policies and their back-off.
"""
from __future__ import annotations

import logging
import re
import signal as signals
import time
from typing import Any, Callable, Dict, Optional, TypeVar

from rootless.engine import log_drivers
from rootless.engine.container_model import Container
from rootless.runtime.logs import JOURNAL_SOCKET, LogSettings
from rootless.errors import InvalidArgument, RootlessError
from rootless.util import proc

logger = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_STOP_TIMEOUT = 10
RESTART_BACKOFF_MAX = 10.0
RESTART_POLICIES_ON_DAEMON_START = ("always",)  # moby restarts these when the daemon starts


_NOT_FOUND_RE = re.compile(r"executable file `([^`]*)` not found")


def docker_start_error(exc: RootlessError) -> RootlessError:
    """crun's words for a command that can't run, in the form docker clients parse.

    The docker CLI picks exit code 127 from "executable file not found" and
    126 from "permission denied" (cli/command/container/run.go).
    """
    text = exc.message
    found = _NOT_FOUND_RE.search(text)
    if found:
        return InvalidArgument(f'failed to create task for container: exec: "{found.group(1)}": '
                               "executable file not found in $PATH: unknown")
    # crun opens the binary first: EACCES for a file without x, EPERM for a directory
    # (docker says "is a directory: permission denied"); both are 126.
    text = text.replace("open executable: Operation not permitted", "open executable: permission denied")
    if "Permission denied" in text or "permission denied" in text:
        return InvalidArgument(f"failed to create task for container: {text.replace('Permission denied', 'permission denied')}")
    return exc


def exit_code_for_start_error(message: str) -> int:
    """Docker's exit status when the command cannot run (126/127), else 128."""
    lowered = message.lower()
    if "executable file not found" in lowered or "no such file or directory" in lowered:
        return 127
    if "permission denied" in lowered:
        return 126
    return 128


def is_port_conflict(message: str) -> bool:
    """A start that failed on a taken host port (runtime/network/slirp.port_in_use)."""
    return "bind: address already in use" in message


def parse_signal(value: Optional[str], default: int = signals.SIGKILL) -> int:
    """KILL, SIGKILL or 9 -> 9."""
    if value in (None, ""):
        return default
    text = str(value).upper()
    if text.isdigit():
        return int(text)
    name = text if text.startswith("SIG") else "SIG" + text
    try:
        return int(getattr(signals, name))
    except AttributeError:
        raise InvalidArgument(f"invalid signal: {value}") from None


def should_restart(policy: str, maximum_retries: int, exit_code: int, restart_count: int,
                   stopped_by_user: bool) -> bool:
    """Docker's restart policies: no, on-failure[:max], always, unless-stopped.

    A container the user stopped (stop, kill via stop, rm -f) is not restarted
    by any policy until it is started again.
    """
    if stopped_by_user or policy == "no":
        return False
    if policy == "on-failure":
        return exit_code != 0 and (maximum_retries == 0 or restart_count < maximum_retries)
    return policy in ("always", "unless-stopped")


def restart_delay(restart_count: int) -> float:
    """Seconds before the next restart: doubling from 0.1 s, at most RESTART_BACKOFF_MAX."""
    return min(RESTART_BACKOFF_MAX, 0.1 * float(2 ** min(restart_count, 7)))


def log_size(container: Container) -> int:
    return log_settings(container).max_size


def log_files(container: Container) -> int:
    return log_settings(container).max_files


def log_settings(container: Container) -> LogSettings:
    """How its monitor keeps its output; FailedPrecondition when journald's socket went away."""
    if container.log_driver == "journald":
        log_drivers.require_journal(JOURNAL_SOCKET)
    identity = {"id": container.id, "name": container.name, "image": container.image_ref,
                "image_id": container.image_id}
    return log_drivers.settings_of(container.log_driver, container.log_options, identity)


def retry_out_of_fds(step: Callable[[], T], container_id: str) -> T:
    """Run step again while the fd table is full: an exit must not be lost to EMFILE (issue 7).

    Without this the watcher thread died and `ps` showed a finished container as Up.
    """
    delay = 0.05
    while True:
        try:
            return step()
        except OSError as exc:
            if exc.errno not in proc.OUT_OF_FDS:
                raise
            logger.warning("collecting the exit of %s: %s; retrying", container_id[:12], exc.strerror)
            time.sleep(delay)
            delay = min(delay * 2, 2.0)

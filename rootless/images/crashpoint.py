"""A test hook that kills the process at a named step of a multi-step store change.

Off unless ROOTLESS_TEST_CRASH_AT names the step: the crash tests
(tests/integration/images/test_store_crash.py) start a daemon with it set to
prove that the next start finishes or rolls back what the killed one began.
"""
from __future__ import annotations

import logging
import os
import signal

logger = logging.getLogger(__name__)

CRASH_ENV = "ROOTLESS_TEST_CRASH_AT"


def crash_point(name: str) -> None:
    """SIGKILL this process here when ROOTLESS_TEST_CRASH_AT is name (nothing otherwise)."""
    if os.environ.get(CRASH_ENV) == name:
        logger.warning("test crash point %s reached: killing this process", name)
        die()


def die() -> None:
    """No cleanup, no finally: what a power cut or the OOM killer does (unit tests replace it)."""
    os.kill(os.getpid(), signal.SIGKILL)

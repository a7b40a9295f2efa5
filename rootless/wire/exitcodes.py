"""Exit statuses docker derives from a failed start, on both sides of the socket.

The daemon (moby daemon/start.go translateContainerdStartErr) records a
container whose command could not start as exited 127 ("not found": the
runtime says executable file not found, no such file or directory, or not a
directory) or 126 ("cannot invoke": permission denied, is a directory), else
128 (exitUnknown); it matches case-insensitively. An exec that fails to start
gets the same rule with 126 as the default (moby daemon/exec.go).

The CLI (docker/cli run.go runStartContainerErr) maps the *error message* of a
failed `run` start to its own status, case-sensitively: 127 for not found,
126 for permission denied / is a directory, else 125. Besides run, a daemon
error is status 1, and a flag error of run or create is 125
(docker/cli cli/command/container/create.go, docs "Exit status").
"""
from __future__ import annotations

TYPE_CHECKING = False  # True for mypy; importing typing costs ~3 ms (cli/fast.py)
if TYPE_CHECKING:
    from typing import Optional

ENGINE_FAILURE = 125  # docker run/create itself failed
CANNOT_INVOKE = 126   # the command exists but cannot be run
NOT_FOUND = 127       # the command cannot be found
START_UNKNOWN = 128   # the daemon's record of any other start failure (moby exitUnknown)
EXEC_START_FAILED = 126  # moby's default for an exec that failed to start
INTERRUPTED = 130     # Ctrl-C in the CLI
GENERAL = 1

_NOT_FOUND_WORDS = ("executable file not found", "no such file or directory",
                    "system cannot find the file specified")
_CANNOT_INVOKE_WORDS = ("permission denied", "is a directory")
# Commands whose engine failures are 125 rather than 1, and those whose flag errors are.
ENGINE_FAILURE_COMMANDS = frozenset({"run"})
FLAG_FAILURE_COMMANDS = frozenset({"run", "create"})


def start_failure_exit_code(message: str, default: int = START_UNKNOWN) -> int:
    """The ExitCode the daemon records for a start (or, default=126, an exec) that failed with message."""
    text = message.lower()
    if any(words in text for words in _NOT_FOUND_WORDS) or "not a directory" in text:
        return NOT_FOUND
    if any(words in text for words in _CANNOT_INVOKE_WORDS):
        return CANNOT_INVOKE
    return default


def exec_failure_exit_code(message: str) -> int:
    """The ExitCode of an exec whose process could not start."""
    return start_failure_exit_code(message, default=EXEC_START_FAILED)


def run_start_exit_code(message: str) -> int:
    """docker run's own status when the daemon refused to start the container with message."""
    text = message[len("Error response from daemon: "):] if message.startswith("Error response from daemon: ") \
        else message
    if any(words in text for words in _NOT_FOUND_WORDS):
        return NOT_FOUND
    if any(words in text for words in _CANNOT_INVOKE_WORDS):
        return CANNOT_INVOKE
    return ENGINE_FAILURE


def cli_error_exit_code(verb: Optional[str], *, flag_error: bool, status: Optional[int] = None) -> int:
    """The CLI's status for an error of verb: a status set by the verb wins (run's start errors),
    then 125 for run's engine failures and run/create's flag errors, else 1."""
    if status is not None:
        return status
    verbs = FLAG_FAILURE_COMMANDS if flag_error else ENGINE_FAILURE_COMMANDS
    return ENGINE_FAILURE if verb in verbs else GENERAL

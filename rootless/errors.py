"""The closed set of error kinds; each maps to one HTTP status and back.

Modelled on containerd's errdefs: code raises a *kind* with a message that
says what failed, and an optional hint that says what to do about it.
"""
from __future__ import annotations

TYPE_CHECKING = False  # True for mypy; importing typing costs ~3 ms (cli/fast.py)
if TYPE_CHECKING:
    from typing import ClassVar, Dict, Optional, Sequence, Type


class RootlessError(Exception):
    """Base of every error the engine raises on purpose."""

    http_status: ClassVar[int] = 500

    def __init__(self, message: str, hint: Optional[str] = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class NotFound(RootlessError):
    """The named object does not exist."""

    http_status = 404


class AlreadyExists(RootlessError):
    """An object with that name or digest exists already."""

    http_status = 409


class Conflict(RootlessError):
    """The request conflicts with the object's current state."""

    http_status = 409


class FailedPrecondition(RootlessError):
    """The object is not in a state that allows the operation (e.g. running)."""

    http_status = 409


class InvalidArgument(RootlessError):
    """The caller sent something malformed or unsupported."""

    http_status = 400


class Unauthorized(RootlessError):
    """A registry refused our credentials."""

    http_status = 401


class PermissionDenied(RootlessError):
    """The host does not let this user do that."""

    http_status = 403


class NotModified(RootlessError):
    """Nothing to do: already started, already stopped (HTTP 304)."""

    http_status = 304


class Unavailable(RootlessError):
    """A service (the daemon, a registry) cannot be reached."""

    http_status = 503


class Internal(RootlessError):
    """A bug or an unexpected state inside the engine."""

    http_status = 500


class ToolError(RootlessError):
    """An external tool (crun, newuidmap, mount, ...) failed."""

    http_status = 500

    def __init__(
        self,
        tool: str,
        message: str,
        *,
        argv: Optional[Sequence[str]] = None,
        returncode: Optional[int] = None,
        stderr: str = "",
        hint: Optional[str] = None,
    ) -> None:
        detail = stderr.strip().splitlines()[-1] if stderr.strip() else ""
        text = f"{tool}: {message}"
        if detail and detail not in message:
            text = f"{text}: {detail}"
        super().__init__(text, hint)
        self.tool = tool
        self.argv = list(argv or [])
        self.returncode = returncode
        self.stderr = stderr


# Statuses the client maps back to kinds; 409 is ambiguous, Conflict covers it.
_KIND_BY_STATUS: Dict[int, Type[RootlessError]] = {
    304: NotModified,
    400: InvalidArgument,
    401: Unauthorized,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    503: Unavailable,
}


def error_from_status(status: int, message: str) -> RootlessError:
    """Turn an HTTP status and message from the API back into an error kind."""
    kind = _KIND_BY_STATUS.get(status, Internal)
    return kind(message)

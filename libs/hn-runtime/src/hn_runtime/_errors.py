"""Errors a call can end in, other than the exceptions a service's IDL declares.

Errors cross the wire as data (a code, a message, the trace id) and become one of these on the
caller's side; nothing a server does makes a caller hang.
"""

from __future__ import annotations

from hn_runtime._wire import ErrorCode

__all__ = [
    "HNError",
    "RemoteError",
    "UnknownMethod",
    "BadRequest",
    "Overloaded",
    "DeadlineExceeded",
    "InternalError",
    "Unimplemented",
    "Draining",
    "Unauthenticated",
    "ServiceUnavailable",
    "CallTimeout",
    "error_for",
]


class HNError(Exception):
    """Base of every runtime error a call can raise."""

    def __init__(self, message: str, *, service: str = "", method: str = "", trace_id: str = ""):
        super().__init__(message)
        self.message = message
        self.service = service
        self.method = method
        self.trace_id = trace_id

    def __str__(self) -> str:
        where = f"{self.service}.{self.method}" if self.method else self.service
        return f"{where}: {self.message} (trace {self.trace_id})" if where else self.message


class RemoteError(HNError):
    """The server answered with an error code instead of a result."""

    code: int = 0
    #: True when the server guarantees the handler did not run, so any call may be retried.
    not_executed: bool = False


class UnknownMethod(RemoteError):
    code = ErrorCode.UNKNOWN_METHOD
    not_executed = True


class BadRequest(RemoteError):
    code = ErrorCode.BAD_REQUEST
    not_executed = True


class Overloaded(RemoteError):
    code = ErrorCode.OVERLOADED
    not_executed = True


class DeadlineExceeded(RemoteError):
    code = ErrorCode.DEADLINE_EXCEEDED
    not_executed = True


class InternalError(RemoteError):
    code = ErrorCode.INTERNAL


class Unimplemented(RemoteError):
    code = ErrorCode.UNIMPLEMENTED
    not_executed = True


class Draining(RemoteError):
    code = ErrorCode.DRAINING
    not_executed = True


class Unauthenticated(RemoteError):
    code = ErrorCode.UNAUTHENTICATED
    not_executed = True


class ServiceUnavailable(HNError):
    """No live instance could take the call, or the connection died with the call in flight."""


class CallTimeout(HNError):
    """No answer within the call's timeout or deadline; whether the handler ran is unknown."""


_BY_CODE: dict[int, type[RemoteError]] = {
    cls.code: cls
    for cls in (
        UnknownMethod,
        BadRequest,
        Overloaded,
        DeadlineExceeded,
        InternalError,
        Unimplemented,
        Draining,
        Unauthenticated,
    )
}


def error_for(code: int | None, message: str | None, *, service: str, method: str, trace_id: str) -> RemoteError:
    cls = _BY_CODE.get(code or 0, RemoteError)
    err = cls(message or "remote error", service=service, method=method, trace_id=trace_id)
    if cls is RemoteError:
        err.code = code or 0
    return err


def code_name(code: int) -> str:
    """A stable label for metrics and logs."""
    return str(ErrorCode._VALUES_TO_NAMES.get(code, code)).lower()

"""What `hn` says when something fails: one line (what failed, the code, the trace id when there
is one), a JSON object for `--json`, and an exit status; never a traceback."""

from __future__ import annotations

import re
from typing import Any

from thrift.Thrift import TException

from hn_runtime import CallTimeout, HNError, RemoteError, ServiceUnavailable
from hn_runtime.wire import ErrorCode

__all__ = ["FAILED", "INVALID", "CliError", "declared_error", "explain"]

#: Exit statuses: the request was made and failed / it could not be made as given (nothing sent).
FAILED = 1
INVALID = 2


class CliError(Exception):
    """A failure `hn` reports. `code` is a runtime error code's name (UNKNOWN_METHOD, INTERNAL...),
    a declared exception's own code (SsoError's 6), or hn's name for what it could not do
    (UNKNOWN_SERVICE, BAD_ARGUMENTS, NO_YELLOW, UNAVAILABLE, TIMEOUT...)."""

    def __init__(
        self,
        message: str,
        *,
        code: str | int,
        trace_id: str = "",
        status: int = FAILED,
        fields: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        # One line whatever the message carried (a remote message may hold newlines).
        self.message = re.sub(r"\s*\n\s*", " ", message).strip()
        self.code = code
        self.trace_id = trace_id
        self.status = status
        #: A declared exception's fields, for --json.
        self.fields = fields or {}

    def line(self) -> str:
        return f"{self.message} (code {self.code}" + (f", trace {self.trace_id})" if self.trace_id else ")")

    def as_json(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "code": self.code, "trace_id": self.trace_id or None}
        if self.fields:
            error["fields"] = self.fields
        return {"error": error}


def _where(exc: HNError) -> str:
    return f"{exc.service}.{exc.method}" if exc.method else exc.service


def explain(exc: BaseException) -> CliError:
    """Any exception as the one-line error hn prints."""
    if isinstance(exc, CliError):
        return exc
    if isinstance(exc, HNError):
        if isinstance(exc, RemoteError):
            code: str | int = ErrorCode._VALUES_TO_NAMES.get(exc.code, exc.code)
        elif isinstance(exc, ServiceUnavailable):
            code = "UNAVAILABLE"
        elif isinstance(exc, CallTimeout):
            code = "TIMEOUT"
        else:
            code = "ERROR"
        where = _where(exc)
        # A server's message may name the call already ("echo.crash failed (ValueError)").
        said = exc.message if not where or exc.message.startswith(where) else f"{where} failed: {exc.message}"
        return CliError(said, code=code, trace_id=exc.trace_id)
    if isinstance(exc, OSError) and exc.filename:
        return CliError(f"{exc.strerror or exc}: {exc.filename}", code="ERROR")
    # A bug of hn's own: still one line; HN_DEBUG=1 shows the traceback.
    return CliError(f"{type(exc).__name__}: {exc} (HN_DEBUG=1 shows where)", code="ERROR")


def declared_error(exc: TException, where: str, trace_id: str, fields: dict[str, Any]) -> CliError:
    """An exception the method's IDL declares (`SsoError(code=6, message=...)`), raised by the
    service: its `code` field is the code, its `message` (or `reason`) the text."""
    name = type(exc).__name__
    text = str(fields.get("message") or fields.get("reason") or "")
    rest = {k: v for k, v in fields.items() if k not in ("code", "message", "reason")}
    detail = ", ".join(f"{k}={v}" for k, v in rest.items())
    message = f"{where} failed with {name}" + (f": {text}" if text else "") + (f" [{detail}]" if detail else "")
    return CliError(message, code=fields.get("code", name), trace_id=trace_id, fields={"exception": name, **fields})

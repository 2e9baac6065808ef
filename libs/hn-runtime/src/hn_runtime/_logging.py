"""structlog JSON logging with the fields every HighNoon process shares.

Every line carries timestamp, level, service, instance and event; inside a handler also the trace
id, session id and method of the call being served (read from the call context, so handlers
never bind them by hand).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

from hn_runtime._context import current_session

__all__ = ["configure_logging", "get_logger"]

_process: dict[str, str] = {}


def _add_process(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in _process.items():
        event.setdefault(key, value)
    return event


def _add_call(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    session = current_session()
    if session is not None:
        event.setdefault("trace_id", session.trace_id)
        event.setdefault("method", session.method)
        if session.id is not None:
            event.setdefault("session_id", session.id)
    return event


def _processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
        _add_process,
        _add_call,
        structlog.processors.format_exc_info,
        structlog.processors.JSONRenderer(sort_keys=False),
    ]


def configure_logging(*, service: str, instance: str, level: str = "info", stream: TextIO | None = None) -> None:
    """Configure structlog (and stdlib logging, for libraries) to write JSON lines."""
    _process.update(service=service, instance=instance)
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    out = stream or sys.stdout
    structlog.configure(
        processors=_processors(),
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.WriteLoggerFactory(out),
        cache_logger_on_first_use=True,
    )
    # Libraries log through stdlib logging; render them as the same JSON lines.
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processor=structlog.processors.JSONRenderer(),
            foreign_pre_chain=_processors()[:-1],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(numeric, logging.INFO))


def get_logger(name: str | None = None) -> Any:
    """A structlog logger (lazy: safe to create at import time); `name` becomes `component`."""
    return structlog.get_logger(component=name) if name else structlog.get_logger()

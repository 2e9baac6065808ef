"""hn-runtime: the HighNoon service framework (Service = n servers + m clients over ZeroMQ).

What a service author uses is here; the plumbing has public modules of its own:
`hn_runtime.discovery` (Directory, Instance, StaticDirectory...), `hn_runtime.client` (proxy
classes, process identity), `hn_runtime.server`, `hn_runtime.curve`, `hn_runtime.wire`,
`hn_runtime.metrics`, `hn_runtime.logs`, `hn_runtime.workers`, and `hn_runtime.testing`.
"""

# isort: off
import hn_runtime._sodium  # noqa: F401 - first, before anything loads libzmq: CURVE's crypto (see _sodium)

# isort: on
from hn_runtime._client import get_service, subscribe
from hn_runtime._config import RuntimeConfig
from hn_runtime._context import Session, current_session, new_trace_id
from hn_runtime._errors import (
    BadRequest,
    CallTimeout,
    DeadlineExceeded,
    Draining,
    HNError,
    InternalError,
    Overloaded,
    RemoteError,
    ServiceUnavailable,
    Unauthenticated,
    Unimplemented,
    UnknownMethod,
)
from hn_runtime._logging import configure_logging, get_logger
from hn_runtime._run import run, serve
from hn_runtime._service import Service

__version__ = "0.1.0"

__all__ = [
    "BadRequest",
    "CallTimeout",
    "DeadlineExceeded",
    "Draining",
    "HNError",
    "InternalError",
    "Overloaded",
    "RemoteError",
    "RuntimeConfig",
    "Service",
    "ServiceUnavailable",
    "Session",
    "Unauthenticated",
    "Unimplemented",
    "UnknownMethod",
    "configure_logging",
    "current_session",
    "get_logger",
    "get_service",
    "new_trace_id",
    "run",
    "serve",
    "subscribe",
]

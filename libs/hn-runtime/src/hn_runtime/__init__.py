"""hn-runtime: the HighNoon service framework (Service = n servers + m clients over ZeroMQ)."""

from hn_runtime._client import PushProxy, ServiceProxy, Subscription, get_service, set_identity, subscribe
from hn_runtime._config import RuntimeConfig
from hn_runtime._context import Session, current_session, new_trace_id
from hn_runtime._curve import CurveConfig, CurveKeys, set_client_keys
from hn_runtime._directory import (
    DOWN,
    DRAINING,
    UP,
    Directory,
    Discovery,
    Instance,
    Registration,
    StaticDirectory,
    default_directory,
    set_default_directory,
)
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
from hn_runtime._server import Server
from hn_runtime._service import Service
from hn_runtime._stats import RequestStats, StatsFamily, stats_family
from hn_runtime._throttle import LogThrottle
from hn_runtime._tracing import TraceSampler
from hn_runtime._wire import ErrorCode
from hn_runtime._workers import Workers

__version__ = "0.1.0"

__all__ = [
    "BadRequest",
    "CallTimeout",
    "CurveConfig",
    "CurveKeys",
    "DeadlineExceeded",
    "DOWN",
    "DRAINING",
    "Directory",
    "Discovery",
    "Draining",
    "ErrorCode",
    "HNError",
    "Instance",
    "InternalError",
    "LogThrottle",
    "Overloaded",
    "PushProxy",
    "Registration",
    "RemoteError",
    "RequestStats",
    "RuntimeConfig",
    "Server",
    "Service",
    "ServiceProxy",
    "ServiceUnavailable",
    "Session",
    "StaticDirectory",
    "StatsFamily",
    "Subscription",
    "TraceSampler",
    "Unauthenticated",
    "Unimplemented",
    "UnknownMethod",
    "Workers",
    "UP",
    "configure_logging",
    "current_session",
    "default_directory",
    "get_logger",
    "get_service",
    "new_trace_id",
    "run",
    "serve",
    "set_client_keys",
    "set_default_directory",
    "set_identity",
    "stats_family",
    "subscribe",
]

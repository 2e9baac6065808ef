"""A dependency failing under a handler: one clear, retryable error for the caller, logged and counted."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["DependencyGuard"]

T = TypeVar("T")
_errors: Any = None


def _counter() -> Any:
    # Created on first use: importing hn_datatier must load only the standard library.
    global _errors
    if _errors is None:
        from prometheus_client import Counter

        _errors = Counter(
            "hn_dependency_errors_total",
            "Handler calls failed because PostgreSQL or Redis failed.",
            ["service", "dependency"],
        )
    return _errors


class DependencyGuard:
    """`guard(fn)` runs `fn`; a StoreUnavailable or RedisError becomes `error(dependency)`.

        guard = DependencyGuard("sso", lambda dep: SsoError(code=INTERNAL, message=f"{dep} unavailable"))
        account = guard(lambda: accounts.by_id(account_id))

    The log line is throttled per dependency (a Redis failover makes hundreds of identical
    failures a second); the metric counts every one.
    """

    def __init__(self, service: str, error: Callable[[str], Exception], *, log: Any = None) -> None:
        from redis.exceptions import RedisError

        from hn_datatier._pg import StoreUnavailable
        from hn_runtime import get_logger
        from hn_runtime.logs import LogThrottle

        self.service = service
        self._error = error
        self._log = log or get_logger(service)
        self._throttle = LogThrottle()
        self._caught: tuple[tuple[type[BaseException], str], ...] = (
            (StoreUnavailable, "postgresql"),
            (RedisError, "redis"),
        )

    def __call__(self, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except Exception as exc:
            for kind, dependency in self._caught:
                if isinstance(exc, kind):
                    raise self.failed(dependency, exc) from None
            raise

    def failed(self, dependency: str, exc: BaseException) -> Exception:
        """Count and log a failure of `dependency`; the error to raise to the caller."""
        _counter().labels(self.service, dependency).inc()
        suppressed = self._throttle.allow(dependency)
        if suppressed is not None:
            self._log.error(
                "dependency failed", dependency=dependency, error=f"{type(exc).__name__}: {exc}", suppressed=suppressed
            )
        return self._error(dependency)
